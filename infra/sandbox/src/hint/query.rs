//! Hint's list querying, as its "Pagination & Querying" guide describes it: `limit` (10 by
//! default, 1 to 100) and `offset`; `sort=field` or `sort=-field` (one field); an attribute
//! given directly matches exactly, case-insensitively (`?first_name=joe`); a time or number
//! attribute takes an object of comparisons (`?created_at={"gt":"2015-02-19T10:49:21.419-08:00"}`).

use serde_json::{Map, Value};
use std::cmp::Ordering;

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 100;

/// Query parameters that are not attribute filters.
const CONTROLS: [&str; 4] = ["limit", "offset", "sort", "filter"];

/// Which patients a list holds: current ones unless `filter` says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archived {
    Excluded,
    Only,
    Included,
}

/// A list request, read.
#[derive(Debug)]
pub struct Query {
    pub limit: usize,
    pub offset: usize,
    pub archived: Archived,
    sort: Option<(String, bool)>,
    filters: Vec<(String, Test)>,
}

#[derive(Debug)]
enum Test {
    Equals(String),
    Compare(Vec<(Ordering, bool, String)>),
}

impl Query {
    /// Reads `pairs`; a parameter Hint would refuse is named in the error.
    pub fn parse(pairs: &[(String, String)]) -> Result<Query, String> {
        let get = |name: &str| pairs.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let number = |name: &str, default: usize, range: std::ops::RangeInclusive<usize>| match get(name) {
            None => Ok(default),
            Some(text) => text.parse::<usize>().ok().filter(|n| range.contains(n)).ok_or_else(|| {
                format!(
                    "{name} must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                )
            }),
        };
        let limit = number("limit", DEFAULT_LIMIT, 1..=MAX_LIMIT)?;
        let offset = number("offset", 0, 0..=usize::MAX)?;
        let archived = match get("filter") {
            None => Archived::Excluded,
            Some("archived") => Archived::Only,
            Some("all") => Archived::Included,
            Some(other) => return Err(format!("filter must be archived or all, not {other:?}")),
        };
        let sort = get("sort").map(|field| match field.strip_prefix('-') {
            Some(field) => (field.to_owned(), true),
            None => (field.to_owned(), false),
        });
        let mut filters = Vec::new();
        for (name, value) in pairs.iter().filter(|(n, _)| !CONTROLS.contains(&n.as_str())) {
            let test = match serde_json::from_str::<Value>(value) {
                Ok(Value::Object(ops)) => Test::Compare(comparisons(name, &ops)?),
                _ => Test::Equals(value.to_lowercase()),
            };
            filters.push((name.clone(), test));
        }
        Ok(Query {
            limit,
            offset,
            archived,
            sort,
            filters,
        })
    }

    pub fn keeps(&self, record: &Map<String, Value>) -> bool {
        self.filters.iter().all(|(field, test)| {
            let have = record.get(field).unwrap_or(&Value::Null);
            match test {
                Test::Equals(want) => text_of(have).is_some_and(|t| t.to_lowercase() == *want),
                Test::Compare(ops) => ops.iter().all(|(ordering, or_equal, want)| {
                    let Some(order) = compare(have, want) else {
                        return false;
                    };
                    order == *ordering || (*or_equal && order == Ordering::Equal)
                }),
            }
        })
    }

    /// Orders `records` by the `sort` field (`created_at` when none), ties by id.
    pub fn sort(&self, records: &mut [&Map<String, Value>]) {
        let (field, descending) = self.sort.clone().unwrap_or(("created_at".into(), false));
        records.sort_by(|a, b| {
            let order = value_order(a.get(&field), b.get(&field)).then_with(|| value_order(a.get("id"), b.get("id")));
            if descending { order.reverse() } else { order }
        });
    }
}

fn comparisons(name: &str, ops: &Map<String, Value>) -> Result<Vec<(Ordering, bool, String)>, String> {
    ops.iter()
        .map(|(op, value)| {
            let (ordering, or_equal) = match op.as_str() {
                "gt" => (Ordering::Greater, false),
                "gte" => (Ordering::Greater, true),
                "lt" => (Ordering::Less, false),
                "lte" => (Ordering::Less, true),
                "eq" => (Ordering::Equal, true),
                other => return Err(format!("{name} does not take the comparison {other:?}")),
            };
            let value = text_of(value).ok_or_else(|| format!("{name}.{op} must be a value"))?;
            Ok((ordering, or_equal, value))
        })
        .collect()
}

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `have` against `want`: as times when both read as times, as numbers when both are numbers,
/// else as text.
fn compare(have: &Value, want: &str) -> Option<Ordering> {
    let have = text_of(have)?;
    if let (Ok(a), Ok(b)) = (
        chrono::DateTime::parse_from_rfc3339(&have),
        chrono::DateTime::parse_from_rfc3339(want),
    ) {
        return Some(a.cmp(&b));
    }
    if let (Ok(a), Ok(b)) = (have.parse::<f64>(), want.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    Some(have.as_str().cmp(want))
}

fn value_order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a.and_then(text_of), b.and_then(text_of)) {
        (Some(a), Some(b)) => match (
            chrono::DateTime::parse_from_rfc3339(&a),
            chrono::DateTime::parse_from_rfc3339(&b),
        ) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => a.to_lowercase().cmp(&b.to_lowercase()),
        },
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(pairs: &[(&str, &str)]) -> Result<Query, String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        Query::parse(&pairs)
    }

    fn record(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn attributes_match_exactly_whatever_their_case_and_times_take_comparisons() {
        let gordon =
            record(json!({"id": "pat-1", "first_name": "Gordon", "created_at": "2017-02-05T06:23:00.000000-08:00"}));
        assert!(query(&[("first_name", "gordon")]).unwrap().keeps(&gordon));
        assert!(
            !query(&[("first_name", "gord")]).unwrap().keeps(&gordon),
            "exact, not a prefix"
        );
        let after = query(&[("created_at", r#"{"gt":"2017-02-05T14:00:00Z"}"#)]).unwrap();
        assert!(after.keeps(&gordon), "06:23 at -08:00 is 14:23 UTC");
        let before = query(&[("created_at", r#"{"lte":"2017-02-05T14:23:00Z"}"#)]).unwrap();
        assert!(before.keeps(&gordon), "equal counts for lte");
        assert!(
            query(&[("created_at", r#"{"near":"x"}"#)])
                .unwrap_err()
                .contains("near")
        );
    }

    #[test]
    fn limits_are_one_to_a_hundred_ten_by_default_and_sorting_takes_one_field() {
        assert_eq!(query(&[]).unwrap().limit, 10);
        assert!(query(&[("limit", "101")]).is_err());
        assert!(query(&[("limit", "0")]).is_err());
        assert!(query(&[("filter", "deleted")]).is_err());
        assert_eq!(query(&[("filter", "all")]).unwrap().archived, Archived::Included);
        let (a, b) = (
            record(json!({"id": "pat-1", "last_name": "Zed"})),
            record(json!({"id": "pat-2", "last_name": "abel"})),
        );
        let mut records = vec![&a, &b];
        query(&[("sort", "last_name")]).unwrap().sort(&mut records);
        assert_eq!(records[0]["id"], "pat-2");
        query(&[("sort", "-last_name")]).unwrap().sort(&mut records);
        assert_eq!(records[0]["id"], "pat-1");
    }
}
