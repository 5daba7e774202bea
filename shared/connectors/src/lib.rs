//! carebridge's vendor connectors, one module per vendor (Elation, Cliniko, Hint, Salesforce,
//! Ensora): authentication, paging, rate limits, retries, webhook signature checks, and the
//! explicit tables that map each vendor's values onto the model.
//!
//! The facts each module follows are in `../shared/VENDOR_APIS.md` beside the repository.

pub mod cliniko;
pub mod elation;
pub mod ensora;
pub mod error;
pub mod hint;
pub mod http;
pub mod salesforce;

pub use error::ConnectorError;
