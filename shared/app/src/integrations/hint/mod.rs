//! Hint Health ⇄ Salesforce: a practice's Hint patients and its Salesforce contacts, linked and
//! kept in sync both ways (the rules are `model::hint_salesforce`).
//!
//! Connecting takes three secrets, each checked at once where it can be: the practice's Hint
//! API key (one read of Hint), the webhook signature key Hint signs deliveries with (its form;
//! Hint offers no call that proves it), and the Salesforce connected app (a token from the
//! org's My Domain). They are kept together in Secrets Manager, never returned or logged. Like
//! Cliniko, the integration is enabled as soon as they are verified: nothing is imported until
//! a batch is asked for.

pub mod admin;
pub mod batches;
pub mod links;
pub mod pairs;
pub mod poll;
pub mod search;
pub mod settings;
pub mod webhooks;

use super::budget::{RateLimit, SharedBudget};
use super::lifecycle::{self, stored_secret};
use super::logs;
use super::{Vendor, Verified};
use crate::{AppError, Deps};
use async_trait::async_trait;
use connectors::hint::types::{Event, Patient as HintPatient};
use connectors::hint::{Hint as HintApi, PracticeKey};
use connectors::http::{Gate, Open};
use connectors::salesforce::{Connection, Salesforce, SalesforceInput};
use model::integration::IntegrationKind;
use model::integration_log::{LogIds, LogLevel};
use model::sync::{PlanItem, SyncRun};
use model::{FieldError, GroupId, ValidationErrors};
use pairs::{Applied, ContactNow, PatientNow, Sides};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use store::Versioned;

/// Hint ⇄ Salesforce, as the framework sees it.
pub struct Hint;

/// Hint's lower published limit: 20 requests a second per practice key, shared by every
/// function calling one group's Hint.
pub const HINT_LIMIT: RateLimit = RateLimit {
    requests: 20,
    per: std::time::Duration::from_secs(1),
};

/// The shortest webhook signature key carebridge accepts: Hint's are long random texts, and a
/// short one would be easy to guess.
const MIN_SIGNATURE_KEY: usize = 16;

/// What `PUT …/integrations/hint/credentials` takes.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsInput {
    practice_api_key: Option<String>,
    webhook_signature_key: Option<String>,
    salesforce: Option<SalesforceInput>,
}

/// What Secrets Manager keeps.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub practice_api_key: PracticeKey,
    pub webhook_signature_key: String,
    pub salesforce: Connection,
}

impl CredentialsInput {
    /// Every problem at once, before any vendor is called.
    fn validate(self, allow_local: bool) -> Result<Credentials, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let key = match self
            .practice_api_key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
        {
            None => {
                errors.push(FieldError::required("practice_api_key"));
                None
            }
            Some(raw) => match PracticeKey::parse(raw) {
                Ok(key) => Some(key),
                Err(error) => {
                    let detail = match error {
                        connectors::ConnectorError::Settings { detail, .. } => detail,
                        other => other.to_string(),
                    };
                    errors.push(FieldError::new("practice_api_key", "invalid_api_key", detail));
                    None
                }
            },
        };
        let signing = self
            .webhook_signature_key
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty());
        match &signing {
            None => errors.push(FieldError::required("webhook_signature_key")),
            Some(key) if key.chars().count() < MIN_SIGNATURE_KEY || key.chars().any(char::is_whitespace) => {
                errors.push(FieldError::new(
                    "webhook_signature_key",
                    "invalid_signature_key",
                    format!("the webhook signature key is one word of at least {MIN_SIGNATURE_KEY} characters, as Hint's partner portal shows it"),
                ));
            }
            Some(_) => {}
        }
        let salesforce = match self.salesforce {
            None => {
                errors.push(FieldError::required("salesforce"));
                None
            }
            Some(input) => match input.validate("salesforce", allow_local) {
                Ok(connection) => Some(connection),
                Err(found) => {
                    errors.0.extend(found.0);
                    None
                }
            },
        };
        match (key, signing, salesforce) {
            (Some(practice_api_key), Some(webhook_signature_key), Some(salesforce)) if errors.is_empty() => {
                Ok(Credentials {
                    practice_api_key,
                    webhook_signature_key,
                    salesforce,
                })
            }
            _ => Err(errors),
        }
    }
}

