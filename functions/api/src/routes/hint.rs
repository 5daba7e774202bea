//! Hint ⇄ Salesforce's own routes: the group's settings, its links, the patient search and its
//! log.

use super::{Answer, Call, json, no_content, param};
use crate::openapi::{HintLinkPage, LogPage, Problems};
use crate::problem::Problem;
use crate::request;
use app::integrations::hint::{admin, search, settings};
use app::integrations::logs;
use model::hint_salesforce::{Settings, SettingsInput};
use model::integration::IntegrationKind;
use model::integration_log::{LogEntry, LogFilter, LogLevel};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Settings,
    Links,
    Link,
    Logs,
    Poll,
    PatientSearch,
    PatientsRead,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (
        Route::Settings,
        "/v1/groups/{group}/integrations/hint/settings",
        "GET, PUT",
    ),
    (Route::Links, "/v1/groups/{group}/integrations/hint/links", "GET"),
    (
        Route::Link,
        "/v1/groups/{group}/integrations/hint/links/{contact_id}",
        "PUT, DELETE",
    ),
    (Route::Logs, "/v1/groups/{group}/integrations/hint/logs", "GET"),
    (Route::Poll, "/v1/groups/{group}/integrations/hint/poll", "POST"),
    (
        Route::PatientSearch,
        "/v1/groups/{group}/integrations/hint/patients/search",
        "GET",
    ),
    (
        Route::PatientsRead,
        "/v1/groups/{group}/integrations/hint/patients/read",
        "POST",
    ),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    match (route, method) {
        (Route::Settings, "PUT") => put_settings(call, &group).await,
        (Route::Settings, _) => get_settings(call, &group).await,
        (Route::Links, _) => list_links(call, &group).await,
        (Route::Link, "PUT") => link(call, &group, param(params, 1)).await,
        (Route::Link, _) => unlink(call, &group, param(params, 1)).await,
        (Route::Logs, _) => list_logs(call, &group).await,
        (Route::Poll, _) => poll_now(call, &group).await,
        (Route::PatientSearch, _) => search_patients(call, &group).await,
        (Route::PatientsRead, _) => read_patients(call, &group).await,
    }
}

#[derive(OpenApi)]
#[openapi(
    paths(
        get_settings,
        put_settings,
        list_links,
        link,
        unlink,
        list_logs,
        poll_now,
        search_patients,
        read_patients
    ),
    components(schemas(
        Settings,
        SettingsInput,
        settings::SettingsView,
        LogEntry,
        LogLevel,
        admin::LinkInput,
        admin::LinkView,
        search::SearchAnswer,
        search::FoundPatient
    ))
)]
pub(super) struct Paths;

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/settings", tag = "integrations",
    description = "The group's Hint ⇄ Salesforce settings: the Salesforce account contacts created by sync belong to, and whether a Hint patient without a demographics match gets a new contact; with the address to enter in Hint's partner portal as the practice's webhook endpoint. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 200, body = settings::SettingsView), Problems)
)]
pub(crate) async fn get_settings(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let reached_at = request::public_base_url(call.request);
    Ok(json(
        200,
        &settings::get(call.deps, &call.caller, group, reached_at.as_deref()).await?,
    ))
}

#[utoipa::path(
    put, path = "/v1/groups/{group}/integrations/hint/settings", tag = "integrations",
    description = "Changes the settings sent (a field left out keeps its value; `default_account_id: null` clears it). A new default account is looked up in the group's Salesforce org (422 `unknown_account` when it has none; 422 `account_required` to create contacts without one). Needs stored credentials. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    request_body = SettingsInput,
    responses((status = 200, body = settings::SettingsView), Problems)
)]
pub(crate) async fn put_settings(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let input: SettingsInput = request::json(call.request)?;
    let reached_at = request::public_base_url(call.request);
    Ok(json(
        200,
        &settings::put(call.deps, &call.caller, group, input, reached_at.as_deref()).await?,
    ))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/links", tag = "integrations",
    description = "The group's linked pairs, by Salesforce contact id: the Hint patient each is linked to and since when. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = HintLinkPage), Problems)
)]
pub(crate) async fn list_links(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = admin::list(call.deps, &call.caller, group, cursor, limit).await?;
    Ok(json(200, &HintLinkPage::from(page)))
}

