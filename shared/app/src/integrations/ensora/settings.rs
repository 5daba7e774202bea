//! A group's Ensora settings: the grace a session's start and end may each be off its
//! appointment's (5 minutes unless the group sets another).

use crate::integrations::lifecycle::allowed_kind;
use crate::{AppError, Deps};
use model::GroupId;
use model::access::Caller;
use model::ensora::{Settings, SettingsInput};
use model::integration::IntegrationKind;
use store::{Condition, Record, Write, keys};

fn key(group: &GroupId) -> store::Key {
    keys::integration_settings(group, IntegrationKind::Ensora.as_str())
}

/// The settings the flows read (the defaults when none were set).
pub async fn current(deps: &Deps, group: &GroupId) -> Result<Settings, AppError> {
    Ok(deps
        .read::<Settings>(&key(group))
        .await?
        .map(|s| s.value)
        .unwrap_or_default())
}

/// The group's settings: role `integration_admin`.
pub async fn get(deps: &Deps, caller: &Caller, group: &GroupId) -> Result<Settings, AppError> {
    allowed_kind(caller, group, IntegrationKind::Ensora.as_str())?;
    crate::groups::load(deps, group).await?;
    current(deps, group).await
}

/// Changes what `input` sends: role `integration_admin`. A new grace applies to the sessions
/// the next poll maps.
pub async fn put(deps: &Deps, caller: &Caller, group: &GroupId, input: SettingsInput) -> Result<Settings, AppError> {
    allowed_kind(caller, group, IntegrationKind::Ensora.as_str())?;
    crate::groups::load(deps, group).await?;
    let before = deps.read::<Settings>(&key(group)).await?;
    let next = input.apply(&before.as_ref().map(|s| s.value.clone()).unwrap_or_default())?;
    let condition = before
        .as_ref()
        .map_or(Condition::Absent, |b| Condition::AtVersion(b.version));
    let version = before.as_ref().map_or(1, |b| b.version + 1);
    deps.records
        .write(vec![Write::Put {
            record: Record::encode(key(group), version, &next)?,
            condition,
        }])
        .await
        .map_err(|error| match error {
            store::StoreError::AlreadyExists(_) | store::StoreError::VersionConflict { .. } => {
                AppError::Conflict("the settings changed while this change was made; send it again".into())
            }
            other => other.into(),
        })?;
    tracing::info!(%group, grace_minutes = next.session_grace_minutes, "Ensora settings changed");
    Ok(next)
}
