//! A group's integrations with vendors: list them, activate one, store and verify its
//! credentials, cancel it. Every step needs `integration_admin`. Credentials go to Secrets
//! Manager only after the vendor has accepted them, and are never returned or logged.

use crate::{AppError, Deps, groups};
use connectors::elation::{Connection, CredentialsInput, Elation};
use model::GroupId;
use model::access::{Action, Caller, authorize};
use model::integration::{Integration, IntegrationKind};
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
    if kind != IntegrationKind::Elation {
        return Err(AppError::Conflict(format!(
            "carebridge does not connect to {} yet",
            kind.title()
        )));
    }
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

/// Cancels an integration (→ `cancelled`); carebridge's patients and practitioners stay.
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
    replace(deps, group, current, next, None).await
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

fn secret_name(deps: &Deps, group: &GroupId, kind: IntegrationKind) -> String {
    keys::secret_name(&deps.vendors.stage, group, kind.as_str())
}

/// The integration a step is about, once the caller may administer the group's integrations.
fn allowed_kind(caller: &Caller, group: &GroupId, raw: &str) -> Result<IntegrationKind, AppError> {
    authorize(caller, Some(group), Action::AdministerIntegration)?;
    IntegrationKind::parse(raw).ok_or(AppError::NotFound { what: "integration" })
}

/// The group's stored integrations; the group must exist.
async fn read(deps: &Deps, group: &GroupId) -> Result<Vec<Versioned<Integration>>, AppError> {
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

fn this_one(stored: &[Versioned<Integration>], kind: IntegrationKind, deps: &Deps) -> Versioned<Integration> {
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
async fn replace(
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
