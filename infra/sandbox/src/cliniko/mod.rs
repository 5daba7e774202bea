//! Cliniko's API v1, as ../shared/VENDOR_APIS.md section 2 and `redguava/cliniko-api` describe it:
//!
//! - Served for every shard at `{base}/{shard}/v1/…`, standing in for
//!   `https://api.{shard}.cliniko.com/v1`: a key answers only on its own shard (the suffix after
//!   its last `-`, `au1` when it has none).
//! - HTTP Basic with the API key (with or without its shard suffix) as the user; a request whose
//!   `User-Agent` does not name an app and a contact e-mail (`APP_VENDOR_NAME
//!   (APP_VENDOR_EMAIL)`) is refused, as Cliniko says it may be.
//! - `GET /patients`, `/patients/archived`, `/patients/deleted` (only `deleted_at` and a link),
//!   `/patients/{id}`, `/practitioners`, `/practitioners/inactive`, `/practitioners/{id}`,
//!   `/users`, `/users/{id}`, `/individual_appointments` (neither cancelled nor deleted),
//!   `/individual_appointments/cancelled`, `/individual_appointments/deleted`,
//!   `/individual_appointments/{id}`: `page` and `per_page` (50 by default, at most 100),
//!   `total_entries`, `links` (`self`, and `next` and `previous` where they apply), `q`/`q[]`
//!   filters and `sort`/`order`.
//! - Patient, user and appointment ids are numbers and practitioner ids strings, as Cliniko's
//!   published examples send them; an appointment names its patient and practitioner by link.
//! - 200 requests a minute per key, then 429 with `X-RateLimit-Reset` (UNIX seconds).
//!
//! Each key belongs to one clinic's account, whose clients and practitioners it sees. The
//! control plane (`/_sandbox/…`) adds keys (each of a new account unless told otherwise), adds,
//! edits, archives and deletes clients, adds practitioners (each with the user account Cliniko
//! gives every practitioner) and books, moves, cancels and deletes appointments, as a clinic's
//! users would in Cliniko's own screens (`/_sandbox/accounts/{account}/…`, or the demo account without the prefix),
//! injects faults, lists the requests it answered and the most any key sent in one window.

mod filters;

use filters::Filterable;

use crate::faults::Faults;
use crate::http::{self, Handler, Request, Response};
use crate::random::random_text;
use crate::rate::Windows;
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

/// Cliniko's default page size.
pub const DEFAULT_PAGE: usize = 50;
/// Cliniko's page size cap.
pub const MAX_PAGE: usize = 100;
/// Cliniko's rate limit: requests per key in one window.
pub const RATE_LIMIT: u32 = 200;
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The key the local stack registers, on shard `au2`, so a developer can connect carebridge to
/// the sandbox.
pub const DEMO_KEY: &str = "MS0xLWNhcmVicmlkZ2UtbG9jYWwtc2FuZGJveA-au2";

/// How a sandbox starts.
#[derive(Debug, Clone)]
pub struct Config {
    /// API keys known from the start.
    pub keys: Vec<String>,
    /// Requests a key may send in one `rate_window`.
    pub rate_limit: u32,
    pub rate_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            keys: Vec::new(),
            rate_limit: RATE_LIMIT,
            rate_window: RATE_WINDOW,
        }
    }
}

/// The shard a key lives on: its suffix after the last `-` when that is a shard name, else `au1`.
pub fn shard_of(key: &str) -> &str {
    match key.rsplit_once('-') {
        Some((_, shard)) if is_shard(shard) => shard,
        _ => "au1",
    }
}

/// Two letters and one or two digits, as Cliniko advises checking.
pub fn is_shard(text: &str) -> bool {
    let bytes = text.as_bytes();
    (3..=4).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_alphabetic)
        && bytes[2..].iter().all(u8::is_ascii_digit)
}

/// A key without its shard suffix, as Cliniko also accepts it.
fn bare(key: &str) -> &str {
    match key.rsplit_once('-') {
        Some((bare, shard)) if is_shard(shard) => bare,
        _ => key,
    }
}

/// One API request the sandbox answered.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The query as sent, decoded.
    pub query: Vec<(String, String)>,
    /// A fingerprint of the key it used (never the key), if it named a known one.
    pub key: Option<String>,
    /// The clinic's account that key belongs to.
    pub account: Option<String>,
    pub status: u16,
    pub at: String,
}

