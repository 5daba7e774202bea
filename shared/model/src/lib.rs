//! carebridge's domain: the types every other crate speaks and the pure rules about them.
//!
//! Nothing here does I/O, talks to AWS or is async, so every rule can be unit-tested on its own:
//! validation and normalisation of what callers send, who may do what, and how updates merge.

pub mod access;
pub mod agency;
pub mod appointment;
mod checks;
pub mod csv_text;
pub mod ensora;
pub mod error;
pub mod external;
pub mod group;
pub mod hint_batch;
pub mod hint_salesforce;
pub mod ids;
pub mod import;
pub mod integration;
pub mod integration_log;
pub mod lookup;
pub mod merge_patch;
mod nanp;
pub mod normalize;
pub mod patient;
pub mod plan_note;
pub mod practitioner;
pub mod sync;

pub use error::{FieldError, ValidationErrors};
pub use ids::{
    AgencyId, AppointmentId, GroupId, HintBatchId, ImportId, LogEntryId, PatientId, PlanNoteId, PractitionerId,
    SyncRunId,
};
