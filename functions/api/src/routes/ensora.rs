//! Ensora data collection's own routes: a poll now, the group's settings, and each kind of
//! Ensora record with its mapping.

use super::{Answer, Call, json};
use crate::openapi::{EnsoraRecordPage, Problems};
use crate::request;
use app::integrations::ensora::{admin, reports, settings};
use model::GroupId;
use model::ensora::{Settings, SettingsInput};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Poll,
    Settings,
    Records,
    Mapping,
    Report,
    Create,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (Route::Poll, "/v1/groups/{group}/integrations/ensora/poll", "POST"),
    (
        Route::Settings,
        "/v1/groups/{group}/integrations/ensora/settings",
        "GET, PUT",
    ),
    (
        Route::Report,
        "/v1/groups/{group}/integrations/ensora/reports/{report}",
        "GET",
    ),
    (Route::Records, "/v1/groups/{group}/integrations/ensora/{kind}", "GET"),
    (
        Route::Mapping,
        "/v1/groups/{group}/integrations/ensora/{kind}/{ensora_id}/mapping",
        "PUT, DELETE",
    ),
    (
        Route::Create,
        "/v1/groups/{group}/integrations/ensora/{kind}/{ensora_id}/create",
        "POST",
    ),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    match (route, method) {
        (Route::Poll, _) => poll_now(call, &group).await,
        (Route::Settings, "PUT") => put_settings(call, &group).await,
        (Route::Settings, _) => get_settings(call, &group).await,
        (Route::Create, _) => create_record(call, &group, super::param(params, 1), super::param(params, 2)).await,
        (Route::Report, _) => report(call, &group, super::param(params, 1)).await,
        (Route::Records, _) => list_records(call, &group, super::param(params, 1)).await,
        (Route::Mapping, "PUT") => set_mapping(call, &group, super::param(params, 1), super::param(params, 2)).await,
        (Route::Mapping, _) => delete_mapping(call, &group, super::param(params, 1), super::param(params, 2)).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(
    poll_now,
    get_settings,
    put_settings,
    list_records,
    set_mapping,
    delete_mapping,
    create_record,
    report
))]
pub(super) struct Paths;

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/ensora/poll", tag = "integrations",
    description = "Reads what changed in the group's Ensora organization now and maps it; `ensora-poller` does the same every 30 minutes. 202 once queued; 409 unless Ensora is active. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 202, description = "Queued"), Problems)
)]
pub(crate) async fn poll_now(call: &Call<'_>, group: &GroupId) -> Answer {
    admin::poll_now(call.deps, &call.caller, group).await?;
    Ok(json(202, &serde_json::json!({"queued": true})))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/ensora/settings", tag = "integrations",
    description = "The group's Ensora settings: how many minutes a session's start and end may each be off its appointment's (5 unless set). Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 200, body = Settings), Problems)
)]
pub(crate) async fn get_settings(call: &Call<'_>, group: &GroupId) -> Answer {
    Ok(json(200, &settings::get(call.deps, &call.caller, group).await?))
}

#[utoipa::path(
    put, path = "/v1/groups/{group}/integrations/ensora/settings", tag = "integrations",
    description = "Changes the settings sent (`session_grace_minutes`, 0 to 60; 422 `out_of_range` otherwise). The next poll maps sessions with it. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    request_body = SettingsInput,
    responses((status = 200, body = Settings), Problems)
)]
pub(crate) async fn put_settings(call: &Call<'_>, group: &GroupId) -> Answer {
    let input: SettingsInput = request::json(call.request)?;
    Ok(json(200, &settings::put(call.deps, &call.caller, group, input).await?))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/ensora/{kind}", tag = "integrations",
    description = "The group's Ensora records of one kind (`sites`, `students`, `users` or `sessions`), each with its mapping: `mapped` (source `Auto` by the guide's rules, or `User`) with the carebridge record and agency, or `unmapped` with the reason (`no_candidate`; `several_candidates` naming them; `differs` naming the field that differed from the nearest candidate; `unresolved` when what it depends on is not mapped; `deleted`). A session also says what its note did to the appointment (rendered, or every reason it was not). Role: mapping_editor.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("kind" = String, Path, description = "sites, students, users or sessions"),
        ("mapping" = Option<String>, Query, description = "Only auto, user or unmapped records"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = EnsoraRecordPage), Problems)
)]
pub(crate) async fn list_records(call: &Call<'_>, group: &GroupId, kind: &str) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let mapping = request::query(call.request, "mapping");
    let page = admin::list(call.deps, &call.caller, group, kind, mapping, cursor, limit).await?;
    Ok(json(200, &EnsoraRecordPage::from(page)))
}

