//! Ensora data collection's customer API (formerly DataFinch Catalyst), as
//! `../shared/VENDOR_APIS.md` section 5 records it. The API is customer-gated, so every detail
//! of its contract (hosts, the token grant, paths, parameter and field names) lives in this
//! module alone: the real contract can replace these shapes when a customer's credentials come.

pub mod client;
pub mod types;

pub use client::{API_URL, ClientCredentials, Ensora, PAGE_SIZE, TOKEN_URL};
pub use types::{Response, Site, SiteAssignment, SoapNote, Student, User};
