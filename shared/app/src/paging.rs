//! Opaque paging cursors. A cursor is the sort key to continue after, base64url-encoded; it only
//! ever continues a listing inside the caller's own group partition, so a forged cursor can at
//! worst skip records the caller could see anyway.

use crate::Deps;
use crate::error::AppError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use model::GroupId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::{PageRequest, Record, Versioned, keys};

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 200;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listing<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Listing<T> {
    /// The same page with each item turned into what a caller shows.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listing<U> {
        Listing {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

pub fn encode_cursor(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(sort_key)
}

pub fn decode_cursor(cursor: &str) -> Result<String, AppError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| AppError::BadCursor)?;
    String::from_utf8(bytes).map_err(|_| AppError::BadCursor)
}

/// One page of a group's records of one kind (those whose sort key starts with `prefix`).
/// Access must already have been checked.
pub(crate) async fn list_records<T: DeserializeOwned>(
    deps: &Deps,
    group: &GroupId,
    prefix: &str,
    cursor: Option<&str>,
    limit: Option<u32>,
    newest_first: bool,
) -> Result<Listing<Versioned<T>>, AppError> {
    let limit = page_size(limit)?;
    let after = cursor.map(decode_cursor).transpose()?;
    crate::groups::load(deps, group).await?;
    let page = query_group(
        deps,
        group,
        prefix,
        PageRequest {
            limit,
            after,
            newest_first,
        },
    )
    .await?;
    Ok(Listing {
        items: page.records.iter().map(Record::decode).collect::<Result<_, _>>()?,
        next_cursor: page.next.as_deref().map(encode_cursor),
    })
}

/// Every record of one kind in a group, read page by page (each page up to 1 MB, so a group's
/// patients cost one read request per thousand or so).
pub(crate) async fn all_records<T: DeserializeOwned>(
    deps: &Deps,
    group: &GroupId,
    prefix: &str,
) -> Result<Vec<Versioned<T>>, AppError> {
    let mut records = Vec::new();
    for_each_page(deps, group, prefix, |page| {
        for record in &page.records {
            records.push(record.decode()?);
        }
        Ok(())
    })
    .await?;
    Ok(records)
}

/// The keys of every record in a group whose sort key starts with `prefix`.
pub(crate) async fn all_keys(deps: &Deps, group: &GroupId, prefix: &str) -> Result<Vec<store::Key>, AppError> {
    let mut keys = Vec::new();
    for_each_page(deps, group, prefix, |page| {
        keys.extend(page.records.into_iter().map(|record| record.key));
        Ok(())
    })
    .await?;
    Ok(keys)
}

/// Hands every page of a group's records under `prefix` to `each`, in sort-key order.
async fn for_each_page(
    deps: &Deps,
    group: &GroupId,
    prefix: &str,
    mut each: impl FnMut(store::Page) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let mut after = None;
    loop {
        let page = query_group(
            deps,
            group,
            prefix,
            PageRequest {
                limit: model::lookup::PEOPLE_PER_PAGE as u32,
                after,
                newest_first: false,
            },
        )
        .await?;
        let next = page.next.clone();
        each(page)?;
        match next {
            Some(next) => after = Some(next),
            None => return Ok(()),
        }
    }
}

async fn query_group(deps: &Deps, group: &GroupId, prefix: &str, page: PageRequest) -> Result<store::Page, AppError> {
    Ok(deps.records.query(&keys::group_partition(group), prefix, page).await?)
}

/// One page of the records an index lists (its entries' sort keys are `{prefix}{date}#{id}`),
/// in date order: from `from` and up to `to` when given, each entry's record read by `record_key`
/// from its id. Access must already have been checked.
pub(crate) async fn list_by_date<T: DeserializeOwned>(
    deps: &Deps,
    group: &GroupId,
    prefix: &str,
    (from, to): (Option<chrono::NaiveDate>, Option<chrono::NaiveDate>),
    page: (Option<&str>, Option<u32>),
    record_key: impl Fn(&str) -> Option<store::Key>,
) -> Result<Listing<Versioned<T>>, AppError> {
    let (cursor, limit) = page;
    let limit = page_size(limit)?;
    // `{prefix}{from}` sorts just before the first entry of that date.
    let after = match cursor {
        Some(cursor) => Some(decode_cursor(cursor)?),
        None => from.map(|from| format!("{prefix}{from}")),
    };
    crate::groups::load(deps, group).await?;
    let page = query_group(
        deps,
        group,
        prefix,
        PageRequest {
            limit,
            after,
            newest_first: false,
        },
    )
    .await?;
    let last = to.map(|to| to.to_string());
    let mut keys = Vec::new();
    let mut past_the_end = false;
    for entry in &page.records {
        let Some((date, id)) = entry.key.sk[prefix.len()..].split_once('#') else {
            continue;
        };
        if last.as_deref().is_some_and(|last| date > last) {
            past_the_end = true;
            break;
        }
        keys.extend(record_key(id));
    }
    let found = deps.records.get_many(&keys).await?;
    // In the index's order; an entry whose record is gone (mid-delete) is left out.
    let items = keys
        .iter()
        .filter_map(|key| found.iter().find(|record| &record.key == key))
        .map(Record::decode)
        .collect::<Result<_, _>>()?;
    Ok(Listing {
        items,
        next_cursor: if past_the_end {
            None
        } else {
            page.next.as_deref().map(encode_cursor)
        },
    })
}

/// A page size within bounds.
pub fn page_size(requested: Option<u32>) -> Result<u32, AppError> {
    match requested {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
        Some(_) => Err(AppError::BadBody(format!(
            "limit must be between 1 and {MAX_PAGE_SIZE}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = encode_cursor("PATIENT#pat_0190");
        assert_eq!(decode_cursor(&cursor).unwrap(), "PATIENT#pat_0190");
        assert!(matches!(decode_cursor("***"), Err(AppError::BadCursor)));
    }

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(page_size(None).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some(200)).unwrap(), 200);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(201)).is_err());
    }
}
