//! A group's integrations with vendors: list them, activate one, store and verify its
//! credentials, enable it after a preview, cancel it. Every step needs `integration_admin`.
//! Credentials go to Secrets Manager only after the vendor has accepted them, and are never
//! returned or logged.

use super::jobs::{SyncJob, enqueue};
use super::{Verified, connectable};
use crate::{AppError, Deps, groups};
use model::GroupId;
use model::access::{Action, Caller, authorize};
use model::integration::{EnableRequest, Integration, IntegrationKind, IntegrationStatus};
use model::sync::{RunKind, SyncRun};
use store::{Condition, Record, StoreError, Versioned, Write, keys};

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

/// Checks credentials with the vendor, stores them in Secrets Manager and records when they
/// were verified. Bad credentials are refused with the vendor's reason (422). `input` is the
/// body as the admin sent it: each vendor asks for its own kind of credentials.
pub async fn store_credentials(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    input: serde_json::Value,
) -> Result<Versioned<Integration>, AppError> {
    let kind = allowed_kind(caller, group, kind)?;
    let vendor = connectable(kind)?;
    model::access::require_every(caller, vendor.credentials_need())?;
    let current = this_one(&read(deps, group).await?, kind, deps);
    current
        .value
        .can_take_credentials()
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let Verified { secret, base_url } = vendor.verify_credentials(deps, input).await?;
    deps.secrets()?.put(&secret_name(deps, group, kind), &secret).await?;
    let next = current
        .value
        .with_verified_credentials(&base_url, deps.clock.now())
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let saved = replace(deps, group, current, next, None).await?;
    tracing::info!(%group, integration = %kind, "integration credentials verified and stored");
    if vendor.enables_with_credentials() {
        return enable_now(deps, caller, group, vendor, saved).await;
    }
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
    let vendor = connectable(kind)?;
    let current = this_one(&read(deps, group).await?, kind, deps);
    if current.value.status == IntegrationStatus::Active {
        resume_initial_import(deps, group, &current.value).await?;
        return Ok(current);
    }
    if !vendor.previews_then_imports() {
        return enable_now(deps, caller, group, vendor, current).await;
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
    // Subscribing again (after a failure below) answers with the existing subscriptions.
    let subscriptions = vendor.subscribe(deps, group, &target).await?;
    let now = deps.clock.now();
    let run = SyncRun::queued(group.clone(), kind, RunKind::InitialImport, &caller.subject, now);
    let next = current
        .value
        .enabled(subscriptions, Some(&run.id), &caller.subject, now);
    let saved = replace(deps, group, current, next, Some(new_run(&run)?)).await?;
    enqueue(deps, &[SyncJob::run(&run)]).await?;
    tracing::info!(%group, integration = %kind, run = %run.id, "integration enabled; initial import queued");
    Ok(saved)
}

/// The write that stores a new run (in the same transaction as the integration that names it).
pub(crate) fn new_run(run: &SyncRun) -> Result<Write, AppError> {
    Ok(Write::Put {
        record: Record::encode(keys::sync_run(&run.group, run.integration, &run.id), 1, run)?,
        condition: Condition::Absent,
    })
}

async fn resume_initial_import(deps: &Deps, group: &GroupId, integration: &Integration) -> Result<(), AppError> {
    let Some(id) = &integration.initial_import else {
        return Ok(());
    };
    let key = keys::sync_run(group, integration.kind, id);
    if let Some(run) = deps.read::<SyncRun>(&key).await?
        && !run.value.is_finished()
    {
        enqueue(deps, &[SyncJob::run(&run.value)]).await?;
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
        connectable(kind)?
            .unsubscribe(deps, group, &current.value.subscriptions)
            .await?;
    }
    let saved = replace(deps, group, current, next, None).await?;
    let jobs = connectable(kind)?.jobs_when_cancelled(group);
    if !jobs.is_empty() {
        enqueue(deps, &jobs).await?;
    }
    tracing::info!(%group, integration = %kind, "integration cancelled");
    Ok(saved)
}

/// The group's stored credentials for `kind`, as its vendor's folder stored them.
pub(crate) async fn stored_secret(deps: &Deps, group: &GroupId, kind: IntegrationKind) -> Result<String, AppError> {
    match deps.secrets()?.get(&secret_name(deps, group, kind)).await? {
        Some(secret) => Ok(secret),
        None => Err(AppError::Conflict(format!(
            "{} has no stored credentials in this group",
            kind.title()
        ))),
    }
}

fn secret_name(deps: &Deps, group: &GroupId, kind: IntegrationKind) -> String {
    keys::secret_name(&deps.vendors.stage, group, kind.as_str())
}

/// Enables an integration that needs no preview (→ `active`) and queues what its vendor does
/// first.
async fn enable_now(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    vendor: &dyn super::Vendor,
    current: Versioned<Integration>,
) -> Result<Versioned<Integration>, AppError> {
    current
        .value
        .can_enable_without_preview()
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let next = current
        .value
        .enabled(Vec::new(), None, &caller.subject, deps.clock.now());
    let saved = replace(deps, group, current, next, None).await?;
    let jobs = vendor.jobs_when_enabled(group);
    if !jobs.is_empty() {
        enqueue(deps, &jobs).await?;
    }
    tracing::info!(%group, integration = %vendor.kind(), "integration enabled");
    Ok(saved)
}

/// Stores an integration's settings as `next` over the version `before` was read at (none:
/// not stored yet); a change made meanwhile is a 409 asking to send it again.
pub(crate) async fn save_settings<T: serde::Serialize>(
    deps: &Deps,
    key: store::Key,
    before: Option<u64>,
    next: &T,
    conflict: &str,
) -> Result<(), AppError> {
    let condition = before.map_or(Condition::Absent, Condition::AtVersion);
    let version = before.map_or(1, |b| b + 1);
    deps.records
        .write(vec![Write::Put {
            record: Record::encode(key, version, next)?,
            condition,
        }])
        .await
        .map_err(|error| match error {
            StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } => AppError::Conflict(conflict.into()),
            other => other.into(),
        })
}

