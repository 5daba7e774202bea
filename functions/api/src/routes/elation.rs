//! Elation's own routes: plan notes, sent to Elation as non-visit notes.

use super::{Answer, Call, json, record};
use crate::openapi::{PlanNotePage, Problems, Versioned};
use crate::request;
use app::integrations::elation::outbound;
use model::GroupId;
use model::plan_note::{PlanNote, PlanNoteInput};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    PlanNotes,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[(
    Route::PlanNotes,
    "/v1/groups/{group}/patients/{patient}/plan-notes",
    "GET, POST",
)];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    let patient = super::param(params, 1);
    match (route, method) {
        (Route::PlanNotes, "GET") => list_plan_notes(call, &group, patient).await,
        (Route::PlanNotes, _) => create_plan_note(call, &group, patient).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(create_plan_note, list_plan_notes))]
pub(super) struct Paths;

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
        outbound::create_plan_note(call.deps, &call.caller, group, patient, &input).await?,
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
    let page = outbound::list_plan_notes(call.deps, &call.caller, group, patient, cursor, limit).await?;
    Ok(json(200, &PlanNotePage::from(page)))
}
