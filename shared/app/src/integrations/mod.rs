//! carebridge's integrations with vendors.
//!
//! What every vendor shares lives here once: the life cycle of an integration in a group
//! ([`lifecycle`]: activate, credentials, enable, cancel, mutual exclusion), its background runs
//! ([`runs`]: status, progress, per-record results), the jobs on the sync queue and their
//! dispatch ([`jobs`]) and the receiving of webhooks ([`webhooks`]). Each vendor lives in its
//! own folder and says what is its own through [`Vendor`]; adding one means its folder plus a
//! line in [`vendor`] (and one in [`VendorJob`] if it has jobs of its own). A vendor's
//! folder uses the framework and the shared use cases, never another vendor's folder.

pub mod budget;
pub mod cliniko;
pub mod elation;
pub mod ensora;
pub mod hint;
pub mod jobs;
pub mod lease;
pub mod lifecycle;
pub mod logs;
pub mod runs;
pub mod webhooks;

use crate::{AppError, Deps};
use async_trait::async_trait;
use model::GroupId;
use model::integration::{IntegrationKind, Subscribed};
use model::patient::{Patient, PatientFields};
use model::sync::{PlanItem, SyncRun};
use store::Versioned;

/// Credentials a vendor has accepted.
pub struct Verified {
    /// What Secrets Manager keeps (JSON the vendor's folder reads back).
    pub secret: String,
    /// The address the credentials reach, shown on the integration (never a secret).
    pub base_url: String,
}

/// What one vendor's integration does that no other does the same way.
#[async_trait]
pub trait Vendor: Sync {
    fn kind(&self) -> IntegrationKind;

    /// Reads the credentials an admin entered (the body of `PUT …/credentials`) and checks them
    /// with the vendor: refused with the vendor's reason, or what to store.
    async fn verify_credentials(&self, deps: &Deps, body: serde_json::Value) -> Result<Verified, AppError>;

    /// Whether the integration is previewed before it is enabled, and imports everything once
    /// when it is (Elation); otherwise it is enabled as soon as its credentials are verified
    /// and reads the vendor when asked (Cliniko).
    fn previews_then_imports(&self) -> bool {
        true
    }

    /// Whether verified credentials enable the integration at once (Ensora: its first poll
    /// starts right away) rather than waiting for an admin's enable.
    fn enables_with_credentials(&self) -> bool {
        false
    }

    /// The roles a caller must hold, every one, to enter the credentials, beyond
    /// `integration_admin` (Ensora: an admin of both systems).
    fn credentials_need(&self) -> &'static [model::access::Role] {
        &[]
    }

    /// The jobs to queue when the integration is cancelled (Hint forgets its copy of the
    /// practice's patients' names).
    fn jobs_when_cancelled(&self, _group: &GroupId) -> Vec<jobs::SyncJob> {
        Vec::new()
    }

    /// The jobs to queue when an integration without a preview is enabled (Hint reads its
    /// patients for the name search).
    fn jobs_when_enabled(&self, _group: &GroupId) -> Vec<jobs::SyncJob> {
        Vec::new()
    }

    /// The syncs an admin may ask for once it is active (`RunKind::FullSync`,
    /// `RunKind::IncrementalSync`); none for a vendor kept in step by webhooks.
    fn syncs(&self) -> &'static [model::sync::RunKind] {
        &[]
    }

    /// Subscribes to the vendor's webhooks, delivered to `target`, when the integration is
    /// enabled; subscribing again answers with the existing subscriptions.
    async fn subscribe(&self, _deps: &Deps, _group: &GroupId, _target: &str) -> Result<Vec<Subscribed>, AppError> {
        Ok(Vec::new())
    }

    /// Deletes the subscriptions at the vendor when the integration is cancelled.
    async fn unsubscribe(&self, _deps: &Deps, _group: &GroupId, _subscriptions: &[Subscribed]) -> Result<(), AppError> {
        Ok(())
    }

    /// Does what a started run is for (reading the vendor, planning, writing), reporting its
    /// progress with [`runs::report`]; answers with every record's outcome.
    async fn perform_run(
        &self,
        deps: &Deps,
        run: Versioned<SyncRun>,
    ) -> Result<(Versioned<SyncRun>, Vec<PlanItem>), AppError>;

    /// The vendor's webhook deliveries, if it sends any.
    fn webhooks(&self) -> Option<&'static dyn webhooks::Receiver> {
        None
    }

    /// The patient fields this vendor keeps for a patient linked to it, which carebridge's
    /// callers may not edit (profile data that flows one way, vendor → carebridge); none for a
    /// vendor kept in step both ways.
    fn owned_patient_fields(&self, _linked: &PatientFields) -> &'static [&'static str] {
        &[]
    }

    /// After a caller's edit of a patient (already stored): what the vendor should hear of it.
    /// A failure is logged naming the patient, never returned: the edit stands.
    async fn patient_edited(&self, _deps: &Deps, _before: &PatientFields, _after: &Patient) {}
}

/// Every vendor's own jobs on the sync queue: one line per vendor that has any.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum VendorJob {
    Elation(elation::Job),
    Hint(hint::Job),
    Ensora(ensora::Job),
}

impl VendorJob {
    fn job(&self) -> &dyn jobs::Job {
        match self {
            VendorJob::Elation(job) => job,
            VendorJob::Hint(job) => job,
            VendorJob::Ensora(job) => job,
        }
    }
}

/// Every vendor carebridge connects to, by its integration.
pub fn vendor(kind: IntegrationKind) -> Option<&'static dyn Vendor> {
    match kind {
        IntegrationKind::Elation => Some(&elation::Elation),
        IntegrationKind::Cliniko => Some(&cliniko::Cliniko),
        IntegrationKind::Hint => Some(&hint::Hint),
        IntegrationKind::Ensora => Some(&ensora::Ensora),
    }
}

/// The vendor carebridge connects to for `kind`, or a refusal naming it.
pub(crate) fn connectable(kind: IntegrationKind) -> Result<&'static dyn Vendor, AppError> {
    vendor(kind).ok_or_else(|| AppError::Conflict(format!("carebridge does not connect to {} yet", kind.title())))
}

/// Refuses a caller's edit of fields a vendor keeps for the patient (409 naming the vendor and
/// the fields), so nothing is silently overwritten at the vendor's next sync.
pub(crate) fn may_edit_patient(before: &PatientFields, after: &PatientFields) -> Result<(), AppError> {
    let changed: Vec<String> = after.changes_from(before).into_iter().map(|c| c.field).collect();
    for vendor in IntegrationKind::ALL.into_iter().filter_map(vendor) {
        let owned = vendor.owned_patient_fields(before);
        let taken: Vec<&str> = changed
            .iter()
            .map(String::as_str)
            .filter(|field| owned.contains(field))
            .collect();
        if !taken.is_empty() {
            let owner = vendor.kind().title();
            return Err(AppError::Conflict(format!(
                "{owner} keeps {} for this patient, who is linked to {owner}: change them in {owner}, and its next sync brings them here",
                taken.join(", ")
            )));
        }
    }
    Ok(())
}

/// Tells every vendor of a caller's edit of a patient.
pub(crate) async fn patient_edited(deps: &Deps, before: &PatientFields, after: &Patient) {
    for kind in IntegrationKind::ALL {
        if let Some(vendor) = vendor(kind) {
            vendor.patient_edited(deps, before, after).await;
        }
    }
}
