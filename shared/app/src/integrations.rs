//! A group's integrations with vendors: list them, activate one, store and verify its
//! credentials, enable it after a preview, cancel it. Every step needs `integration_admin`.
//! Credentials go to Secrets Manager only after the vendor has accepted them, and are never
//! returned or logged.

use crate::integration_runs::new_run;
use crate::sync_jobs::{SyncJob, enqueue};
use crate::{AppError, Deps, groups};
use connectors::elation::{Connection, CredentialsInput, Elation};
use model::GroupId;
use model::access::{Action, Caller, authorize};
use model::integration::{EnableRequest, Integration, IntegrationKind, IntegrationStatus, Subscribed};
use model::sync::{RunKind, SyncRun};
use store::{Condition, Record, StoreError, Versioned, Write, keys};

/// The Elation resources whose changes carebridge follows by webhook.
pub const ELATION_RESOURCES: [&str; 2] = ["patients", "physicians"];

/// Every integration carebridge offers, as this group has it (never-activated ones as
/// `inactive`, at version 0).
pub async fn list(deps: &Deps, caller: &Caller, group: &GroupId) -> Result<Vec<Versioned<Integration>>, AppError> {
    authorize(caller, Some(group), Action::AdministerIntegration)?;
    let stored = read(deps, group).await?;
    Ok(IntegrationKind::ALL
        .into_iter()
        .map(|kind| this_one(&stored, kind, deps))
        .collect())
}

pub async fn get(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
) -> Result<Versioned<Integration>, AppError> {
    let kind = allowed_kind(caller, group, kind)?;
    Ok(this_one(&read(deps, group).await?, kind, deps))
}

/// Activates an integration (→ `pending`). Refused while one it excludes is in use: that
/// check and this write are one transaction, so two admins activating Elation and Hint at the
/// same moment cannot both succeed.
pub async fn activate(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
) -> Result<Versioned<Integration>, AppError> {
    let kind = allowed_kind(caller, group, kind)?;
    let stored = read(deps, group).await?;
    let current = this_one(&stored, kind, deps);
    let others: Vec<Integration> = stored
        .iter()
        .filter(|i| i.value.kind != kind)
        .map(|i| i.value.clone())
        .collect();
    let next = current
        .value
        .activate(&others, &caller.subject, deps.clock.now())
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let excluded_as_read = kind.excludes().map(|excluded| {
        let seen = stored.iter().find(|i| i.value.kind == excluded).map(|i| i.version);
        Write::Check {
            key: keys::integration(group, excluded),
            condition: seen.map_or(Condition::Absent, Condition::AtVersion),
        }
    });
    replace(deps, group, current, next, excluded_as_read).await
}

/// Checks credentials with the vendor (a token), stores them in Secrets Manager and records
/// when they were verified. Bad credentials are refused with the vendor's reason (422).
pub async fn store_credentials(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    input: &CredentialsInput,
) -> Result<Versioned<Integration>, AppError> {
    let kind = allowed_kind(caller, group, kind)?;
    connectable(kind)?;
    let current = this_one(&read(deps, group).await?, kind, deps);
    current
        .value
        .can_take_credentials()
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let connection = input.validate(deps.vendors.allow_local_urls)?;
    elation(deps, &connection)?.check_credentials().await?;
    let secrets = deps.secrets()?;
    let name = secret_name(deps, group, kind);
    let secret = serde_json::to_string(&connection).map_err(|e| AppError::Internal(e.to_string()))?;
    secrets.put(&name, &secret).await?;
    let next = current
        .value
        .with_verified_credentials(&connection.base_url, deps.clock.now())
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let saved = replace(deps, group, current, next, None).await?;
    tracing::info!(%group, integration = %kind, "integration credentials verified and stored");
    Ok(saved)
}

