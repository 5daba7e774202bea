//! Elation Health (EHR), REST API v2.0: see VENDOR_APIS.md §1 beside the repository.
//!
//! - [`client`]: tokens (client credentials, or the legacy password grant), paged lists,
//!   patients, non-visit notes and event subscriptions, with retries;
//! - [`mapping`]: the one table of how Elation's values map to carebridge's, both ways;
//! - [`webhook`]: checking a delivery's Ed25519 signature;
//! - [`types`]: Elation's records as the API sends them.

pub mod client;
pub mod connection;
pub mod mapping;
pub mod types;
pub mod webhook;

pub use client::{Credentials, Elation, Pages};
pub use connection::{Connection, CredentialsInput};
