//! Hint Health's provider API, as ../shared/VENDOR_APIS.md section 3 and Hint's published
//! reference describe it:
//!
//! - `Authorization: Bearer <practice API key>` on `/api/provider/*`; a missing or unknown key is
//!   401.
//! - `GET /api/provider/patients`: a bare JSON array, `limit` (10 by default, 1 to 100) and
//!   `offset`, `x-count` (how many this answer holds), `sort`, exact case-insensitive attribute
//!   filters and comparison objects ([`query`]); archived patients only with `filter=archived` or
//!   `filter=all`.
//! - `POST /api/provider/patients` (first and last name required, 422 otherwise),
//!   `GET|PATCH|PUT /api/provider/patients/{id}` (PUT as PATCH), `DELETE …/{id}` (204),
//!   `POST /api/provider/patients/matching` (`first_name`, `last_name`, and `dob`, `email`,
//!   `middle_name` when given, each exact and case-insensitive).
//! - 20 requests a second per key, then 429 (the lower of Hint's two published figures).
//! - Webhooks: `{id, created_at, type, practice_id, object}` for `patient.created`,
//!   `patient.updated`, `patient.destroyed`, posted to every endpoint of the practice with
//!   `X-Hint-Signature: sha256=<hex HMAC-SHA256 of the raw body>` under the practice's webhook
//!   signature key, retried until answered 2xx. Hint promises no filter, so the app's own writes
//!   come back too.
//!
//! Ids look like Hint's (`pat-…`, `pct-…`, `evt-…`). Hint documents no error body; answers say
//! `{"message": …}` and, for invalid fields, `{"errors": {field: [reason]}}`. [I]
//!
//! The control plane (`/_sandbox/…`) adds practices (each with its key and signature key),
//! webhook endpoints and practitioners; adds, edits, archives and deletes patients as a
//! practice's users would in Hint (so webhooks go out); injects faults; lists the requests it
//! answered and the deliveries it sent, and sends one again.

mod query;

use crate::courier::{Courier, Delivery, Retry};
use crate::faults::Faults;
use crate::http::{self, Handler, Request, Response};
use crate::random::random_text;
use crate::rate::Windows;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use query::{Archived, Query};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Hint's lower published rate limit: requests per key in one window.
pub const RATE_LIMIT: u32 = 20;
pub const RATE_WINDOW: Duration = Duration::from_secs(1);
pub const SIGNATURE_HEADER: &str = "X-Hint-Signature";

/// A practice the sandbox holds from the start: its id, the API key its admin made, and the
/// webhook signature key.
#[derive(Debug, Clone)]
pub struct PracticeSetup {
    pub id: String,
    pub api_key: String,
    pub signature_key: String,
}

/// The practice the local stack registers, so a developer can connect carebridge to it.
pub fn demo_practice() -> PracticeSetup {
    PracticeSetup {
        id: "pra-carebridgeLocal".into(),
        api_key: "sbx-carebridge-local-practice-key".into(),
        signature_key: "carebridge-local-webhook-signature-key".into(),
    }
}

/// How a sandbox starts.
#[derive(Debug, Clone)]
pub struct Config {
    pub practices: Vec<PracticeSetup>,
    pub rate_limit: u32,
    pub rate_window: Duration,
    pub retry: Retry,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            practices: Vec::new(),
            rate_limit: RATE_LIMIT,
            rate_window: RATE_WINDOW,
            retry: Retry::default(),
        }
    }
}

/// The signature Hint sends with `body`: `sha256=` and the hex HMAC-SHA256 of the raw body.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// One API request the sandbox answered.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The practice whose key it used, if any.
    pub practice: Option<String>,
    pub status: u16,
    pub at: String,
}

#[derive(Default)]
struct Practice {
    signature_key: String,
    /// Webhook endpoints, by id.
    endpoints: BTreeMap<String, String>,
    patients: BTreeMap<String, Map<String, Value>>,
    practitioners: BTreeMap<String, Map<String, Value>>,
}

struct State {
    /// API key → practice id.
    keys: BTreeMap<String, String>,
    practices: BTreeMap<String, Practice>,
    windows: Windows,
    faults: Faults,
    requests: Vec<Seen>,
    clock: DateTime<Utc>,
}