/// One clinic's Cliniko account: its clients, practitioners, users and appointments, seen by
/// every key of its users.
#[derive(Default)]
struct Account {
    patients: BTreeMap<u64, Map<String, Value>>,
    practitioners: BTreeMap<u64, Map<String, Value>>,
    users: BTreeMap<u64, Map<String, Value>>,
    appointments: BTreeMap<u64, Map<String, Value>>,
}

/// The account the keys given at start-up belong to, and the one the control plane's
/// unscoped paths (`/_sandbox/patients`, …) act on.
pub const DEMO_ACCOUNT: &str = "demo";

struct State {
    /// Every key, with the account whose user made it.
    keys: Vec<(String, String)>,
    accounts: BTreeMap<String, Account>,
    windows: Windows,
    faults: Faults,
    requests: Vec<Seen>,
    next_id: u64,
    /// The latest change time handed out, so each change is strictly later than the last.
    clock: DateTime<Utc>,
}

impl State {
    fn new_id(&mut self) -> u64 {
        // Cliniko's ids are large int64s; these look alike and never repeat.
        self.next_id += 1;
        1_000_000_000_000_000 + self.next_id * 7_919
    }

    fn now(&mut self) -> String {
        // Microseconds, so a clinic adding a thousand clients at once does not push the
        // sandbox's clock ahead of the real one.
        let now = Utc::now().max(self.clock + chrono::Duration::microseconds(1));
        self.clock = now;
        now.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    /// The known key `given` names (with or without its suffix), when it is used on its shard,
    /// and its account.
    fn key(&self, given: &str, shard: &str) -> Option<(String, String)> {
        self.keys
            .iter()
            .find(|(known, _)| (known.as_str() == given || bare(known) == given) && shard_of(known) == shard)
            .cloned()
    }

    fn account(&mut self, name: &str) -> &mut Account {
        self.accounts.entry(name.to_owned()).or_default()
    }

    /// Counts a request of `key` in its window: the UNIX second the window resets if it is full
    /// (rounded up, so waiting until then is always enough).
    fn admit(&mut self, key: &str) -> Result<(), i64> {
        self.windows
            .admit(key)
            .map_err(|reset| reset.timestamp() + i64::from(reset.timestamp_subsec_nanos() > 0))
    }
}

/// The running sandbox's shared parts.
struct Sandbox {
    state: Mutex<State>,
    base_url: String,
}

impl Sandbox {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Starts a Cliniko sandbox on `listener` (bind port 0 for a free one). Its API for a shard is at
/// `{base_url}/{shard}/v1`.
pub fn start(listener: TcpListener, config: Config) -> std::io::Result<http::Running> {
    let address = listener.local_addr()?;
    let (stop, _) = watch::channel(false);
    let sandbox = Arc::new(Sandbox {
        state: Mutex::new(State {
            keys: config
                .keys
                .into_iter()
                .map(|key| (key, DEMO_ACCOUNT.to_owned()))
                .collect(),
            accounts: BTreeMap::from([(DEMO_ACCOUNT.to_owned(), Account::default())]),
            windows: Windows::new(config.rate_limit, config.rate_window),
            faults: Faults::default(),
            requests: Vec::new(),
            next_id: 0,
            clock: DateTime::<Utc>::MIN_UTC,
        }),
        base_url: format!("http://{address}"),
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
        [shard, "v1", rest @ ..] if is_shard(shard) => {
            let (known, response) = api(sandbox, &request, shard, rest).await;
            let (key, account) = known.unzip();
            let mut state = sandbox.state();
            let at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
            state.requests.push(Seen {
                method: request.method.clone(),
                path: request.path.clone(),
                query: request.query_pairs.clone(),
                key: key.as_deref().map(fingerprint),
                account,
                status: response.status,
                at,
            });
            response
        }
        _ => not_found(),
    }
}

/// A key's stand-in in the request log: the same for one key, different between keys.
pub fn fingerprint(key: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Whether a `User-Agent` names an app and a contact e-mail: `Name (someone@example.com)`.
pub fn identifies_an_app(user_agent: &str) -> bool {
    let Some((name, rest)) = user_agent.trim().split_once('(') else {
        return false;
    };
    let Some(email) = rest.strip_suffix(')') else {
        return false;
    };
    let email = email.trim();
    let valid_email = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    };
    !name.trim().is_empty() && valid_email
}

/// The vendor API: who is asking (the key they used, for the log), then faults, the rate limit
/// and the answer.
/// Who asked: the key it used and that key's account.
type Asker = Option<(String, String)>;

async fn api(sandbox: &Sandbox, request: &Request, shard: &str, rest: &[&str]) -> (Asker, Response) {
    let given = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .map(|pair| pair.split_once(':').map_or(pair.clone(), |(user, _)| user.to_owned()));
    let known = given.as_deref().and_then(|given| sandbox.state().key(given, shard));
    let Some((key, account)) = known else {
        // Cliniko documents no error body; a short message is what its API answers with. [I]
        return (
            None,
            message(401, "Unauthorized: the API key is not valid for this shard"),
        );
    };
    if !request.header("user-agent").is_some_and(identifies_an_app) {
        return (
            Some((key, account)),
            message(
                403,
                "Requests must identify the application in User-Agent as APP_VENDOR_NAME (APP_VENDOR_EMAIL)",
            ),
        );
    }
    if let Err(reset) = sandbox.state().admit(&key) {
        let mut response = message(429, "Too many requests");
        response.headers.push(("x-ratelimit-reset", reset.to_string()));
        return (Some((key.clone(), account.clone())), response);
    }
    let fault = sandbox.state().faults.take(&request.path);
    if let Some(fault) = fault {
        match fault.kind.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(fault.delay_ms.unwrap_or(2_000))).await,
            "malformed" => {
                return (
                    Some((key.clone(), account.clone())),
                    Response::raw(200, "{\"patients\": [{\"id\": "),
                );
            }
            // Cliniko acts on the request, but its answer never reaches the caller.
            "lost_answer" => {
                answer(sandbox, request, shard, &account, rest);
                return (Some((key.clone(), account.clone())), message(502, "Bad Gateway"));
            }
            _ => {
                let status = fault.status.unwrap_or(500);
                let mut response = message(status, "Something went wrong");
                if status == 429 {
                    let reset = Utc::now().timestamp() + 1;
                    response.headers.push(("x-ratelimit-reset", reset.to_string()));
                }
                return (Some((key.clone(), account.clone())), response);
            }
        }
    }
    (
        Some((key.clone(), account.clone())),
        answer(sandbox, request, shard, &account, rest),
    )
}

fn answer(sandbox: &Sandbox, request: &Request, shard: &str, account: &str, rest: &[&str]) -> Response {
    if request.method != "GET" {
        return message(405, format!("{} is not allowed here", request.method));
    }
    let base = format!("{}/{shard}/v1", sandbox.base_url);
    let mut guard = sandbox.state();
    let state = guard.account(account);
    match rest {
        ["patients"] => list(
            request,
            &base,
            ("patients", &filters::PATIENTS),
            state.patients.values().filter(|p| is_live(p)).collect(),
        ),
        ["patients", "archived"] => list(
            request,
            &base,
            ("patients", &filters::PATIENTS),
            state
                .patients
                .values()
                .filter(|p| is_set(p, "archived_at") && !is_set(p, "deleted_at"))
                .collect(),
        ),
        ["patients", "deleted"] => {
            let deleted: Vec<&Map<String, Value>> =
                state.patients.values().filter(|p| is_set(p, "deleted_at")).collect();
            let mut response = list(request, &base, ("patients", &filters::PATIENTS), deleted);
            // Cliniko answers a deleted patient with only when it was deleted and its link.
            if response.status == 200
                && let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&response.body)
            {
                if let Some(Value::Array(patients)) = body.get_mut("patients") {
                    for patient in patients.iter_mut() {
                        *patient = json!({"deleted_at": patient["deleted_at"], "links": patient["links"]});
                    }
                }
                response = Response::json(200, Value::Object(body));
            }
            response
        }
        ["patients", id] => match id.parse::<u64>().ok().and_then(|id| state.patients.get(&id)) {
            Some(patient) if !is_set(patient, "deleted_at") => Response::json(200, Value::Object(patient.clone())),
            _ => not_found(),
        },
        ["practitioners"] => list(
            request,
            &base,
            ("practitioners", &filters::USERS),
            state
                .practitioners
                .values()
                .filter(|p| p.get("active") != Some(&json!(false)))
                .collect(),
        ),
        ["practitioners", "inactive"] => list(
            request,
            &base,
            ("practitioners", &filters::USERS),
            state
                .practitioners
                .values()
                .filter(|p| p.get("active") == Some(&json!(false)))
                .collect(),
        ),
        ["practitioners", id] => stored(&state.practitioners, id),
        ["users"] => list(
            request,
            &base,
            ("users", &filters::USERS),
            state.users.values().collect(),
        ),
        ["users", id] => stored(&state.users, id),
        ["individual_appointments"] => appointments(request, &base, state, |a| {
            !is_set(a, "cancelled_at") && !is_set(a, "deleted_at")
        }),
        ["individual_appointments", "cancelled"] => appointments(request, &base, state, |a| {
            is_set(a, "cancelled_at") && !is_set(a, "deleted_at")
        }),
        ["individual_appointments", "deleted"] => appointments(request, &base, state, |a| is_set(a, "deleted_at")),
        ["individual_appointments", id] => match id.parse::<u64>().ok().and_then(|id| state.appointments.get(&id)) {
            Some(appointment) if !is_set(appointment, "deleted_at") => {
                Response::json(200, Value::Object(appointment.clone()))
            }
            _ => not_found(),
        },
        _ => not_found(),
    }
}

