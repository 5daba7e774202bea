//! Hint ⇄ Salesforce's own routes: the group's settings, its links, the patient search and its
//! log.

use super::{Answer, Call, json, no_content, param};
use crate::openapi::{HintBatchPage, HintBatchResultPage, HintLinkPage, LogPage, Problems};
use crate::problem::Problem;
use crate::request;
use app::integrations::hint::{admin, batches, search, settings};
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
    Batches,
    Batch,
    BatchAbort,
    BatchResults,
    BatchResultsCsv,
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
    (
        Route::Batches,
        "/v1/groups/{group}/integrations/hint/batches",
        "GET, POST",
    ),
    (
        Route::Batch,
        "/v1/groups/{group}/integrations/hint/batches/{batch_id}",
        "GET",
    ),
    (
        Route::BatchAbort,
        "/v1/groups/{group}/integrations/hint/batches/{batch_id}/abort",
        "POST",
    ),
    (
        Route::BatchResults,
        "/v1/groups/{group}/integrations/hint/batches/{batch_id}/results",
        "GET",
    ),
    (
        Route::BatchResultsCsv,
        "/v1/groups/{group}/integrations/hint/batches/{batch_id}/results.csv",
        "GET",
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
        (Route::Batches, "POST") => start_batch(call, &group).await,
        (Route::Batches, _) => list_batches(call, &group).await,
        (Route::Batch, _) => get_batch(call, &group, param(params, 1)).await,
        (Route::BatchAbort, _) => abort_batch(call, &group, param(params, 1)).await,
        (Route::BatchResults, _) => batch_results(call, &group, param(params, 1)).await,
        (Route::BatchResultsCsv, _) => batch_results_csv(call, &group, param(params, 1)).await,
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
        read_patients,
        start_batch,
        list_batches,
        get_batch,
        abort_batch,
        batch_results,
        batch_results_csv
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
        search::FoundPatient,
        model::hint_batch::Batch,
        model::hint_batch::Direction,
        model::hint_batch::Status,
        model::hint_batch::Counts,
        model::hint_batch::Skipped,
        model::hint_batch::Item,
        model::hint_batch::Outcome
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

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/hint/batches", tag = "integrations",
    description = "Starts a batch sync (202 with the batch; one at a time in a group, 409 while another runs). `direction=patients_to_contacts` takes every Hint patient: an exact match on first name, last name and date of birth not yet linked is linked (the patient wins where both have a value, blanks filled from the contact), a linked patient's contact is updated, no match creates a contact under the default account when the setting is on and is skipped as `no_match` when it is off, several matches are skipped. `direction=contacts_to_patients` takes a Salesforce report exported as CSV (`text/csv` body) whose first column is the Contact ID; the report's text below its data is kept with the batch as `report_trailing_text`, other columns are ignored; an exact Hint match not yet linked is linked (the contact's data overwrites the patient's, blank contact fields filled from the patient), and a contact already linked, with several matches, none, or unknown to Salesforce is skipped with that reason. Every contact a batch writes gets its id in \"Last Batch Sync Id\". Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("direction" = String, Query, description = "patients_to_contacts or contacts_to_patients")
    ),
    request_body(content = String, content_type = "text/csv", description = "For contacts_to_patients: the report's CSV export"),
    responses((status = 202, body = model::hint_batch::Batch), Problems)
)]
pub(crate) async fn start_batch(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let batch = match request::query(call.request, "direction") {
        Some("patients_to_contacts") => batches::start_patients_to_contacts(call.deps, &call.caller, group).await?,
        Some("contacts_to_patients") => {
            batches::start_contacts_to_patients(call.deps, &call.caller, group, request::body_bytes(call.request))
                .await?
        }
        _ => {
            return Err(Problem::bad_request(
                "invalid-query",
                "direction must be patients_to_contacts or contacts_to_patients",
            ));
        }
    };
    Ok(json(202, &batch))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/batches", tag = "integrations",
    description = "The group's batch syncs, newest first, each with its status and counts. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = HintBatchPage), Problems)
)]
pub(crate) async fn list_batches(call: &Call<'_>, group: &model::GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = batches::list(call.deps, &call.caller, group, cursor, limit).await?;
    Ok(json(200, &HintBatchPage::from(page)))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/batches/{batch_id}", tag = "integrations",
    description = "One batch: its status (`queued`, `running`, `aborted`, `succeeded`, `failed`), live counts (`processed`, `linked`, `created`, `updated`, `failed`, and `skipped` by reason), the total when known from the start, and who asked to abort it. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("batch_id" = String, Path, description = "The batch's id (bat_…)")
    ),
    responses((status = 200, body = model::hint_batch::Batch), Problems)
)]
pub(crate) async fn get_batch(call: &Call<'_>, group: &model::GroupId, batch: &str) -> Answer {
    Ok(json(200, &batches::get(call.deps, &call.caller, group, batch).await?))
}

