//! Hint Health (direct primary care), provider API: see VENDOR_APIS.md §3 beside the repository.
//!
//! - [`client`]: Bearer practice keys, offset paging, single patients, matching, writes,
//!   retries and a shared rate budget, and webhook signatures;
//! - [`mapping`]: the one table of how a Hint patient reads as the fields kept in sync with
//!   Salesforce, and how they are written back;
//! - [`types`]: Hint's records and webhook envelope as the API sends them.

pub mod client;
pub mod mapping;
pub mod types;

pub use client::{Hint, PracticeKey, signature_is_valid};
