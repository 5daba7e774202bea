//! Cliniko's own routes: its client list as carebridge would take it.

use super::{Answer, Call, json};
use crate::openapi::{ClinikoClientPage, FailedProfilePage, Problems};
use crate::request;
use app::integrations::cliniko::clients;
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Clients,
    Failed,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (
        Route::Clients,
        "/v1/groups/{group}/integrations/cliniko/patients",
        "GET",
    ),
    (Route::Failed, "/v1/groups/{group}/integrations/cliniko/failed", "GET"),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, _method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    match route {
        Route::Clients => list_clients(call, &group).await,
        Route::Failed => list_failed(call, &group).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(list_clients, list_failed))]
pub(super) struct Paths;

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/cliniko/patients", tag = "integrations",
    description = "Cliniko's current clients, read from Cliniko now, as carebridge would take them: first those it cannot sync, each with its reasons (a missing first name, last name, date of birth, sex or e-mail, or a value carebridge cannot read, such as an e-mail that is not one), then the rest; each also with its warnings (a sex carebridge keeps as `other`, a phone type it does not keep). Needs a stored API key. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = ClinikoClientPage), Problems)
)]
pub(crate) async fn list_clients(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = clients::list(call.deps, &call.caller, group, cursor, limit).await?;
    Ok(json(200, &ClinikoClientPage::from(page)))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/cliniko/failed", tag = "integrations",
    description = "The Cliniko clients the latest syncs could not take, each with its reasons, since when it fails and the sync that last tried. Every sync tries them again; one it takes leaves the list. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = FailedProfilePage), Problems)
)]
pub(crate) async fn list_failed(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = app::integrations::cliniko::failed(call.deps, &call.caller, group, cursor, limit).await?;
    Ok(json(200, &FailedProfilePage::from(page)))
}
