//! The route table and one handler per operation. Handlers are thin: read the request, call one
//! use case, encode the result. Their `#[utoipa::path]` attributes are the OpenAPI document.

use crate::openapi::{
    CreatedImport, GroupList, ImportPage, IntegrationList, PlanItemPage, PlanNotePage, Problems, ResultPage, RunPage,
    Versioned,
};
use crate::problem::Problem;
use crate::request::{self, etag};
use app::people;
use app::{Deps, elation_outbound, groups, import_complete, imports, integration_runs, integrations};
use connectors::elation::CredentialsInput;
use lambda_http::{Body, Request, Response};
use model::GroupId;
use model::group::{Group, GroupInput};
use model::import::complete::CompleteRequest;
use model::import::job::{ImportJob, NewImport};
use model::integration::{EnableRequest, Integration};
use model::patient::{Patient, PatientInput};
use model::plan_note::{PlanNote, PlanNoteInput};
use model::practitioner::{Practitioner, PractitionerInput};
use model::sync::SyncRun;
use serde::Serialize;

type Answer = Result<Response<Body>, Problem>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    OpenApi,
    ImportTemplate,
    Groups,
    Group,
    Patients,
    Patient,
    Practitioners,
    Practitioner,
    Imports,
    Import,
    ImportResults,
    ImportResultsCsv,
    ImportComplete,
    Integrations,
    Integration,
    IntegrationActivate,
    IntegrationCredentials,
    IntegrationCancel,
    IntegrationPreview,
    IntegrationEnable,
    IntegrationRuns,
    IntegrationRun,
    IntegrationRunResults,
    PlanNotes,
}

/// Every route: its path template and the methods it allows. The OpenAPI test checks that the
/// document describes exactly these.
pub const ROUTES: &[(Route, &str, &str)] = &[
    (Route::OpenApi, "/v1/openapi.json", "GET"),
    (Route::ImportTemplate, "/v1/import-template.csv", "GET"),
    (Route::Groups, "/v1/groups", "GET, POST"),
    (Route::Group, "/v1/groups/{group}", "GET"),
    (Route::Patients, "/v1/groups/{group}/patients", "GET, POST"),
    (
        Route::Patient,
        "/v1/groups/{group}/patients/{patient}",
        "GET, PATCH, DELETE",
    ),
    (Route::Practitioners, "/v1/groups/{group}/practitioners", "GET, POST"),
    (
        Route::Practitioner,
        "/v1/groups/{group}/practitioners/{practitioner}",
        "GET, PATCH",
    ),
    (Route::Imports, "/v1/groups/{group}/imports", "GET, POST"),
    (Route::Import, "/v1/groups/{group}/imports/{import}", "GET, DELETE"),
    (
        Route::ImportResults,
        "/v1/groups/{group}/imports/{import}/results",
        "GET",
    ),
    (
        Route::ImportResultsCsv,
        "/v1/groups/{group}/imports/{import}/results.csv",
        "GET",
    ),
    (
        Route::ImportComplete,
        "/v1/groups/{group}/imports/{import}/complete",
        "POST",
    ),
    (Route::Integrations, "/v1/groups/{group}/integrations", "GET"),
    (
        Route::Integration,
        "/v1/groups/{group}/integrations/{integration}",
        "GET",
    ),
    (
        Route::IntegrationActivate,
        "/v1/groups/{group}/integrations/{integration}/activate",
        "POST",
    ),
    (
        Route::IntegrationCredentials,
        "/v1/groups/{group}/integrations/{integration}/credentials",
        "PUT",
    ),
    (
        Route::IntegrationCancel,
        "/v1/groups/{group}/integrations/{integration}/cancel",
        "POST",
    ),
    (
        Route::IntegrationPreview,
        "/v1/groups/{group}/integrations/{integration}/preview",
        "POST",
    ),
    (
        Route::IntegrationEnable,
        "/v1/groups/{group}/integrations/{integration}/enable",
        "POST",
    ),
    (
        Route::IntegrationRuns,
        "/v1/groups/{group}/integrations/{integration}/runs",
        "GET",
    ),
    (
        Route::IntegrationRun,
        "/v1/groups/{group}/integrations/{integration}/runs/{run}",
        "GET",
    ),
    (
        Route::PlanNotes,
        "/v1/groups/{group}/patients/{patient}/plan-notes",
        "GET, POST",
    ),
    (
        Route::IntegrationRunResults,
        "/v1/groups/{group}/integrations/{integration}/runs/{run}/results",
        "GET",
    ),
];

