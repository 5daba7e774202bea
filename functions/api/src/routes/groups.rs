//! Customer groups.

use super::{Answer, Call, json, record};
use crate::openapi::{GroupList, Problems, Versioned};
use crate::request;
use app::groups;
use model::GroupId;
use model::group::{Group, GroupInput};
use utoipa::OpenApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Groups,
    Group,
}

pub(super) const ROUTES: &[(Route, &str, &str)] = &[
    (Route::Groups, "/v1/groups", "GET, POST"),
    (Route::Group, "/v1/groups/{group}", "GET"),
];

pub(super) async fn dispatch(call: &Call<'_>, route: Route, method: &str, params: &[&str]) -> Answer {
    match (route, method) {
        (Route::Groups, "GET") => list_groups(call).await,
        (Route::Groups, _) => create_group(call).await,
        (Route::Group, _) => get_group(call, &super::group(params)?).await,
    }
}

#[derive(OpenApi)]
#[openapi(paths(list_groups, create_group, get_group))]
pub(super) struct Paths;

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
