//! Ensora data collection: therapists finish sessions in Ensora's app; carebridge pulls sites,
//! students, users and SOAP session notes every 30 minutes ([`poll`]), maps them to agencies,
//! patients, practitioners and appointments by the guide's rules (`model::ensora`) or as a
//! person set ([`mapping`]), and completes the appointments from the notes ([`sessions`]).
//!
//! Connecting takes the API client Ensora issues to the organization, entered by a caller who
//! is an admin in both systems (`group_admin` and `integration_admin`). It is checked with a
//! token and a read of the sites, kept in Secrets Manager, and the integration is active at once:
//! the first poll is queued right away.

pub mod admin;
pub mod copies;
pub mod mapping;
pub mod poll;
pub mod reports;
pub mod sessions;
pub mod settings;

use super::lifecycle::stored_secret;
use super::{Vendor, Verified};
use crate::{AppError, Deps};
use async_trait::async_trait;
use connectors::ensora::{ClientCredentials, Ensora as EnsoraApi};
use model::access::Role;
use model::integration::IntegrationKind;
use model::sync::{PlanItem, SyncRun};
use model::{FieldError, GroupId, ValidationErrors};
use serde::{Deserialize, Serialize};
use store::Versioned;

/// Ensora data collection, as the framework sees it.
pub struct Ensora;

/// What `PUT …/integrations/ensora/credentials` takes.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsInput {
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl CredentialsInput {
    /// Both parts, as Ensora issued them, before any call.
    fn validate(self) -> Result<ClientCredentials, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let mut part = |field: &str, value: Option<String>| {
            let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            match &value {
                None => errors.push(FieldError::required(field)),
                Some(v) if v.chars().any(char::is_whitespace) || v.len() > 500 => errors.push(FieldError::new(
                    field,
                    "invalid_client",
                    format!("{field} is one word, as Ensora issued it"),
                )),
                Some(_) => {}
            }
            value
        };
        let client_id = part("client_id", self.client_id);
        let client_secret = part("client_secret", self.client_secret);
        match (client_id, client_secret) {
            (Some(client_id), Some(client_secret)) if errors.is_empty() => Ok(ClientCredentials {
                client_id,
                client_secret,
            }),
            _ => Err(errors),
        }
    }
}

#[async_trait]
impl Vendor for Ensora {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Ensora
    }

    /// A token for the client and a read of the organization's sites; refused in Ensora's words.
    async fn verify_credentials(&self, deps: &Deps, body: serde_json::Value) -> Result<Verified, AppError> {
        let input: CredentialsInput = serde_json::from_value(body).map_err(|e| AppError::BadBody(e.to_string()))?;
        let credentials = input.validate()?;
        api_with(deps, credentials.clone())?.check_credentials().await?;
        let secret = serde_json::to_string(&credentials)
            .map_err(|e| AppError::Internal(format!("the Ensora credentials could not be encoded: {e}")))?;
        Ok(Verified {
            secret,
            base_url: deps.vendors.ensora_api.clone(),
        })
    }

    fn previews_then_imports(&self) -> bool {
        false
    }

    fn enables_with_credentials(&self) -> bool {
        true
    }

    fn credentials_need(&self) -> &'static [Role] {
        &[Role::GroupAdmin, Role::IntegrationAdmin]
    }

    fn jobs_when_enabled(&self, group: &GroupId) -> Vec<super::jobs::SyncJob> {
        vec![Job::Poll { group: group.clone() }.into()]
    }

    async fn perform_run(
        &self,
        _deps: &Deps,
        run: Versioned<SyncRun>,
    ) -> Result<(Versioned<SyncRun>, Vec<PlanItem>), AppError> {
        Err(AppError::Conflict(format!("Ensora runs no {:?} runs", run.value.kind)))
    }
}

fn api_with(deps: &Deps, credentials: ClientCredentials) -> Result<EnsoraApi, AppError> {
    let local = deps.vendors.allow_local_urls;
    let api = connectors::http::parse_base_url("Ensora", &deps.vendors.ensora_api, local)?;
    let token = connectors::http::parse_base_url("Ensora", &deps.vendors.ensora_token_url, local)?;
    Ok(EnsoraApi::new(
        api,
        token,
        credentials,
        &deps.vendors.user_agent,
        deps.vendors.retry,
        deps.vendors.timeout,
    )?)
}

/// An Ensora client with the group's stored credentials.
pub async fn client(deps: &Deps, group: &GroupId) -> Result<EnsoraApi, AppError> {
    let secret = stored_secret(deps, group, IntegrationKind::Ensora).await?;
    let credentials: ClientCredentials = serde_json::from_str(&secret)
        .map_err(|e| AppError::Internal(format!("the stored Ensora credentials are unreadable: {e}")))?;
    api_with(deps, credentials)
}

impl From<Job> for super::jobs::SyncJob {
    fn from(job: Job) -> Self {
        super::jobs::SyncJob::Vendor(super::VendorJob::Ensora(job))
    }
}

/// Ensora's own jobs on the sync queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum Job {
    /// Read what changed in the group's Ensora organization and map it ([`poll`]).
    #[serde(rename = "poll_ensora")]
    Poll { group: GroupId },
}

#[async_trait]
impl super::jobs::Job for Job {
    fn group(&self) -> Option<&GroupId> {
        match self {
            Job::Poll { group } => Some(group),
        }
    }

    fn record(&self) -> String {
        match self {
            Job::Poll { group } => format!("the Ensora organization of group {group}"),
        }
    }

    async fn perform(&self, deps: &Deps) -> Result<(), AppError> {
        match self {
            Job::Poll { group } => {
                let polled = poll::poll(deps, group).await?;
                tracing::info!(%group, ?polled, "Ensora poll done");
                Ok(())
            }
        }
    }
}

/// Puts one poll job on the sync queue for every group with Ensora active (the
/// `ensora-poller` function's whole work): answers how many.
pub async fn queue_polls(deps: &Deps) -> Result<usize, AppError> {
    let groups = super::lifecycle::active_groups(deps, IntegrationKind::Ensora).await?;
    let jobs: Vec<super::jobs::SyncJob> = groups.into_iter().map(|group| Job::Poll { group }.into()).collect();
    if !jobs.is_empty() {
        super::jobs::enqueue(deps, &jobs).await?;
    }
    Ok(jobs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poll_job_reads_back_from_the_sync_queue_as_it_was_written() {
        let job: super::super::jobs::SyncJob = Job::Poll {
            group: GroupId::parse("acme").unwrap(),
        }
        .into();
        let body = serde_json::to_string(&job).unwrap();
        assert_eq!(body, r#"{"job":"poll_ensora","group":"acme"}"#);
        assert_eq!(serde_json::from_str::<super::super::jobs::SyncJob>(&body).unwrap(), job);
    }

    #[test]
    fn both_parts_of_the_client_are_needed_before_any_call() {
        let errors = CredentialsInput {
            client_id: Some("acme client".into()),
            client_secret: None,
        }
        .validate()
        .unwrap_err();
        let codes: Vec<_> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(codes, [("client_id", "invalid_client"), ("client_secret", "required")]);
    }
}
