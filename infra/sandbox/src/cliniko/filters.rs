//! Cliniko's filters (`q=` / `q[]=` with `field:<op><value>`) and ordering (`sort`, `order`), as
//! its README's "Filtering Results" and "Ordering" sections describe them, over the fields each
//! resource's section lists as filterable.

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// What kind of value a filterable field holds, which decides its operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    DateTime,
    Date,
    Integer,
    Text,
}

/// The fields one resource can be filtered by, and what it is called in a refusal.
pub struct Filterable {
    pub what: &'static str,
    pub fields: &'static [(&'static str, Kind)],
}

/// "For any route that returns a set of patients, you can filter them by" these.
pub const PATIENTS: Filterable = Filterable {
    what: "patients",
    fields: &[
        ("created_at", Kind::DateTime),
        ("date_of_birth", Kind::Date),
        ("email", Kind::Text),
        ("first_name", Kind::Text),
        ("id", Kind::Integer),
        ("last_name", Kind::Text),
        ("old_reference_id", Kind::Text),
        ("updated_at", Kind::DateTime),
    ],
};

/// `sections/individual_appointments.md`, "Filtering Individual Appointments". An `…_id` field
/// is the id at the end of the record's link of that name (`patient.links.self`).
pub const APPOINTMENTS: Filterable = Filterable {
    what: "individual appointments",
    fields: &[
        ("appointment_type_id", Kind::Integer),
        ("archived_at", Kind::DateTime),
        ("business_id", Kind::Integer),
        ("cancelled_at", Kind::DateTime),
        ("created_at", Kind::DateTime),
        ("ends_at", Kind::DateTime),
        ("id", Kind::Integer),
        ("patient_id", Kind::Integer),
        ("practitioner_id", Kind::Integer),
        ("repeated_from_id", Kind::Integer),
        ("starts_at", Kind::DateTime),
        ("updated_at", Kind::DateTime),
    ],
};

/// `sections/users.md`, "Filtering Users"; practitioners are filtered alike (by when they were
/// made or changed, and by id).
pub const USERS: Filterable = Filterable {
    what: "users",
    fields: &[
        ("created_at", Kind::DateTime),
        ("id", Kind::Integer),
        ("updated_at", Kind::DateTime),
    ],
};

/// Longest first, so `>=` is not read as `>` followed by `=…`.
const OPERATORS: [&str; 8] = [">=", "<=", "!=", "~~", ">", "<", "=", "~"];

/// One `field:<op><value>` filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    field: &'static str,
    kind: Kind,
    op: &'static str,
    value: String,
}

/// Reads every `q` and `q[]` parameter; a filter Cliniko would not take is named in the error.
pub fn parse(pairs: &[(String, String)], on: &Filterable) -> Result<Vec<Filter>, String> {
    pairs
        .iter()
        .filter(|(name, _)| name == "q" || name == "q[]")
        .map(|(_, text)| parse_one(text, on))
        .collect()
}

fn parse_one(text: &str, on: &Filterable) -> Result<Filter, String> {
    let (name, rest) = text
        .split_once(':')
        .ok_or_else(|| format!("the filter {text:?} is not FIELDNAME:OPERATORVALUE"))?;
    let (field, kind) = on
        .fields
        .iter()
        .find(|(known, _)| *known == name)
        .copied()
        .ok_or_else(|| format!("{} cannot be filtered by {name:?}", on.what))?;
    let op = OPERATORS
        .iter()
        .find(|op| rest.starts_with(**op))
        .copied()
        .ok_or_else(|| format!("the filter {text:?} has no operator"))?;
    let allowed: &[&str] = match kind {
        Kind::DateTime => &[">=", ">", "<=", "<"],
        Kind::Date => &["=", ">=", ">", "<=", "<"],
        Kind::Integer => &["=", "!=", ">=", ">", "<=", "<"],
        Kind::Text => &["=", "!=", "~", "~~"],
    };
    if !allowed.contains(&op) {
        return Err(format!("{field} does not take the operator {op}"));
    }
    let value = rest[op.len()..].to_owned();
    let well_formed = match kind {
        Kind::DateTime => chrono::DateTime::parse_from_rfc3339(&value).is_ok(),
        Kind::Date => is_date_pattern(&value),
        Kind::Integer => value.split(',').all(|n| n.trim().parse::<i128>().is_ok()),
        Kind::Text => true,
    };
    if !well_formed {
        return Err(format!("{value:?} is not a valid value for {field}"));
    }
    Ok(Filter { field, kind, op, value })
}

