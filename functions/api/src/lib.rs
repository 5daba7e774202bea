//! The admin HTTP API (API Gateway HTTP API → Lambda). [`handle`] is the whole function: it
//! routes, reads the caller, calls one use case and encodes its answer. It never fails: every
//! refusal is an `application/problem+json` response.

pub mod openapi;
pub mod problem;
pub mod request;
pub mod routes;

use lambda_http::{Body, Request, Response};
use std::time::Instant;

pub use app::Deps;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let started = Instant::now();
    let matched = routes::find(request.method().as_str(), request.uri().path());
    let template = matched.as_ref().map(|m| m.route.template()).unwrap_or("unmatched");
    let response = match matched {
        Ok(matched) => routes::dispatch(deps, &request, matched)
            .await
            .unwrap_or_else(|p| p.into_response()),
        Err(problem) => problem.into_response(),
    };
    // Route templates, statuses and timings only: paths hold ids, bodies hold PHI.
    tracing::info!(
        method = %request.method(),
        route = template,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
