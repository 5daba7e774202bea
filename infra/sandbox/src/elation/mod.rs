//! Elation's REST API v2.0, as ../shared/VENDOR_APIS.md section 1 describes it:
//!
//! - `POST /api/2.0/oauth2/token/`: client credentials (in the form or as HTTP Basic), and the
//!   legacy password grant with Basic client auth; tokens last 36,000 s.
//! - `GET /api/2.0/patients/` and `/physicians/`: `limit`/`offset` paging, at most 100 a page,
//!   `{count, next, previous, results}` with full `next` URLs, `last_modified__gt|__gte` filters.
//! - `GET|PATCH /api/2.0/patients/{id}/`, `GET /api/2.0/physicians/{id}/`.
//! - `GET|POST /api/2.0/non_visit_notes/`, `GET /api/2.0/non_visit_notes/{id}/`.
//! - `GET|POST /api/2.0/app/subscriptions/`, `DELETE /api/2.0/app/subscriptions/{id}/`: each
//!   answer carries the app's `signing_pub_key`; the same resource and target twice is a 409.
//! - Webhooks: `{data, action, event_id, event_uuid, application_id, resource, resource_url}`
//!   signed with Ed25519 over the raw body, retried until answered 200, and never sent to the
//!   app whose own API call made the change.
//!
//! The control plane (`/_sandbox/…`) adds apps, physicians and patients, edits and deletes
//! patients as a practice user would in Elation's own screens (so webhooks go to every app),
//! reads physicians and patients back as stored, injects faults, lists requests and
//! deliveries, and sends a delivery again.

mod records;
mod webhooks;

use crate::courier::Courier;
pub use crate::courier::{Delivery, Retry};

use crate::faults::Faults;
use crate::http::{self, Handler, Request, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The one practice the sandbox holds; every physician and patient belongs to it.
pub const PRACTICE_ID: i64 = 140_758_831_005_700;
/// Elation's page size cap.
pub const MAX_PAGE: usize = 100;
/// The page size when a request names none. Elation does not document its default. [I]
pub const DEFAULT_PAGE: usize = 25;
/// Token lifetime, as in Elation's documented example.
pub const TOKEN_SECONDS: i64 = 36_000;

/// The app the local stack registers, so a developer can connect carebridge to the sandbox.
pub fn demo_client() -> Client {
    Client {
        client_id: "carebridge-local".into(),
        client_secret: "local-sandbox-secret".into(),
        username: None,
        password: None,
    }
}

/// How a sandbox starts.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub retry: Retry,
    /// Apps known from the start, e.g. the local stack's demo credentials.
    pub clients: Vec<Client>,
}

/// An app registered with Elation: its OAuth client, and optionally a user for the legacy
/// password grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub client_secret: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
}

struct App {
    client: Client,
    /// Signs every webhook sent to this app's subscriptions.
    key: SigningKey,
}

struct Subscription {
    id: i64,
    client_id: String,
    resource: String,
    target: String,
    properties: Value,
    created_date: String,
    deleted_date: Option<String>,
}

/// One API request the sandbox answered.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
}

#[derive(Default)]
struct State {
    apps: Vec<App>,
    tokens: BTreeMap<String, (String, DateTime<Utc>)>,
    physicians: BTreeMap<i64, Map<String, Value>>,
    patients: BTreeMap<i64, Map<String, Value>>,
    notes: BTreeMap<i64, Map<String, Value>>,
    subscriptions: Vec<Subscription>,
    faults: Faults,
    requests: Vec<Seen>,
    next_id: i64,
    next_event: i64,
    /// The latest `last_modified` handed out, so each change is strictly later than the last.
    clock: DateTime<Utc>,
}

impl State {
    fn new_id(&mut self) -> i64 {
        // Elation's ids are large int64s; these look alike and never repeat.
        self.next_id += 4_099;
        140_758_510_600_000 + self.next_id
    }

