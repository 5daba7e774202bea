//! A lease on one piece of a group's work, so two runs of it never overlap (two polls of one
//! group, say). Taking it is a conditional write: absent, or expired at the version read. A run
//! that dies keeps it only until it expires; the run that holds it gives it back when done.

use crate::{AppError, Deps};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use store::{Condition, Key, Record, StoreError, Write};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    expires_at: DateTime<Utc>,
}

/// A lease this run holds.
#[derive(Debug)]
pub struct Lease {
    key: Key,
    version: u64,
}

/// Takes the lease at `key` for `lasting`, or `None` while another run holds it.
pub async fn take(deps: &Deps, key: Key, lasting: Duration) -> Result<Option<Lease>, AppError> {
    let now = deps.clock.now();
    let current = deps.read::<Held>(&key).await?;
    let condition = match &current {
        Some(held) if held.value.expires_at > now => return Ok(None),
        Some(expired) => Condition::AtVersion(expired.version),
        None => Condition::Absent,
    };
    let version = current.map_or(1, |held| held.version + 1);
    let held = Held {
        expires_at: now + lasting,
    };
    match deps
        .records
        .write(vec![Write::Put {
            record: Record::encode(key.clone(), version, &held)?,
            condition,
        }])
        .await
    {
        Ok(()) => Ok(Some(Lease { key, version })),
        // Another run took it between the read and the write.
        Err(
            StoreError::AlreadyExists(_)
            | StoreError::VersionConflict { .. }
            | StoreError::NotFound(_)
            | StoreError::TransactionConflict,
        ) => Ok(None),
        Err(other) => Err(other.into()),
    }
}

impl Lease {
    /// Gives the lease back, unless it expired and another run has taken it since.
    pub async fn release(self, deps: &Deps) -> Result<(), AppError> {
        match deps
            .records
            .write(vec![Write::Delete {
                key: self.key,
                condition: Condition::AtVersion(self.version),
            }])
            .await
        {
            Ok(()) | Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
