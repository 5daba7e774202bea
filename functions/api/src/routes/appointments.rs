//! Appointments: listed by agency and date range, created, read and patched.

use super::{Answer, Call, json, record};
use crate::openapi::{AppointmentPage, Problems, Versioned};
use crate::request;
use app::{appointments, people};
use model::GroupId;
use model::appointment::{Appointment, AppointmentInput};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Appointments,
    Appointment,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (Route::Appointments, "/v1/groups/{group}/appointments", "GET, POST"),
    (
        Route::Appointment,
        "/v1/groups/{group}/appointments/{appointment}",
        "GET, PATCH",
    ),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    let group = super::group(params)?;
    let id = super::param(params, 1);
    match (route, method) {
        (Route::Appointments, "GET") => list_appointments(call, &group).await,
        (Route::Appointments, _) => create_appointment(call, &group).await,
        (Route::Appointment, "GET") => get_appointment(call, &group, id).await,
        (Route::Appointment, _) => update_appointment(call, &group, id).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(list_appointments, create_appointment, get_appointment, update_appointment))]
pub(super) struct Paths;

#[utoipa::path(
    get, path = "/v1/groups/{group}/appointments", tag = "appointments",
    description = "The group's appointments in date order, at one agency or all, from one date to another (both included; either may be left out).",
    params(
        ("group" = String, Path, description = "Group id"),
        ("agency_id" = Option<String>, Query, description = "Only this agency's appointments"),
        ("from" = Option<String>, Query, description = "First date, YYYY-MM-DD"),
        ("to" = Option<String>, Query, description = "Last date, YYYY-MM-DD"),
        ("cursor" = Option<String>, Query, description = "next_cursor from the previous page"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)")
    ),
    responses((status = 200, body = AppointmentPage), Problems)
)]
pub(crate) async fn list_appointments(call: &Call<'_>, group: &GroupId) -> Answer {
    let limit = request::query_number(call.request, "limit")?;
    let cursor = request::query(call.request, "cursor");
    let filter = appointments::Filter {
        agency: request::query(call.request, "agency_id").map(str::to_owned),
        from: request::query(call.request, "from").map(str::to_owned),
        to: request::query(call.request, "to").map(str::to_owned),
    };
    let page = appointments::list(call.deps, &call.caller, group, &filter, cursor, limit).await?;
    Ok(json(200, &AppointmentPage::from(page)))
}

record_routes!(
    Appointment,
    AppointmentInput,
    "appointments",
    "/v1/groups/{group}/appointments",
    "/v1/groups/{group}/appointments/{appointment}",
    "appointment",
    "appointments",
    create_appointment,
    get_appointment,
    update_appointment
);
