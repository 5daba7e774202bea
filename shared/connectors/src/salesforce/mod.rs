//! Salesforce (the practice's CRM), REST API for Contacts: see VENDOR_APIS.md §4 beside the
//! repository.
//!
//! - [`mapping`]: the one table of how a contact reads as the fields kept in sync with Hint,
//!   and what carebridge writes to a contact;
//! - [`types`]: the Contact and collection results as the API sends them.

pub mod mapping;
pub mod types;
