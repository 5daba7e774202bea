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

list_route!(
    Patient,
    "/v1/groups/{group}/patients",
    "patients",
    crate::openapi::PatientPage,
    list_patients
);
record_routes!(
    Patient,
    PatientInput,
    "patients",
    "/v1/groups/{group}/patients",
    "/v1/groups/{group}/patients/{patient}",
    "patient",
    "patients",
    create_patient,
    get_patient,
    update_patient
);
list_route!(
    Practitioner,
    "/v1/groups/{group}/practitioners",
    "practitioners",
    crate::openapi::PractitionerPage,
    list_practitioners
);
record_routes!(
    Practitioner,
    PractitionerInput,
    "practitioners",
    "/v1/groups/{group}/practitioners",
    "/v1/groups/{group}/practitioners/{practitioner}",
    "practitioner",
    "practitioners",
    create_practitioner,
    get_practitioner,
    update_practitioner
);