/// `YYYY-MM-DD`, where any digit may be `*`.
fn is_date_pattern(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit() || *b == b'*',
        })
}

impl Filter {
    pub fn keeps(&self, record: &Map<String, Value>) -> bool {
        let linked = self.field.strip_suffix("_id").and_then(|stem| linked_id(record, stem));
        let field = record.get(self.field).or(linked.as_ref()).unwrap_or(&Value::Null);
        match self.kind {
            Kind::DateTime => {
                let (Some(have), Ok(want)) = (
                    field
                        .as_str()
                        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()),
                    chrono::DateTime::parse_from_rfc3339(&self.value),
                ) else {
                    return false;
                };
                compare(self.op, have.cmp(&want))
            }
            Kind::Date => {
                let Some(have) = field.as_str().filter(|t| t.len() == 10) else {
                    return false;
                };
                if self.value.contains('*') {
                    let matches = have.bytes().zip(self.value.bytes()).all(|(h, w)| w == b'*' || h == w);
                    return self.op == "=" && matches;
                }
                compare(self.op, have.cmp(self.value.as_str()))
            }
            Kind::Integer => {
                let have = match field {
                    Value::Number(n) => n.as_i64().map(i128::from),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                };
                let Some(have) = have else { return false };
                if self.op == "=" {
                    return self.value.split(',').any(|n| n.trim().parse::<i128>() == Ok(have));
                }
                let Ok(want) = self.value.parse::<i128>() else {
                    return false;
                };
                compare(self.op, have.cmp(&want))
            }
            Kind::Text => {
                let have = field.as_str().unwrap_or("").to_lowercase();
                let want = self.value.to_lowercase();
                match self.op {
                    "=" => have == want,
                    "!=" => have != want,
                    "~" => have.contains(&want),
                    _ => wildcard(&have, &want),
                }
            }
        }
    }
}

/// The id at the end of `record[stem].links.self`, as a number.
fn linked_id(record: &Map<String, Value>, stem: &str) -> Option<Value> {
    let link = record.get(stem)?.pointer("/links/self")?.as_str()?;
    let id: u64 = link.trim_end_matches('/').rsplit('/').next()?.parse().ok()?;
    Some(Value::from(id))
}

fn compare(op: &str, ordering: Ordering) -> bool {
    match op {
        ">=" => ordering != Ordering::Less,
        ">" => ordering == Ordering::Greater,
        "<=" => ordering != Ordering::Greater,
        "<" => ordering == Ordering::Less,
        "=" => ordering == Ordering::Equal,
        "!=" => ordering != Ordering::Equal,
        _ => false,
    }
}

