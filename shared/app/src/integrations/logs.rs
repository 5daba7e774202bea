//! Every integration's own log (`model::integration_log`): entries written by the flows as they
//! go, kept [`KEEP_DAYS`] days by the table's TTL, and read newest first by the group's
//! integration admins. An entry names records by id only; nothing a patient told us goes in.

use super::lifecycle::allowed_kind;
use crate::paging::{Listing, decode_cursor, encode_cursor, page_size};
use crate::{AppError, Deps};
use model::access::Caller;
use model::integration::IntegrationKind;
use model::integration_log::{KEEP_DAYS, LogEntry, LogFilter, LogIds, LogLevel};
use model::{GroupId, LogEntryId};
use store::{Condition, PageRequest, Record, Write, keys};

/// The most entries one listing reads while it looks for ones that pass its filter: a filter
/// that matches little answers a short page with a cursor, rather than reading 30 days at once.
const MOST_READ: usize = 1_000;

/// Writes one entry (and the same to the function's own log). A failure to store it is logged
/// and not returned: the flow it describes has happened either way.
pub async fn write(
    deps: &Deps,
    group: &GroupId,
    kind: IntegrationKind,
    level: LogLevel,
    event: &str,
    message: impl Into<String>,
    ids: LogIds,
) {
    let entry = LogEntry {
        id: LogEntryId::generate(),
        at: deps.clock.now(),
        level,
        event: event.to_owned(),
        message: message.into(),
        ids,
    };
    match level {
        LogLevel::Debug => tracing::info!(%group, vendor = %kind, event, ids = ?entry.ids, "{}", entry.message),
        LogLevel::Error => tracing::warn!(%group, vendor = %kind, event, ids = ?entry.ids, "{}", entry.message),
        LogLevel::Exception => tracing::error!(%group, vendor = %kind, event, ids = ?entry.ids, "{}", entry.message),
    }
    let stored = async {
        let mut record = Record::encode(keys::integration_log(group, kind, &entry.id), 1, &entry)?;
        record.expires_at = Some((entry.at + chrono::Duration::days(KEEP_DAYS)).timestamp());
        deps.records
            .write(vec![Write::Put {
                record,
                condition: Condition::Absent,
            }])
            .await
    };
    if let Err(error) = stored.await {
        tracing::error!(%group, vendor = %kind, event, %error, "a log entry could not be stored");
    }
}

/// One page of the group's `kind` log, newest first, of the entries `filter` keeps: role
/// `integration_admin`. A page may hold fewer than `limit` entries and still have a cursor.
pub async fn list(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: IntegrationKind,
    filter: &LogFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<LogEntry>, AppError> {
    allowed_kind(caller, group, kind.as_str())?;
    crate::groups::load(deps, group).await?;
    let limit = page_size(limit)? as usize;
    let mut after = cursor.map(decode_cursor).transpose()?;
    let (mut items, mut read) = (Vec::new(), 0);
    loop {
        let page = deps
            .records
            .query(
                &keys::group_partition(group),
                &keys::integration_log_prefix(kind),
                PageRequest {
                    limit: (limit - items.len()).max(50) as u32,
                    after: after.clone(),
                    newest_first: true,
                },
            )
            .await?;
        let expired_before = deps.clock.now().timestamp();
        let mut stopped_early = false;
        for (i, record) in page.records.iter().enumerate() {
            read += 1;
            after = Some(record.key.sk.clone());
            // TTL deletion lags; an expired entry is gone as far as readers are concerned.
            if record.expires_at.is_some_and(|at| at <= expired_before) {
                continue;
            }
            let entry: LogEntry = record.decode()?.value;
            if filter.keeps(&entry) {
                items.push(entry);
                if items.len() == limit {
                    stopped_early = i + 1 < page.records.len();
                    break;
                }
            }
        }
        let more = stopped_early || page.next.is_some();
        if !more || items.len() == limit || read >= MOST_READ {
            let next_cursor = if more {
                after.as_deref().map(encode_cursor)
            } else {
                None
            };
            return Ok(Listing { items, next_cursor });
        }
    }
}
