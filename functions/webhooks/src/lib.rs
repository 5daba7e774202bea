//! Vendors' webhooks (`POST /webhooks/<vendor>/<group>`, no JWT: each vendor's own signature
//! proves the sender). A delivery is checked, recorded against repeats and queued for the
//! sync-worker; the answer comes at once. It never fails: every refusal is problem+json.

use api::problem::Problem;
use api::request::body_bytes;
use app::integrations::webhooks::{Received, receive, receiver};
use lambda_http::{Body, Request, Response};
use std::time::Instant;

pub use app::Deps;

pub async fn handle(deps: &Deps, request: Request) -> Response<Body> {
    let started = Instant::now();
    let segments: Vec<&str> = request.uri().path().trim_matches('/').split('/').collect();
    let response = match segments.as_slice() {
        ["webhooks", vendor, group] => match receiver(vendor) {
            None => Problem::not_found("no such webhook").into_response(),
            Some(_) if request.method() != "POST" => Problem::method_not_allowed("POST").into_response(),
            Some(receiver) => {
                let signature = request
                    .headers()
                    .get(receiver.signature_header())
                    .and_then(|value| value.to_str().ok());
                match receive(deps, receiver, group, body_bytes(&request), signature).await {
                    Ok(received) => accepted(received),
                    Err(error) => Problem::from(error).into_response(),
                }
            }
        },
        _ => Problem::not_found("no such webhook").into_response(),
    };
    // Statuses and timings only: deliveries carry PHI.
    tracing::info!(
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "webhook"
    );
    response
}

fn accepted(received: Received) -> Response<Body> {
    let status = match received {
        Received::Queued => "queued",
        Received::Repeated => "repeated",
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::Text(serde_json::json!({ "status": status }).to_string()))
        .unwrap_or_else(|_| Problem::internal().into_response())
}