/// SQL `LIKE` with `%` as the only wildcard.
fn wildcard(text: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('%').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(after) = rest.strip_prefix(part) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

/// Orders `records` by `sort` (`col[,col:desc]`) and `order` (`asc`, the default, or `desc`);
/// by `created_at` when no `sort` is given. Ties keep id order.
pub fn sort(records: &mut [&Map<String, Value>], sort: Option<&str>, order: Option<&str>) -> Result<(), String> {
    let descending = match order {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(format!("order must be asc or desc, not {other:?}")),
    };
    let columns: Vec<(String, bool)> = sort
        .unwrap_or("created_at")
        .split(',')
        .map(|column| match column.split_once(':') {
            Some((name, "desc")) => (name.to_owned(), !descending),
            Some((name, _)) => (name.to_owned(), descending),
            None => (column.to_owned(), descending),
        })
        .collect();
    records.sort_by(|a, b| {
        for (column, desc) in &columns {
            let ordering = value_order(a.get(column), b.get(column));
            let ordering = if *desc { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

fn value_order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => {
            a.as_f64().partial_cmp(&b.as_f64()).unwrap_or(Ordering::Equal)
        }
        (Some(Value::String(a)), Some(Value::String(b))) => a.cmp(b),
        (Some(Value::Null) | None, Some(Value::Null) | None) => Ordering::Equal,
        (Some(Value::Null) | None, _) => Ordering::Less,
        (_, Some(Value::Null) | None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patient(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    fn q(text: &str) -> Result<Vec<Filter>, String> {
        parse(&[("q[]".to_owned(), text.to_owned())], &PATIENTS)
    }

    #[test]
    fn each_kind_of_field_takes_its_own_operators() {
        let p = patient(json!({"id": 7, "first_name": "Jason", "date_of_birth": "1984-05-09",
            "updated_at": "2024-01-02T03:04:05Z"}));
        let keeps = |text: &str| q(text).unwrap()[0].keeps(&p);
        assert!(keeps("updated_at:>2024-01-01T00:00:00Z"));
        assert!(!keeps("updated_at:>2024-01-02T03:04:05Z"));
        assert!(keeps("updated_at:>=2024-01-02T03:04:05Z"));
        assert!(keeps("date_of_birth:=****-05-**"));
        assert!(!keeps("date_of_birth:=****-06-**"));
        assert!(keeps("id:=1,7,9"));
        assert!(keeps("id:!=8"));
        assert!(keeps("first_name:~aso"));
        assert!(keeps("first_name:~~ja%on"));
        assert!(!keeps("first_name:~~ja%x"));
        assert!(keeps("first_name:=jason"));
    }

    #[test]
    fn filters_cliniko_would_not_take_are_named() {
        assert!(
            q("updated_at:=2024-01-01T00:00:00Z")
                .unwrap_err()
                .contains("operator =")
        );
        assert!(q("phone:=1").unwrap_err().contains("\"phone\""));
        assert!(q("updated_at:>yesterday").is_err());
        assert!(q("no_colon").is_err());
        assert!(q("id:~1").is_err());
    }

    #[test]
    fn an_appointment_is_filtered_by_the_ids_its_links_name() {
        let appointment = patient(json!({"id": 3, "starts_at": "2024-03-01T09:00:00Z",
            "patient": {"links": {"self": "https://api.au1.cliniko.com/v1/patients/82"}}}));
        let keeps =
            |text: &str| parse(&[("q[]".to_owned(), text.to_owned())], &APPOINTMENTS).unwrap()[0].keeps(&appointment);
        assert!(keeps("patient_id:=82"));
        assert!(!keeps("patient_id:=83"));
        assert!(!keeps("practitioner_id:=82"), "no practitioner link, no match");
        assert!(keeps("starts_at:<2024-03-02T00:00:00Z"));
        let refused = parse(&[("q[]".to_owned(), "email:=a".to_owned())], &APPOINTMENTS).unwrap_err();
        assert!(
            refused.contains("individual appointments cannot be filtered by \"email\""),
            "{refused}"
        );
    }

    #[test]
    fn sorting_follows_sort_and_order_with_created_at_by_default() {
        let a = patient(json!({"id": 1, "last_name": "B", "created_at": "2024-01-02T00:00:00Z"}));
        let b = patient(json!({"id": 2, "last_name": "A", "created_at": "2024-01-01T00:00:00Z"}));
        let mut records = vec![&a, &b];
        sort(&mut records, None, None).unwrap();
        assert_eq!(records[0]["id"], 2);
        sort(&mut records, Some("last_name"), Some("desc")).unwrap();
        assert_eq!(records[0]["id"], 1);
        sort(&mut records, Some("created_at:desc"), None).unwrap();
        assert_eq!(records[0]["id"], 1);
        assert!(sort(&mut records, None, Some("sideways")).is_err());
    }
}
