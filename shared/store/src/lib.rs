//! carebridge's storage: ports (traits the use cases are written against) and their AWS adapters.
//!
//! - [`records`]: versioned records in the single DynamoDB table; every write is conditional, so a
//!   stale write is refused, never silently lost. [`keys`] says where each kind of record lives.
//! - [`blobs`] (S3), [`queue`] (SQS), [`secrets`] (Secrets Manager, cached).
//! - [`lookups`]: the keys people are found by, kept with their records, and the group's counts.
//! - [`idempotency`]: the record every at-least-once consumer claims before doing its work.

pub mod aws;
pub mod blobs;
pub mod dynamo;
pub mod error;
pub mod idempotency;
pub mod keys;
pub mod lookups;
pub mod queue;
pub mod records;
pub mod secrets;

pub use error::StoreError;
pub use records::{Condition, Key, Page, PageRequest, Record, Records, Versioned, Write};