impl Route {
    pub fn template(self) -> &'static str {
        ROUTES
            .iter()
            .find(|(route, _, _)| *route == self)
            .map(|(_, t, _)| *t)
            .unwrap_or("")
    }
}

/// A matched route with its path parameters in template order.
#[derive(Debug)]
pub struct Matched<'p> {
    pub route: Route,
    pub method: &'p str,
    pub params: Vec<&'p str>,
}

fn match_template<'p>(template: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut params = Vec::new();
    let mut parts = path.trim_end_matches('/').split('/');
    for expected in template.split('/') {
        let part = parts.next()?;
        if expected.starts_with('{') {
            if part.is_empty() {
                return None;
            }
            params.push(part);
        } else if expected != part {
            return None;
        }
    }
    parts.next().is_none().then_some(params)
}

pub fn find<'p>(method: &'p str, path: &'p str) -> Result<Matched<'p>, Problem> {
    for (route, template, allow) in ROUTES {
        if let Some(params) = match_template(template, path) {
            if !allow.split(", ").any(|m| m == method) {
                return Err(Problem::method_not_allowed(allow));
            }
            return Ok(Matched {
                route: *route,
                method,
                params,
            });
        }
    }
    Err(Problem::not_found(
        "no such resource; see /v1/openapi.json for what this API offers",
    ))
}

pub async fn dispatch(deps: &Deps, request: &Request, matched: Matched<'_>) -> Answer {
    if matched.route == Route::OpenApi {
        return Ok(json(200, &crate::openapi::document()));
    }
    let caller = request::caller(request)?;
    let group = match matched.params.first() {
        Some(raw) => Some(GroupId::parse(raw).map_err(|_| Problem::not_found("no such group"))?),
        None => None,
    };
    let call = Call { deps, request, caller };
    let id = matched.params.get(1).copied().unwrap_or_default();
    let child = matched.params.get(2).copied().unwrap_or_default();
    match (matched.route, matched.method, group) {
        (Route::ImportTemplate, _, _) => Ok(import_template()),
        (Route::Groups, "GET", _) => list_groups(&call).await,
        (Route::Groups, _, _) => create_group(&call).await,
        (Route::Group, _, Some(group)) => get_group(&call, &group).await,
        (Route::Patients, "GET", Some(group)) => list_patients(&call, &group).await,
        (Route::Patients, _, Some(group)) => create_patient(&call, &group).await,
        (Route::Patient, "GET", Some(group)) => get_patient(&call, &group, id).await,
        (Route::Patient, "DELETE", Some(group)) => delete_patient(&call, &group, id).await,
        (Route::Patient, _, Some(group)) => update_patient(&call, &group, id).await,
        (Route::Practitioners, "GET", Some(group)) => list_practitioners(&call, &group).await,
        (Route::Practitioners, _, Some(group)) => create_practitioner(&call, &group).await,
        (Route::Practitioner, "GET", Some(group)) => get_practitioner(&call, &group, id).await,
        (Route::Practitioner, _, Some(group)) => update_practitioner(&call, &group, id).await,
        (Route::Imports, "GET", Some(group)) => list_imports(&call, &group).await,
        (Route::Imports, _, Some(group)) => create_import(&call, &group).await,
        (Route::Import, "GET", Some(group)) => get_import(&call, &group, id).await,
        (Route::Import, _, Some(group)) => delete_import(&call, &group, id).await,
        (Route::ImportResults, _, Some(group)) => import_results(&call, &group, id).await,
        (Route::ImportResultsCsv, _, Some(group)) => import_results_csv(&call, &group, id).await,
        (Route::ImportComplete, _, Some(group)) => complete_import(&call, &group, id).await,
        (Route::Integrations, _, Some(group)) => list_integrations(&call, &group).await,
        (Route::Integration, _, Some(group)) => get_integration(&call, &group, id).await,
        (Route::IntegrationActivate, _, Some(group)) => activate_integration(&call, &group, id).await,
        (Route::IntegrationCredentials, _, Some(group)) => store_integration_credentials(&call, &group, id).await,
        (Route::IntegrationCancel, _, Some(group)) => cancel_integration(&call, &group, id).await,
        (Route::IntegrationPreview, _, Some(group)) => preview_integration(&call, &group, id).await,
        (Route::IntegrationEnable, _, Some(group)) => enable_integration(&call, &group, id).await,
        (Route::IntegrationRuns, _, Some(group)) => list_integration_runs(&call, &group, id).await,
        (Route::IntegrationRun, _, Some(group)) => get_integration_run(&call, &group, id, child).await,
        (Route::PlanNotes, "GET", Some(group)) => list_plan_notes(&call, &group, id).await,
        (Route::PlanNotes, _, Some(group)) => create_plan_note(&call, &group, id).await,
        (Route::IntegrationRunResults, _, Some(group)) => integration_run_results(&call, &group, id, child).await,
        _ => Err(Problem::internal()),
    }
}

