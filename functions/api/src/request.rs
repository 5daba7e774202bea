//! Reading what a request carries: the caller (from the authorizer's claims), a JSON body within
//! limits, the `If-Match` version, query parameters. Each refusal is a specific problem.

use crate::problem::Problem;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use model::access::Caller;
use serde::de::DeserializeOwned;

/// Largest request body accepted. API Gateway allows 10 MB; nothing in this API needs more than
/// a few kilobytes, and large bodies are how some attacks start.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The caller vouched for by API Gateway's JWT authorizer (or the dev host, which fills the same
/// request context).
pub fn caller(request: &Request) -> Result<Caller, Problem> {
    let claims = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    };
    let claims = claims.ok_or_else(|| Problem::unauthenticated("a bearer token is required"))?;
    Caller::from_claims(claims).map_err(|e| Problem::unauthenticated(e.to_string()))
}

/// The address this request reached the API at (`https://<domain>`), as API Gateway reports it:
/// where vendors can reach the same deployment's webhooks.
pub fn public_base_url(request: &Request) -> Option<String> {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .domain_name
            .as_deref()
            .filter(|domain| !domain.is_empty())
            .map(|domain| format!("https://{domain}")),
        _ => None,
    }
}

pub fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    }
}

/// The body as `T`, refusing other media types, oversized bodies, malformed JSON and members
/// `T` does not know.
/// A JSON body where the body may be left out entirely: no body means `T::default()`.
pub fn optional_json<T: DeserializeOwned + Default>(request: &Request) -> Result<T, Problem> {
    if body_bytes(request).iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        json(request)
    }
}

pub fn json<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(Problem::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with Content-Type: application/json",
        ));
    }
    let bytes = body_bytes(request);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            413,
            "body-too-large",
            "Body too large",
            format!("the body is {} bytes; the limit is {MAX_BODY_BYTES}", bytes.len()),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request(
            "malformed-json",
            "the body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|error| {
        use serde_json::error::Category;
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => Problem::bad_request(
                "malformed-json",
                format!(
                    "the body is not valid JSON (line {}, column {})",
                    error.line(),
                    error.column()
                ),
            ),
            Category::Data => Problem::bad_request("invalid-body", strip_position(&error.to_string())),
        }
    })
}

/// serde's messages end with " at line 1 column 42", which means nothing to an API caller.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// The version named by `If-Match` (`"3"`, as our ETags are). Updates require it, so nobody
/// overwrites a change they have not seen.
pub fn if_match(request: &Request) -> Result<u64, Problem> {
    let Some(value) = request.headers().get("if-match") else {
        return Err(Problem::new(
            428,
            "precondition-required",
            "Precondition required",
            "send If-Match with the ETag from your last read, so you never overwrite a change you have not seen",
        ));
    };
    value
        .to_str()
        .ok()
        .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            Problem::bad_request(
                "invalid-if-match",
                "If-Match must be an ETag this API returned, such as \"3\"",
            )
        })
}

pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

pub fn query<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.query_string_parameters_ref().and_then(|q| q.first(name))
}

/// A numeric query parameter, or a problem naming it.
pub fn query_number(request: &Request, name: &str) -> Result<Option<u32>, Problem> {
    query(request, name)
        .map(|raw| {
            raw.parse::<u32>()
                .map_err(|_| Problem::bad_request("invalid-query", format!("{name} must be a whole number")))
        })
        .transpose()
}