/// One of the individual appointment lists: those `keep` takes.
fn appointments(
    request: &Request,
    base: &str,
    state: &Account,
    keep: impl Fn(&Map<String, Value>) -> bool,
) -> Response {
    let kept = state.appointments.values().filter(|a| keep(a)).collect();
    list(request, base, ("individual_appointments", &filters::APPOINTMENTS), kept)
}

fn is_set(record: &Map<String, Value>, field: &str) -> bool {
    record.get(field).and_then(Value::as_str).is_some_and(|t| !t.is_empty())
}

fn is_live(patient: &Map<String, Value>) -> bool {
    !is_set(patient, "archived_at") && !is_set(patient, "deleted_at")
}

/// One page of `records` under `name`, filtered (by the fields `filterable` names) and ordered
/// as the query asks.
fn list(
    request: &Request,
    base: &str,
    (name, filterable): (&str, &Filterable),
    records: Vec<&Map<String, Value>>,
) -> Response {
    let filters = match filters::parse(&request.query_pairs, filterable) {
        Ok(filters) => filters,
        Err(reason) => return message(400, reason),
    };
    let number = |param: &str, default: usize| match request.query.get(param) {
        None => Ok(default),
        Some(text) => text.parse::<usize>().ok().filter(|n| *n >= 1).ok_or(param.to_owned()),
    };
    let (page, per_page) = match (number("page", 1), number("per_page", DEFAULT_PAGE)) {
        (Ok(page), Ok(per_page)) if per_page <= MAX_PAGE => (page, per_page),
        (Ok(_), Ok(_)) => return message(400, format!("per_page must be at most {MAX_PAGE}")),
        (Err(param), _) | (_, Err(param)) => return message(400, format!("{param} must be a whole number from 1")),
    };
    let mut kept: Vec<&Map<String, Value>> = records
        .into_iter()
        .filter(|record| filters.iter().all(|f| f.keeps(record)))
        .collect();
    let (sort, order) = (request.query.get("sort"), request.query.get("order"));
    if let Err(reason) = filters::sort(&mut kept, sort.map(String::as_str), order.map(String::as_str)) {
        return message(400, reason);
    }
    let total = kept.len();
    let start = (page - 1).saturating_mul(per_page).min(total);
    let items: Vec<Value> = kept[start..(start + per_page).min(total)]
        .iter()
        .map(|record| Value::Object((*record).clone()))
        .collect();
    let path = request.path.rsplit_once("/v1").map_or("", |(_, path)| path);
    let link = |page: usize| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in request
            .query_pairs
            .iter()
            .filter(|(n, _)| n != "page" && n != "per_page")
        {
            query.append_pair(name, value);
        }
        query.append_pair("page", &page.to_string());
        query.append_pair("per_page", &per_page.to_string());
        format!("{base}{path}?{}", query.finish())
    };
    let mut links = json!({"self": link(page)});
    if start + per_page < total {
        links["next"] = json!(link(page + 1));
    }
    if page > 1 {
        links["previous"] = json!(link(page - 1));
    }
    Response::json(200, json!({name: items, "total_entries": total, "links": links}))
}

