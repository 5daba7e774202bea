//! A group's Ensora settings: the grace a session's start and end may each be off its
//! appointment's (5 minutes unless the group sets another).

use crate::integrations::lifecycle::{allowed_kind, save_settings};
use crate::{AppError, Deps};
use model::GroupId;
use model::access::Caller;
use model::ensora::{Settings, SettingsInput};
use model::integration::IntegrationKind;
use store::keys;

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
    save_settings(
        deps,
        key(group),
        before.map(|b| b.version),
        &next,
        "the settings changed while this change was made; send it again",
    )
    .await?;
    tracing::info!(%group, grace_minutes = next.session_grace_minutes, "Ensora settings changed");
    Ok(next)
}
