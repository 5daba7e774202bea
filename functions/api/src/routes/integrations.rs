//! Every vendor's integration through one set of routes: its life cycle, its runs and their
//! results. `{integration}` names the vendor.

use super::{Answer, Call, json, record};
use crate::openapi::{IntegrationList, PlanItemPage, Problems, RunPage, VendorCredentials, Versioned};
use crate::request;
use app::integrations::{lifecycle, runs};
use model::GroupId;
use model::integration::{EnableRequest, Integration};
use model::sync::SyncRun;
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Integrations,
    Integration,
    Activate,
    Credentials,
    Cancel,
    Preview,
    Enable,
    Syncs,
    Runs,
    Run,
    RunResults,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (Route::Integrations, "/v1/groups/{group}/integrations", "GET"),
    (
        Route::Integration,
        "/v1/groups/{group}/integrations/{integration}",
        "GET",
    ),
    (
        Route::Activate,
        "/v1/groups/{group}/integrations/{integration}/activate",
        "POST",
    ),
    (
        Route::Credentials,
        "/v1/groups/{group}/integrations/{integration}/credentials",
        "PUT",
    ),
    (
        Route::Cancel,
        "/v1/groups/{group}/integrations/{integration}/cancel",
        "POST",
    ),
    (
        Route::Preview,
        "/v1/groups/{group}/integrations/{integration}/preview",
        "POST",
    ),
    (
        Route::Enable,
        "/v1/groups/{group}/integrations/{integration}/enable",
        "POST",
    ),
    (
        Route::Syncs,
        "/v1/groups/{group}/integrations/{integration}/syncs",
        "POST",
    ),
    (Route::Runs, "/v1/groups/{group}/integrations/{integration}/runs", "GET"),
    (
        Route::Run,
        "/v1/groups/{group}/integrations/{integration}/runs/{run}",
        "GET",
    ),
    (
        Route::RunResults,
        "/v1/groups/{group}/integrations/{integration}/runs/{run}/results",
        "GET",
    ),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, _method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    let kind = super::param(params, 1);
    let run = super::param(params, 2);
    match route {
        Route::Integrations => list_integrations(call, &group).await,
        Route::Integration => get_integration(call, &group, kind).await,
        Route::Activate => activate_integration(call, &group, kind).await,
        Route::Credentials => store_integration_credentials(call, &group, kind).await,
        Route::Cancel => cancel_integration(call, &group, kind).await,
        Route::Preview => preview_integration(call, &group, kind).await,
        Route::Enable => enable_integration(call, &group, kind).await,
        Route::Syncs => start_sync(call, &group, kind).await,
        Route::Runs => list_integration_runs(call, &group, kind).await,
        Route::Run => get_integration_run(call, &group, kind, run).await,
        Route::RunResults => integration_run_results(call, &group, kind, run).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(
    list_integrations,
    get_integration,
    activate_integration,
    store_integration_credentials,
    cancel_integration,
    preview_integration,
    enable_integration,
    start_sync,
    list_integration_runs,
    get_integration_run,
    integration_run_results
))]
pub(super) struct Paths;

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations", tag = "integrations",
    description = "Every integration carebridge offers and its status in this group: inactive, pending (activated, being set up), active or cancelled. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 200, body = IntegrationList), Problems)
)]
pub(crate) async fn list_integrations(call: &Call<'_>, group: &GroupId) -> Answer {
    let items = lifecycle::list(call.deps, &call.caller, group).await?;
    Ok(json(
        200,
        &IntegrationList {
            items: items.into_iter().map(Versioned::from).collect(),
        },
    ))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/{integration}", tag = "integrations",
    description = "One integration's status and settings (never its credentials). Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation, cliniko, hint or ensora")),
    responses((status = 200, body = Versioned<Integration>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn get_integration(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    Ok(record(
        200,
        lifecycle::get(call.deps, &call.caller, group, kind).await?,
        None,
    ))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/{integration}/activate", tag = "integrations",
    description = "Activates an integration: it becomes `pending` while credentials and the preview are sorted out. Refused (409) while Hint is active or pending for Elation, and the other way round: a group keeps its patients in step with one of them. Activating a pending integration again changes nothing. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation, cliniko, hint or ensora")),
    responses((status = 200, body = Versioned<Integration>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn activate_integration(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    Ok(record(
        200,
        lifecycle::activate(call.deps, &call.caller, group, kind).await?,
        None,
    ))
}

#[utoipa::path(
    put, path = "/v1/groups/{group}/integrations/{integration}/credentials", tag = "integrations",
    description = "Stores the integration's credentials after checking them with the vendor: Elation's app credentials by getting a token, a Cliniko API key (`{\"api_key\"}`; its suffix names the shard, and so the host) with one read, Hint ⇄ Salesforce's practice key (one read of Hint), webhook signature key and Salesforce app (`{\"practice_api_key\", \"webhook_signature_key\", \"salesforce\": {\"my_domain\", \"client_id\", \"client_secret\"}}`, or `username` and `private_key_pem` for the JWT bearer flow; a token from the org's My Domain). Bad credentials are refused with the vendor's reason (422, `vendor-refused`); a vendor that cannot be reached gives 502. Credentials are kept in Secrets Manager and never returned. The integration must be pending or active. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation, cliniko or hint")),
    request_body = VendorCredentials,
    responses((status = 200, body = Versioned<Integration>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn store_integration_credentials(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    let input: serde_json::Value = request::json(call.request)?;
    Ok(record(
        200,
        lifecycle::store_credentials(call.deps, &call.caller, group, kind, input).await?,
        None,
    ))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/{integration}/cancel", tag = "integrations",
    description = "Cancels an integration: nothing syncs any more; carebridge's patients and practitioners stay. Cancelling again changes nothing. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation, cliniko, hint or ensora")),
    responses((status = 200, body = Versioned<Integration>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn cancel_integration(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    Ok(record(
        200,
        lifecycle::cancel(call.deps, &call.caller, group, kind).await?,
        None,
    ))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/{integration}/preview", tag = "integrations",
    description = "Starts a preview: every physician and patient is read from the vendor and compared with the group's practitioners and patients, showing what enabling would create, update, link, leave unchanged or skip, with warnings (duplicate e-mail between vendor records or with a carebridge patient or coach, missing e-mail, invalid date of birth, a patient whose primary physician is not imported). Nothing is written to patients or practitioners. Answers with the run: read it for progress (fetched / total) and, once it has succeeded, its results. Resolve a warning by editing the carebridge record or the data at the vendor, then preview again. Needs stored credentials. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation")),
    responses((status = 202, body = Versioned<SyncRun>, description = "Accepted: the preview is queued"), Problems)
)]
pub(crate) async fn preview_integration(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    let run = runs::start_preview(call.deps, &call.caller, group, kind).await?;
    let location = format!("/v1/groups/{group}/integrations/{kind}/runs/{}", run.value.id);
    Ok(record(202, run, Some(location)))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/{integration}/enable", tag = "integrations",
    description = "Enables a pending integration: it becomes `active`, the vendor's webhooks are subscribed (patients, physicians) and the one-time initial import starts (its run is `initial_import`; its results list what was created, updated and linked). Refused (409) without a finished preview, or while the latest preview has warnings unless the body is `{\"force\": true}`. Asking again while the initial import has not finished resumes it. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation")),
    request_body(content = Option<EnableRequest>),
    responses((status = 202, body = Versioned<Integration>, description = "Accepted: active, the initial import is queued"), Problems)
)]
pub(crate) async fn enable_integration(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    let input: EnableRequest = request::optional_json(call.request)?;
    let reached_at = request::public_base_url(call.request);
    Ok(record(
        202,
        lifecycle::enable(call.deps, &call.caller, group, kind, input, reached_at.as_deref()).await?,
        None,
    ))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/{integration}/runs", tag = "integrations",
    description = "The integration's previews and initial import, newest first. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("integration" = String, Path, description = "elation"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = RunPage), Problems)
)]
pub(crate) async fn list_integration_runs(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = runs::list_runs(call.deps, &call.caller, group, kind, cursor, limit).await?;
    Ok(json(200, &RunPage::from(page)))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/{integration}/runs/{run}", tag = "integrations",
    description = "One run: its status, progress (records fetched of the vendor's total) and, once finished, its counts per action. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation"), ("run" = String, Path, description = "Run id")),
    responses((status = 200, body = Versioned<SyncRun>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn get_integration_run(call: &Call<'_>, group: &GroupId, kind: &str, run: &str) -> Answer {
    Ok(record(
        200,
        runs::get_run(call.deps, &call.caller, group, kind, run).await?,
        None,
    ))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/{integration}/runs/{run}/results", tag = "integrations",
    description = "A page of a finished run's results: per practitioner and patient, the action (create, update, link, unchanged or skip; for an initial import, what it did), the carebridge record, the changes and the warnings. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("integration" = String, Path, description = "elation"),
        ("run" = String, Path, description = "Run id"),
        ("filter" = Option<String>, Query, description = "all (default), warnings, practitioners, patients, create, update, link, unchanged or skip"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = PlanItemPage), Problems)
)]
pub(crate) async fn integration_run_results(call: &Call<'_>, group: &GroupId, kind: &str, run: &str) -> Answer {
    let wanted = runs::ResultsPage {
        filter: request::query(call.request, "filter"),
        cursor: request::query(call.request, "cursor"),
        limit: request::query_number(call.request, "limit")?,
    };
    let page = runs::results(call.deps, &call.caller, group, kind, run, wanted).await?;
    Ok(json(200, &PlanItemPage::from(page)))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/{integration}/syncs", tag = "integrations",
    description = "Starts a sync of an active integration that syncs on demand (Cliniko): `{\"mode\": \"full\"}` (the default; the body may be left out) reads every client. Answers with the run (202): read it for progress (`fetched` / `total`) and, once it has succeeded, its `outcome` (`synced`, `failed`) and per-client results (`…/runs/{run}/results`: a client carebridge could not take is `skip`, its reasons as warnings). Clients that fail are kept with their reasons (Cliniko: `…/integrations/cliniko/failed`), tried again by every later sync, and leave that list once a sync takes them. 409 for a vendor that offers no such sync or an integration that is not active. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "cliniko")),
    request_body(content = Option<model::sync::SyncRequest>),
    responses((status = 202, body = Versioned<SyncRun>, description = "Accepted: the sync is queued"), Problems)
)]
pub(crate) async fn start_sync(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    let input: model::sync::SyncRequest = request::optional_json(call.request)?;
    let run = runs::start_sync(call.deps, &call.caller, group, kind, input).await?;
    let location = format!("/v1/groups/{group}/integrations/{kind}/runs/{}", run.value.id);
    Ok(record(202, run, Some(location)))
}