/// The fields a clinic's user can set on a client in Cliniko's screens (and this sandbox's
/// control plane); everything else is Cliniko's own.
const PATIENT_FIELDS: [&str; 26] = [
    "title",
    "first_name",
    "last_name",
    "preferred_first_name",
    "date_of_birth",
    "sex",
    "gender_identity",
    "pronouns",
    "email",
    "patient_phone_numbers",
    "address_1",
    "address_2",
    "address_3",
    "city",
    "state",
    "post_code",
    "country",
    "country_code",
    "time_zone",
    "notes",
    "occupation",
    "emergency_contact",
    "old_reference_id",
    "accepted_privacy_policy",
    "reminder_type",
    "custom_fields",
];

/// Cliniko's practitioner fields, and `email` for the user account made with one.
const PRACTITIONER_FIELDS: [&str; 8] = [
    "title",
    "first_name",
    "last_name",
    "designation",
    "description",
    "label",
    "active",
    "email",
];

/// A body's fields as a clinic's user sets them; anything else is named.
fn user_fields(body: &Map<String, Value>, allowed: &[&str]) -> Result<Map<String, Value>, Response> {
    let unknown: Vec<&String> = body.keys().filter(|k| !allowed.contains(&k.as_str())).collect();
    if !unknown.is_empty() {
        return Err(message(400, format!("unknown fields: {unknown:?}")));
    }
    Ok(body.clone())
}