pub(crate) struct Call<'a> {
    deps: &'a Deps,
    request: &'a Request,
    caller: model::access::Caller,
}

fn json<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::Text(body))
            .unwrap_or_else(|_| Problem::internal().into_response()),
        Err(error) => {
            tracing::error!(error = %error, "response could not be encoded");
            Problem::internal().into_response()
        }
    }
}

/// An answer with nothing to say (a deletion).
fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .unwrap_or_else(|_| Problem::internal().into_response())
}

/// A single record with its version in the body and as its ETag.
fn record<T: Serialize>(status: u16, versioned: store::Versioned<T>, location: Option<String>) -> Response<Body> {
    let version = versioned.version;
    versioned_json(status, &Versioned::from(versioned), version, location)
}

/// `body` as JSON, with the record's version as its ETag and, for a creation, its Location.
fn versioned_json<B: Serialize>(status: u16, body: &B, version: u64, location: Option<String>) -> Response<Body> {
    let mut response = json(status, body);
    let headers = response.headers_mut();
    if let Ok(value) = etag(version).parse() {
        headers.insert("etag", value);
    }
    if let Some(value) = location.and_then(|l| l.parse().ok()) {
        headers.insert("location", value);
    }
    response
}

#[utoipa::path(
    get, path = "/v1/import-template.csv", tag = "imports",
    description = "The participant-list template: every column carebridge imports, with example rows.",
    responses((status = 200, description = "The template", content_type = "text/csv", body = String), Problems)
)]
pub(crate) fn import_template() -> Response<Body> {
    Response::builder()
        .status(200)
        .header("content-type", "text/csv; charset=utf-8")
        .header(
            "content-disposition",
            "attachment; filename=\"carebridge-participants-template.csv\"",
        )
        .body(Body::Text(model::import::columns::TEMPLATE_CSV.to_owned()))
        .unwrap_or_else(|_| Problem::internal().into_response())
}

#[utoipa::path(
    get, path = "/v1/groups", tag = "groups",
    description = "The groups named in your token that exist.",
    responses((status = 200, body = GroupList), Problems)
)]
pub(crate) async fn list_groups(call: &Call<'_>) -> Answer {
    let items = groups::list_mine(call.deps, &call.caller).await?;
    Ok(json(
        200,
        &GroupList {
            items: items.into_iter().map(Versioned::from).collect(),
        },
    ))
}