#[async_trait]
impl Vendor for Hint {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Hint
    }

    /// The practice key (one read of Hint) and the Salesforce app (a token); refused with the
    /// vendor's own reason.
    async fn verify_credentials(&self, deps: &Deps, body: serde_json::Value) -> Result<Verified, AppError> {
        let input: CredentialsInput = serde_json::from_value(body).map_err(|e| AppError::BadBody(e.to_string()))?;
        let credentials = input.validate(deps.vendors.allow_local_urls)?;
        // Calls with credentials not stored yet: they spend no group's budget.
        hint_with(deps, &credentials, Arc::new(Open))?.check_key().await?;
        salesforce_with(deps, &credentials.salesforce, Arc::new(Open))?
            .check_credentials()
            .await?;
        let secret = serde_json::to_string(&credentials)
            .map_err(|e| AppError::Internal(format!("the Hint credentials could not be encoded: {e}")))?;
        Ok(Verified {
            secret,
            base_url: deps.vendors.hint_api.clone(),
        })
    }

    fn previews_then_imports(&self) -> bool {
        false
    }

    fn jobs_when_enabled(&self, group: &GroupId) -> Vec<super::jobs::SyncJob> {
        vec![Job::ReadPatients { group: group.clone() }.into()]
    }

    fn jobs_when_cancelled(&self, group: &GroupId) -> Vec<super::jobs::SyncJob> {
        vec![Job::ForgetPatients { group: group.clone() }.into()]
    }

    fn webhooks(&self) -> Option<&'static dyn super::webhooks::Receiver> {
        Some(&webhooks::Webhooks)
    }

    async fn perform_run(
        &self,
        _deps: &Deps,
        run: Versioned<SyncRun>,
    ) -> Result<(Versioned<SyncRun>, Vec<PlanItem>), AppError> {
        Err(AppError::Conflict(format!(
            "Hint ⇄ Salesforce runs no {:?} runs",
            run.value.kind
        )))
    }
}

fn hint_with(deps: &Deps, credentials: &Credentials, gate: Arc<dyn Gate>) -> Result<HintApi, AppError> {
    let base = connectors::http::parse_base_url("Hint", &deps.vendors.hint_api, deps.vendors.allow_local_urls)?;
    Ok(HintApi::new(
        base,
        credentials.practice_api_key.clone(),
        deps.vendors.retry,
        deps.vendors.timeout,
        gate,
    )?)
}

fn salesforce_with(deps: &Deps, connection: &Connection, gate: Arc<dyn Gate>) -> Result<Salesforce, AppError> {
    let domain = connectors::http::parse_base_url("Salesforce", &connection.my_domain, deps.vendors.allow_local_urls)?;
    Ok(Salesforce::new(
        domain,
        connection.grant.clone(),
        deps.vendors.retry,
        deps.vendors.timeout,
        gate,
    )?)
}

/// The group's stored credentials.
pub async fn credentials(deps: &Deps, group: &GroupId) -> Result<Credentials, AppError> {
    let secret = stored_secret(deps, group, IntegrationKind::Hint).await?;
    serde_json::from_str(&secret)
        .map_err(|e| AppError::Internal(format!("the stored Hint credentials are unreadable: {e}")))
}

/// A Hint client with the group's key; every function calling it shares one budget.
pub async fn hint_client(deps: &Deps, group: &GroupId) -> Result<HintApi, AppError> {
    let credentials = credentials(deps, group).await?;
    let budget = SharedBudget::new(deps, group, "Hint", "hint", HINT_LIMIT);
    hint_with(deps, &credentials, Arc::new(budget))
}

/// The Salesforce clients a warm function has made, by group, with the connection each was
/// made for: one keeps its access token between jobs (Salesforce's sessions last hours, and a
/// poll with nothing new is then one call, not a token request and a query). A client whose
/// session Salesforce ended renews it on its next call.
type ClientsByGroup = HashMap<String, (Connection, Arc<Salesforce>)>;

static SALESFORCE_CLIENTS: std::sync::LazyLock<std::sync::Mutex<ClientsByGroup>> =
    std::sync::LazyLock::new(Default::default);

/// A Salesforce client for the group's org.
pub async fn salesforce_client(deps: &Deps, group: &GroupId) -> Result<Arc<Salesforce>, AppError> {
    let connection = credentials(deps, group).await?.salesforce;
    let key = format!("{}/{group}", deps.vendors.stage);
    let mut clients = SALESFORCE_CLIENTS
        .lock()
        .map_err(|_| AppError::Internal("the Salesforce clients' lock is poisoned".into()))?;
    if let Some((made_for, client)) = clients.get(&key)
        && *made_for == connection
    {
        return Ok(Arc::clone(client));
    }
    let client = Arc::new(salesforce_with(deps, &connection, Arc::new(Open))?);
    clients.insert(key, (connection, Arc::clone(&client)));
    Ok(client)
}

/// When the group's integration was enabled, if it was.
async fn enabled_at(deps: &Deps, group: &GroupId) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    Ok(lifecycle::stored(deps, group, IntegrationKind::Hint)
        .await?
        .and_then(|i| i.value.enabled_at))
}