    fn now(&mut self) -> String {
        let now = Utc::now().max(self.clock + chrono::Duration::microseconds(1));
        self.clock = now;
        now.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    fn client_of(&self, token: &str) -> Option<&str> {
        let (client, expires) = self.tokens.get(token)?;
        (*expires > Utc::now()).then_some(client.as_str())
    }

    fn live_patient(&self, id: i64) -> Option<&Map<String, Value>> {
        self.patients
            .get(&id)
            .filter(|p| p.get("deleted_date").is_none_or(Value::is_null))
    }
}

/// The running sandbox's shared parts.
struct Sandbox {
    state: Mutex<State>,
    base_url: String,
    courier: Courier,
}

impl Sandbox {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts an Elation sandbox on `listener` (bind port 0 for a free one).
pub fn start(listener: TcpListener, config: Config) -> std::io::Result<http::Running> {
    let address = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let mut state = State::default();
    for client in config.clients {
        state.apps.push(App { client, key: new_key() });
    }
    let sandbox = Arc::new(Sandbox {
        state: Mutex::new(state),
        base_url: format!("http://{address}"),
        courier: Courier::new(webhooks::SIGNATURE_HEADER, webhooks::delivered, config.retry, stopped),
    });
    let handler: Handler = Arc::new(move |request| {
        let sandbox = sandbox.clone();
        Box::pin(async move { route(&sandbox, request).await })
    });
    http::serve(listener, handler, stop)
}

fn new_key() -> SigningKey {
    let mut seed = [0u8; 32];
    // The operating system's randomness is always there on the machines this runs on; a
    // failure would leave a fixed key, which only weakens a test double.
    let _ = getrandom::getrandom(&mut seed);
    SigningKey::from_bytes(&seed)
}

fn not_found() -> Response {
    Response::json(404, json!({"detail": "Not found."}))
}

async fn route(sandbox: &Sandbox, request: Request) -> Response {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["_sandbox", rest @ ..] => control(sandbox, &request, rest),
        ["api", "2.0", rest @ ..] => {
            let response = api(sandbox, &request, rest).await;
            sandbox.state().requests.push(Seen {
                method: request.method.clone(),
                path: request.path.clone(),
                status: response.status,
            });
            response
        }
        _ => not_found(),
    }
}

/// The vendor API: faults first, then the token endpoint, then everything that needs a token.
async fn api(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> Response {
    let fault = sandbox.state().faults.take(&request.path);
    if let Some(fault) = fault {
        match fault.kind.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(fault.delay_ms.unwrap_or(2_000))).await,
            "malformed" => return Response::raw(200, "{\"count\": 3, \"results\": [{\"id\": "),
            // Elation acts on the request, but its answer never reaches the caller.
            "lost_answer" => {
                answer(sandbox, request, rest).await;
                return Response::json(502, json!({"detail": "Bad Gateway"}));
            }
            _ => {
                let status = fault.status.unwrap_or(500);
                let detail = if status == 429 {
                    "Request was throttled."
                } else {
                    "A server error occurred."
                };
                return Response::json(status, json!({"detail": detail}));
            }
        }
    }
    answer(sandbox, request, rest).await
}