#[utoipa::path(
    post, path = "/v1/groups", tag = "groups",
    description = "Creates a customer group. Role: platform_admin.",
    request_body = GroupInput,
    responses((status = 201, body = Versioned<Group>, headers(("ETag" = String), ("Location" = String))), Problems)
)]
pub(crate) async fn create_group(call: &Call<'_>) -> Answer {
    let input: GroupInput = request::json(call.request)?;
    let created = groups::create(call.deps, &call.caller, input).await?;
    let location = format!("/v1/groups/{}", created.value.id);
    Ok(record(201, created, Some(location)))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}", tag = "groups",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 200, body = Versioned<Group>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn get_group(call: &Call<'_>, group: &GroupId) -> Answer {
    Ok(record(200, groups::get(call.deps, &call.caller, group).await?, None))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/imports", tag = "imports",
    description = "Starts a participant-list import. Answers with an upload URL: PUT the CSV there, with the headers given, within 15 minutes; the preview starts when it arrives. Role: importable_files_uploader or importable_files_admin.",
    params(("group" = String, Path, description = "Group id")),
    request_body = NewImport,
    responses((status = 201, body = CreatedImport, headers(("ETag" = String), ("Location" = String))), Problems)
)]
pub(crate) async fn create_import(call: &Call<'_>, group: &GroupId) -> Answer {
    let input: NewImport = request::json(call.request)?;
    let created = imports::create(call.deps, &call.caller, group, input).await?;
    let location = format!("/v1/groups/{group}/imports/{}", created.import.value.id);
    let version = created.import.version;
    Ok(versioned_json(
        201,
        &CreatedImport::from(created),
        version,
        Some(location),
    ))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/imports", tag = "imports",
    description = "The group's imports, newest first, with filename, uploader, status and counts.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = ImportPage), Problems)
)]
pub(crate) async fn list_imports(call: &Call<'_>, group: &GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = imports::list(call.deps, &call.caller, group, cursor, limit).await?;
    Ok(json(200, &ImportPage::from(page)))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/imports/{import}", tag = "imports",
    params(("group" = String, Path, description = "Group id"), ("import" = String, Path, description = "Import id")),
    responses((status = 200, body = Versioned<ImportJob>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn get_import(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
    Ok(record(
        200,
        imports::get(call.deps, &call.caller, group, id).await?,
        None,
    ))
}

#[utoipa::path(
    delete, path = "/v1/groups/{group}/patients/{patient}", tag = "patients",
    description = "Deletes a patient and its plan notes, at the version you read (If-Match; a stale version is 412 and nothing is deleted). An integration that keeps the patient (Elation) creates it again at its next change there. Role: group_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("patient" = String, Path, description = "Patient id"),
        ("If-Match" = String, Header, description = "ETag of the version you read")
    ),
    responses((status = 204, description = "Deleted"), Problems)
)]
pub(crate) async fn delete_patient(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
    let version = request::if_match(call.request)?;
    people::delete::<Patient>(call.deps, &call.caller, group, id, version).await?;
    Ok(no_content())
}

#[utoipa::path(
    delete, path = "/v1/groups/{group}/imports/{import}", tag = "imports",
    description = "Deletes the uploaded file and the preview results; the import stays listed as deleted. Patients an already completed import created stay. Role: importable_files_admin.",
    params(("group" = String, Path, description = "Group id"), ("import" = String, Path, description = "Import id")),
    responses((status = 200, body = Versioned<ImportJob>), Problems)
)]
pub(crate) async fn delete_import(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
    Ok(record(
        200,
        imports::delete(call.deps, &call.caller, group, id).await?,
        None,
    ))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/imports/{import}/complete", tag = "imports",
    description = "Applies a previewed import: rows are re-checked against the patients as they are now (a patient edited since the preview is never overwritten: that row ends in `conflict`) and applied in the background; the import is `completing` until every row has its final state, then `completed` with counts that add up to the rows. Refused (409) while the preview has error rows, unless the body is `{\"skip_error_rows\": true}`. Asking again while it completes resumes it; asking once it is completed changes nothing. The body may be left out. Role: importable_files_admin.",
    params(("group" = String, Path, description = "Group id"), ("import" = String, Path, description = "Import id")),
    request_body(content = Option<CompleteRequest>),
    responses((status = 202, body = Versioned<ImportJob>, description = "Accepted: completing (or already completed)"), Problems)
)]
pub(crate) async fn complete_import(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
    let input: CompleteRequest = request::optional_json(call.request)?;
    Ok(record(
        202,
        import_complete::start(call.deps, &call.caller, group, id, input).await?,
        None,
    ))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/imports/{import}/results", tag = "imports",
    description = "A page of the per-row results: each row's previewed action, changes, errors and warnings and, once the import is completed, its final state (`completion`) and patient id.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("import" = String, Path, description = "Import id"),
        ("filter" = Option<String>, Query, description = "all (default); errors, warnings, create, update or unchanged (the previewed action); created, updated, skipped, conflict or failed (the final state, once completed)"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = ResultPage), Problems)
)]
pub(crate) async fn import_results(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let filter = request::query(call.request, "filter");
    let cursor = request::query(call.request, "cursor");
    let page = imports::results(call.deps, &call.caller, group, id, filter, cursor, limit).await?;
    Ok(json(200, &ResultPage::from(page)))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/imports/{import}/results.csv", tag = "imports",
    description = "Redirects to a 5-minute download of the results as CSV: the file's columns, then each row's number, action, patient id, errors, warnings and, once completed, its final state and why. Cells that a spreadsheet would run as formulas are escaped.",
    params(("group" = String, Path, description = "Group id"), ("import" = String, Path, description = "Import id")),
    responses((status = 303, description = "See Other: the download link", headers(("Location" = String))), Problems)
)]
pub(crate) async fn import_results_csv(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
    let url = imports::results_csv(call.deps, &call.caller, group, id).await?;
    Response::builder()
        .status(303)
        .header("location", url)
        .body(Body::Empty)
        .map_err(|_| Problem::internal())
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations", tag = "integrations",
    description = "Every integration carebridge offers and its status in this group: inactive, pending (activated, being set up), active or cancelled. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 200, body = IntegrationList), Problems)
)]
pub(crate) async fn list_integrations(call: &Call<'_>, group: &GroupId) -> Answer {
    let items = integrations::list(call.deps, &call.caller, group).await?;
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
        integrations::get(call.deps, &call.caller, group, kind).await?,
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
        integrations::activate(call.deps, &call.caller, group, kind).await?,
        None,
    ))
}