/// A new client as Cliniko stores one: every documented field present, unset ones blank.
fn new_patient(state: &mut State, base: &str, fields: Map<String, Value>) -> Map<String, Value> {
    let id = state.new_id();
    let now = state.now();
    let mut patient = Map::new();
    for field in PATIENT_FIELDS {
        let blank = match field {
            "patient_phone_numbers" => json!([]),
            "accepted_privacy_policy" | "pronouns" | "time_zone" | "custom_fields" | "date_of_birth" => Value::Null,
            _ => json!(""),
        };
        patient.insert(field.into(), blank);
    }
    patient.extend(fields);
    patient.insert("id".into(), json!(id));
    patient.insert("label".into(), json!(label(&patient)));
    patient.insert("created_at".into(), json!(now));
    patient.insert("updated_at".into(), json!(now));
    patient.insert("archived_at".into(), Value::Null);
    patient.insert("deleted_at".into(), Value::Null);
    patient.insert("merged_at".into(), Value::Null);
    patient.insert("links".into(), json!({"self": format!("{base}/patients/{id}")}));
    patient
}

fn label(record: &Map<String, Value>) -> String {
    let part = |field: &str| {
        record
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    [part("first_name"), part("last_name")]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The control plane: what a clinic's users do in Cliniko, and what the sandbox saw.
fn control(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> Response {
    match (request.method.as_str(), rest) {
        ("POST", ["keys"]) => {
            let body = request.object().unwrap_or_default();
            let shard = body.get("shard").and_then(Value::as_str).unwrap_or("au1");
            if !is_shard(shard) {
                return message(400, format!("{shard:?} is not a shard"));
            }
            let key = match body.get("key").and_then(Value::as_str) {
                Some(key) => key.to_owned(),
                None => format!("{}-{shard}", random_text(32)),
            };
            // A key of a new clinic's account, unless it names one.
            let account = match body.get("account").and_then(Value::as_str) {
                Some(account) => account.to_owned(),
                None => random_text(12).to_lowercase(),
            };
            let mut state = sandbox.state();
            state.account(&account);
            state.keys.push((key.clone(), account.clone()));
            Response::json(
                201,
                json!({"api_key": key, "shard": shard_of(&key), "account": account}),
            )
        }
        ("POST" | "DELETE", ["faults"]) => sandbox.state().faults.control(request),
        ("GET", ["requests"]) => Response::json(200, json!(sandbox.state().requests)),
        ("DELETE", ["requests"]) => {
            sandbox.state().requests.clear();
            Response::empty(204)
        }
        ("GET", ["rate"]) => {
            let window_ms = request
                .query
                .get("window_ms")
                .and_then(|w| w.parse::<i64>().ok())
                .unwrap_or(RATE_WINDOW.as_millis() as i64);
            Response::json(200, busiest_windows(&sandbox.state().requests, window_ms))
        }
        (_, ["accounts", account, rest @ ..]) => clinic(sandbox, request, account, rest),
        (_, rest) => clinic(sandbox, request, DEMO_ACCOUNT, rest),
    }
}

/// What a clinic's users do in their account: add, edit, archive and delete clients, add
/// practitioners, and read back what is stored.
fn clinic(sandbox: &Sandbox, request: &Request, account: &str, rest: &[&str]) -> Response {
    // Links in stored records name the demo shard's address; carebridge reads ids, not links.
    let base = format!("{}/au1/v1", sandbox.base_url);
    match (request.method.as_str(), rest) {
        ("POST", ["patients"]) => {
            // One client, or a list of them (a clinic importing its client list).
            let bodies = match request.objects("client") {
                Ok(bodies) => bodies,
                Err(response) => return response,
            };
            let mut guard = sandbox.state();
            let mut created = Vec::new();
            for body in bodies {
                let fields = match user_fields(&body, &PATIENT_FIELDS) {
                    Ok(fields) => fields,
                    Err(response) => return response,
                };
                let patient = new_patient(&mut guard, &base, fields);
                let id = patient["id"].as_u64().unwrap_or_default();
                guard.account(account).patients.insert(id, patient.clone());
                created.push(Value::Object(patient));
            }
            Response::created(created)
        }
        ("GET", ["patients"]) => {
            let mut state = sandbox.state();
            Response::json(200, json!(state.account(account).patients.values().collect::<Vec<_>>()))
        }
        ("GET", ["patients", id]) => stored(&sandbox.state().account(account).patients, id),
        ("PATCH", ["patients", id]) => {
            let fields = match request.object().and_then(|body| user_fields(&body, &PATIENT_FIELDS)) {
                Ok(fields) => fields,
                Err(response) => return response,
            };
            change(sandbox, account, id, |patient| {
                patient.extend(fields);
                patient.insert("label".into(), json!(label(patient)));
                Ok(())
            })
        }
        ("POST", ["patients", id, "archive"]) => change(sandbox, account, id, |patient| {
            let now = Value::String(String::new());
            patient.insert("archived_at".into(), now);
            Ok(())
        }),
        ("POST", ["patients", id, "unarchive"]) => change(sandbox, account, id, |patient| {
            patient.insert("archived_at".into(), Value::Null);
            Ok(())
        }),
        ("DELETE", ["patients", id]) => change(sandbox, account, id, |patient| {
            patient.insert("deleted_at".into(), Value::String(String::new()));
            Ok(())
        }),
        ("POST", ["practitioners"]) => {
            let mut fields = match request
                .object()
                .and_then(|body| user_fields(&body, &PRACTITIONER_FIELDS))
            {
                Ok(fields) => fields,
                Err(response) => return response,
            };
            // Every practitioner has a user account, which holds the e-mail they sign in with.
            let email = fields.remove("email").unwrap_or(json!(""));
            let mut guard = sandbox.state();
            let user_id = guard.new_id();
            let id = guard.new_id();
            let now = guard.now();
            let mut user = Map::new();
            for field in ["title", "first_name", "last_name"] {
                user.insert(field.into(), fields.get(field).cloned().unwrap_or(json!("")));
            }
            user.insert("id".into(), json!(user_id));
            user.insert("email".into(), email);
            user.insert("role".into(), json!("practitioner"));
            user.insert("user_active".into(), json!(true));
            user.insert("created_at".into(), json!(now));
            user.insert("updated_at".into(), json!(now));
            user.insert("links".into(), json!({"self": format!("{base}/users/{user_id}")}));
            guard.account(account).users.insert(user_id, user);
            let mut practitioner = Map::new();
            practitioner.insert("active".into(), json!(true));
            practitioner.extend(fields);
            practitioner.insert(
                "user".into(),
                json!({"links": {"self": format!("{base}/users/{user_id}")}}),
            );
            // Cliniko's published practitioner examples send the id as a string.
            practitioner.insert("id".into(), json!(id.to_string()));
            if !practitioner.contains_key("label") {
                practitioner.insert("label".into(), json!(label(&practitioner)));
            }
            practitioner.insert("created_at".into(), json!(now));
            practitioner.insert("updated_at".into(), json!(now));
            practitioner.insert("links".into(), json!({"self": format!("{base}/practitioners/{id}")}));
            guard.account(account).practitioners.insert(id, practitioner.clone());
            Response::json(201, Value::Object(practitioner))
        }
        ("GET", ["users"]) => {
            let mut state = sandbox.state();
            Response::json(200, json!(state.account(account).users.values().collect::<Vec<_>>()))
        }
        ("POST", ["appointments"]) => {
            let body = match request.object() {
                Ok(body) => body,
                Err(response) => return response,
            };
            book(sandbox, account, &base, &body)
        }
        ("PATCH", ["appointments", id]) => {
            let body = match request.object() {
                Ok(body) => body,
                Err(response) => return response,
            };
            reschedule(sandbox, account, &base, id, &body)
        }
        ("POST", ["appointments", id, "cancel"]) => stamp_appointment(sandbox, account, id, "cancelled_at"),
        ("DELETE", ["appointments", id]) => stamp_appointment(sandbox, account, id, "deleted_at"),
        _ => not_found(),
    }
}

/// What a clinic's user may say about an appointment: who, with whom, when, and whether the
/// client came.
const APPOINTMENT_FIELDS: [&str; 5] = [
    "patient_id",
    "practitioner_id",
    "starts_at",
    "ends_at",
    "did_not_arrive",
];

/// Books an individual appointment of a client with a practitioner, both of the account.
fn book(sandbox: &Sandbox, account: &str, base: &str, body: &Map<String, Value>) -> Response {
    if let Err(response) = user_fields(body, &APPOINTMENT_FIELDS) {
        return response;
    }
    let mut guard = sandbox.state();
    let id = guard.new_id();
    let now = guard.now();
    let mut appointment = Map::new();
    appointment.insert("id".into(), json!(id));
    appointment.insert("created_at".into(), json!(now));
    for field in [
        "cancelled_at",
        "deleted_at",
        "archived_at",
        "notes",
        "cancellation_note",
    ] {
        appointment.insert(field.into(), Value::Null);
    }
    appointment.insert("did_not_arrive".into(), json!(false));
    appointment.insert("patient_arrived".into(), json!(false));
    appointment.insert(
        "links".into(),
        json!({"self": format!("{base}/individual_appointments/{id}")}),
    );
    if let Err(response) = set_appointment(guard.account(account), base, &mut appointment, body) {
        return response;
    }
    if !appointment.contains_key("patient") || !appointment.contains_key("practitioner") {
        return message(400, "an appointment needs a patient_id and a practitioner_id");
    }
    if !appointment.contains_key("starts_at") {
        return message(400, "an appointment needs starts_at");
    }
    appointment.insert("updated_at".into(), json!(now));
    guard.account(account).appointments.insert(id, appointment.clone());
    Response::json(201, Value::Object(appointment))
}

/// Moves an appointment, gives it to another practitioner, or marks that the client did not come.
fn reschedule(sandbox: &Sandbox, account: &str, base: &str, id: &str, body: &Map<String, Value>) -> Response {
    if let Err(response) = user_fields(body, &APPOINTMENT_FIELDS) {
        return response;
    }
    let mut guard = sandbox.state();
    let now = guard.now();
    let clinic = guard.account(account);
    let Some(mut appointment) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| clinic.appointments.get(&id))
        .cloned()
    else {
        return not_found();
    };
    if let Err(response) = set_appointment(clinic, base, &mut appointment, body) {
        return response;
    }
    appointment.insert("updated_at".into(), json!(now));
    let id = appointment["id"].as_u64().unwrap_or_default();
    clinic.appointments.insert(id, appointment.clone());
    Response::json(200, Value::Object(appointment))
}

/// Sets what `body` says on `appointment`: its client and practitioner (by id, stored as links,
/// as Cliniko sends them), times and attendance.
fn set_appointment(
    clinic: &Account,
    base: &str,
    appointment: &mut Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), Response> {
    let id_of = |field: &str| -> Result<Option<u64>, Response> {
        match body.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| message(400, format!("{field} must be an id"))),
            Some(Value::String(s)) => s
                .parse()
                .map(Some)
                .map_err(|_| message(400, format!("{field} must be an id"))),
            Some(_) => Err(message(400, format!("{field} must be an id"))),
        }
    };
    if let Some(patient) = id_of("patient_id")? {
        let Some(record) = clinic.patients.get(&patient) else {
            return Err(message(400, format!("no patient {patient} in this account")));
        };
        appointment.insert(
            "patient".into(),
            json!({"links": {"self": format!("{base}/patients/{patient}")}}),
        );
        appointment.insert("patient_name".into(), json!(label(record)));
    }
    if let Some(practitioner) = id_of("practitioner_id")? {
        if !clinic.practitioners.contains_key(&practitioner) {
            return Err(message(400, format!("no practitioner {practitioner} in this account")));
        }
        appointment.insert(
            "practitioner".into(),
            json!({"links": {"self": format!("{base}/practitioners/{practitioner}")}}),
        );
    }
    for field in ["starts_at", "ends_at"] {
        if let Some(value) = body.get(field) {
            let Some(time) = value.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else {
                return Err(message(
                    400,
                    format!("{field} must be a UTC time such as 2024-03-01T09:00:00Z"),
                ));
            };
            let time = time.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::Secs, true);
            appointment.insert(field.into(), json!(time));
        }
    }
    if let Some(value) = body.get("did_not_arrive") {
        let Some(flag) = value.as_bool() else {
            return Err(message(400, "did_not_arrive must be true or false"));
        };
        appointment.insert("did_not_arrive".into(), json!(flag));
    }
    Ok(())
}