/// Enables an integration (→ `active`): refused while its latest preview has warnings unless
/// `force`. Subscribes to the vendor's webhooks and starts the one-time initial import. Asking
/// again once it is active resumes an initial import that has not finished.
///
/// Webhooks are sent to the configured public address (`WEBHOOK_BASE_URL`) or else to the
/// address the request reached the API at (`reached_at`).
pub async fn enable(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    request: EnableRequest,
    reached_at: Option<&str>,
) -> Result<Versioned<Integration>, AppError> {
    let kind = allowed_kind(caller, group, kind)?;
    connectable(kind)?;
    let current = this_one(&read(deps, group).await?, kind, deps);
    if current.value.status == IntegrationStatus::Active {
        resume_initial_import(deps, group, &current.value).await?;
        return Ok(current);
    }
    let preview = match &current.value.latest_preview {
        Some(run) => deps
            .read::<SyncRun>(&keys::sync_run(group, kind, run))
            .await?
            .map(|run| run.value),
        None => None,
    };
    current
        .value
        .can_enable(preview.as_ref(), request)
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let base = deps
        .vendors
        .webhook_base_url
        .as_deref()
        .or(reached_at)
        .ok_or_else(|| AppError::Internal("the API's public address is unknown (WEBHOOK_BASE_URL)".into()))?;
    let target = format!("{}/webhooks/{kind}/{group}", base.trim_end_matches('/'));
    let client = elation_client(deps, group).await?;
    let mut subscriptions = Vec::new();
    for resource in ELATION_RESOURCES {
        // Subscribing again (after a failure below) answers with the existing subscription.
        let subscription = client.subscribe(resource, &target).await?;
        subscriptions.push(Subscribed {
            id: subscription.id.to_string(),
            resource: subscription.resource,
            signing_pub_key: subscription.signing_pub_key,
        });
    }
    let now = deps.clock.now();
    let run = SyncRun::queued(group.clone(), kind, RunKind::InitialImport, &caller.subject, now);
    let next = current.value.enabled(subscriptions, &run.id, &caller.subject, now);
    let saved = replace(deps, group, current, next, Some(new_run(&run)?)).await?;
    enqueue(deps, &[run_job(&run)]).await?;
    tracing::info!(%group, integration = %kind, run = %run.id, "integration enabled; initial import queued");
    Ok(saved)
}

fn run_job(run: &SyncRun) -> SyncJob {
    SyncJob::Run {
        group: run.group.clone(),
        integration: run.integration,
        run: run.id.clone(),
    }
}

async fn resume_initial_import(deps: &Deps, group: &GroupId, integration: &Integration) -> Result<(), AppError> {
    let Some(id) = &integration.initial_import else {
        return Ok(());
    };
    let key = keys::sync_run(group, integration.kind, id);
    if let Some(run) = deps.read::<SyncRun>(&key).await?
        && !run.value.is_finished()
    {
        enqueue(deps, &[run_job(&run.value)]).await?;
        tracing::info!(%group, integration = %integration.kind, run = %id, "initial import sent again to resume");
    }
    Ok(())
}

/// Cancels an integration (→ `cancelled`): its webhook subscriptions are deleted at the vendor
/// first (if the vendor cannot be reached, nothing changes and the admin asks again);
/// carebridge's patients and practitioners stay.
pub async fn cancel(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
) -> Result<Versioned<Integration>, AppError> {
    let kind = allowed_kind(caller, group, kind)?;
    let current = this_one(&read(deps, group).await?, kind, deps);
    let next = current
        .value
        .cancel(deps.clock.now())
        .map_err(|refused| AppError::Conflict(refused.0))?;
    if !current.value.subscriptions.is_empty() {
        let client = elation_client(deps, group).await?;
        for subscription in &current.value.subscriptions {
            let id = subscription.id.parse().map_err(|_| {
                AppError::Internal(format!("stored subscription id {} is not Elation's", subscription.id))
            })?;
            client.unsubscribe(id).await?;
        }
    }
    let saved = replace(deps, group, current, next, None).await?;
    tracing::info!(%group, integration = %kind, "integration cancelled");
    Ok(saved)
}