#[utoipa::path(
    put, path = "/v1/groups/{group}/integrations/{integration}/credentials", tag = "integrations",
    description = "Stores the integration's credentials after checking them with the vendor (by getting a token). Bad credentials are refused with the vendor's reason (422, `vendor-refused`); a vendor that cannot be reached gives 502. Credentials are kept in Secrets Manager and never returned. The integration must be pending or active. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id"), ("integration" = String, Path, description = "elation")),
    request_body = CredentialsInput,
    responses((status = 200, body = Versioned<Integration>, headers(("ETag" = String))), Problems)
)]
pub(crate) async fn store_integration_credentials(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    let input: CredentialsInput = request::json(call.request)?;
    Ok(record(
        200,
        integrations::store_credentials(call.deps, &call.caller, group, kind, &input).await?,
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
        integrations::cancel(call.deps, &call.caller, group, kind).await?,
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
    let run = integration_runs::start_preview(call.deps, &call.caller, group, kind).await?;
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
        integrations::enable(call.deps, &call.caller, group, kind, input, reached_at.as_deref()).await?,
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
    let page = integration_runs::list_runs(call.deps, &call.caller, group, kind, cursor, limit).await?;
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
        integration_runs::get_run(call.deps, &call.caller, group, kind, run).await?,
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
    let wanted = integration_runs::ResultsPage {
        filter: request::query(call.request, "filter"),
        cursor: request::query(call.request, "cursor"),
        limit: request::query_number(call.request, "limit")?,
    };
    let page = integration_runs::results(call.deps, &call.caller, group, kind, run, wanted).await?;
    Ok(json(200, &PlanItemPage::from(page)))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/patients/{patient}/plan-notes", tag = "patients",
    description = "Writes a plan note and sends it to Elation as a non-visit note (type `nonvisit`, one bullet of category `Plan`, by the author's Elation physician). The answer comes at once with delivery `pending`; the note's `delivery` then shows Elation's note id (`delivered`) or, after every retry, `failed` with the reason. The patient and the author must be linked to Elation and the integration active (409 otherwise). Role: group_admin.",
    params(("group" = String, Path, description = "Group id"), ("patient" = String, Path, description = "Patient id")),
    request_body = PlanNoteInput,
    responses((status = 202, body = Versioned<PlanNote>, description = "Accepted: stored and queued for Elation"), Problems)
)]
pub(crate) async fn create_plan_note(call: &Call<'_>, group: &GroupId, patient: &str) -> Answer {
    let input: PlanNoteInput = request::json(call.request)?;
    Ok(record(
        202,
        elation_outbound::create_plan_note(call.deps, &call.caller, group, patient, &input).await?,
        None,
    ))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/patients/{patient}/plan-notes", tag = "patients",
    description = "The patient's plan notes, newest first, each with its delivery to Elation.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("patient" = String, Path, description = "Patient id"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = PlanNotePage), Problems)
)]
pub(crate) async fn list_plan_notes(call: &Call<'_>, group: &GroupId, patient: &str) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = elation_outbound::list_plan_notes(call.deps, &call.caller, group, patient, cursor, limit).await?;
    Ok(json(200, &PlanNotePage::from(page)))
}

