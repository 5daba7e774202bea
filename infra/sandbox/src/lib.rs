//! Vendor sandboxes: stateful HTTP servers that follow each vendor's public contract closely
//! enough for carebridge's connectors to be tested against them over HTTP, and for the local
//! stack to run the whole flow on a laptop.
//!
//! Each sandbox has two faces:
//! - the vendor's API, as the vendor documents it (auth, paging, errors, signed webhooks);
//! - a control plane under `/_sandbox/` that plays the people using the vendor's product (a
//!   practice user editing a patient), sets up apps and data, injects faults (429, 500, slow,
//!   malformed or lost answers) and shows what the sandbox saw and sent.

pub mod cliniko;
mod courier;
pub mod elation;
pub mod ensora;
mod faults;
pub mod hint;
mod http;
mod random;
mod rate;
pub mod salesforce;

pub use http::Running;
