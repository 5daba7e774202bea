//! Cliniko (practice management), API v1: see VENDOR_APIS.md §2 beside the repository.
//!
//! - [`key`]: an API key, its shard and its host;
//! - [`client`]: Basic auth with the key, the app's `User-Agent`, paged lists through
//!   `links.next`, single patients, retries and a shared rate budget per key;
//! - [`mapping`]: the one table of how a Cliniko client becomes a carebridge patient;
//! - [`types`]: Cliniko's records as the API sends them.

pub mod client;
pub mod key;
pub mod mapping;
pub mod types;

pub use client::{AppointmentList, Cliniko, IDS_PER_REQUEST, Pages, PatientList};
pub use key::ApiKey;
