//! Cliniko, the practice management system: the clinic's source of truth for client profiles,
//! which flow one way, Cliniko → carebridge.
//!
//! - The integration is enabled as soon as its API key is verified (no preview): its data is
//!   read when asked.
//! - [`clients`]: Cliniko's client list as carebridge would take it, the ones in error first.
//! - [`sync`]: full and incremental syncs on demand, the clients Cliniko archived or deleted
//!   unlinked, and the profiles syncs could not take.
//! - `coaches`: the practitioner each client sees, as Cliniko's appointments say, becomes their
//!   coach.

pub mod clients;
mod coaches;
pub mod open;
pub mod sync;

use super::budget::SharedBudget;
use super::lifecycle::stored_secret;
use super::{Vendor, Verified};
use crate::{AppError, Deps};
use async_trait::async_trait;
use connectors::cliniko::ApiKey;
use connectors::http::{Gate, Open};
use model::GroupId;
use model::integration::IntegrationKind;
use model::patient::PatientFields;
use model::sync::{PlanItem, RunKind, SyncRun};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use store::Versioned;

/// Cliniko's integration, as the framework sees it.
pub struct Cliniko;

/// What `PUT …/integrations/cliniko/credentials` takes, and what Secrets Manager keeps.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// A key made by a user of the clinic's Cliniko ("My Info" → "Manage API keys"); its
    /// suffix names the shard, and so the host, carebridge calls.
    pub api_key: ApiKey,
}

#[async_trait]
impl Vendor for Cliniko {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Cliniko
    }

    /// An API key, checked with one small read on its shard's host.
    async fn verify_credentials(&self, deps: &Deps, body: serde_json::Value) -> Result<Verified, AppError> {
        let raw = body
            .as_object()
            .filter(|members| members.keys().all(|k| k == "api_key"))
            .and_then(|members| members.get("api_key"))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| AppError::BadBody("send {\"api_key\": \"…\"} and nothing else".into()))?;
        let key = ApiKey::parse(raw).map_err(|error| {
            let detail = match error {
                connectors::ConnectorError::Settings { detail, .. } => detail,
                other => other.to_string(),
            };
            AppError::Invalid(model::ValidationErrors(vec![model::FieldError::new(
                "api_key",
                "invalid_api_key",
                detail,
            )]))
        })?;
        let base_url = key.base_url(&deps.vendors.cliniko_api)?;
        // One request with a key not stored yet: it spends no group's budget.
        connect(deps, &key, Arc::new(Open))?.check_key().await?;
        let secret = serde_json::to_string(&Credentials { api_key: key })
            .map_err(|e| AppError::Internal(format!("the Cliniko key could not be encoded: {e}")))?;
        Ok(Verified {
            secret,
            base_url: base_url.to_string(),
        })
    }

    fn previews_then_imports(&self) -> bool {
        false
    }

    /// Profile data flows one way: Cliniko's fields are Cliniko's while the patient is linked.
    fn owned_patient_fields(&self, linked: &PatientFields) -> &'static [&'static str] {
        match connectors::cliniko::mapping::cliniko_id(linked) {
            Some(_) => &connectors::cliniko::mapping::OWNED_FIELDS,
            None => &[],
        }
    }

    fn syncs(&self) -> &'static [RunKind] {
        &[RunKind::FullSync, RunKind::IncrementalSync]
    }

    async fn perform_run(
        &self,
        deps: &Deps,
        run: Versioned<SyncRun>,
    ) -> Result<(Versioned<SyncRun>, Vec<PlanItem>), AppError> {
        sync::perform(deps, run).await
    }
}

/// A Cliniko client for `key`, on its shard, each request waiting for `gate`.
fn connect(deps: &Deps, key: &ApiKey, gate: Arc<dyn Gate>) -> Result<connectors::cliniko::Cliniko, AppError> {
    Ok(connectors::cliniko::Cliniko::new(
        key.base_url(&deps.vendors.cliniko_api)?,
        key.clone(),
        deps.vendors.retry,
        deps.vendors.timeout,
        gate,
        &deps.vendors.user_agent,
    )?)
}

/// A Cliniko client with the group's stored key.
pub(crate) async fn client(deps: &Deps, group: &GroupId) -> Result<connectors::cliniko::Cliniko, AppError> {
    let secret = stored_secret(deps, group, IntegrationKind::Cliniko).await?;
    let credentials: Credentials = serde_json::from_str(&secret)
        .map_err(|e| AppError::Internal(format!("the stored Cliniko key is unreadable: {e}")))?;
    // Every job and request of the group spends one shared budget: together they stay under
    // Cliniko's limit.
    let budget = SharedBudget::new(deps, group, "Cliniko", "cliniko", deps.vendors.cliniko_limit);
    connect(deps, &credentials.api_key, Arc::new(budget))
}

/// The profiles the latest syncs could not take, with their reasons, in Cliniko id order (role
/// `integration_admin`).
pub async fn failed(
    deps: &Deps,
    caller: &model::access::Caller,
    group: &GroupId,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<crate::paging::Listing<Versioned<sync::FailedProfile>>, AppError> {
    super::lifecycle::allowed_kind(caller, group, IntegrationKind::Cliniko.as_str())?;
    let prefix = store::keys::failed_profile_prefix(model::external::ExternalSystem::Cliniko);
    crate::paging::list_records(deps, group, &prefix, cursor, limit, false).await
}