/// Cancels or deletes an appointment: `stamp` is set to now, and so is `updated_at`.
fn stamp_appointment(sandbox: &Sandbox, account: &str, id: &str, stamp: &str) -> Response {
    let mut guard = sandbox.state();
    let now = guard.now();
    let clinic = guard.account(account);
    let Some(appointment) = id.parse::<u64>().ok().and_then(|id| clinic.appointments.get_mut(&id)) else {
        return not_found();
    };
    appointment.insert(stamp.into(), json!(now));
    appointment.insert("updated_at".into(), json!(now));
    Response::json(200, Value::Object(appointment.clone()))
}

/// Per key, the most requests it sent within any `window_ms` (a sliding window over the log).
fn busiest_windows(requests: &[Seen], window_ms: i64) -> Value {
    let mut times: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for seen in requests {
        if let (Some(key), Ok(at)) = (&seen.key, DateTime::parse_from_rfc3339(&seen.at)) {
            times.entry(key).or_default().push(at.timestamp_millis());
        }
    }
    let busiest: Map<String, Value> = times
        .into_iter()
        .map(|(key, mut at)| {
            at.sort_unstable();
            let mut most = 0;
            let mut first = 0;
            for last in 0..at.len() {
                while at[last] - at[first] >= window_ms {
                    first += 1;
                }
                most = most.max(last - first + 1);
            }
            (key.to_owned(), json!(most))
        })
        .collect();
    json!({"window_ms": window_ms, "most_requests_by_key": busiest})
}

