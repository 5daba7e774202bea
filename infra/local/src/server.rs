//! The dev host's HTTP front door. It plays API Gateway: checks the bearer token (as the JWT
//! authorizer would), builds the HTTP API v2 event Lambda would receive, and hands it to the very
//! function code that runs in Lambda.

use crate::auth::DevAuth;
use crate::template::ACCOUNT_ID;
use api::problem::Problem;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// API Gateway refuses payloads over 10 MB before any function sees them.
const API_GATEWAY_MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// Everything the HTTP front door needs.
pub struct Host {
    pub api: api::Deps,
    /// The webhooks function, when the template declares it: it serves `/webhooks/…`.
    pub webhooks: Option<webhooks::Deps>,
    pub auth: DevAuth,
    /// Routes the template marks `Authorizer: NONE`, as (method, path).
    pub public_routes: Vec<(String, String)>,
    /// The functions the template runs on a schedule, by logical id: `POST
    /// /_dev/functions/{id}/invoke` runs one now (the dev host's manual trigger).
    pub scheduled: HashMap<String, crate::triggers::ScheduledHandler>,
}

impl Host {
    fn is_public(&self, method: &str, path: &str) -> bool {
        self.public_routes
            .iter()
            .any(|(m, p)| route_matches(p, path) && (m == method || m.eq_ignore_ascii_case("ANY")))
    }
}

/// Whether `path` fits a route template such as `/webhooks/elation/{group}`.
fn route_matches(template: &str, path: &str) -> bool {
    let mut segments = path.trim_end_matches('/').split('/');
    template.split('/').all(|expected| {
        segments
            .next()
            .is_some_and(|segment| segment == expected || (expected.starts_with('{') && !segment.is_empty()))
    }) && segments.next().is_none()
}

/// Serves until `shutdown` completes.
pub async fn serve(listener: TcpListener, host: Arc<Host>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let host = host.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let host = host.clone();
                async move { Ok::<_, Infallible>(handle(&host, request).await) }
            });
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
}

type HttpResponse = hyper::Response<Full<Bytes>>;

async fn handle(host: &Host, request: hyper::Request<Incoming>) -> HttpResponse {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, API_GATEWAY_MAX_PAYLOAD).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return to_http(
                Problem::new(
                    413,
                    "body-too-large",
                    "Body too large",
                    "API Gateway accepts at most 10 MB",
                )
                .into_response(),
            );
        }
    };
    let method = parts.method.as_str();
    let path = parts.uri.path();
    if let Some(function) = path
        .strip_prefix("/_dev/functions/")
        .and_then(|rest| rest.strip_suffix("/invoke"))
    {
        return invoke_now(host, method, function).await;
    }
    let claims = if host.is_public(method, path) {
        None
    } else {
        let authorization = parts.headers.get("authorization").and_then(|v| v.to_str().ok());
        match host.auth.verify(authorization) {
            Ok(claims) => Some(claims),
            Err(error) => {
                return to_http(Problem::unauthenticated(error.to_string()).into_response());
            }
        }
    };
    let event = api_gateway_event(&parts, &body, claims);
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(request) => request,
        Err(error) => {
            tracing::error!(%error, "the dev host built an event lambda_http cannot read");
            return to_http(Problem::internal().into_response());
        }
    };
    match &host.webhooks {
        Some(deps) if path.starts_with("/webhooks/") => to_http(webhooks::handle(deps, request).await),
        _ => to_http(api::handle(&host.api, request).await),
    }
}

/// The dev host's manual trigger: runs a scheduled function once, as its schedule would, and
/// answers with what it returned.
async fn invoke_now(host: &Host, method: &str, function: &str) -> HttpResponse {
    let answer = |status: u16, body: Value| {
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap_or_default()
    };
    if method != "POST" {
        return answer(405, json!({"detail": "POST runs the function"}));
    }
    let Some(handler) = host.scheduled.get(function) else {
        let known: Vec<&String> = host.scheduled.keys().collect();
        return answer(
            404,
            json!({"detail": format!("no scheduled function {function}; these are: {known:?}")}),
        );
    };
    match handler.invoke(function).await {
        Ok(returned) => answer(200, returned),
        Err(error) => answer(500, json!({"detail": error})),
    }
}

/// The API Gateway HTTP API (payload 2.0) event for this request, as Lambda would receive it.
fn api_gateway_event(parts: &http::request::Parts, body: &Bytes, claims: Option<HashMap<String, String>>) -> Value {
    let mut headers = Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(name.as_str().to_owned(), Value::String(values.join(",")));
    }
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query: Map<String, Value> = Map::new();
    for (name, value) in form_urlencoded::parse(raw_query.as_bytes()) {
        // API Gateway joins repeated parameters with commas.
        let joined = match query.get(name.as_ref()).and_then(Value::as_str) {
            Some(previous) => format!("{previous},{value}"),
            None => value.into_owned(),
        };
        query.insert(name.into_owned(), Value::String(joined));
    }
    let (body, encoded) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    let now = chrono::Utc::now();
    let mut context = json!({
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "domainName": parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost"),
        "domainPrefix": "local",
        "http": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1",
            "userAgent": parts.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
        },
        "requestId": uuid::Uuid::now_v7().to_string(),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({ "jwt": { "claims": claims, "scopes": null } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": encoded,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body);
    }
    event
}

fn to_http(response: lambda_http::Response<lambda_http::Body>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Text(text) => Bytes::from(text),
        lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    hyper::Response::from_parts(parts, Full::new(bytes))
}