#[utoipa::path(
    put, path = "/v1/groups/{group}/integrations/hint/links/{contact_id}", tag = "integrations",
    description = "Manual sync of one contact. `{patient_id}` links it with a chosen Hint patient (found with `…/hint/patients/search`): where both have data the contact's values stay and the patient takes them, blank contact fields are filled from the patient, and from then on the pair is kept in sync. `{new_patient: true}` creates a Hint patient from the contact instead (422 `required_by_hint` when the contact has no first or last name) and links them. A contact linked to another patient is unlinked from it first (that patient stays in Hint); linking it again to the same patient answers the link as it is. 404 when either record does not exist; 409 when the patient is linked to another contact (unlink that first) or the integration is not active. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("contact_id" = String, Path, description = "The Salesforce contact's id")
    ),
    request_body = admin::LinkInput,
    responses((status = 200, body = admin::LinkView), Problems)
)]
pub(crate) async fn link(call: &Call<'_>, group: &model::GroupId, contact_id: &str) -> Answer {
    let input: admin::LinkInput = request::json(call.request)?;
    Ok(json(
        200,
        &admin::link(call.deps, &call.caller, group, contact_id, input).await?,
    ))
}

#[utoipa::path(
    delete, path = "/v1/groups/{group}/integrations/hint/links/{contact_id}", tag = "integrations",
    description = "Unlinks a contact: both records stay as they are, \"Synced to Hint\" is unchecked and its Hint patient id cleared in Salesforce, and neither side's changes reach the other any more. 404 when the contact is not linked. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("contact_id" = String, Path, description = "The Salesforce contact's id")
    ),
    responses((status = 204, description = "Unlinked"), Problems)
)]
pub(crate) async fn unlink(call: &Call<'_>, group: &model::GroupId, contact_id: &str) -> Answer {
    admin::unlink(call.deps, &call.caller, group, contact_id).await?;
    Ok(no_content())
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/logs", tag = "integrations",
    description = "The integration's log, newest first, kept 30 days: `debug` entries say what each flow did, `error` what it could not do for a reason someone can fix (a record a vendor refused, a setting missing), `exception` what failed unexpectedly. Entries name records by id (patient, contact, batch, webhook delivery) and fields by name, never a value. A page may hold fewer entries than `limit` and still have a `next_cursor`. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("level" = Option<String>, Query, description = "debug, error or exception"),
        ("batch_id" = Option<String>, Query, description = "Only the entries of this batch"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = LogPage), Problems)
)]
pub(crate) async fn list_logs(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let level = match request::query(call.request, "level") {
        None => None,
        Some(raw) => Some(LogLevel::parse(raw).ok_or_else(|| {
            Problem::bad_request(
                "invalid-query",
                format!("level must be debug, error or exception, not {raw:?}"),
            )
        })?),
    };
    let filter = LogFilter {
        level,
        batch_id: request::query(call.request, "batch_id").map(str::to_owned),
    };
    let page = logs::list(
        call.deps,
        &call.caller,
        group,
        IntegrationKind::Hint,
        &filter,
        cursor,
        limit,
    )
    .await?;
    Ok(json(200, &LogPage::from(page)))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/hint/poll", tag = "integrations",
    description = "Brings the group's contacts changed in Salesforce to their Hint patients now; a schedule does the same every minute, with nobody acting. 202 once queued; 409 unless Hint ⇄ Salesforce is active. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 202, description = "Queued"), Problems)
)]
pub(crate) async fn poll_now(call: &Call<'_>, group: &model::GroupId) -> Answer {
    admin::poll_now(call.deps, &call.caller, group).await?;
    Ok(json(202, &serde_json::json!({"queued": true})))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/patients/search", tag = "integrations",
    description = "The group's Hint patients whose names hold every word typed at the start of one of their words, in any order, case and accents aside (\"sum gor\" finds Gordon Sumner): quick enough to call on every keystroke. carebridge answers from its own copy of the practice's patients' names (Hint filters by exact name only), read from Hint when the integration is enabled and once a day, and kept current by Hint's webhooks in between; `patients_read_at` says when it last read them all. Each result says whether the patient is linked to a contact already. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("q" = String, Query, description = "A name or the start of one, up to 100 characters"),
        ("limit" = Option<u32>, Query, description = "Most results, 1 to 25 (default 10)")
    ),
    responses((status = 200, body = search::SearchAnswer), Problems)
)]
pub(crate) async fn search_patients(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let typed = request::query(call.request, "q");
    Ok(json(
        200,
        &search::search(call.deps, &call.caller, group, typed, limit).await?,
    ))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/hint/patients/read", tag = "integrations",
    description = "Reads every Hint patient of the group into the patient search again now (the schedule does so once a day): for a practice that changed many patients while webhooks were not reaching carebridge. 202 once queued; 409 unless Hint ⇄ Salesforce is active. Role: integration_admin.",
    params(("group" = String, Path, description = "Group id")),
    responses((status = 202, description = "Queued"), Problems)
)]
pub(crate) async fn read_patients(call: &Call<'_>, group: &model::GroupId) -> Answer {
    search::read_all_now(call.deps, &call.caller, group).await?;
    Ok(json(202, &serde_json::json!({"queued": true})))
}
