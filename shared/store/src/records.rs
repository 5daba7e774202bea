//! The records port: versioned JSON records under a partition key (always starting with the
//! group) and a sort key. Every write states its condition, so two writers can never silently
//! overwrite each other.

use crate::error::StoreError;
use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// Where a record lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

/// One stored record: its key, its version (1 when created, +1 on every write) and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Key,
    pub version: u64,
    pub data: serde_json::Value,
    /// Unix seconds after which the table may delete the record (DynamoDB TTL). Readers that
    /// care about expiry must still check it: TTL deletion can lag by days.
    pub expires_at: Option<i64>,
}

/// A typed value with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub version: u64,
    pub value: T,
}

impl Record {
    pub fn encode<T: Serialize>(key: Key, version: u64, value: &T) -> Result<Record, StoreError> {
        let data = serde_json::to_value(value).map_err(|e| StoreError::Corrupt {
            key: key.clone(),
            reason: e.to_string(),
        })?;
        Ok(Record {
            key,
            version,
            data,
            expires_at: None,
        })
    }

    pub fn decode<T: DeserializeOwned>(&self) -> Result<Versioned<T>, StoreError> {
        let value = T::deserialize(&self.data).map_err(|e| StoreError::Corrupt {
            key: self.key.clone(),
            reason: e.to_string(),
        })?;
        Ok(Versioned {
            version: self.version,
            value,
        })
    }
}

/// What must hold for a write to go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// No record may exist at the key yet (a create).
    Absent,
    /// The record must exist at exactly this version (an update or delete of what was read).
    AtVersion(u64),
    /// No condition: for records that are not shared, such as a cache.
    Always,
    /// The record is absent or has been written fewer than this many times: how a count
    /// (`Write::Count`, one per change) stays under a limit however many writers share it.
    VersionBelow(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Put {
        record: Record,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing, but the transaction goes ahead only if `condition` holds for the record
    /// at `key`: a rule that depends on another record cannot be broken by a concurrent write.
    Check {
        key: Key,
        condition: Condition,
    },
    /// Adds `member` to the set kept at `key`, creating the record when it is new. It needs no
    /// read first, and writers adding or removing different members never conflict: how a key
    /// that several people share (one e-mail, one name and birthday) holds all of them. Readers
    /// find the set as the record's `data.members`, sorted; its version counts the changes.
    AddMember {
        key: Key,
        member: String,
    },
    /// Removes `member` from the set kept at `key`; nothing when it is not there.
    RemoveMember {
        key: Key,
        member: String,
    },
    /// Adds `by` (negative to subtract) to the count kept at `key`, creating it at 0 first,
    /// if `condition` holds. Readers find it as `data.count`. With `expires_at` (UNIX
    /// seconds) the store deletes the record after then (a count of a passing time slice).
    Count {
        key: Key,
        by: i64,
        condition: Condition,
        expires_at: Option<i64>,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { record, .. } => &record.key,
            Write::Delete { key, .. }
            | Write::Check { key, .. }
            | Write::AddMember { key, .. }
            | Write::RemoveMember { key, .. }
            | Write::Count { key, .. } => key,
        }
    }

    pub fn condition(&self) -> Condition {
        match self {
            Write::Put { condition, .. }
            | Write::Delete { condition, .. }
            | Write::Check { condition, .. }
            | Write::Count { condition, .. } => *condition,
            Write::AddMember { .. } | Write::RemoveMember { .. } => Condition::Always,
        }
    }
}

/// Most writes one atomic [`Records::write`] may hold (DynamoDB's TransactWriteItems limit).
pub const MAX_WRITES_PER_TRANSACTION: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Most records to return (the store may return fewer).
    pub limit: u32,
    /// The sort key of the last record of the previous page.
    pub after: Option<String>,
    /// Highest sort key first (newest first, for keys that sort by time).
    pub newest_first: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// The sort key to continue after, when more records may follow.
    pub next: Option<String>,
}

#[async_trait]
pub trait Records: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Record>, StoreError>;

    /// Reads many records in as few requests as the store allows; missing keys are left out.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Record>, StoreError>;

    /// Records under `pk` whose sort key starts with `sk_prefix`, in sort-key order.
    async fn query(&self, pk: &str, sk_prefix: &str, page: PageRequest) -> Result<Page, StoreError>;

    /// Applies every write or none (at most [`MAX_WRITES_PER_TRANSACTION`]). A failed condition
    /// is reported as `AlreadyExists`, `NotFound` or `VersionConflict` for the first write
    /// whose condition did not hold.
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError>;
}

/// Explains a failed condition from the record that was there (if any).
pub(crate) fn refused(write: &Write, current: Option<u64>) -> StoreError {
    let key = write.key().clone();
    match (write.condition(), current) {
        (Condition::Absent, _) => StoreError::AlreadyExists(key),
        (_, None) => StoreError::NotFound(key),
        (_, Some(current)) => StoreError::VersionConflict { key, current },
    }
}