impl State {
    /// Strictly later than the last time handed out, in Hint's format.
    fn now(&mut self) -> String {
        let now = Utc::now().max(self.clock + chrono::Duration::microseconds(1));
        self.clock = now;
        now.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

struct Sandbox {
    state: Mutex<State>,
    courier: Courier,
}

impl Sandbox {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts a Hint sandbox on `listener` (bind port 0 for a free one); its API is at
/// `{base_url}/api`.
pub fn start(listener: TcpListener, config: Config) -> std::io::Result<http::Running> {
    let (stop, stopped) = watch::channel(false);
    let mut state = State {
        keys: BTreeMap::new(),
        practices: BTreeMap::new(),
        windows: Windows::new(config.rate_limit, config.rate_window),
        faults: Faults::default(),
        requests: Vec::new(),
        clock: DateTime::<Utc>::MIN_UTC,
    };
    for setup in config.practices {
        state.keys.insert(setup.api_key, setup.id.clone());
        state.practices.insert(
            setup.id,
            Practice {
                signature_key: setup.signature_key,
                ..Practice::default()
            },
        );
    }
    let sandbox = Arc::new(Sandbox {
        state: Mutex::new(state),
        courier: Courier::new(
            SIGNATURE_HEADER,
            |status| (200..300).contains(&status),
            config.retry,
            stopped,
        ),
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

async fn route(sandbox: &Sandbox, request: Request) -> Response {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["_sandbox", rest @ ..] => control(sandbox, &request, rest),
        ["api", "provider", rest @ ..] => {
            let (practice, response) = api(sandbox, &request, rest).await;
            let mut state = sandbox.state();
            let at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            state.requests.push(Seen {
                method: request.method.clone(),
                path: request.path.clone(),
                query: request.query_pairs.clone(),
                practice,
                status: response.status,
                at,
            });
            response
        }
        _ => not_found(),
    }
}

/// The practice API: the key, the rate limit, faults, then the answer.
async fn api(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> (Option<String>, Response) {
    let key = request.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
    let practice = key.and_then(|key| sandbox.state().keys.get(key.trim()).cloned());
    let (Some(key), Some(practice)) = (key, practice) else {
        return (
            None,
            message(401, "Unauthorized: send a practice API key as a Bearer token"),
        );
    };
    if sandbox.state().windows.admit(key.trim()).is_err() {
        return (
            Some(practice),
            message(429, "Too many requests: slow down and try again"),
        );
    }
    let fault = sandbox.state().faults.take(&request.path);
    if let Some(fault) = fault {
        match fault.kind.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(fault.delay_ms.unwrap_or(2_000))).await,
            "malformed" => return (Some(practice), Response::raw(200, "[{\"id\": ")),
            "lost_answer" => {
                answer(sandbox, request, &practice, rest);
                return (Some(practice), message(502, "Bad Gateway"));
            }
            _ => {
                return (
                    Some(practice),
                    message(fault.status.unwrap_or(500), "Something went wrong"),
                );
            }
        }
    }
    let response = answer(sandbox, request, &practice, rest);
    (Some(practice), response)
}

fn answer(sandbox: &Sandbox, request: &Request, practice: &str, rest: &[&str]) -> Response {
    match (request.method.as_str(), rest) {
        ("GET", ["patients"]) => list(sandbox, request, practice),
        ("POST", ["patients"]) => match request.object() {
            Ok(body) => create(sandbox, practice, &body),
            Err(response) => response,
        },
        ("POST", ["patients", "matching"]) => match request.object() {
            Ok(body) => matching(sandbox, practice, &body),
            Err(response) => response,
        },
        ("GET", ["patients", id]) => {
            let mut state = sandbox.state();
            let Some(clinic) = state.practices.get_mut(practice) else {
                return not_found();
            };
            match clinic.patients.get(*id) {
                Some(patient) => Response::json(200, Value::Object(patient.clone())),
                None => not_found(),
            }
        }
        ("PATCH" | "PUT", ["patients", id]) => match request.object() {
            Ok(body) => update(sandbox, practice, id, &body),
            Err(response) => response,
        },
        ("DELETE", ["patients", id]) => destroy(sandbox, practice, id),
        _ => not_found(),
    }
}

fn list(sandbox: &Sandbox, request: &Request, practice: &str) -> Response {
    let query = match Query::parse(&request.query_pairs) {
        Ok(query) => query,
        Err(reason) => return message(400, reason),
    };
    let state = sandbox.state();
    let Some(clinic) = state.practices.get(practice) else {
        return not_found();
    };
    let mut kept: Vec<&Map<String, Value>> = clinic
        .patients
        .values()
        .filter(|p| {
            let archived = p.get("membership_status") == Some(&json!("archived"));
            match query.archived {
                Archived::Excluded => !archived,
                Archived::Only => archived,
                Archived::Included => true,
            }
        })
        .filter(|p| query.keeps(p))
        .collect();
    query.sort(&mut kept);
    let page: Vec<Value> = kept
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .map(|p| Value::Object(p.clone()))
        .collect();
    let mut response = Response::json(200, json!(page));
    response.headers.push(("x-count", page.len().to_string()));
    response
}

/// What a caller may set on a patient (Hint's create and update bodies); the rest is Hint's.
const PATIENT_FIELDS: [&str; 32] = [
    "first_name",
    "last_name",
    "middle_name",
    "title",
    "suffix",
    "chosen_first_name",
    "chosen_last_name",
    "chosen_middle_name",
    "pronouns",
    "email",
    "sex",
    "gender",
    "gender_identity",
    "gender_other",
    "dob",
    "practitioner",
    "phones",
    "health_insurance_group_id",
    "health_insurance_member_id",
    "health_insurance_payer_name",
    "health_insurance_payer_id",
    "address_line1",
    "address_line2",
    "address_city",
    "address_state",
    "address_zip",
    "address_country",
    "external_link_id",
    "integration_record_id",
    "integration_error_message",
    "integration_web_link",
    "patient_agreement_accepted",
];

/// Fields the practice's own users set in Hint's screens, beyond what the API takes.
const PRACTICE_ONLY_FIELDS: [&str; 1] = ["hipaa_authorization_accepted"];

/// Checks `body` as Hint checks a create or update: known fields, names present, values of the
/// right shape. Answers the fields to set.
fn checked(
    clinic: &Practice,
    body: &Map<String, Value>,
    creating: bool,
    by_practice: bool,
) -> Result<Map<String, Value>, Response> {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut fields = Map::new();
    for (name, value) in body {
        let known =
            PATIENT_FIELDS.contains(&name.as_str()) || (by_practice && PRACTICE_ONLY_FIELDS.contains(&name.as_str()));
        if !known {
            errors
                .entry(name.clone())
                .or_default()
                .push("is not a patient attribute".into());
            continue;
        }
        let text = value.as_str().map(str::trim);
        let problem = match name.as_str() {
            "first_name" | "last_name" if text.is_none_or(str::is_empty) => Some("can't be blank"),
            "dob"
                if !value.is_null()
                    && text.is_none_or(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_err()) =>
            {
                Some("must be formatted as YYYY-MM-DD")
            }
            "email" if text.is_some_and(|t| !t.is_empty() && !t.contains('@')) => Some("is invalid"),
            "sex" if text.is_some_and(|t| !["", "male", "female", "intersex"].contains(&t)) => {
                Some("must be male, female or intersex")
            }
            "phones" if !phones_valid(value) => Some("must be a list of {number, type}"),
            "practitioner" if !value.is_null() => match value.get("id").and_then(Value::as_str) {
                Some(id) if clinic.practitioners.contains_key(id) => None,
                _ => Some("must name a practitioner of the practice by id"),
            },
            _ => None,
        };
        match problem {
            Some(problem) => errors.entry(name.clone()).or_default().push(problem.into()),
            None => {
                let value = match name.as_str() {
                    "practitioner" => value
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|id| clinic.practitioners.get(id))
                        .map_or(Value::Null, |p| Value::Object(p.clone())),
                    _ => value.clone(),
                };
                fields.insert(name.clone(), value);
            }
        }
    }
    if creating {
        for required in ["first_name", "last_name"] {
            if !body.contains_key(required) {
                errors.entry(required.into()).or_default().push("can't be blank".into());
            }
        }
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(Response::json(
            422,
            json!({"message": "Validation failed", "errors": errors}),
        ))
    }
}

fn phones_valid(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.iter().all(|item| {
            item.get("number").is_some_and(|n| n.is_string() || n.is_number())
                && item.get("type").is_some_and(Value::is_string)
        }),
        _ => false,
    }
}

/// A new patient as Hint stores one: every field the sandbox knows present, unset ones null.
fn new_patient(state: &mut State, fields: Map<String, Value>) -> Map<String, Value> {
    let id = format!("pat-{}", random_text(12));
    let now = state.now();
    let mut patient = Map::new();
    patient.insert("id".into(), json!(id));
    for field in PATIENT_FIELDS.iter().chain(&PRACTICE_ONLY_FIELDS) {
        let blank = match *field {
            "phones" => json!([]),
            "patient_agreement_accepted" | "hipaa_authorization_accepted" => json!(false),
            _ => Value::Null,
        };
        patient.insert((*field).into(), blank);
    }
    patient.insert("patient_agreement_accepted_at".into(), Value::Null);
    patient.insert("hipaa_authorization_accepted_at".into(), Value::Null);
    patient.insert("membership_status".into(), json!("active"));
    patient.insert("created_at".into(), json!(now));
    patient.insert(
        "provider_web_link".into(),
        json!(format!("https://app.hint.com/patients/{id}")),
    );
    set(state, &mut patient, fields);
    patient
}

/// Applies `fields`, stamping the consent times and `updated_at`, and derives `name`.
fn set(state: &mut State, patient: &mut Map<String, Value>, fields: Map<String, Value>) {
    let now = state.now();
    for consent in ["patient_agreement_accepted", "hipaa_authorization_accepted"] {
        if let Some(accepted) = fields.get(consent).and_then(Value::as_bool) {
            let was = patient.get(consent).and_then(Value::as_bool).unwrap_or(false);
            if accepted != was {
                let at = if accepted { json!(now) } else { Value::Null };
                patient.insert(format!("{consent}_at"), at);
            }
        }
    }
    patient.extend(fields);
    let name: Vec<&str> = ["first_name", "middle_name", "last_name"]
        .iter()
        .filter_map(|f| patient.get(*f).and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .collect();
    let name = name.join(" ");
    patient.insert("name".into(), json!(name));
    patient.insert("updated_at".into(), json!(now));
}

fn create(sandbox: &Sandbox, practice: &str, body: &Map<String, Value>) -> Response {
    let patient = {
        let mut state = sandbox.state();
        let Some(clinic) = state.practices.get(practice) else {
            return not_found();
        };
        let fields = match checked(clinic, body, true, false) {
            Ok(fields) => fields,
            Err(response) => return response,
        };
        let patient = new_patient(&mut state, fields);
        let id = patient["id"].as_str().unwrap_or_default().to_owned();
        if let Some(clinic) = state.practices.get_mut(practice) {
            clinic.patients.insert(id, patient.clone());
        }
        patient
    };
    announce(sandbox, practice, "patient.created", &patient);
    Response::json(200, Value::Object(patient))
}

fn update(sandbox: &Sandbox, practice: &str, id: &str, body: &Map<String, Value>) -> Response {
    change(sandbox, practice, id, |clinic| checked(clinic, body, false, false))
}

/// Changes patient `id` with the fields `check` gives, and tells every endpoint.
fn change(
    sandbox: &Sandbox,
    practice: &str,
    id: &str,
    check: impl FnOnce(&Practice) -> Result<Map<String, Value>, Response>,
) -> Response {
    let patient = {
        let mut guard = sandbox.state();
        let state = &mut *guard;
        let Some(clinic) = state.practices.get(practice) else {
            return not_found();
        };
        let Some(mut patient) = clinic.patients.get(id).cloned() else {
            return not_found();
        };
        let fields = match check(clinic) {
            Ok(fields) => fields,
            Err(response) => return response,
        };
        set(state, &mut patient, fields);
        if let Some(clinic) = state.practices.get_mut(practice) {
            clinic.patients.insert(id.to_owned(), patient.clone());
        }
        patient
    };
    announce(sandbox, practice, "patient.updated", &patient);
    Response::json(200, Value::Object(patient))
}

fn destroy(sandbox: &Sandbox, practice: &str, id: &str) -> Response {
    let removed = {
        let mut state = sandbox.state();
        state.practices.get_mut(practice).and_then(|c| c.patients.remove(id))
    };
    match removed {
        Some(patient) => {
            announce(sandbox, practice, "patient.destroyed", &patient);
            Response::empty(204)
        }
        None => not_found(),
    }
}

/// `POST /patients/matching`: patients with these names (and date of birth, e-mail and middle
/// name when given), compared exactly and case-insensitively.
fn matching(sandbox: &Sandbox, practice: &str, body: &Map<String, Value>) -> Response {
    let wanted = |field: &str| body.get(field).and_then(Value::as_str).map(|t| t.trim().to_lowercase());
    let (Some(first), Some(last)) = (wanted("first_name"), wanted("last_name")) else {
        return Response::json(
            422,
            json!({"message": "Validation failed", "errors": {"first_name": ["can't be blank"], "last_name": ["can't be blank"]}}),
        );
    };
    let state = sandbox.state();
    let Some(clinic) = state.practices.get(practice) else {
        return not_found();
    };
    let same = |patient: &Map<String, Value>, field: &str, want: &str| {
        patient
            .get(field)
            .and_then(Value::as_str)
            .is_some_and(|have| have.trim().to_lowercase() == want)
    };
    let found: Vec<Value> = clinic
        .patients
        .values()
        .filter(|p| same(p, "first_name", &first) && same(p, "last_name", &last))
        .filter(|p| {
            ["dob", "email", "middle_name"]
                .iter()
                .all(|f| wanted(f).is_none_or(|w| same(p, f, &w)))
        })
        .map(|p| Value::Object(p.clone()))
        .collect();
    Response::json(200, json!(found))
}

/// Sends `type` about `patient` to every webhook endpoint of the practice.
fn announce(sandbox: &Sandbox, practice: &str, kind: &str, patient: &Map<String, Value>) {
    let (key, endpoints) = {
        let state = sandbox.state();
        let Some(clinic) = state.practices.get(practice) else {
            return;
        };
        (
            clinic.signature_key.clone(),
            clinic.endpoints.values().cloned().collect::<Vec<_>>(),
        )
    };
    for target in endpoints {
        let event = format!("evt-{}", random_text(12));
        let body = json!({
            "id": event,
            "created_at": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "type": kind,
            "practice_id": practice,
            "object": patient,
        })
        .to_string()
        .into_bytes();
        let signature = sign(&key, &body);
        let (resource, action) = kind.split_once('.').unwrap_or((kind, ""));
        let delivery = Delivery {
            event,
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

/// The control plane: what a practice's users and the partner portal do, and what the sandbox
/// saw and sent.
fn control(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> Response {
    match (request.method.as_str(), rest) {
        ("POST", ["practices"]) => {
            let id = format!("pra-{}", random_text(12));
            let key = format!("sbx-{}", random_text(32));
            let signature_key = random_text(40);
            let mut state = sandbox.state();
            state.keys.insert(key.clone(), id.clone());
            state.practices.insert(
                id.clone(),
                Practice {
                    signature_key: signature_key.clone(),
                    ..Practice::default()
                },
            );
            Response::json(
                201,
                json!({"practice_id": id, "api_key": key, "webhook_signature_key": signature_key}),
            )
        }
        ("POST" | "DELETE", ["faults"]) => sandbox.state().faults.control(request),
        ("GET", ["requests"]) => Response::json(200, json!(sandbox.state().requests)),
        ("DELETE", ["requests"]) => {
            sandbox.state().requests.clear();
            Response::empty(204)
        }
        ("GET", ["deliveries"]) => Response::json(200, json!(sandbox.courier.all())),
        ("POST", ["deliveries", event, "redeliver"]) => match sandbox.courier.find(event) {
            // As Hint's retries do: the same event, body and signature again.
            Some(mut delivery) => {
                let (body, signature) = (delivery.body.clone(), delivery.signature.clone());
                delivery.attempts = Vec::new();
                delivery.delivered = false;
                sandbox.courier.send(delivery, body, signature);
                Response::json(202, json!({"id": event}))
            }
            None => not_found(),
        },
        (_, ["practices", practice, rest @ ..]) => practice_control(sandbox, request, practice, rest),
        _ => not_found(),
    }
}

/// What happens inside one practice: webhook endpoints (as set in Hint's partner portal),
/// practitioners, and patients as the practice's users add, edit, archive and delete them.
fn practice_control(sandbox: &Sandbox, request: &Request, practice: &str, rest: &[&str]) -> Response {
    if !sandbox.state().practices.contains_key(practice) {
        return not_found();
    }
    match (request.method.as_str(), rest) {
        ("POST", ["webhook_endpoints"]) => {
            let url = match request.object() {
                Ok(body) => body.get("webhook_url").and_then(Value::as_str).map(str::to_owned),
                Err(response) => return response,
            };
            let Some(url) = url.filter(|u| u.starts_with("http://") || u.starts_with("https://")) else {
                return message(422, "webhook_url must be an http(s) URL");
            };
            let id = format!("whe-{}", random_text(12));
            let mut state = sandbox.state();
            if let Some(clinic) = state.practices.get_mut(practice) {
                clinic.endpoints.insert(id.clone(), url.clone());
            }
            Response::json(201, json!({"id": id, "webhook_url": url}))
        }
        ("DELETE", ["webhook_endpoints", id]) => {
            let mut state = sandbox.state();
            match state.practices.get_mut(practice).and_then(|c| c.endpoints.remove(*id)) {
                Some(_) => Response::empty(204),
                None => not_found(),
            }
        }
        ("POST", ["practitioners"]) => {
            let body = match request.object() {
                Ok(body) => body,
                Err(response) => return response,
            };
            let id = format!("pct-{}", random_text(12));
            let mut state = sandbox.state();
            let now = state.now();
            let practitioner = json!({
                "id": id,
                "name": body.get("name").cloned().unwrap_or(json!("")),
                "email": body.get("email").cloned().unwrap_or(Value::Null),
                "created_at": now, "updated_at": now,
            });
            if let (Some(clinic), Value::Object(p)) = (state.practices.get_mut(practice), practitioner.clone()) {
                clinic.practitioners.insert(id, p);
            }
            Response::json(201, practitioner)
        }
        ("POST", ["patients"]) => {
            let bodies = match request.objects("patient") {
                Ok(bodies) => bodies,
                Err(response) => return response,
            };
            let mut created = Vec::new();
            for body in bodies {
                let patient = {
                    let mut state = sandbox.state();
                    let Some(clinic) = state.practices.get(practice) else {
                        return not_found();
                    };
                    let fields = match checked(clinic, &body, true, true) {
                        Ok(fields) => fields,
                        Err(response) => return response,
                    };
                    let patient = new_patient(&mut state, fields);
                    let id = patient["id"].as_str().unwrap_or_default().to_owned();
                    if let Some(clinic) = state.practices.get_mut(practice) {
                        clinic.patients.insert(id, patient.clone());
                    }
                    patient
                };
                announce(sandbox, practice, "patient.created", &patient);
                created.push(Value::Object(patient));
            }
            Response::created(created)
        }
        ("GET", ["patients"]) => {
            let state = sandbox.state();
            let all: Vec<&Map<String, Value>> = state
                .practices
                .get(practice)
                .map(|c| c.patients.values().collect())
                .unwrap_or_default();
            Response::json(200, json!(all))
        }
        ("GET", ["patients", id]) => {
            let state = sandbox.state();
            match state.practices.get(practice).and_then(|c| c.patients.get(*id)) {
                Some(patient) => Response::json(200, Value::Object(patient.clone())),
                None => not_found(),
            }
        }
        ("PATCH", ["patients", id]) => match request.object() {
            Ok(body) => change(sandbox, practice, id, |clinic| checked(clinic, &body, false, true)),
            Err(response) => response,
        },
        ("POST", ["patients", id, "archive"]) => change(sandbox, practice, id, |_| {
            Ok(Map::from_iter([("membership_status".to_owned(), json!("archived"))]))
        }),
        ("DELETE", ["patients", id]) => destroy(sandbox, practice, id),
        _ => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_hex_hmac_sha256_of_the_raw_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
