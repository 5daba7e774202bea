//! carebridge's vendor connectors, one module per vendor (Elation, Cliniko, Hint, Salesforce,
//! Ensora): authentication, paging, rate limits, retries, webhook signature checks, and the
//! explicit tables that map each vendor's values onto the model.
//!
//! Each vendor's module arrives with its integration; the facts they follow are in
//! `../shared/VENDOR_APIS.md` beside the repository.
