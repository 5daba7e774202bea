//! Agencies: a group's practices or sites, each with its time zone.

use super::{Answer, Call, json, record};
use crate::openapi::{Problems, Versioned};
use crate::request;
use app::people;
use model::GroupId;
use model::agency::{Agency, AgencyInput};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Agencies,
    Agency,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (Route::Agencies, "/v1/groups/{group}/agencies", "GET, POST"),
    (Route::Agency, "/v1/groups/{group}/agencies/{agency}", "GET, PATCH"),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    let id = super::param(params, 1);
    match (route, method) {
        (Route::Agencies, "GET") => list_agencies(call, &group).await,
        (Route::Agencies, _) => create_agency(call, &group).await,
        (Route::Agency, "GET") => get_agency(call, &group, id).await,
        (Route::Agency, _) => update_agency(call, &group, id).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(list_agencies, create_agency, get_agency, update_agency))]
pub(super) struct Paths;

list_route!(
    Agency,
    "/v1/groups/{group}/agencies",
    "agencies",
    crate::openapi::AgencyPage,
    list_agencies
);
record_routes!(
    Agency,
    AgencyInput,
    "agencies",
    "/v1/groups/{group}/agencies",
    "/v1/groups/{group}/agencies/{agency}",
    "agency",
    "agencies",
    create_agency,
    get_agency,
    update_agency
);
