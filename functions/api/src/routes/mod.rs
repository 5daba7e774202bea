//! The route table and one handler per operation, one file per resource (and one per vendor
//! with routes of its own). Handlers are thin: read the request, call one use case, encode the
//! result. Their `#[utoipa::path]` attributes are the OpenAPI document.
//!
//! A file offers its `Route`s, their table (`ROUTES`), a `dispatch` and its documented `Paths`;
//! adding one means a line in [`Route`], [`routes`], [`dispatch`] and [`documented`]. Every kind
//! of record kept in a group declares its handlers with [`record_routes!`] (and [`list_route!`]).

/// Declares the create, get and patch handlers of one kind of record kept in a group, so every
/// kind (patients, practitioners, agencies, appointments) exposes the same contract from one
/// definition. The calling file imports `Answer`, `Call`, `json`, `record`, `request`,
/// `Versioned`, `Problems`, `GroupId` and `app::people`.
macro_rules! record_routes {
    ($kind:ty, $input:ty, $collection:literal, $collection_path:literal, $item_path:literal, $param:literal,
     $tag:literal, $create:ident, $get:ident, $update:ident) => {
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

/// Declares the list handler of one kind of record kept in a group: a page in id (creation)
/// order.
macro_rules! list_route {
    ($kind:ty, $collection_path:literal, $tag:literal, $page:ty, $list:ident) => {
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
    };
}

mod agencies;
mod appointments;
mod cliniko;
mod elation;
mod ensora;
mod groups;
mod hint;
mod imports;
mod integrations;
mod people;

use crate::openapi::Versioned;
use crate::problem::Problem;
use crate::request::{self, etag};
use app::Deps;
use lambda_http::{Body, Request, Response};
use model::GroupId;
use serde::Serialize;
use utoipa::OpenApi;

type Answer = Result<Response<Body>, Problem>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    OpenApi,
    Groups(groups::Route),
    People(people::Route),
    Agencies(agencies::Route),
    Appointments(appointments::Route),
    Imports(imports::Route),
    Integrations(integrations::Route),
    Elation(elation::Route),
    Cliniko(cliniko::Route),
    Hint(hint::Route),
    Ensora(ensora::Route),
}

/// Every route: its path template and the methods it allows. The OpenAPI test checks that the
/// document describes exactly these.
pub fn routes() -> impl Iterator<Item = (Route, &'static str, &'static str)> {
    std::iter::once((Route::OpenApi, "/v1/openapi.json", "GET"))
        .chain(of(groups::ROUTES, Route::Groups))
        .chain(of(people::ROUTES, Route::People))
        .chain(of(agencies::ROUTES, Route::Agencies))
        .chain(of(appointments::ROUTES, Route::Appointments))
        .chain(of(imports::ROUTES, Route::Imports))
        .chain(of(integrations::ROUTES, Route::Integrations))
        .chain(of(elation::ROUTES, Route::Elation))
        .chain(of(cliniko::ROUTES, Route::Cliniko))
        .chain(of(hint::ROUTES, Route::Hint))
        .chain(of(ensora::ROUTES, Route::Ensora))
}

/// The OpenAPI document of every route served.
pub fn document() -> serde_json::Value {
    crate::openapi::document(documented())
}

/// The operations each file documents.
fn documented() -> [utoipa::openapi::OpenApi; 10] {
    [
        groups::Paths::openapi(),
        people::Paths::openapi(),
        agencies::Paths::openapi(),
        appointments::Paths::openapi(),
        imports::Paths::openapi(),
        integrations::Paths::openapi(),
        elation::Paths::openapi(),
        cliniko::Paths::openapi(),
        hint::Paths::openapi(),
        ensora::Paths::openapi(),
    ]
}

fn of<R: Copy>(
    table: &'static [(R, &'static str, &'static str)],
    route: fn(R) -> Route,
) -> impl Iterator<Item = (Route, &'static str, &'static str)> {
    table
        .iter()
        .map(move |(r, template, allow)| (route(*r), *template, *allow))
}

pub async fn dispatch(deps: &Deps, request: &Request, matched: Matched<'_>) -> Answer {
    if matched.route == Route::OpenApi {
        return Ok(json(200, &document()));
    }
    let caller = request::caller(request)?;
    let call = Call { deps, request, caller };
    let (method, params) = (matched.method, matched.params.as_slice());
    match matched.route {
        Route::OpenApi => Ok(json(200, &document())),
        Route::Groups(route) => groups::dispatch(&call, route, method, params).await,
        Route::People(route) => people::dispatch(&call, route, method, params).await,
        Route::Agencies(route) => agencies::dispatch(&call, route, method, params).await,
        Route::Appointments(route) => appointments::dispatch(&call, route, method, params).await,
        Route::Imports(route) => imports::dispatch(&call, route, method, params).await,
        Route::Integrations(route) => integrations::dispatch(&call, route, method, params).await,
        Route::Elation(route) => elation::dispatch(&call, route, method, params).await,
        Route::Cliniko(route) => cliniko::dispatch(&call, route, method, params).await,
        Route::Hint(route) => hint::dispatch(&call, route, method, params).await,
        Route::Ensora(route) => ensora::dispatch(&call, route, method, params).await,
    }
}

impl Route {
    pub fn template(self) -> &'static str {
        routes()
            .find(|(route, _, _)| *route == self)
            .map(|(_, t, _)| t)
            .unwrap_or("")
    }
}

