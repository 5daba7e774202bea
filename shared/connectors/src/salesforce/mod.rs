//! Salesforce (the practice's CRM), REST API for Contacts: see VENDOR_APIS.md §4 beside the
//! repository.
//!
//! - [`client`]: tokens (client credentials or JWT bearer) renewed when a session expires,
//!   queries, contacts, collections of 200, and the contacts changed in a window;
//! - [`connection`]: what an admin enters to connect an org, checked;
//! - [`mapping`]: the one table of how a contact reads as the fields kept in sync with Hint,
//!   and what carebridge writes to a contact;
//! - [`types`]: the Contact and collection results as the API sends them.

pub mod client;
pub mod connection;
pub mod mapping;
pub mod types;

pub use client::{Grant, Salesforce};
pub use connection::{Connection, SalesforceInput};
