//! Elation, the EMR: carebridge and Elation keep one another's patients and physicians in step.
//!
//! - [`runs`]: the preview and the one-time initial import when the integration is enabled.
//! - [`inbound`]: Elation's changes, as its webhooks ([`webhooks`]) report them, applied here.
//! - [`outbound`]: a caller's edits pushed to Elation, and plan notes posted as non-visit notes.

pub mod inbound;
pub mod outbound;
pub mod runs;
pub mod webhooks;

use super::lifecycle::stored_secret;
use super::{Vendor, Verified};
use crate::{AppError, Deps};
use async_trait::async_trait;
use connectors::elation::types::Event;
use connectors::elation::{Connection, CredentialsInput};
use model::integration::{IntegrationKind, Subscribed};
use model::patient::{Patient, PatientFields};
use model::sync::{PlanItem, SyncRun};
use model::{GroupId, PatientId, PlanNoteId};
use serde::{Deserialize, Serialize};
use store::Versioned;

/// The Elation resources whose changes carebridge follows by webhook.
pub const RESOURCES: [&str; 2] = ["patients", "physicians"];

/// Elation's integration, as the framework sees it.
pub struct Elation;

#[async_trait]
impl Vendor for Elation {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Elation
    }

    /// OAuth client credentials and the API's address, checked by getting a token.
    async fn verify_credentials(&self, deps: &Deps, body: serde_json::Value) -> Result<Verified, AppError> {
        let input: CredentialsInput = serde_json::from_value(body).map_err(|e| AppError::BadBody(e.to_string()))?;
        let connection = input.validate(deps.vendors.allow_local_urls)?;
        connect(deps, &connection)?.check_credentials().await?;
        let secret = serde_json::to_string(&connection).map_err(|e| AppError::Internal(e.to_string()))?;
        Ok(Verified {
            secret,
            base_url: connection.base_url,
        })
    }

    async fn subscribe(&self, deps: &Deps, group: &GroupId, target: &str) -> Result<Vec<Subscribed>, AppError> {
        let client = client(deps, group).await?;
        let mut subscriptions = Vec::new();
        for resource in RESOURCES {
            let subscription = client.subscribe(resource, target).await?;
            subscriptions.push(Subscribed {
                id: subscription.id.to_string(),
                resource: subscription.resource,
                signing_pub_key: subscription.signing_pub_key,
            });
        }
        Ok(subscriptions)
    }

    async fn unsubscribe(&self, deps: &Deps, group: &GroupId, subscriptions: &[Subscribed]) -> Result<(), AppError> {
        let client = client(deps, group).await?;
        for subscription in subscriptions {
            let id = subscription.id.parse().map_err(|_| {
                AppError::Internal(format!("stored subscription id {} is not Elation's", subscription.id))
            })?;
            client.unsubscribe(id).await?;
        }
        Ok(())
    }

    async fn perform_run(
        &self,
        deps: &Deps,
        run: Versioned<SyncRun>,
    ) -> Result<(Versioned<SyncRun>, Vec<PlanItem>), AppError> {
        runs::perform(deps, run).await
    }

    fn webhooks(&self) -> Option<&'static dyn super::webhooks::Receiver> {
        Some(&webhooks::Webhooks)
    }

    async fn patient_edited(&self, deps: &Deps, before: &PatientFields, after: &Patient) {
        outbound::patient_edited(deps, before, after).await;
    }
}

/// An Elation client for a stored or just-entered connection.
pub fn connect(deps: &Deps, connection: &Connection) -> Result<connectors::elation::Elation, AppError> {
    Ok(connectors::elation::Elation::new(
        &connection.base_url,
        connection.credentials.clone(),
        deps.vendors.retry,
        deps.vendors.timeout,
    )?)
}

/// An Elation client with the group's stored credentials.
pub(crate) async fn client(deps: &Deps, group: &GroupId) -> Result<connectors::elation::Elation, AppError> {
    let secret = stored_secret(deps, group, IntegrationKind::Elation).await?;
    let connection: Connection = serde_json::from_str(&secret)
        .map_err(|e| AppError::Internal(format!("the stored Elation credentials are unreadable: {e}")))?;
    connect(deps, &connection)
}

impl From<Job> for super::jobs::SyncJob {
    fn from(job: Job) -> Self {
        super::jobs::SyncJob::Vendor(super::VendorJob::Elation(job))
    }
}

/// Elation's own jobs on the sync queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Apply a change Elation reported by webhook (already proven to be Elation's).
    ElationEvent { group: GroupId, event: Box<Event> },
    /// Send what a caller changed of a linked patient's demographics (`fields`, carebridge's
    /// names) to Elation, as carebridge now holds them.
    PushPatient {
        group: GroupId,
        patient: PatientId,
        #[serde(default)]
        fields: Vec<String>,
    },
    /// Post a plan note to Elation.
    PostPlanNote {
        group: GroupId,
        patient: PatientId,
        note: PlanNoteId,
    },
}

#[async_trait]
impl super::jobs::Job for Job {
    fn group(&self) -> Option<&GroupId> {
        match self {
            Job::ElationEvent { group, .. } | Job::PushPatient { group, .. } | Job::PostPlanNote { group, .. } => {
                Some(group)
            }
        }
    }

    fn record(&self) -> String {
        match self {
            Job::ElationEvent { event, .. } => format!(
                "elation {} {} (event {})",
                event.resource,
                event
                    .data
                    .as_ref()
                    .and_then(|d| d.get("id"))
                    .map_or_else(|| "?".to_owned(), ToString::to_string),
                event.dedupe_key().unwrap_or_default()
            ),
            Job::PushPatient { patient, .. } => format!("patient {patient} (push to Elation)"),
            Job::PostPlanNote { patient, note, .. } => format!("plan note {note} of patient {patient}"),
        }
    }

    async fn perform(&self, deps: &Deps) -> Result<(), AppError> {
        match self {
            Job::ElationEvent { group, event } => {
                let applied = inbound::apply(deps, group, event).await?;
                tracing::info!(%group, resource = %event.resource, ?applied, "an Elation change was handled");
                Ok(())
            }
            Job::PushPatient { group, patient, fields } => outbound::push_patient(deps, group, patient, fields).await,
            Job::PostPlanNote { group, patient, note } => outbound::post_plan_note(deps, group, patient, note).await,
        }
    }

    async fn abandon(&self, deps: &Deps, reason: &str) -> Result<(), AppError> {
        match self {
            Job::PostPlanNote { group, patient, note } => {
                outbound::abandon_plan_note(deps, group, patient, note, reason).await
            }
            Job::ElationEvent { .. } | Job::PushPatient { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrations::jobs::SyncJob;

    #[test]
    fn elation_jobs_read_back_from_the_sync_queue_as_they_were_written() {
        let job = SyncJob::from(Job::PushPatient {
            group: GroupId::parse("acme").unwrap(),
            patient: PatientId::generate(),
            fields: vec!["first_name".into()],
        });
        let body = serde_json::to_string(&job).unwrap();
        assert!(body.starts_with(r#"{"job":"push_patient","#), "{body}");
        assert_eq!(serde_json::from_str::<SyncJob>(&body).unwrap(), job);
        // A push queued before pushes named their fields sends every field that differs.
        let older = format!(
            r#"{{"job":"push_patient","group":"acme","patient":"{}"}}"#,
            PatientId::generate()
        );
        let read: SyncJob = serde_json::from_str(&older).unwrap();
        assert!(matches!(
            read,
            SyncJob::Vendor(super::super::VendorJob::Elation(Job::PushPatient { fields, .. })) if fields.is_empty()
        ));
    }
}