/// Whether the group's Hint ⇄ Salesforce integration is active (see [`lifecycle::is_active`]).
async fn is_active(deps: &Deps, group: &GroupId) -> Result<bool, AppError> {
    lifecycle::is_active(deps, group, IntegrationKind::Hint).await
}

/// An admin's request that needs the integration working: 409 unless it is active.
async fn must_be_active(deps: &Deps, group: &GroupId) -> Result<(), AppError> {
    lifecycle::must_be_active(deps, group, IntegrationKind::Hint).await
}

impl From<Job> for super::jobs::SyncJob {
    fn from(job: Job) -> Self {
        super::jobs::SyncJob::Vendor(super::VendorJob::Hint(job))
    }
}

/// Hint ⇄ Salesforce's own jobs on the sync queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Apply a change Hint reported by webhook (already proven to be Hint's).
    HintEvent { group: GroupId, event: Box<Event> },
    /// The schedule's: one [`Job::PollSalesforce`] for every group with the integration active.
    PollSalesforceChanges {},
    /// Bring the group's contacts changed in Salesforce to Hint ([`poll`]).
    PollSalesforce { group: GroupId },
    /// Read every Hint patient of the group into the name search ([`search`]).
    ReadPatients { group: GroupId },
    /// Remove the name search's copy of the group's Hint patients (the integration ended).
    ForgetPatients { group: GroupId },
    /// Work on a batch sync from its checkpoint ([`batches`]).
    RunBatch { group: GroupId, batch: model::HintBatchId },
}

#[async_trait]
impl super::jobs::Job for Job {
    fn group(&self) -> Option<&GroupId> {
        match self {
            Job::HintEvent { group, .. }
            | Job::PollSalesforce { group }
            | Job::ReadPatients { group }
            | Job::ForgetPatients { group }
            | Job::RunBatch { group, .. } => Some(group),
            Job::PollSalesforceChanges {} => None,
        }
    }

    fn record(&self) -> String {
        match self {
            Job::HintEvent { event, .. } => format!(
                "hint {} {} (event {})",
                event.kind,
                event.object_id().unwrap_or("?"),
                event.id
            ),
            Job::PollSalesforceChanges {} => "the Salesforce contacts of every Hint group".into(),
            Job::PollSalesforce { group } => format!("the Salesforce contacts of group {group}"),
            Job::ReadPatients { group } => format!("the Hint patients of group {group}, for search"),
            Job::RunBatch { group, batch } => format!("batch {batch} of group {group}"),
            Job::ForgetPatients { group } => format!("the search's copy of group {group}'s Hint patients"),
        }
    }

    async fn perform(&self, deps: &Deps) -> Result<(), AppError> {
        match self {
            Job::HintEvent { group, event } => {
                let applied = hint_event(deps, group, event).await?;
                tracing::info!(%group, kind = %event.kind, event = %event.id, ?applied, "a Hint change was handled");
                Ok(())
            }
            Job::PollSalesforceChanges {} => {
                let groups = super::lifecycle::active_groups(deps, IntegrationKind::Hint).await?;
                let jobs: Vec<super::jobs::SyncJob> = groups
                    .into_iter()
                    .map(|group| Job::PollSalesforce { group }.into())
                    .collect();
                for chunk in jobs.chunks(10) {
                    super::jobs::enqueue(deps, chunk).await?;
                }
                Ok(())
            }
            Job::PollSalesforce { group } => {
                if !is_active(deps, group).await? {
                    return Ok(());
                }
                let polled = poll::poll(deps, group).await?;
                tracing::info!(%group, read = polled.read, synced = polled.synced, dropped = polled.dropped, "Salesforce polled");
                // The schedule also keeps the name search from drifting from Hint.
                if search::ask_if_due(deps, group).await? {
                    super::jobs::enqueue(deps, &[Job::ReadPatients { group: group.clone() }.into()]).await?;
                }
                Ok(())
            }
            Job::ReadPatients { group } => {
                if is_active(deps, group).await? {
                    search::read_all(deps, group).await?;
                }
                Ok(())
            }
            Job::RunBatch { group, batch } => batches::run(deps, group, batch).await,
            Job::ForgetPatients { group } => {
                // Enabled again meanwhile: the copy is being read afresh, and stays.
                if !is_active(deps, group).await? {
                    search::forget_all(deps, group).await?;
                }
                Ok(())
            }
        }
    }

    async fn abandon(&self, deps: &Deps, reason: &str) -> Result<(), AppError> {
        let (group, event) = match self {
            Job::HintEvent { group, event } => (group, event),
            Job::RunBatch { group, batch } => return batches::abandon(deps, group, batch, reason).await,
            // A poll that gave up is tried afresh by the next schedule, from the same cursor; a
            // reading of the patients, by the next day's.
            _ => return Ok(()),
        };
        logs::write(
            deps,
            group,
            IntegrationKind::Hint,
            LogLevel::Exception,
            "change_abandoned",
            format!("a Hint {} could not be applied after every try: {reason}", event.kind),
            event_ids(event),
        )
        .await;
        Ok(())
    }
}