/// The token endpoint, then everything that needs a token.
async fn answer(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> Response {
    if rest == ["oauth2", "token"] {
        return if request.method == "POST" {
            token(sandbox, request)
        } else {
            method_not_allowed(&request.method)
        };
    }
    let client = {
        let state = sandbox.state();
        let token = request
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or_default();
        state.client_of(token).map(str::to_owned)
    };
    let Some(client) = client else {
        return Response::json(
            401,
            json!({"detail": "Authentication credentials were not provided or are invalid."}),
        );
    };
    match (request.method.as_str(), rest) {
        ("GET", ["patients"]) => list(sandbox, request, "patients", |s| &s.patients, |_| true),
        ("GET", ["patients", id]) => one(sandbox, id, |s: &State, id| s.live_patient(id).cloned()),
        ("PATCH", ["patients", id]) => patch_patient(sandbox, id, request, Some(&client)),
        ("GET", ["physicians"]) => list(sandbox, request, "physicians", |s| &s.physicians, |_| true),
        ("GET", ["physicians", id]) => one(sandbox, id, |s: &State, id| s.physicians.get(&id).cloned()),
        ("GET", ["non_visit_notes"]) => {
            let patient = request.query.get("patient").and_then(|p| p.parse::<i64>().ok());
            list(
                sandbox,
                request,
                "non_visit_notes",
                |s| &s.notes,
                move |note| patient.is_none_or(|p| note.get("patient").and_then(Value::as_i64) == Some(p)),
            )
        }
        ("GET", ["non_visit_notes", id]) => one(sandbox, id, |s: &State, id| s.notes.get(&id).cloned()),
        ("POST", ["non_visit_notes"]) => post_note(sandbox, request, &client),
        ("GET", ["app", "subscriptions"]) => list_subscriptions(sandbox, &client),
        ("POST", ["app", "subscriptions"]) => subscribe(sandbox, request, &client),
        ("DELETE", ["app", "subscriptions", id]) => unsubscribe(sandbox, id, &client),
        (method, ["patients" | "physicians" | "non_visit_notes" | "app", ..]) => method_not_allowed(method),
        _ => not_found(),
    }
}

fn method_not_allowed(method: &str) -> Response {
    Response::json(405, json!({"detail": format!("Method \"{method}\" not allowed.")}))
}

/// The token endpoint, answering as OAuth 2.0 (RFC 6749 section 5) does.
fn token(sandbox: &Sandbox, request: &Request) -> Response {
    let form = request.form();
    let basic = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_owned(), secret.to_owned()))
        });
    let (client_id, client_secret) = match (&basic, form.get("client_id"), form.get("client_secret")) {
        (Some((id, secret)), _, _) => (id.clone(), secret.clone()),
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => {
            return Response::json(
                401,
                json!({"error": "invalid_client", "error_description": "Client authentication failed: no client credentials given."}),
            );
        }
    };
    let mut state = sandbox.state();
    let Some(app) = state
        .apps
        .iter()
        .find(|a| a.client.client_id == client_id && a.client.client_secret == client_secret)
    else {
        return Response::json(
            401,
            json!({"error": "invalid_client", "error_description": "Client authentication failed: unknown client or wrong secret."}),
        );
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some("password") => {
            if basic.is_none() {
                return Response::json(
                    401,
                    json!({"error": "invalid_client", "error_description": "The password grant needs HTTP Basic client authentication."}),
                );
            }
            let given = (form.get("username"), form.get("password"));
            let known = (app.client.username.as_ref(), app.client.password.as_ref());
            if given.0.is_none() || given != known {
                return Response::json(
                    400,
                    json!({"error": "invalid_grant", "error_description": "Invalid credentials given."}),
                );
            }
        }
        _ => {
            return Response::json(
                400,
                json!({"error": "unsupported_grant_type", "error_description": "Use grant_type=client_credentials."}),
            );
        }
    }
    let access_token = random_token();
    let refresh_token = random_token();
    let expires = Utc::now() + chrono::Duration::seconds(TOKEN_SECONDS);
    state.tokens.insert(access_token.clone(), (client_id, expires));
    Response::json(
        200,
        json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "refresh_token": refresh_token,
            "scope": "apiv2",
        }),
    )
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A page of a collection: `limit` (at most 100) and `offset`, and Elation's change filters.
fn list(
    sandbox: &Sandbox,
    request: &Request,
    path: &str,
    collection: impl Fn(&State) -> &BTreeMap<i64, Map<String, Value>>,
    keep: impl Fn(&Map<String, Value>) -> bool,
) -> Response {
    let number = |name: &str, default: usize| -> Result<usize, Response> {
        match request.query.get(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|_| Response::json(400, json!({name: ["A valid integer is required."]}))),
        }
    };
    let limit = match number("limit", DEFAULT_PAGE) {
        Ok(limit) => limit.clamp(1, MAX_PAGE),
        Err(response) => return response,
    };
    let offset = match number("offset", 0) {
        Ok(offset) => offset,
        Err(response) => return response,
    };
    let mut changed_after = Vec::new();
    for (name, strict) in [("last_modified__gt", true), ("last_modified__gte", false)] {
        if let Some(value) = request.query.get(name) {
            match records::parse_date_time(value) {
                Some(time) => changed_after.push((time, strict)),
                None => return Response::json(400, json!({name: ["Enter a valid date/time."]})),
            }
        }
    }
    let state = sandbox.state();
    let matching: Vec<&Map<String, Value>> = collection(&state)
        .values()
        .filter(|item| item.get("deleted_date").is_none_or(Value::is_null))
        .filter(|item| keep(item))
        .filter(|item| {
            let modified = item
                .get("last_modified")
                .and_then(Value::as_str)
                .and_then(records::parse_date_time);
            changed_after
                .iter()
                .all(|(after, strict)| modified.is_some_and(|m| if *strict { m > *after } else { m >= *after }))
        })
        .collect();
    let count = matching.len();
    let results: Vec<&Map<String, Value>> = matching.into_iter().skip(offset).take(limit).collect();
    let link = |offset: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        let mut names: Vec<&String> = request
            .query
            .keys()
            .filter(|k| *k != "limit" && *k != "offset")
            .collect();
        names.sort();
        for name in names {
            query.append_pair(name, &request.query[name]);
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair("offset", &offset.to_string());
        format!("{}/api/2.0/{path}/?{}", sandbox.base_url, query.finish())
    };
    let next = (offset + limit < count).then(|| link(offset + limit));
    let previous = (offset > 0).then(|| link(offset.saturating_sub(limit)));
    Response::json(
        200,
        json!({"count": count, "next": next, "previous": previous, "results": results}),
    )
}