/// A matched route with its path parameters in template order.
#[derive(Debug)]
pub struct Matched<'p> {
    pub route: Route,
    pub method: &'p str,
    pub params: Vec<&'p str>,
}

fn match_template<'p>(template: &str, path: &'p str) -> Option<Vec<&'p str>> {
    let mut params = Vec::new();
    let mut parts = path.trim_end_matches('/').split('/');
    for expected in template.split('/') {
        let part = parts.next()?;
        if expected.starts_with('{') {
            if part.is_empty() {
                return None;
            }
            params.push(part);
        } else if expected != part {
            return None;
        }
    }
    parts.next().is_none().then_some(params)
}

pub fn find<'p>(method: &'p str, path: &'p str) -> Result<Matched<'p>, Problem> {
    for (route, template, allow) in routes() {
        if let Some(params) = match_template(template, path) {
            if !allow.split(", ").any(|m| m == method) {
                return Err(Problem::method_not_allowed(allow));
            }
            return Ok(Matched { route, method, params });
        }
    }
    Err(Problem::not_found(
        "no such resource; see /v1/openapi.json for what this API offers",
    ))
}

/// The group a path names (its first parameter).
fn group(params: &[&str]) -> Result<GroupId, Problem> {
    let raw = params.first().copied().unwrap_or_default();
    GroupId::parse(raw).map_err(|_| Problem::not_found("no such group"))
}

/// The path's `n`th parameter (the group is the 0th).
fn param<'p>(params: &[&'p str], n: usize) -> &'p str {
    params.get(n).copied().unwrap_or_default()
}

pub(crate) struct Call<'a> {
    deps: &'a Deps,
    request: &'a Request,
    caller: model::access::Caller,
}

fn json<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::Text(body))
            .unwrap_or_else(|_| Problem::internal().into_response()),
        Err(error) => {
            tracing::error!(error = %error, "response could not be encoded");
            Problem::internal().into_response()
        }
    }
}

/// 303 See Other: the answer is at `location` (a download, the group's own page).
fn see_other(location: &str) -> Answer {
    Response::builder()
        .status(303)
        .header("location", location)
        .body(Body::Empty)
        .map_err(|_| Problem::internal())
}

/// An answer with nothing to say (a deletion).
fn no_content() -> Response<Body> {
    Response::builder()
        .status(204)
        .body(Body::Empty)
        .unwrap_or_else(|_| Problem::internal().into_response())
}

/// A single record with its version in the body and as its ETag.
fn record<T: Serialize>(status: u16, versioned: store::Versioned<T>, location: Option<String>) -> Response<Body> {
    let version = versioned.version;
    versioned_json(status, &Versioned::from(versioned), version, location)
}

/// `body` as JSON, with the record's version as its ETag and, for a creation, its Location.
fn versioned_json<B: Serialize>(status: u16, body: &B, version: u64, location: Option<String>) -> Response<Body> {
    let mut response = json(status, body);
    let headers = response.headers_mut();
    if let Ok(value) = etag(version).parse() {
        headers.insert("etag", value);
    }
    if let Some(value) = location.and_then(|l| l.parse().ok()) {
        headers.insert("location", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_templates_and_capture_parameters() {
        let matched = find("GET", "/v1/groups/acme/patients/pat_1").unwrap();
        assert_eq!(matched.route, Route::People(people::Route::Patient));
        assert_eq!(matched.params, ["acme", "pat_1"]);
        assert_eq!(
            find("GET", "/v1/groups/").unwrap().route,
            Route::Groups(groups::Route::Groups)
        );
        assert_eq!(
            find("POST", "/v1/groups/acme/practitioners").unwrap().route,
            Route::People(people::Route::Practitioners)
        );
        assert_eq!(
            find("GET", "/v1/groups/acme/patients/pat_1/plan-notes").unwrap().route,
            Route::Elation(elation::Route::PlanNotes)
        );
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
        assert_eq!(find("GET", "/v1/nothing").unwrap_err().status, 404);
        assert_eq!(
            find("GET", "/v1/groups/acme/patients/pat_1/extra").unwrap_err().status,
            404
        );
        assert_eq!(find("GET", "/v1/groups//patients").unwrap_err().status, 404);
        let wrong = find("PUT", "/v1/groups/acme/patients/pat_1").unwrap_err();
        assert_eq!((wrong.status, wrong.allow), (405, Some("GET, PATCH, DELETE")));
    }

    #[test]
    fn every_template_is_served_once() {
        let mut templates: Vec<&str> = routes().map(|(_, template, _)| template).collect();
        let all = templates.len();
        templates.sort_unstable();
        templates.dedup();
        assert_eq!(templates.len(), all, "a template is in two files' tables");
    }
}

#[cfg(test)]
mod the_openapi_document {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1() {
        let doc = document();
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }

    #[test]
    fn the_document_describes_exactly_the_routes_served() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut described = 0;
        for (route, template, allow) in routes().filter(|(r, _, _)| *r != Route::OpenApi) {
            let item = paths
                .get(template)
                .unwrap_or_else(|| panic!("{template} ({route:?}) is not documented"));
            for method in allow.split(", ") {
                assert!(
                    item[method.to_lowercase()].is_object(),
                    "{method} {template} is not documented"
                );
                described += 1;
            }
        }
        let documented: usize = paths.values().map(|item| item.as_object().unwrap().len()).sum();
        assert_eq!(
            described, documented,
            "the document describes operations that are not served"
        );
    }

    #[test]
    fn every_operation_documents_its_problems() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for status in ["400", "401", "403", "404", "422"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
            }
        }
    }
}
