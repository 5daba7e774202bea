//! An integration's own log, which the group's admins read (`GET …/hint/logs`): what each flow
//! did or could not do, naming records by their ids only. Nothing a patient told us (a name, a
//! birthday, an address) ever goes into an entry, so the log can be kept and shown freely.

use crate::LogEntryId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How long entries are kept: the table's TTL removes them after this.
pub const KEEP_DAYS: i64 = 30;

/// The integration guide's levels: `debug` says what a flow did, `error` what it could not do
/// for a reason someone can fix (a record the vendor refused, a setting missing), `exception`
/// what failed unexpectedly (a vendor unreachable, an answer carebridge could not read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LogLevel {
    Debug,
    Error,
    Exception,
}

impl LogLevel {
    pub fn parse(raw: &str) -> Option<LogLevel> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "debug" => Some(LogLevel::Debug),
            "error" => Some(LogLevel::Error),
            "exception" => Some(LogLevel::Exception),
            _ => None,
        }
    }
}

/// The records an entry is about, by their ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogIds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// The vendor's delivery id, for an entry about a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogEntry {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: LogEntryId,
    pub at: DateTime<Utc>,
    pub level: LogLevel,
    /// What happened, as a stable code (`contact_updated`, `webhook_dropped_echo`, …).
    pub event: String,
    /// The same in words, naming fields but never their values.
    pub message: String,
    #[serde(flatten)]
    pub ids: LogIds,
}

/// Which entries a reader asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub level: Option<LogLevel>,
    pub batch_id: Option<String>,
}

impl LogFilter {
    pub fn keeps(&self, entry: &LogEntry) -> bool {
        self.level.is_none_or(|level| level == entry.level)
            && self
                .batch_id
                .as_deref()
                .is_none_or(|batch| entry.ids.batch_id.as_deref() == Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(level: LogLevel, batch: Option<&str>) -> LogEntry {
        LogEntry {
            id: LogEntryId::generate(),
            at: Utc::now(),
            level,
            event: "contact_updated".into(),
            message: "the contact took the patient's email".into(),
            ids: LogIds {
                batch_id: batch.map(str::to_owned),
                ..LogIds::default()
            },
        }
    }

    #[test]
    fn a_log_filter_keeps_entries_of_its_level_and_batch() {
        let filter = LogFilter {
            level: Some(LogLevel::Error),
            batch_id: Some("bat-1".into()),
        };
        assert!(filter.keeps(&entry(LogLevel::Error, Some("bat-1"))));
        assert!(!filter.keeps(&entry(LogLevel::Debug, Some("bat-1"))));
        assert!(!filter.keeps(&entry(LogLevel::Error, None)));
        assert!(LogFilter::default().keeps(&entry(LogLevel::Exception, None)));
        assert_eq!(LogLevel::parse(" Exception "), Some(LogLevel::Exception));
        assert_eq!(LogLevel::parse("warn"), None);
    }

    #[test]
    fn an_entry_reads_back_with_its_ids_beside_its_fields() {
        let written = entry(LogLevel::Debug, Some("bat-1"));
        let json = serde_json::to_value(&written).unwrap();
        assert_eq!(json["batch_id"], "bat-1");
        assert!(json.get("patient_id").is_none());
        assert_eq!(serde_json::from_value::<LogEntry>(json).unwrap(), written);
    }
}