/// The group's integration with `kind`, as stored (none before it was first activated).
pub(crate) async fn stored(
    deps: &Deps,
    group: &GroupId,
    kind: IntegrationKind,
) -> Result<Option<Versioned<Integration>>, AppError> {
    deps.read::<Integration>(&keys::integration(group, kind)).await
}

/// Whether the group's integration with `kind` is active: every job checks first, so a
/// cancelled integration's work stops at once, whatever is still on the queue.
pub(crate) async fn is_active(deps: &Deps, group: &GroupId, kind: IntegrationKind) -> Result<bool, AppError> {
    Ok(stored(deps, group, kind)
        .await?
        .is_some_and(|i| i.value.status == IntegrationStatus::Active))
}

/// An admin's request that needs the integration working: 409 unless it is active.
pub(crate) async fn must_be_active(deps: &Deps, group: &GroupId, kind: IntegrationKind) -> Result<(), AppError> {
    if is_active(deps, group, kind).await? {
        Ok(())
    } else {
        Err(AppError::Conflict(format!(
            "{} is not active in this group: connect and enable it first",
            kind.title()
        )))
    }
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
/// `also` and with the group's place in the list of active integrations
/// ([`active_groups`]); when they are the same nothing is written.
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
    // The list of active groups the schedules fan out to moves with the status, in the same
    // transaction, so a schedule never misses a group nor polls one that was cancelled.
    let active = |i: &Integration| i.status == IntegrationStatus::Active;
    let listed = match (active(&current.value) && current.version > 0, active(&next)) {
        (false, true) => Some(Write::Put {
            record: Record::encode(
                keys::active_integration(next.kind, group),
                1,
                &serde_json::json!({"group": group}),
            )?,
            condition: Condition::Always,
        }),
        (true, false) => Some(Write::Delete {
            key: keys::active_integration(next.kind, group),
            condition: Condition::Always,
        }),
        _ => None,
    };
    match deps
        .records
        .write(std::iter::once(put).chain(also).chain(listed).collect())
        .await
    {
        Ok(()) => Ok(Versioned { version, value: next }),
        Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => {
            Err(AppError::Conflict(
                "the group's integrations changed while this request was handled; read them again and retry".into(),
            ))
        }
        Err(other) => Err(other.into()),
    }
}

/// Every group whose `kind` integration is active, read from the list [`replace`] keeps (one
/// query a page, never a scan of the table).
pub async fn active_groups(deps: &Deps, kind: IntegrationKind) -> Result<Vec<GroupId>, AppError> {
    let mut groups = Vec::new();
    let mut after = None;
    loop {
        let page = deps
            .records
            .query(
                &keys::active_integrations(kind),
                "GROUP#",
                store::PageRequest {
                    limit: 500,
                    after,
                    newest_first: false,
                },
            )
            .await?;
        for record in &page.records {
            match record.data.get("group").and_then(|g| g.as_str()).map(GroupId::parse) {
                Some(Ok(group)) => groups.push(group),
                _ => tracing::error!(key = %record.key, "an entry of the active integrations names no group"),
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(groups),
        }
    }
}
