//! Hint ⇄ Salesforce's own routes: the group's settings.

use super::{Answer, Call, json};
use crate::openapi::Problems;
use crate::request;
use app::integrations::hint::settings;
use model::hint_salesforce::{Settings, SettingsInput};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Settings,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[(
    Route::Settings,
    "/v1/groups/{group}/integrations/hint/settings",
    "GET, PUT",
)];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    match (route, method) {
        (Route::Settings, "PUT") => put_settings(call, &group).await,
        (Route::Settings, _) => get_settings(call, &group).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(get_settings, put_settings), components(schemas(Settings, SettingsInput)))]
pub(super) struct Paths;

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/settings", tag = "integrations",
    description = "The group's Hint ⇄ Salesforce settings: the Salesforce account contacts created by sync belong to, and whether a Hint patient without a demographics match gets a new contact. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 200, body = Settings), Problems)
)]
pub(crate) async fn get_settings(call: &Call<'_>, group: &model::GroupId) -> Answer {
    Ok(json(200, &settings::get(call.deps, &call.caller, group).await?))
}

#[utoipa::path(
    put, path = "/v1/groups/{group}/integrations/hint/settings", tag = "integrations",
    description = "Changes the settings sent (a field left out keeps its value; `default_account_id: null` clears it). A new default account is looked up in the group's Salesforce org (422 `unknown_account` when it has none; 422 `account_required` to create contacts without one). Needs stored credentials. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    request_body = SettingsInput,
    responses((status = 200, body = Settings), Problems)
)]
pub(crate) async fn put_settings(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let input: SettingsInput = request::json(call.request)?;
    Ok(json(200, &settings::put(call.deps, &call.caller, group, input).await?))
}