#[utoipa::path(
    post, path = "/v1/groups/{group}/integrations/hint/batches/{batch_id}/abort", tag = "integrations",
    description = "Stops a batch at the end of the page (up to 200 records) it is on: 202, and a moment later the batch is `aborted` with the counts of what it did. 409 once it has finished. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("batch_id" = String, Path, description = "The batch's id (bat_…)")
    ),
    responses((status = 202, body = model::hint_batch::Batch), Problems)
)]
pub(crate) async fn abort_batch(call: &Call<'_>, group: &model::GroupId, batch: &str) -> Answer {
    Ok(json(202, &batches::abort(call.deps, &call.caller, group, batch).await?))
}

/// `outcome=` and `reason=` of a results request.
fn result_filter(call: &Call<'_>) -> Result<model::hint_batch::ResultFilter, Problem> {
    let outcome = match request::query(call.request, "outcome") {
        None => None,
        Some(raw) => Some(model::hint_batch::Outcome::parse(raw).ok_or_else(|| {
            Problem::bad_request(
                "invalid-query",
                format!("outcome must be linked, created, updated, skipped or failed, not {raw:?}"),
            )
        })?),
    };
    let reason = match request::query(call.request, "reason") {
        None => None,
        Some(raw) => Some(
            [
                model::hint_salesforce::SkipReason::AlreadyLinked,
                model::hint_salesforce::SkipReason::MultipleMatches,
                model::hint_salesforce::SkipReason::NoMatch,
                model::hint_salesforce::SkipReason::UnknownContact,
            ]
            .into_iter()
            .find(|r| r.as_str() == raw)
            .ok_or_else(|| {
                Problem::bad_request(
                    "invalid-query",
                    format!(
                        "reason must be already_linked, multiple_matches, no_match or unknown_contact, not {raw:?}"
                    ),
                )
            })?,
        ),
    };
    Ok(model::hint_batch::ResultFilter { outcome, reason })
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/batches/{batch_id}/results", tag = "integrations",
    description = "The batch's per-record results in the order it worked on them (a page of up to 200 records at a time appears as the batch goes): the patient and contact ids, the outcome and, for a skipped record, the reason, for a failed one what the vendor said. Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("batch_id" = String, Path, description = "The batch's id (bat_…)"),
        ("outcome" = Option<String>, Query, description = "linked, created, updated, skipped or failed"),
        ("reason" = Option<String>, Query, description = "already_linked, multiple_matches, no_match or unknown_contact"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = HintBatchResultPage), Problems)
)]
pub(crate) async fn batch_results(call: &Call<'_>, group: &model::GroupId, batch: &str) -> Answer {
    let filter = result_filter(call)?;
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let page = batches::results(call.deps, &call.caller, group, batch, filter, cursor, limit).await?;
    Ok(json(200, &HintBatchResultPage::from(page)))
}

#[utoipa::path(
    get, path = "/v1/groups/{group}/integrations/hint/batches/{batch_id}/results.csv", tag = "integrations",
    description = "The batch's results that `outcome` and `reason` keep, as a CSV download (position, patient_id, contact_id, outcome, reason, error). Role: integration_admin.",
    params(
        ("group" = String, Path, description = "Group id"),
        ("batch_id" = String, Path, description = "The batch's id (bat_…)"),
        ("outcome" = Option<String>, Query, description = "linked, created, updated, skipped or failed"),
        ("reason" = Option<String>, Query, description = "already_linked, multiple_matches, no_match or unknown_contact")
    ),
    responses((status = 200, description = "The results", content_type = "text/csv", body = String), Problems)
)]
pub(crate) async fn batch_results_csv(call: &Call<'_>, group: &model::GroupId, batch: &str) -> Answer {
    let filter = result_filter(call)?;
    let csv = batches::results_csv(call.deps, &call.caller, group, batch, filter).await?;
    lambda_http::Response::builder()
        .status(200)
        .header("content-type", "text/csv; charset=utf-8")
        .header("content-disposition", format!("attachment; filename=\"{batch}.csv\""))
        .body(lambda_http::Body::Text(csv))
        .map_err(|_| Problem::internal())
}