/// An Elation client for a stored or just-entered connection.
pub fn elation(deps: &Deps, connection: &Connection) -> Result<Elation, AppError> {
    Ok(Elation::new(
        &connection.base_url,
        connection.credentials.clone(),
        deps.vendors.retry,
        deps.vendors.timeout,
    )?)
}

/// An Elation client with the group's stored credentials.
pub(crate) async fn elation_client(deps: &Deps, group: &GroupId) -> Result<Elation, AppError> {
    let name = secret_name(deps, group, IntegrationKind::Elation);
    let Some(secret) = deps.secrets()?.get(&name).await? else {
        return Err(AppError::Conflict(
            "Elation has no stored credentials in this group".into(),
        ));
    };
    let connection: Connection = serde_json::from_str(&secret)
        .map_err(|e| AppError::Internal(format!("the stored Elation credentials are unreadable: {e}")))?;
    elation(deps, &connection)
}

/// The integrations carebridge can connect to so far.
pub(crate) fn connectable(kind: IntegrationKind) -> Result<(), AppError> {
    if kind == IntegrationKind::Elation {
        return Ok(());
    }
    Err(AppError::Conflict(format!(
        "carebridge does not connect to {} yet",
        kind.title()
    )))
}

fn secret_name(deps: &Deps, group: &GroupId, kind: IntegrationKind) -> String {
    keys::secret_name(&deps.vendors.stage, group, kind.as_str())
}

/// The integration a step is about, once the caller may administer the group's integrations.
pub(crate) fn allowed_kind(caller: &Caller, group: &GroupId, raw: &str) -> Result<IntegrationKind, AppError> {
    authorize(caller, Some(group), Action::AdministerIntegration)?;
    IntegrationKind::parse(raw).ok_or(AppError::NotFound { what: "integration" })
}

/// The group's stored integrations; the group must exist.
pub(crate) async fn read(deps: &Deps, group: &GroupId) -> Result<Vec<Versioned<Integration>>, AppError> {
    groups::load(deps, group).await?;
    let page = deps
        .records
        .query(
            &keys::group_partition(group),
            keys::INTEGRATION_PREFIX,
            store::PageRequest {
                limit: 50,
                after: None,
                newest_first: false,
            },
        )
        .await?;
    Ok(page
        .records
        .iter()
        .map(Record::decode::<Integration>)
        .collect::<Result<_, _>>()?)
}

pub(crate) fn this_one(
    stored: &[Versioned<Integration>],
    kind: IntegrationKind,
    deps: &Deps,
) -> Versioned<Integration> {
    stored
        .iter()
        .find(|i| i.value.kind == kind)
        .cloned()
        .unwrap_or_else(|| Versioned {
            version: 0,
            value: Integration::inactive(kind, deps.clock.now()),
        })
}

/// Stores `next` in place of `current` (version 0: not stored yet), in one transaction with
/// `also`; when they are the same nothing is written.
pub(crate) async fn replace(
    deps: &Deps,
    group: &GroupId,
    current: Versioned<Integration>,
    next: Integration,
    also: Option<Write>,
) -> Result<Versioned<Integration>, AppError> {
    if next == current.value {
        return Ok(current);
    }
    let condition = match current.version {
        0 => Condition::Absent,
        version => Condition::AtVersion(version),
    };
    let version = current.version + 1;
    let put = Write::Put {
        record: Record::encode(keys::integration(group, next.kind), version, &next)?,
        condition,
    };
    match deps.records.write(std::iter::once(put).chain(also).collect()).await {
        Ok(()) => Ok(Versioned { version, value: next }),
        Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => {
            Err(AppError::Conflict(
                "the group's integrations changed while this request was handled; read them again and retry".into(),
            ))
        }
        Err(other) => Err(other.into()),
    }
}