fn one(sandbox: &Sandbox, id: &str, find: impl Fn(&State, i64) -> Option<Map<String, Value>>) -> Response {
    let found = id.parse().ok().and_then(|id| find(&sandbox.state(), id));
    found.map_or_else(not_found, |item| Response::json(200, Value::Object(item)))
}

/// Fields a caller may not set: Elation ignores them in a write.
const READ_ONLY: [&str; 5] = [
    "id",
    "created_date",
    "deleted_date",
    "last_modified",
    "caregiver_practice",
];

/// Edits a patient. `actor` is the app whose API call it is, or `None` for a practice user.
fn patch_patient(sandbox: &Sandbox, id: &str, request: &Request, actor: Option<&str>) -> Response {
    let body = match request.object() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut state = sandbox.state();
    let Some(id) = id.parse::<i64>().ok().filter(|id| state.live_patient(*id).is_some()) else {
        return not_found();
    };
    if let Err(errors) = records::check_patient(&body, true, |p| state.physicians.contains_key(&p)) {
        return Response::json(400, errors);
    }
    let now = state.now();
    let patient = state.patients.entry(id).or_default();
    for (field, value) in body {
        if !READ_ONLY.contains(&field.as_str()) {
            patient.insert(field, value);
        }
    }
    patient.insert("last_modified".into(), json!(now));
    let patient = patient.clone();
    publish(sandbox, &mut state, "patients", "saved", &patient, actor);
    Response::json(200, Value::Object(patient))
}