/// Declares the four handlers of one kind of person record (list, create, get, patch), so
/// patients and practitioners expose the same contract from one definition.
macro_rules! person_routes {
    ($kind:ty, $input:ty, $collection:literal, $collection_path:literal, $item_path:literal, $param:literal,
     $tag:literal, $page:ty, $list:ident, $create:ident, $get:ident, $update:ident) => {
        #[utoipa::path(
            get, path = $collection_path, tag = $tag,
            params(
                ("group" = String, Path, description = "Group id"),
                ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
                ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
            ),
            responses((status = 200, body = $page), Problems)
        )]
        pub(crate) async fn $list(call: &Call<'_>, group: &GroupId) -> Answer {
            let limit = request::query_number(call.request, "limit")?;
            let cursor = request::query(call.request, "cursor");
            let page = people::list::<$kind>(call.deps, &call.caller, group, cursor, limit).await?;
            Ok(json(200, &<$page>::from(page)))
        }

        #[utoipa::path(
            post, path = $collection_path, tag = $tag,
            description = "Role: group_admin.",
            params(("group" = String, Path, description = "Group id")),
            request_body = $input,
            responses((status = 201, body = Versioned<$kind>, headers(("ETag" = String), ("Location" = String))), Problems)
        )]
        pub(crate) async fn $create(call: &Call<'_>, group: &GroupId) -> Answer {
            let input: $input = request::json(call.request)?;
            let created = people::create::<$kind>(call.deps, &call.caller, group, input).await?;
            let location = format!(concat!("/v1/groups/{}/", $collection, "/{}"), group, created.value.id);
            Ok(record(201, created, Some(location)))
        }

        #[utoipa::path(
            get, path = $item_path, tag = $tag,
            params(("group" = String, Path, description = "Group id"), ($param = String, Path, description = "Record id")),
            responses((status = 200, body = Versioned<$kind>, headers(("ETag" = String))), Problems)
        )]
        pub(crate) async fn $get(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
            Ok(record(200, people::get::<$kind>(call.deps, &call.caller, group, id).await?, None))
        }

        #[utoipa::path(
            patch, path = $item_path, tag = $tag,
            description = "JSON Merge Patch (RFC 7396): members set replace, `null` clears. Requires If-Match with the ETag of your last read; role group_admin.",
            params(
                ("group" = String, Path, description = "Group id"),
                ($param = String, Path, description = "Record id"),
                ("If-Match" = String, Header, description = "ETag of the version you read")
            ),
            request_body(content = $input, content_type = "application/merge-patch+json"),
            responses((status = 200, body = Versioned<$kind>, headers(("ETag" = String))), Problems)
        )]
        pub(crate) async fn $update(call: &Call<'_>, group: &GroupId, id: &str) -> Answer {
            let version = request::if_match(call.request)?;
            let patch: serde_json::Value = request::json(call.request)?;
            let updated = people::update::<$kind>(call.deps, &call.caller, group, id, version, &patch).await?;
            Ok(record(200, updated, None))
        }
    };
}

person_routes!(
    Patient,
    PatientInput,
    "patients",
    "/v1/groups/{group}/patients",
    "/v1/groups/{group}/patients/{patient}",
    "patient",
    "patients",
    crate::openapi::PatientPage,
    list_patients,
    create_patient,
    get_patient,
    update_patient
);
person_routes!(
    Practitioner,
    PractitionerInput,
    "practitioners",
    "/v1/groups/{group}/practitioners",
    "/v1/groups/{group}/practitioners/{practitioner}",
    "practitioner",
    "practitioners",
    crate::openapi::PractitionerPage,
    list_practitioners,
    create_practitioner,
    get_practitioner,
    update_practitioner
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_templates_and_capture_parameters() {
        let matched = find("GET", "/v1/groups/acme/patients/pat_1").unwrap();
        assert_eq!(matched.route, Route::Patient);
        assert_eq!(matched.params, ["acme", "pat_1"]);
        assert_eq!(find("GET", "/v1/groups/").unwrap().route, Route::Groups);
        assert_eq!(
            find("POST", "/v1/groups/acme/practitioners").unwrap().route,
            Route::Practitioners
        );
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        assert_eq!(find("GET", "/v1/nothing").unwrap_err().status, 404);
        assert_eq!(
            find("GET", "/v1/groups/acme/patients/pat_1/extra").unwrap_err().status,
            404
        );
        assert_eq!(find("GET", "/v1/groups//patients").unwrap_err().status, 404);
        let wrong = find("PUT", "/v1/groups/acme/patients/pat_1").unwrap_err();
        assert_eq!((wrong.status, wrong.allow), (405, Some("GET, PATCH, DELETE")));
    }
}
