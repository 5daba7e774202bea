//! Whether a group's people all have their lookup keys: read by every flow that finds people
//! (`finding`), moved on by the fill (`backfill`), and written complete with
//! each new group.

use crate::AppError;
use model::GroupId;
use serde::{Deserialize, Serialize};
use store::{Condition, Record, Write, lookups};

/// Whether a group's records all have their lookup keys, and how far filling them in has come
/// for a group whose records predate them (see `lookups_backfill`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeysState {
    pub complete: bool,
    /// While filling in: the kind being done and the sort key it has done up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<BackfillProgress>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillProgress {
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// The sort key of the last record done (patients first, then practitioners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    pub records_done: u64,
}

/// The state a new group starts with: nothing to fill in.
pub(crate) fn complete_from_the_start(group: &GroupId) -> Result<Write, AppError> {
    let state = KeysState {
        complete: true,
        progress: None,
    };
    Ok(Write::Put {
        record: Record::encode(lookups::state_key(group), 1, &state)?,
        condition: Condition::Absent,
    })
}
