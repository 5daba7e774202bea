//! Ensora data collection's customer API (formerly DataFinch Catalyst), as ../shared/VENDOR_APIS.md
//! section 5 records it. The API is customer-gated: these shapes are those third-party code
//! calls, kept here so the connector can be swapped to the real contract when a customer's
//! credentials come.
//!
//! - `POST /connect/token`, form `grant_type=client_credentials` with the client's id and secret
//!   in HTTP Basic (IdentityServer style): `{access_token, token_type: "Bearer", expires_in}`;
//!   a wrong client is 401 `{"error": "invalid_client"}`. Tokens last an hour.
//! - `Authorization: Bearer <token>` on `/v1/*`, and a `User-Agent` on every call: without one
//!   400, with an empty one 403 (the legacy API's rule).
//! - `GET /v1/site` → `[{siteId, name, timeZone}]`.
//! - `GET /v1/Patient?StartTime=` → students changed at or after then: `[{patientId, firstName,
//!   lastName, dateOfBirth, active, gender, siteId}]`.
//! - `GET /v1/User?StartTime=` → `[{userId, firstName, lastName, email, active, siteAssignments:
//!   [{siteId}]}]`.
//! - `GET /v1/SoapNote?StartTime=&EndTime=` → the notes written, revised or deleted in the
//!   window: `[{soapNoteId, patientId, userId, date, startTime, endTime, dateRevisionMade,
//!   isDeleted, responses: [{questionText, answer}]}]`.
//! - Lists are bare arrays, `page` (from 1) and `size` (20 by default, at most 100); a bad one is
//!   422 naming it.
//!
//! The control plane (`/_sandbox/…`) adds organizations (each with its API client), and in one
//! adds and edits sites, students and users and writes, revises and deletes session notes as
//! therapists would; injects faults; lists the requests it answered.

use crate::faults::Faults;
use crate::http::{self, Handler, Request, Response};
use crate::random::random_text;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;
/// How long a token lasts, in seconds.
pub const TOKEN_SECONDS: i64 = 3_600;

/// An organization's API client, as Ensora issues one to a customer.
#[derive(Debug, Clone)]
pub struct ClientSetup {
    pub organization: String,
    pub client_id: String,
    pub client_secret: String,
}

/// The client the local stack registers.
pub fn demo_client() -> ClientSetup {
    ClientSetup {
        organization: "org-carebridge-local".into(),
        client_id: "carebridge-local-ensora".into(),
        client_secret: "ensora-local-client-secret".into(),
    }
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub clients: Vec<ClientSetup>,
}

/// One API request the sandbox answered.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub organization: Option<String>,
    pub status: u16,
    pub at: String,
}

/// A record with the time it last changed (what `StartTime` filters by).
struct Kept {
    body: Map<String, Value>,
    changed_at: DateTime<Utc>,
}

#[derive(Default)]
struct Organization {
    sites: BTreeMap<String, Map<String, Value>>,
    patients: BTreeMap<String, Kept>,
    users: BTreeMap<String, Kept>,
    notes: BTreeMap<String, Kept>,
}

struct State {
    /// client id → (secret, organization)
    clients: BTreeMap<String, (String, String)>,
    /// token → (organization, expires)
    tokens: BTreeMap<String, (String, DateTime<Utc>)>,
    organizations: BTreeMap<String, Organization>,
    faults: Faults,
    requests: Vec<Seen>,
    next_id: u64,
    clock: DateTime<Utc>,
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        (10_000 + self.next_id).to_string()
    }

    /// Now, strictly later than any change handed out before.
    fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now().max(self.clock + chrono::Duration::microseconds(1));
        self.clock = now;
        now
    }
}

struct Sandbox {
    state: Mutex<State>,
}

