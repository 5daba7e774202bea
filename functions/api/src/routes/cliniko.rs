//! Cliniko's own routes: its client list as carebridge would take it, the profiles syncs could
//! not take, and the address a clinic opens from Cliniko.

use super::{Answer, Call, json, record, see_other};
use crate::openapi::{ClinikoClientPage, FailedProfilePage, Problems, Versioned};
use crate::request;
use app::integrations::cliniko::clients;
use model::patient::Patient;
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Clients,
    Failed,
    Open,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (
        Route::Clients,
        "/v1/groups/{group}/integrations/cliniko/patients",
        "GET",
    ),
    (Route::Failed, "/v1/groups/{group}/integrations/cliniko/failed", "GET"),
    (Route::Open, "/v1/groups/{group}/integrations/cliniko/open", "GET"),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, _method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    match route {
        Route::Clients => list_clients(call, &group).await,
        Route::Failed => list_failed(call, &group).await,
        Route::Open => open_client(call, &group).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(list_clients, list_failed, open_client))]
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

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/cliniko/open", tag = "integrations",
    description = "The address a clinic enters in Cliniko as a connected patient app (Settings → Integrations): opening it from a client's page in Cliniko sends the client's id as `patient_id`. carebridge fetches that one client, creates (201) or updates (200) its profile, linked by Cliniko id, and answers with it; when the group has an `app_url`, it answers 303 to that page with `?patient_id=<carebridge id>` instead. A client lacking what carebridge needs answers 422 with each missing field (`missing_first_name`, …) and is kept in `…/cliniko/failed`. Any caller of the group may open a client; Cliniko must be active (409 otherwise).",
    params(
        ("group" = String, Path, description = "Group id"),
        ("patient_id" = String, Query, description = "The client's Cliniko id, as Cliniko sends it")
    ),
    responses((status = 200, body = Versioned<Patient>, headers(("ETag" = String))), (status = 201, body = Versioned<Patient>, headers(("ETag" = String), ("Location" = String))), (status = 303, description = "See Other: the group's own page for the patient", headers(("Location" = String))), Problems)
)]
pub(crate) async fn open_client(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let raw = request::query(call.request, "patient_id");
    let opened = app::integrations::cliniko::open::open(call.deps, &call.caller, group, raw).await?;
    if let Some(page) = opened.redirect {
        return see_other(&page);
    }
    if opened.created {
        let location = format!("/v1/groups/{group}/patients/{}", opened.patient.value.id);
        return Ok(record(201, opened.patient, Some(location)));
    }
    Ok(record(200, opened.patient, None))
}