fn post_note(sandbox: &Sandbox, request: &Request, client: &str) -> Response {
    let mut body = match request.object() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut state = sandbox.state();
    if let Err(errors) = records::check_note(&body, |p| state.live_patient(p).is_some()) {
        return Response::json(400, errors);
    }
    let id = state.new_id();
    let now = state.now();
    let mut bullets = Vec::new();
    for bullet in body
        .remove("bullets")
        .and_then(|b| b.as_array().cloned())
        .unwrap_or_default()
    {
        let mut bullet = bullet.as_object().cloned().unwrap_or_default();
        bullet.insert("id".into(), json!(state.new_id()));
        bullet.insert("version".into(), json!(1));
        bullet.insert("updated_date".into(), json!(now));
        bullets.push(Value::Object(bullet));
    }
    for field in READ_ONLY {
        body.remove(field);
    }
    body.insert("id".into(), json!(id));
    body.insert("bullets".into(), Value::Array(bullets.clone()));
    body.insert("notes".into(), Value::Array(bullets));
    body.entry("tags").or_insert(json!([]));
    body.insert("signed_date".into(), Value::Null);
    body.insert("signed_by".into(), Value::Null);
    body.insert("practice".into(), json!(PRACTICE_ID));
    body.insert("created_date".into(), json!(now));
    body.insert("deleted_date".into(), Value::Null);
    body.insert("last_modified".into(), json!(now));
    state.notes.insert(id, body.clone());
    publish(sandbox, &mut state, "non_visit_notes", "saved", &body, Some(client));
    Response::json(201, Value::Object(body))
}

fn subscription_json(subscription: &Subscription, key: &SigningKey) -> Value {
    json!({
        "id": subscription.id,
        "resource": subscription.resource,
        "target": subscription.target,
        "properties": subscription.properties,
        "created_date": subscription.created_date,
        "deleted_date": subscription.deleted_date,
        "signing_pub_key": STANDARD.encode(key.verifying_key().to_bytes()),
    })
}

fn app_key(state: &State, client: &str) -> Option<SigningKey> {
    state
        .apps
        .iter()
        .find(|a| a.client.client_id == client)
        .map(|a| a.key.clone())
}

fn list_subscriptions(sandbox: &Sandbox, client: &str) -> Response {
    let state = sandbox.state();
    let Some(key) = app_key(&state, client) else {
        return not_found();
    };
    let results: Vec<Value> = state
        .subscriptions
        .iter()
        .filter(|s| s.client_id == client && s.deleted_date.is_none())
        .map(|s| subscription_json(s, &key))
        .collect();
    Response::json(
        200,
        json!({"count": results.len(), "next": null, "previous": null, "results": results}),
    )
}

/// Resources Elation publishes events for (VENDOR_APIS.md 1.6), those the sandbox holds first.
const RESOURCES: [&str; 8] = [
    "patients",
    "physicians",
    "non_visit_notes",
    "appointments",
    "visit_notes",
    "problems",
    "medications",
    "allergies",
];

fn subscribe(sandbox: &Sandbox, request: &Request, client: &str) -> Response {
    let body = match request.json() {
        Ok(body) => body,
        Err(response) => return response,
    };
    let resource = body
        .get("resource")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let target = body
        .get("target")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut errors = records::FieldErrors::default();
    if !RESOURCES.contains(&resource.as_str()) {
        errors.add("resource", format!("\"{resource}\" is not a valid choice."));
    }
    if !(target.starts_with("http://") || target.starts_with("https://")) {
        errors.add("target", "Enter a valid URL.");
    }
    if let Err(errors) = errors.into_result() {
        return Response::json(400, errors);
    }
    let mut state = sandbox.state();
    let Some(key) = app_key(&state, client) else {
        return not_found();
    };
    let duplicate = state
        .subscriptions
        .iter()
        .any(|s| s.client_id == client && s.deleted_date.is_none() && s.resource == resource && s.target == target);
    if duplicate {
        return Response::json(
            409,
            json!({"detail": "A subscription for this resource and target already exists."}),
        );
    }
    let subscription = Subscription {
        id: state.new_id(),
        client_id: client.to_owned(),
        resource,
        target,
        properties: body.get("properties").cloned().unwrap_or(json!({})),
        created_date: state.now(),
        deleted_date: None,
    };
    let answer = subscription_json(&subscription, &key);
    state.subscriptions.push(subscription);
    Response::json(201, answer)
}

