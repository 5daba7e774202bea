//! Participant-list (CSV) imports: the template, uploads, previews, results and completion.

use super::{Answer, Call, json, record, see_other, versioned_json};
use crate::openapi::{CreatedImport, ImportPage, Problems, ResultPage, Versioned};
use crate::problem::Problem;
use crate::request;
use app::{import_complete, imports};
use lambda_http::{Body, Response};
use model::GroupId;
use model::import::complete::CompleteRequest;
use model::import::job::{ImportJob, NewImport};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    ImportTemplate,
    Imports,
    Import,
    ImportResults,
    ImportResultsCsv,
    ImportComplete,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (Route::ImportTemplate, "/v1/import-template.csv", "GET"),
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
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    if route == Route::ImportTemplate {
        return Ok(import_template());
    }
    let group = super::group(params)?;
    let id = super::param(params, 1);
    match (route, method) {
        (Route::Imports, "GET") => list_imports(call, &group).await,
        (Route::Imports, _) => create_import(call, &group).await,
        (Route::Import, "GET") => get_import(call, &group, id).await,
        (Route::Import, _) => delete_import(call, &group, id).await,
        (Route::ImportResults, _) => import_results(call, &group, id).await,
        (Route::ImportResultsCsv, _) => import_results_csv(call, &group, id).await,
        (Route::ImportComplete, _) => complete_import(call, &group, id).await,
        (Route::ImportTemplate, _) => Ok(import_template()),
    }
}

#[derive(OpenApi)]
#[openapi(paths(
    import_template,
    create_import,
    list_imports,
    get_import,
    delete_import,
    import_results,
    import_results_csv,
    complete_import
))]
pub(super) struct Paths;

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
    see_other(&url)
}