/// The ids a log entry about a Hint delivery names: the patient and the delivery.
fn event_ids(event: &Event) -> LogIds {
    LogIds {
        patient_id: event.object_id().map(str::to_owned),
        event_id: Some(event.id.clone()),
        ..LogIds::default()
    }
}

/// A change Hint reported: a linked patient's goes to its contact, a new patient is linked or
/// given a contact, a deleted patient's link ends.
async fn hint_event(deps: &Deps, group: &GroupId, event: &Event) -> Result<Applied, AppError> {
    if !is_active(deps, group).await? {
        return Ok(Applied::Nothing);
    }
    let patient: HintPatient = match serde_json::from_value(event.object.clone()) {
        Ok(patient) => patient,
        Err(error) => {
            logs::write(
                deps,
                group,
                IntegrationKind::Hint,
                LogLevel::Exception,
                "unreadable_event",
                format!(
                    "a Hint {} carried a patient carebridge cannot read: {error}",
                    event.kind
                ),
                event_ids(event),
            )
            .await;
            return Ok(Applied::Nothing);
        }
    };
    if event.kind == "patient.destroyed" {
        search::forget(deps, group, &patient.id).await?;
    } else {
        search::remember(deps, group, std::slice::from_ref(&patient)).await?;
    }
    let now = deps.clock.now();
    let link = links::by_patient(deps, group, &patient.id).await?;
    match (event.kind.as_str(), link) {
        ("patient.destroyed", Some(link)) => {
            let salesforce = salesforce_client(deps, group).await?;
            pairs::unlink(deps, group, &salesforce, link, "the patient was deleted in Hint").await
        }
        ("patient.created", None) => {
            let sides = Sides::of(deps, group).await?;
            pairs::new_patient(
                deps,
                group,
                &sides,
                PatientNow::of(&patient, event.created_at.unwrap_or(now)),
            )
            .await
        }
        ("patient.created" | "patient.updated", Some(link)) => {
            let patient = PatientNow::of(&patient, event.created_at.unwrap_or(now));
            let seen = &link.value;
            if let Some(dropped) = pairs::already_applied(
                seen.patient_changed_at,
                patient.changed_at,
                &seen.in_hint,
                &patient.demographics,
                &seen.hint_only,
                &patient.hint_only,
            ) {
                pairs::log_dropped(deps, group, dropped, "Hint", event_ids(event)).await;
                return Ok(dropped);
            }
            let sides = Sides::of(deps, group).await?;
            match sides.salesforce.contact(&seen.contact_id).await? {
                Some(contact) => {
                    let contact = ContactNow::of(&contact, now);
                    pairs::sync_linked(deps, group, &sides, link, patient, contact).await
                }
                None => {
                    pairs::unlink(
                        deps,
                        group,
                        &sides.salesforce,
                        link,
                        "the contact no longer exists in Salesforce",
                    )
                    .await
                }
            }
        }
        ("patient.updated", None) => {
            logs::write(
                deps,
                group,
                IntegrationKind::Hint,
                LogLevel::Debug,
                "change_of_unlinked_patient",
                "a Hint change of a patient linked to no contact was not brought to Salesforce",
                event_ids(event),
            )
            .await;
            Ok(Applied::Nothing)
        }
        _ => Ok(Applied::Nothing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(body: serde_json::Value) -> Vec<(String, &'static str)> {
        let input: CredentialsInput = serde_json::from_value(body).unwrap();
        match input.validate(false) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.0.into_iter().map(|e| (e.field, e.code)).collect(),
        }
    }

    #[test]
    fn every_missing_or_unusable_secret_is_named_before_any_vendor_is_called() {
        assert_eq!(
            codes(serde_json::json!({})),
            [
                ("practice_api_key".into(), "required"),
                ("webhook_signature_key".into(), "required"),
                ("salesforce".into(), "required"),
            ]
        );
        assert_eq!(
            codes(
                serde_json::json!({"practice_api_key": "has spaces in it", "webhook_signature_key": "short",
                "salesforce": {"my_domain": "https://acme.my.salesforce.com", "client_id": "3MVG9", "client_secret": "s"}})
            ),
            [
                ("practice_api_key".into(), "invalid_api_key"),
                ("webhook_signature_key".into(), "invalid_signature_key"),
            ]
        );
        assert!(codes(serde_json::json!({"practice_api_key": "sbx-practice-key-1", "webhook_signature_key": "a-long-enough-signing-key",
            "salesforce": {"my_domain": "https://acme.my.salesforce.com", "client_id": "3MVG9", "client_secret": "s"}}))
        .is_empty());
    }
}