fn unsubscribe(sandbox: &Sandbox, id: &str, client: &str) -> Response {
    let mut state = sandbox.state();
    let now = state.now();
    let found = state
        .subscriptions
        .iter_mut()
        .find(|s| s.client_id == client && s.deleted_date.is_none() && id.parse() == Ok(s.id));
    match found {
        Some(subscription) => {
            subscription.deleted_date = Some(now);
            Response::empty(204)
        }
        None => not_found(),
    }
}

/// Sends an event about `data` to every live subscription for `resource`, except the acting
/// app's own (Elation's echo prevention).
fn publish(
    sandbox: &Sandbox,
    state: &mut State,
    resource: &str,
    action: &str,
    data: &Map<String, Value>,
    actor: Option<&str>,
) {
    let targets: Vec<(String, String)> = state
        .subscriptions
        .iter()
        .filter(|s| s.deleted_date.is_none() && s.resource == resource && Some(s.client_id.as_str()) != actor)
        .map(|s| (s.client_id.clone(), s.target.clone()))
        .collect();
    for (client, target) in targets {
        let Some(key) = app_key(state, &client) else { continue };
        state.next_event += 1;
        let event_uuid = uuid::Uuid::now_v7().to_string();
        let body = json!({
            "data": data,
            "action": action,
            "event_id": state.next_event,
            "event_uuid": event_uuid,
            "application_id": client,
            "resource": resource,
            "resource_url": null,
        })
        .to_string()
        .into_bytes();
        let signature = webhooks::sign(&key, &body);
        let delivery = Delivery {
            event: event_uuid,
            resource: resource.to_owned(),
            action: action.to_owned(),
            target,
            attempts: Vec::new(),
            delivered: false,
            body: Vec::new(),
            signature: String::new(),
        };
        sandbox.courier.send(delivery, body, signature);
    }
}

/// Sends an event again: as it was (`{}`: what Elation's retry or a replay of its published
/// event sends), or with `{"as_new_event": true}` under a new event id, as Elation does when an
/// older copy of a record is published after a newer one.
fn redeliver(sandbox: &Sandbox, request: &Request, event_uuid: &str) -> Response {
    let as_new_event = if request.body.is_empty() {
        false
    } else {
        match request.json() {
            Ok(body) => body.get("as_new_event").and_then(Value::as_bool).unwrap_or(false),
            Err(response) => return response,
        }
    };
    let Some(mut delivery) = sandbox.courier.find(event_uuid) else {
        return not_found();
    };
    let (mut body, mut signature) = (delivery.body.clone(), delivery.signature.clone());
    if as_new_event {
        let mut event: Map<String, Value> = serde_json::from_slice(&body).unwrap_or_default();
        let mut state = sandbox.state();
        let client = event
            .get("application_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(key) = app_key(&state, &client) else {
            return not_found();
        };
        state.next_event += 1;
        delivery.event = uuid::Uuid::now_v7().to_string();
        event.insert("event_id".into(), json!(state.next_event));
        event.insert("event_uuid".into(), json!(delivery.event));
        body = Value::Object(event).to_string().into_bytes();
        signature = webhooks::sign(&key, &body);
    }
    delivery.attempts = Vec::new();
    delivery.delivered = false;
    let answer = json!({"event_uuid": delivery.event});
    sandbox.courier.send(delivery, body, signature);
    Response::json(202, answer)
}

