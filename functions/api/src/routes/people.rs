//! Patients and practitioners: one contract for both kinds of person record.

use super::{Answer, Call, json, no_content, record};
use crate::openapi::{Problems, Versioned};
use crate::request;
use app::people;
use model::GroupId;
use model::patient::{Patient, PatientInput};
use model::practitioner::{Practitioner, PractitionerInput};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Patients,
    Patient,
    Practitioners,
    Practitioner,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
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
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    let id = super::param(params, 1);
    match (route, method) {
        (Route::Patients, "GET") => list_patients(call, &group).await,
        (Route::Patients, _) => create_patient(call, &group).await,
        (Route::Patient, "GET") => get_patient(call, &group, id).await,
        (Route::Patient, "DELETE") => delete_patient(call, &group, id).await,
        (Route::Patient, _) => update_patient(call, &group, id).await,
        (Route::Practitioners, "GET") => list_practitioners(call, &group).await,
        (Route::Practitioners, _) => create_practitioner(call, &group).await,
        (Route::Practitioner, "GET") => get_practitioner(call, &group, id).await,
        (Route::Practitioner, _) => update_practitioner(call, &group, id).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(
    list_patients,
    create_patient,
    get_patient,
    update_patient,
    delete_patient,
    list_practitioners,
    create_practitioner,
    get_practitioner,
    update_practitioner
))]
pub(super) struct Paths;

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