impl Sandbox {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts an Ensora sandbox on `listener`; its API is at `{base_url}/v1` and its token endpoint
/// at `{base_url}/connect/token`.
pub fn start(listener: TcpListener, config: Config) -> std::io::Result<http::Running> {
    let (stop, _) = watch::channel(false);
    let mut organizations = BTreeMap::new();
    let mut clients = BTreeMap::new();
    for client in config.clients {
        organizations.insert(client.organization.clone(), Organization::default());
        clients.insert(client.client_id, (client.client_secret, client.organization));
    }
    let sandbox = Arc::new(Sandbox {
        state: Mutex::new(State {
            clients,
            tokens: BTreeMap::new(),
            organizations,
            faults: Faults::default(),
            requests: Vec::new(),
            next_id: 0,
            clock: DateTime::<Utc>::MIN_UTC,
        }),
    });
    let handler: Handler = Arc::new(move |request| {
        let sandbox = sandbox.clone();
        Box::pin(async move { route(&sandbox, request).await })
    });
    http::serve(listener, handler, stop)
}

fn message(status: u16, text: impl Into<String>) -> Response {
    Response::json(status, json!({"message": text.into()}))
}

fn not_found() -> Response {
    message(404, "Not found")
}

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn route(sandbox: &Sandbox, request: Request) -> Response {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    let (organization, response) = match segments.as_slice() {
        ["_sandbox", rest @ ..] => return control(sandbox, &request, rest),
        ["connect", "token"] if request.method == "POST" => (None, token(sandbox, &request)),
        ["v1", rest @ ..] => api(sandbox, &request, rest).await,
        _ => (None, not_found()),
    };
    let mut state = sandbox.state();
    let at = time_text(Utc::now());
    state.requests.push(Seen {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query_pairs.clone(),
        organization,
        status: response.status,
        at,
    });
    response
}

/// The client credentials grant, with the client in HTTP Basic.
fn token(sandbox: &Sandbox, request: &Request) -> Response {
    let form = request.form();
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Response::json(400, json!({"error": "unsupported_grant_type"}));
    }
    let client = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    let mut state = sandbox.state();
    let organization = client.and_then(|(id, secret)| {
        state
            .clients
            .get(&id)
            .filter(|(known, _)| *known == secret)
            .map(|(_, org)| org.clone())
    });
    let Some(organization) = organization else {
        return Response::json(401, json!({"error": "invalid_client"}));
    };
    let access_token = random_text(40);
    let expires = Utc::now() + chrono::Duration::seconds(TOKEN_SECONDS);
    state.tokens.insert(access_token.clone(), (organization, expires));
    Response::json(
        200,
        json!({"access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS, "scope": "customer_api"}),
    )
}

/// `page` and `size` as the legacy API reads them.
fn paging(request: &Request) -> Result<(usize, usize), Response> {
    let read = |name: &str, default: usize, max: usize| match request.query.get(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(Response::json(
                422,
                json!({"message": "The request is invalid.", "errors": {name: [format!("must be a whole number from 1 to {max}")]}}),
            )),
        },
    };
    Ok((read("page", 1, usize::MAX)?, read("size", DEFAULT_PAGE, MAX_PAGE)?))
}

/// A time query parameter (`2026-11-02T09:00:00Z`, or a date).
fn time_param(request: &Request, name: &str) -> Result<Option<DateTime<Utc>>, Response> {
    match request.query.get(name) {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                    .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
            })
            .map(Some)
            .map_err(|_| {
                Response::json(
                    422,
                    json!({"message": "The request is invalid.", "errors": {name: ["must be a date or a date and time"]}}),
                )
            }),
    }
}

fn page_of(mut all: Vec<Value>, page: usize, size: usize) -> Response {
    let start = (page - 1).saturating_mul(size).min(all.len());
    let end = (start + size).min(all.len());
    Response::json(200, Value::Array(all.drain(start..end).collect()))
}

async fn api(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> (Option<String>, Response) {
    let organization = {
        let state = sandbox.state();
        request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|token| state.tokens.get(token))
            .filter(|(_, expires)| *expires > Utc::now())
            .map(|(org, _)| org.clone())
    };
    let Some(organization) = organization else {
        return (None, message(401, "Authorization has been denied for this request."));
    };
    let known = Some(organization.clone());
    match request.header("user-agent").map(str::trim) {
        None => return (known, message(400, "A User-Agent header is required.")),
        Some("") => return (known, message(403, "The User-Agent header is not valid.")),
        Some(_) => {}
    }
    let fault = sandbox.state().faults.take(&request.path);
    if let Some(fault) = fault {
        match fault.kind.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(fault.delay_ms.unwrap_or(2_000))).await,
            "malformed" => return (known, Response::raw(200, "[{\"soapNoteId\": ")),
            _ => {
                let status = fault.status.unwrap_or(500);
                return (known, message(status, "The service is unavailable."));
            }
        }
    }
    if request.method != "GET" {
        return (
            known,
            message(405, "The requested resource does not support this method."),
        );
    }
    let (page, size) = match paging(request) {
        Ok(paging) => paging,
        Err(response) => return (known, response),
    };
    let since = match time_param(request, "StartTime") {
        Ok(since) => since,
        Err(response) => return (known, response),
    };
    let until = match time_param(request, "EndTime") {
        Ok(until) => until,
        Err(response) => return (known, response),
    };
    let state = sandbox.state();
    let Some(org) = state.organizations.get(&organization) else {
        return (known, not_found());
    };
    let changed = |kept: &BTreeMap<String, Kept>| -> Vec<Value> {
        kept.values()
            .filter(|k| since.is_none_or(|s| k.changed_at >= s) && until.is_none_or(|u| k.changed_at < u))
            .map(|k| Value::Object(k.body.clone()))
            .collect()
    };
    let response = match rest {
        ["site"] => page_of(org.sites.values().cloned().map(Value::Object).collect(), page, size),
        ["Patient"] => page_of(changed(&org.patients), page, size),
        ["User"] => page_of(changed(&org.users), page, size),
        ["SoapNote"] => page_of(changed(&org.notes), page, size),
        _ => not_found(),
    };
    (known, response)
}

/// The fields each kind of record takes from the control plane (anything else is refused).
const SITE_FIELDS: [&str; 2] = ["name", "timeZone"];
const PATIENT_FIELDS: [&str; 6] = ["firstName", "lastName", "dateOfBirth", "active", "gender", "siteId"];
const USER_FIELDS: [&str; 5] = ["firstName", "lastName", "email", "active", "siteAssignments"];
const NOTE_FIELDS: [&str; 6] = ["patientId", "userId", "date", "startTime", "endTime", "responses"];

