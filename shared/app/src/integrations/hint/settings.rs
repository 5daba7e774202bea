//! A group's Hint ⇄ Salesforce settings (not secrets): the Salesforce account contacts created by
//! sync belong to, and whether a patient without a demographics match gets a new contact.

use crate::integrations::lifecycle::{allowed_kind, save_settings};
use crate::{AppError, Deps};
use model::access::Caller;
use model::hint_salesforce::{Settings, SettingsInput};
use model::integration::IntegrationKind;
use model::{FieldError, GroupId, ValidationErrors};
use store::keys;

fn key(group: &GroupId) -> store::Key {
    keys::integration_settings(group, IntegrationKind::Hint.as_str())
}

/// The settings as an admin reads them, with the address to enter in Hint's partner portal as
/// the practice's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsView {
    #[serde(flatten)]
    pub settings: Settings,
    /// Where Hint sends this group's webhooks (`…/webhooks/hint/{group}`), signed with the
    /// practice's webhook signature key; absent when the API's public address is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

fn view(deps: &Deps, group: &GroupId, settings: Settings, reached_at: Option<&str>) -> SettingsView {
    let base = deps.vendors.webhook_base_url.as_deref().or(reached_at);
    SettingsView {
        settings,
        webhook_url: base.map(|base| format!("{}/webhooks/hint/{group}", base.trim_end_matches('/'))),
    }
}

/// The group's settings (the defaults when none were set): role `integration_admin`.
pub async fn get(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    reached_at: Option<&str>,
) -> Result<SettingsView, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    Ok(view(deps, group, current(deps, group).await?, reached_at))
}

/// The settings the flows read.
pub async fn current(deps: &Deps, group: &GroupId) -> Result<Settings, AppError> {
    Ok(deps
        .read::<Settings>(&key(group))
        .await?
        .map(|s| s.value)
        .unwrap_or_default())
}

/// Changes what `input` sends; a default account is checked in the group's Salesforce org (it
/// needs stored credentials), so contacts are never created under one that does not exist.
pub async fn put(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    input: SettingsInput,
    reached_at: Option<&str>,
) -> Result<SettingsView, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    let before = deps.read::<Settings>(&key(group)).await?;
    let next = input.apply(&before.as_ref().map(|s| s.value.clone()).unwrap_or_default())?;
    if let Some(account) = next.default_account_id.as_deref()
        && before.as_ref().and_then(|b| b.value.default_account_id.as_deref()) != Some(account)
        && !super::salesforce_client(deps, group)
            .await?
            .account_exists(account)
            .await?
    {
        return Err(AppError::Invalid(ValidationErrors(vec![FieldError::new(
            "default_account_id",
            "unknown_account",
            "the group's Salesforce org has no account with this id",
        )])));
    }
    save_settings(
        deps,
        key(group),
        before.as_ref().map(|b| b.version),
        &next,
        "the settings changed while this change was checked; send it again",
    )
    .await?;
    tracing::info!(%group, create_contacts_for_unmatched = next.create_contacts_for_unmatched, "Hint ⇄ Salesforce settings changed");
    Ok(view(deps, group, next, reached_at))
}