#[utoipa::path(
    put, path = "/v1/groups/{group}/integrations/ensora/{kind}/{ensora_id}/mapping", tag = "integrations",
    description = "Maps an Ensora record to a carebridge record a person chose (source `User`): a site to an agency, a student to a patient, a user to a practitioner, a session to an appointment (422 `not_found` naming `target_id` otherwise). Students, users and sessions only once every site is mapped (409 saying how many remain). A session's note is written into the appointment at the next poll. Role: mapping_editor.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("kind" = String, Path, description = "sites, students, users or sessions"),
        ("ensora_id" = String, Path, description = "The record's id in Ensora")
    ),
    request_body = admin::MappingInput,
    responses((status = 200, body = admin::RecordView), Problems)
)]
pub(crate) async fn set_mapping(call: &Call<'_>, group: &GroupId, kind: &str, ensora_id: &str) -> Answer {
    let input: admin::MappingInput = request::json(call.request)?;
    Ok(json(
        200,
        &admin::set_mapping(call.deps, &call.caller, group, kind, ensora_id, input).await?,
    ))
}

#[utoipa::path(
    delete, path = "/v1/groups/{group}/integrations/ensora/{kind}/{ensora_id}/mapping", tag = "integrations",
    description = "Deletes a `User` mapping (409 for an Auto one), only while nothing depends on it: a site's while no student, user or session is mapped within its agency; a student's or user's while no session of theirs is mapped (409 saying how many do). The next poll applies the rules to the record again. Role: mapping_editor.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("kind" = String, Path, description = "sites, students, users or sessions"),
        ("ensora_id" = String, Path, description = "The record's id in Ensora")
    ),
    responses((status = 200, body = admin::RecordView), Problems)
)]
pub(crate) async fn delete_mapping(call: &Call<'_>, group: &GroupId, kind: &str, ensora_id: &str) -> Answer {
    Ok(json(
        200,
        &admin::delete_mapping(call.deps, &call.caller, group, kind, ensora_id).await?,
    ))
}

/// A report's rows as JSON.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Report {
    pub items: Vec<reports::ReportRow>,
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/ensora/reports/{report}", tag = "integrations",
    description = "The staff (Ensora's users), clients (students) or appointments (sessions) report: every record mapped or not, with the source, the carebridge record, or the reason and what to read beside it; appointments also say whether the note rendered them and why not. JSON, or CSV with `Accept: text/csv`. Role: mapping_editor.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("report" = String, Path, description = "staff, clients or appointments")
    ),
    responses(
        (status = 200, body = Report, content_type = "application/json"),
        (status = 200, description = "As CSV", content_type = "text/csv", body = String),
        Problems
    )
)]
pub(crate) async fn report(call: &Call<'_>, group: &GroupId, which: &str) -> Answer {
    let rows = reports::report(call.deps, &call.caller, group, which).await?;
    let wants_csv = call
        .request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    if !wants_csv {
        return Ok(json(200, &Report { items: rows }));
    }
    lambda_http::Response::builder()
        .status(200)
        .header("content-type", "text/csv; charset=utf-8")
        .header(
            "content-disposition",
            format!("attachment; filename=\"ensora-{which}.csv\""),
        )
        .body(lambda_http::Body::Text(reports::csv(&rows)))
        .map_err(|_| crate::problem::Problem::internal())
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/ensora/{kind}/{ensora_id}/create", tag = "integrations",
    description = "Makes the carebridge record an unmapped Ensora one stands for and maps them (`User`): an agency from a site (name, time zone), a patient from a student (names, date of birth, the site's agency), a practitioner from a user (names, e-mail, its first mapped site's agency). 422 naming what Ensora left out that carebridge needs; 409 for a session, a record already mapped, or students and users before every site is mapped. Role: group_admin (403 naming it otherwise).",
    params(
        ("group" = String, Path, description = "Group id"),
        ("kind" = String, Path, description = "sites, students or users"),
        ("ensora_id" = String, Path, description = "The record's id in Ensora")
    ),
    responses((status = 201, body = admin::RecordView), Problems)
)]
pub(crate) async fn create_record(call: &Call<'_>, group: &GroupId, kind: &str, ensora_id: &str) -> Answer {
    Ok(json(
        201,
        &admin::create_record(call.deps, &call.caller, group, kind, ensora_id).await?,
    ))
}