fn checked(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), Response> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(Response::json(
            422,
            json!({"message": "The request is invalid.", "errors": {unknown: ["is not a field of this record"]}}),
        )),
        None => Ok(()),
    }
}

fn control(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> Response {
    match (request.method.as_str(), rest) {
        ("POST", ["organizations"]) => {
            let organization = format!("org-{}", random_text(10));
            let client_id = format!("client-{}", random_text(12));
            let client_secret = random_text(32);
            let mut state = sandbox.state();
            state
                .organizations
                .insert(organization.clone(), Organization::default());
            state
                .clients
                .insert(client_id.clone(), (client_secret.clone(), organization.clone()));
            Response::json(
                201,
                json!({"organization": organization, "client_id": client_id, "client_secret": client_secret}),
            )
        }
        ("POST" | "DELETE", ["faults"]) => sandbox.state().faults.control(request),
        ("GET", ["requests"]) => Response::json(200, json!(sandbox.state().requests)),
        ("POST", ["tokens", "expire"]) => {
            let mut state = sandbox.state();
            let past = Utc::now() - chrono::Duration::seconds(1);
            for (_, expires) in state.tokens.values_mut() {
                *expires = past;
            }
            Response::empty(204)
        }
        (_, ["organizations", org, rest @ ..]) => organization_control(sandbox, request, org, rest),
        _ => not_found(),
    }
}

/// What an organization's people do in Ensora: add sites, students and users, and write,
/// revise and delete session notes.
fn organization_control(sandbox: &Sandbox, request: &Request, org: &str, rest: &[&str]) -> Response {
    if !sandbox.state().organizations.contains_key(org) {
        return not_found();
    }
    let kind = match rest.first() {
        Some(&"sites") => ("siteId", &SITE_FIELDS[..]),
        Some(&"patients") => ("patientId", &PATIENT_FIELDS[..]),
        Some(&"users") => ("userId", &USER_FIELDS[..]),
        Some(&"notes") => ("soapNoteId", &NOTE_FIELDS[..]),
        _ => return not_found(),
    };
    let (id_field, allowed) = kind;
    match (request.method.as_str(), rest) {
        ("POST", [what]) => {
            let bodies = match request.objects(what) {
                Ok(bodies) => bodies,
                Err(response) => return response,
            };
            let mut made = Vec::new();
            let mut state = sandbox.state();
            for mut body in bodies {
                if let Err(response) = checked(&body, allowed) {
                    return response;
                }
                let id = state.new_id();
                let now = state.now();
                body.insert(id_field.into(), json!(id));
                if *what == "notes" {
                    body.insert("dateRevisionMade".into(), Value::Null);
                    body.insert("isDeleted".into(), json!(false));
                }
                if matches!(*what, "patients" | "users") {
                    body.entry("active").or_insert(json!(true));
                }
                made.push(Value::Object(body.clone()));
                let Some(found) = state.organizations.get_mut(org) else {
                    return not_found();
                };
                let kept = Kept { body, changed_at: now };
                match *what {
                    "sites" => _ = found.sites.insert(id, kept.body),
                    "patients" => _ = found.patients.insert(id, kept),
                    "users" => _ = found.users.insert(id, kept),
                    _ => _ = found.notes.insert(id, kept),
                }
            }
            Response::created(made)
        }
        ("PATCH", [what, id]) => {
            let changes = match request.object() {
                Ok(body) => body,
                Err(response) => return response,
            };
            if let Err(response) = checked(&changes, allowed) {
                return response;
            }
            let mut state = sandbox.state();
            let now = state.now();
            let Some(found) = state.organizations.get_mut(org) else {
                return not_found();
            };
            let record = match *what {
                "sites" => {
                    let Some(site) = found.sites.get_mut(*id) else {
                        return not_found();
                    };
                    site.extend(changes);
                    return Response::json(200, Value::Object(site.clone()));
                }
                "patients" => found.patients.get_mut(*id),
                "users" => found.users.get_mut(*id),
                _ => found.notes.get_mut(*id),
            };
            let Some(kept) = record else {
                return not_found();
            };
            kept.body.extend(changes);
            kept.changed_at = now;
            if *what == "notes" {
                // A therapist's revision of a published note.
                kept.body.insert("dateRevisionMade".into(), json!(time_text(now)));
            }
            Response::json(200, Value::Object(kept.body.clone()))
        }
        ("DELETE", ["notes", id]) => {
            let mut state = sandbox.state();
            let now = state.now();
            let Some(kept) = state.organizations.get_mut(org).and_then(|o| o.notes.get_mut(*id)) else {
                return not_found();
            };
            // Ensora keeps a deleted note and says so.
            kept.body.insert("isDeleted".into(), json!(true));
            kept.body.insert("dateRevisionMade".into(), json!(time_text(now)));
            kept.changed_at = now;
            Response::json(200, Value::Object(kept.body.clone()))
        }
        _ => not_found(),
    }
}