/// The control plane: what people and tests do around the API.
fn control(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> Response {
    match (request.method.as_str(), rest) {
        ("POST", ["clients"]) => {
            let client: Client = match request.json().and_then(|body| {
                serde_json::from_value(body).map_err(|e| Response::json(400, json!({"detail": e.to_string()})))
            }) {
                Ok(client) => client,
                Err(response) => return response,
            };
            let mut state = sandbox.state();
            state.apps.retain(|a| a.client.client_id != client.client_id);
            state.apps.push(App {
                client: client.clone(),
                key: new_key(),
            });
            Response::json(201, json!({"client_id": client.client_id}))
        }
        ("POST", ["physicians"]) => {
            let mut body = match request.object() {
                Ok(body) => body,
                Err(response) => return response,
            };
            let mut errors = records::FieldErrors::default();
            for (field, max) in [("first_name", 50), ("last_name", 60)] {
                match body.get(field).and_then(Value::as_str) {
                    Some(value) if !value.trim().is_empty() && value.chars().count() <= max => {}
                    _ => errors.add(field, format!("Required, at most {max} characters.")),
                }
            }
            if let Err(errors) = errors.into_result() {
                return Response::json(400, errors);
            }
            let mut state = sandbox.state();
            let id = state.new_id();
            let now = state.now();
            body.insert("id".into(), json!(id));
            body.insert("practice".into(), json!(PRACTICE_ID));
            body.entry("is_active").or_insert(json!(true));
            body.insert("last_modified".into(), json!(now));
            state.physicians.insert(id, body.clone());
            publish(sandbox, &mut state, "physicians", "saved", &body, None);
            Response::json(201, Value::Object(body))
        }
        ("POST", ["patients"]) => {
            let mut body = match request.object() {
                Ok(body) => body,
                Err(response) => return response,
            };
            let mut state = sandbox.state();
            if let Err(errors) = records::check_patient(&body, false, |p| state.physicians.contains_key(&p)) {
                return Response::json(400, errors);
            }
            for field in READ_ONLY {
                body.remove(field);
            }
            let id = state.new_id();
            let now = state.now();
            body.insert("id".into(), json!(id));
            body.insert("caregiver_practice".into(), json!(PRACTICE_ID));
            for (field, empty) in [
                ("middle_name", json!("")),
                ("emails", json!([])),
                ("phones", json!([])),
                ("address", Value::Null),
            ] {
                body.entry(field).or_insert(empty);
            }
            body.insert("created_date".into(), json!(now));
            body.insert("deleted_date".into(), Value::Null);
            body.insert("last_modified".into(), json!(now));
            state.patients.insert(id, body.clone());
            publish(sandbox, &mut state, "patients", "saved", &body, None);
            Response::json(201, Value::Object(body))
        }
        // Reading back what the practice holds, exactly as stored (deleted patients included).
        ("GET", ["patients"]) => Response::json(200, json!(sandbox.state().patients.values().collect::<Vec<_>>())),
        ("GET", ["physicians"]) => Response::json(200, json!(sandbox.state().physicians.values().collect::<Vec<_>>())),
        ("GET", ["patients", id]) => one(sandbox, id, |state, id| state.patients.get(&id).cloned()),
        ("GET", ["physicians", id]) => one(sandbox, id, |state, id| state.physicians.get(&id).cloned()),
        ("PATCH", ["patients", id]) => patch_patient(sandbox, id, request, None),
        ("DELETE", ["patients", id]) => {
            let mut state = sandbox.state();
            let Some(id) = id.parse::<i64>().ok().filter(|id| state.live_patient(*id).is_some()) else {
                return not_found();
            };
            let now = state.now();
            let patient = state.patients.entry(id).or_default();
            patient.insert("deleted_date".into(), json!(now));
            patient.insert("last_modified".into(), json!(now));
            let patient = patient.clone();
            publish(sandbox, &mut state, "patients", "deleted", &patient, None);
            Response::empty(204)
        }
        ("POST" | "DELETE", ["faults"]) => sandbox.state().faults.control(request),
        ("GET", ["requests"]) => Response::json(200, json!(sandbox.state().requests)),
        ("POST", ["deliveries", event_uuid, "redeliver"]) => redeliver(sandbox, request, event_uuid),
        ("GET", ["deliveries"]) => Response::json(200, json!(sandbox.courier.all())),
        _ => not_found(),
    }
}
