//! Idempotency records: every trigger is at-least-once, so a consumer first claims the event's
//! own id (S3 object version, vendor event id, SQS message id + job key) and only then does the
//! work. Modelled on Powertools' idempotency utility:
//!
//! - a claim is `IN_PROGRESS` until the consumer completes it (storing its result) or releases it
//!   (after a failure, so the retry can claim it again);
//! - an `IN_PROGRESS` claim older than its in-progress window (the invocation timed out or
//!   crashed) may be taken over, so a dead consumer never blocks an event for good;
//! - the record's own expiry is checked here, not left to DynamoDB TTL, which deletes lazily;
//! - the payload's hash is kept, so reusing a key for a different payload is caught.

use crate::error::StoreError;
use crate::keys;
use crate::records::{Condition, Key, Record, Records, Write};
use chrono::{DateTime, Duration, Utc};
use model::GroupId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    InProgress,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Claim {
    status: Status,
    payload_hash: String,
    /// Until when an `IN_PROGRESS` claim holds (Unix seconds).
    in_progress_until: i64,
    /// Until when the record counts at all (Unix seconds).
    expires_at: i64,
    result: Option<serde_json::Value>,
}

/// How long claims hold.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// How long one attempt may take before another may take the event over. Set it from the
    /// invocation's remaining time.
    pub in_progress: Duration,
    /// How long a completed result is remembered (vendors retry for up to 72 hours).
    pub keep: Duration,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            in_progress: Duration::minutes(15),
            keep: Duration::days(4),
        }
    }
}

/// The right to do an event's work, handed out by [`Idempotency::begin`].
#[derive(Debug, Clone, PartialEq)]
#[must_use = "complete or release the ticket, or the event stays claimed until the in-progress window ends"]
pub struct Ticket {
    key: Key,
    version: u64,
    claim: Claim,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nobody has handled this event: do the work, then complete or release the ticket.
    Proceed(Ticket),
    /// It was handled before; here is what that run recorded.
    AlreadyDone(serde_json::Value),
    /// Another attempt is handling it right now: try again later.
    InProgressElsewhere,
}

/// A stable hash of a payload, stored with the claim.
pub fn payload_hash(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

pub struct Idempotency<'a> {
    records: &'a dyn Records,
    windows: Windows,
}

impl<'a> Idempotency<'a> {
    pub fn new(records: &'a dyn Records, windows: Windows) -> Self {
        Idempotency { records, windows }
    }

    /// Claims the event `key` of consumer `scope` in `group`.
    pub async fn begin(
        &self,
        group: &GroupId,
        scope: &str,
        key: &str,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let key = keys::idempotency(group, scope, key);
        let claim = Claim {
            status: Status::InProgress,
            payload_hash: payload_hash(payload),
            in_progress_until: (now + self.windows.in_progress).timestamp(),
            expires_at: (now + self.windows.keep).timestamp(),
            result: None,
        };
        let write = |version: u64, condition: Condition| -> Result<(Write, Ticket), StoreError> {
            let mut record = Record::encode(key.clone(), version, &claim)?;
            record.expires_at = Some(claim.expires_at);
            let ticket = Ticket {
                key: key.clone(),
                version,
                claim: claim.clone(),
            };
            Ok((Write::Put { record, condition }, ticket))
        };

        let (first, ticket) = write(1, Condition::Absent)?;
        match self.records.write(vec![first]).await {
            Ok(()) => return Ok(Outcome::Proceed(ticket)),
            Err(StoreError::AlreadyExists(_)) => {}
            Err(other) => return Err(other),
        }
        let Some(existing) = self.records.get(&key).await? else {
            // Deleted between our write and our read: a release just happened. Let the event be
            // retried rather than racing for it here.
            return Ok(Outcome::InProgressElsewhere);
        };
        let current = existing.decode::<Claim>()?;
        let now_s = now.timestamp();
        let expired = current.value.expires_at <= now_s;
        let abandoned = current.value.status == Status::InProgress && current.value.in_progress_until <= now_s;
        if !expired && current.value.payload_hash != claim.payload_hash {
            return Err(StoreError::IdempotencyKeyReused(key.sk.clone()));
        }
        if expired || abandoned {
            let (takeover, ticket) = write(current.version + 1, Condition::AtVersion(current.version))?;
            return match self.records.write(vec![takeover]).await {
                Ok(()) => Ok(Outcome::Proceed(ticket)),
                Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(Outcome::InProgressElsewhere),
                Err(other) => Err(other),
            };
        }
        Ok(match (current.value.status, current.value.result) {
            (Status::Completed, result) => Outcome::AlreadyDone(result.unwrap_or(serde_json::Value::Null)),
            (Status::InProgress, _) => Outcome::InProgressElsewhere,
        })
    }

    /// Records the work as done with its result. Fails with `VersionConflict` if this attempt's
    /// claim ran out and another attempt took the event over.
    pub async fn complete(&self, ticket: Ticket, result: serde_json::Value) -> Result<(), StoreError> {
        let claim = Claim {
            status: Status::Completed,
            result: Some(result),
            ..ticket.claim
        };
        let mut record = Record::encode(ticket.key, ticket.version + 1, &claim)?;
        record.expires_at = Some(claim.expires_at);
        self.records
            .write(vec![Write::Put {
                record,
                condition: Condition::AtVersion(ticket.version),
            }])
            .await
    }

    /// Gives the claim up after a failure, so a retry may claim the event again.
    pub async fn release(&self, ticket: Ticket) -> Result<(), StoreError> {
        let released = self
            .records
            .write(vec![Write::Delete {
                key: ticket.key,
                condition: Condition::AtVersion(ticket.version),
            }])
            .await;
        match released {
            // Someone else already took it over, or it is gone: nothing of ours to give up.
            Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(()),
            other => other,
        }
    }
}