fn stored(records: &BTreeMap<u64, Map<String, Value>>, id: &str) -> Response {
    match id.parse::<u64>().ok().and_then(|id| records.get(&id)) {
        Some(record) => Response::json(200, Value::Object(record.clone())),
        None => not_found(),
    }
}

/// Applies a clinic user's change to a client and stamps it (`updated_at`, and the time for
/// `archived_at` or `deleted_at` when `apply` set one blank to mean "now").
fn change(
    sandbox: &Sandbox,
    account: &str,
    id: &str,
    apply: impl FnOnce(&mut Map<String, Value>) -> Result<(), Response>,
) -> Response {
    let mut state = sandbox.state();
    let Some(id) = id
        .parse::<u64>()
        .ok()
        .filter(|id| state.account(account).patients.contains_key(id))
    else {
        return not_found();
    };
    let now = state.now();
    let Some(patient) = state.account(account).patients.get_mut(&id) else {
        return not_found();
    };
    if let Err(response) = apply(patient) {
        return response;
    }
    for stamp in ["archived_at", "deleted_at"] {
        if patient.get(stamp) == Some(&json!("")) {
            patient.insert(stamp.into(), json!(now));
        }
    }
    patient.insert("updated_at".into(), json!(now));
    Response::json(200, Value::Object(patient.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_shard_is_its_suffix_or_au1() {
        assert_eq!(shard_of("MS0xLWl4SzYYYYdtR3V2HNOTAREALKEYwvNHdeW0pd-au2"), "au2");
        assert_eq!(shard_of("MS0xLWl4SzYYYYdtR3V2HNOTAREALKEYwvNHdeW0pd"), "au1");
        assert_eq!(shard_of("abc-uk1"), "uk1");
        assert_eq!(shard_of("abc-notashard"), "au1");
        assert_eq!(bare("abc-def-ca1"), "abc-def");
    }

    #[test]
    fn a_user_agent_must_name_an_app_and_a_contact_email() {
        assert!(identifies_an_app("Really helpful app (devs@helpfulapp.com)"));
        assert!(identifies_an_app("carebridge (ops@carebridge.example)"));
        assert!(!identifies_an_app("reqwest/0.12"));
        assert!(!identifies_an_app("(devs@helpfulapp.com)"));
        assert!(!identifies_an_app("app (not an email)"));
        assert!(!identifies_an_app("app (devs@localhost)"));
    }

    #[test]
    fn the_busiest_window_is_counted_over_any_stretch_of_that_length() {
        let seen = |ms: i64| Seen {
            method: "GET".into(),
            path: "/au1/v1/patients".into(),
            query: Vec::new(),
            key: Some("abcd".into()),
            account: Some(DEMO_ACCOUNT.into()),
            status: 200,
            at: (DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms))
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        };
        let log: Vec<Seen> = [0, 10, 990, 1_000, 1_500, 2_400].into_iter().map(seen).collect();
        let busiest = busiest_windows(&log, 1_000);
        assert_eq!(busiest["most_requests_by_key"]["abcd"], 3);
    }
}
