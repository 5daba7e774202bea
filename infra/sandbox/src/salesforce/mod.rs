//! Salesforce's REST API for Contacts, as ../shared/VENDOR_APIS.md section 4 describes it, for
//! orgs served at `{base}/{org}` (each standing in for `https://{org}.my.salesforce.com`):
//!
//! - `POST /{org}/services/oauth2/token`: `client_credentials` (the connected app's consumer key
//!   and secret, in the form or as HTTP Basic) and the JWT bearer flow (`assertion`: RS256 with
//!   the key whose certificate the app holds; `iss` the consumer key, `sub` the user, `aud`
//!   `https://login.salesforce.com`, `https://test.salesforce.com` or the My Domain URL, `exp`
//!   within three minutes). Both answer `{access_token, instance_url, id, token_type, issued_at,
//!   scope}`; errors are `{error, error_description}`.
//! - `/{org}/services/data/vXX.X/`: `query?q=` ([`soql`]) with `nextRecordsUrl` pages of
//!   `batch_size`; `sobjects/Contact` (POST 201 `{id, success, errors}`), `sobjects/Contact/{id}`
//!   (GET, PATCH 204, DELETE 204), `sobjects/Contact/updated/?start=&end=` (`{ids,
//!   latestDateCovered}`, whole minutes, at most 30 days back) and `…/deleted/`;
//!   `composite/sobjects` (POST creates, PATCH updates, at most 200 records, `allOrNone`, one
//!   result per record in order, `{id?, success, errors[{statusCode, message, fields}]}`).
//! - Errors are arrays of `{message, errorCode, fields}`; an expired or unknown token is 401
//!   `INVALID_SESSION_ID`; every answer carries `Sforce-Limit-Info: api-usage=<used>/<limit>`,
//!   and past the daily limit calls get 403 `REQUEST_LIMIT_EXCEEDED`.
//!
//! The control plane (`/_sandbox/…`) adds orgs (each with a connected app, a user and an
//! account), JWT apps with a certificate, accounts and contacts; edits and deletes contacts as
//! the org's users would (moving `LastModifiedDate` and `SystemModstamp`); expires every token;
//! injects faults; lists the requests it answered.

mod contacts;
mod soql;

use crate::faults::Faults;
use crate::http::{self, Handler, Request, Response};
use crate::random::random_text;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration as Span, DurationRound, Utc};
use contacts::{error, parse_salesforce_time, salesforce_time};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The most records one `composite/sobjects` call takes.
pub const COLLECTION_LIMIT: usize = 200;
/// Records per query page, as Salesforce's default batch.
pub const QUERY_BATCH: usize = 2_000;

/// A connected app of an org, with the user its tokens act as.
#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
    pub username: String,
    /// The PEM public key of the certificate uploaded for the JWT bearer flow, if any.
    #[serde(skip)]
    pub public_key_pem: Option<String>,
}

/// An org the sandbox holds from the start.
#[derive(Debug, Clone)]
pub struct OrgSetup {
    /// The My Domain name: the org answers at `{base}/{name}`.
    pub name: String,
    pub app: App,
    /// The account contacts created by sync go to.
    pub account_id: String,
}

/// The org the local stack registers.
pub fn demo_org() -> OrgSetup {
    OrgSetup {
        name: "carebridge-local".into(),
        app: App {
            client_id: "3MVG9carebridgeLocalConsumerKey".into(),
            client_secret: "carebridge-local-consumer-secret".into(),
            username: "integration@carebridge-local.example".into(),
            public_key_pem: None,
        },
        account_id: "0010000000000LOCAL".into(),
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub orgs: Vec<OrgSetup>,
    /// How long an access token works (Salesforce's session timeout).
    pub token_lifetime: Duration,
    /// Records per query page.
    pub batch_size: usize,
    /// API calls an org may make in a day.
    pub daily_limit: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            orgs: Vec::new(),
            token_lifetime: Duration::from_secs(2 * 3600),
            batch_size: QUERY_BATCH,
            daily_limit: 15_000,
        }
    }
}

/// One API request the sandbox answered.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub org: Option<String>,
    pub status: u16,
    /// Records sent in a collection call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<usize>,
    pub at: String,
}

#[derive(Default)]
struct Org {
    apps: Vec<App>,
    accounts: BTreeMap<String, String>,
    contacts: BTreeMap<String, Map<String, Value>>,
    /// When each deleted contact was deleted.
    deleted: BTreeMap<String, DateTime<Utc>>,
    used: u32,
    /// Open query cursors: the ids still to send.
    cursors: BTreeMap<String, (Vec<String>, Vec<String>)>,
}

struct Session {
    org: String,
    expires: Instant,
}

struct State {
    orgs: BTreeMap<String, Org>,
    sessions: BTreeMap<String, Session>,
    faults: Faults,
    requests: Vec<Seen>,
    clock: DateTime<Utc>,
}

impl State {
    fn now(&mut self) -> DateTime<Utc> {
        let now = Utc::now().max(self.clock + Span::milliseconds(1));
        self.clock = now;
        now
    }
}

struct Sandbox {
    state: Mutex<State>,
    base_url: String,
    config: Config,
}

impl Sandbox {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub fn start(listener: TcpListener, config: Config) -> std::io::Result<http::Running> {
    let address = listener.local_addr()?;
    let (stop, _) = watch::channel(false);
    let mut orgs = BTreeMap::new();
    for setup in &config.orgs {
        orgs.insert(
            setup.name.clone(),
            Org {
                apps: vec![setup.app.clone()],
                accounts: BTreeMap::from([(setup.account_id.clone(), "Patients".to_owned())]),
                ..Org::default()
            },
        );
    }
    let sandbox = Arc::new(Sandbox {
        state: Mutex::new(State {
            orgs,
            sessions: BTreeMap::new(),
            faults: Faults::default(),
            requests: Vec::new(),
            clock: DateTime::<Utc>::MIN_UTC,
        }),
        base_url: format!("http://{address}"),
        config,
    });
    let handler: Handler = Arc::new(move |request| {
        let sandbox = sandbox.clone();
        Box::pin(async move { route(&sandbox, request).await })
    });
    http::serve(listener, handler, stop)
}

fn errors(status: u16, list: Vec<Value>) -> Response {
    Response::json(status, Value::Array(list))
}

fn one_error(status: u16, code: &str, message: &str) -> Response {
    errors(status, vec![json!({"message": message, "errorCode": code})])
}

fn not_found() -> Response {
    one_error(404, "NOT_FOUND", "The requested resource does not exist")
}

async fn route(sandbox: &Sandbox, request: Request) -> Response {
    let segments: Vec<&str> = request.segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["_sandbox", rest @ ..] => control(sandbox, &request, rest),
        [org, "services", "oauth2", "token"] if request.method == "POST" => {
            let response = token(sandbox, &request, org);
            log(sandbox, &request, Some(org), &response, None);
            response
        }
        [org, "services", "data", version, rest @ ..] if is_version(version) => {
            let (records, mut response) = api(sandbox, &request, org, version, rest).await;
            let used = {
                let mut state = sandbox.state();
                state.orgs.get_mut(*org).map(|o| {
                    o.used += 1;
                    o.used
                })
            };
            if let Some(used) = used {
                response.headers.push((
                    "sforce-limit-info",
                    format!("api-usage={used}/{}", sandbox.config.daily_limit),
                ));
            }
            log(sandbox, &request, Some(org), &response, records);
            response
        }
        _ => not_found(),
    }
}

fn log(sandbox: &Sandbox, request: &Request, org: Option<&str>, response: &Response, records: Option<usize>) {
    let mut state = sandbox.state();
    let at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    state.requests.push(Seen {
        method: request.method.clone(),
        path: request.path.clone(),
        query: request.query_pairs.clone(),
        org: org.map(str::to_owned),
        status: response.status,
        records,
        at,
    });
}

fn is_version(text: &str) -> bool {
    text.strip_prefix('v')
        .and_then(|v| v.split_once('.'))
        .is_some_and(|(major, minor)| major.parse::<u32>().is_ok() && minor.parse::<u32>().is_ok())
}

fn oauth_error(code: &str, description: &str) -> Response {
    Response::json(400, json!({"error": code, "error_description": description}))
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
}

/// The token endpoint of org `org`'s My Domain.
fn token(sandbox: &Sandbox, request: &Request, org: &str) -> Response {
    let form = request.form();
    let apps = match sandbox.state().orgs.get(org) {
        Some(found) => found.apps.clone(),
        None => return oauth_error("invalid_client_id", "client identifier invalid"),
    };
    let app = match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {
            let basic = request
                .header("authorization")
                .and_then(|h| h.strip_prefix("Basic "))
                .and_then(|b| STANDARD.decode(b).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|pair| pair.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
            let (id, secret) = match basic {
                Some(pair) => pair,
                None => (
                    form.get("client_id").cloned().unwrap_or_default(),
                    form.get("client_secret").cloned().unwrap_or_default(),
                ),
            };
            match apps.iter().find(|a| a.client_id == id) {
                None => return oauth_error("invalid_client_id", "client identifier invalid"),
                Some(app) if app.client_secret != secret => {
                    return oauth_error("invalid_client", "invalid client credentials");
                }
                Some(app) => app.clone(),
            }
        }
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = form.get("assertion") else {
                return oauth_error("invalid_request", "assertion is required");
            };
            match jwt_app(&apps, assertion, &format!("{}/{org}", sandbox.base_url)) {
                Ok(app) => app,
                Err(response) => return response,
            }
        }
        Some(other) => return oauth_error("unsupported_grant_type", &format!("grant type not supported: {other}")),
        None => return oauth_error("invalid_request", "grant_type is required"),
    };
    let access_token = format!("00D{}!{}", random_text(12), random_text(40));
    let mut state = sandbox.state();
    state.sessions.insert(
        access_token.clone(),
        Session {
            org: org.to_owned(),
            expires: Instant::now() + sandbox.config.token_lifetime,
        },
    );
    let instance = format!("{}/{org}", sandbox.base_url);
    Response::json(
        200,
        json!({
            "access_token": access_token,
            "instance_url": instance,
            "id": format!("{instance}/id/00D{org}/{}", app.username),
            "token_type": "Bearer",
            "issued_at": Utc::now().timestamp_millis().to_string(),
            "scope": "api",
        }),
    )
}

/// The app a JWT bearer assertion is for, once its signature, issuer, audience and expiry hold.
fn jwt_app(apps: &[App], assertion: &str, my_domain: &str) -> Result<App, Response> {
    // The issuer names the app whose certificate then checks the signature.
    let claims: Claims = assertion
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| oauth_error("invalid_grant", "invalid assertion"))?;
    let app = apps
        .iter()
        .find(|a| a.client_id == claims.iss)
        .ok_or_else(|| oauth_error("invalid_client_id", "client identifier invalid"))?;
    let pem = app
        .public_key_pem
        .as_deref()
        .ok_or_else(|| oauth_error("invalid_client", "the app has no certificate for the JWT bearer flow"))?;
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| oauth_error("invalid_client", "the app's certificate is unreadable"))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["https://login.salesforce.com", "https://test.salesforce.com", my_domain]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = 0;
    let verified = jsonwebtoken::decode::<Map<String, Value>>(assertion, &key, &validation).map_err(|e| {
        let reason = match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "expired authorization code",
            jsonwebtoken::errors::ErrorKind::InvalidAudience => "audience is invalid",
            jsonwebtoken::errors::ErrorKind::InvalidSignature => "invalid assertion",
            _ => "invalid assertion",
        };
        oauth_error("invalid_grant", reason)
    })?;
    let exp = verified.claims.get("exp").and_then(Value::as_i64).unwrap_or_default();
    if exp > Utc::now().timestamp() + 180 {
        return Err(oauth_error("invalid_grant", "expiration must be within three minutes"));
    }
    if claims.sub != app.username {
        return Err(oauth_error("invalid_grant", "user hasn't approved this consumer"));
    }
    Ok(app.clone())
}

/// The REST API: the session, faults, then the answer (and, for a collection, how many records
/// it carried).
async fn api(
    sandbox: &Sandbox,
    request: &Request,
    org: &str,
    version: &str,
    rest: &[&str],
) -> (Option<usize>, Response) {
    let token = request.header("authorization").and_then(|h| h.strip_prefix("Bearer "));
    let valid = {
        let state = sandbox.state();
        token
            .and_then(|t| state.sessions.get(t.trim()))
            .is_some_and(|s| s.org == org && s.expires > Instant::now())
    };
    if !valid {
        return (None, one_error(401, "INVALID_SESSION_ID", "Session expired or invalid"));
    }
    let over = sandbox
        .state()
        .orgs
        .get(org)
        .is_none_or(|o| o.used >= sandbox.config.daily_limit);
    if over {
        return (
            None,
            one_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
        );
    }
    let fault = sandbox.state().faults.take(&request.path);
    if let Some(fault) = fault {
        match fault.kind.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(fault.delay_ms.unwrap_or(2_000))).await,
            "malformed" => return (None, Response::raw(200, "{\"totalSize\": ")),
            "lost_answer" => {
                let _ = answer(sandbox, request, org, version, rest);
                return (None, one_error(502, "BAD_GATEWAY", "Bad Gateway"));
            }
            _ => {
                let status = fault.status.unwrap_or(500);
                return (
                    None,
                    one_error(status, "UNKNOWN_EXCEPTION", "An unexpected error occurred."),
                );
            }
        }
    }
    answer(sandbox, request, org, version, rest)
}

fn answer(sandbox: &Sandbox, request: &Request, org: &str, version: &str, rest: &[&str]) -> (Option<usize>, Response) {
    let response = match (request.method.as_str(), rest) {
        ("GET", ["query"]) => match request.query.get("q") {
            Some(text) => query(sandbox, org, version, text),
            None => one_error(400, "MALFORMED_QUERY", "q is required"),
        },
        ("GET", ["query", cursor]) => more(sandbox, org, version, cursor),
        ("POST", ["sobjects", "Contact"]) => match request.object() {
            Ok(body) => create_one(sandbox, org, &body),
            Err(_) => one_error(400, "JSON_PARSER_ERROR", "The request body is not a JSON object"),
        },
        ("GET", ["sobjects", "Contact", "updated"]) => changed(sandbox, request, org, false),
        ("GET", ["sobjects", "Contact", "deleted"]) => changed(sandbox, request, org, true),
        ("GET", ["sobjects", "Contact", id]) => {
            let state = sandbox.state();
            match state.orgs.get(org).and_then(|o| o.contacts.get(*id)) {
                Some(contact) => Response::json(200, with_attributes(contact, version)),
                None => not_found(),
            }
        }
        ("PATCH", ["sobjects", "Contact", id]) => match request.object() {
            Ok(body) => match update_one(sandbox, org, id, &body) {
                Ok(()) => Response::empty(204),
                Err((status, list)) => errors(status, list),
            },
            Err(_) => one_error(400, "JSON_PARSER_ERROR", "The request body is not a JSON object"),
        },
        ("DELETE", ["sobjects", "Contact", id]) => {
            let mut state = sandbox.state();
            let now = state.now();
            match state.orgs.get_mut(org).and_then(|o| o.contacts.remove(*id).map(|_| o)) {
                Some(found) => {
                    found.deleted.insert((*id).to_owned(), now);
                    Response::empty(204)
                }
                None => not_found(),
            }
        }
        ("POST" | "PATCH", ["composite", "sobjects"]) => {
            let creating = request.method == "POST";
            return collection(sandbox, request, org, creating);
        }
        _ => not_found(),
    };
    (None, response)
}

fn with_attributes(contact: &Map<String, Value>, version: &str) -> Value {
    let id = contact.get("Id").and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert(
        "attributes".into(),
        json!({"type": "Contact", "url": format!("/services/data/{version}/sobjects/Contact/{id}")}),
    );
    out.extend(contact.clone());
    Value::Object(out)
}

fn query(sandbox: &Sandbox, org: &str, version: &str, text: &str) -> Response {
    let parsed = match soql::Query::parse(text) {
        Ok(parsed) => parsed,
        Err(reason) => return one_error(400, "MALFORMED_QUERY", &reason),
    };
    if parsed.object.eq_ignore_ascii_case("Account") {
        return accounts(sandbox, org, version, &parsed);
    }
    if !parsed.object.eq_ignore_ascii_case("Contact") {
        return one_error(
            400,
            "INVALID_TYPE",
            &format!("sObject type '{}' is not supported.", parsed.object),
        );
    }
    if let Some(unknown) = parsed.named_fields().into_iter().find(|f| !contacts::is_field(f)) {
        return one_error(
            400,
            "INVALID_FIELD",
            &format!("No such column '{unknown}' on entity 'Contact'."),
        );
    }
    let mut state = sandbox.state();
    let Some(found) = state.orgs.get_mut(org) else {
        return not_found();
    };
    let mut kept: Vec<&Map<String, Value>> = found.contacts.values().filter(|c| parsed.keeps(c)).collect();
    parsed.sort(&mut kept);
    if let Some(limit) = parsed.limit {
        kept.truncate(limit);
    }
    let ids: Vec<String> = kept
        .iter()
        .filter_map(|c| c.get("Id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let total = ids.len();
    page(sandbox.config.batch_size, found, version, ids, parsed.fields, total)
}

/// A query of the org's accounts (`Id`, `Name`), in one page.
fn accounts(sandbox: &Sandbox, org: &str, version: &str, parsed: &soql::Query) -> Response {
    if let Some(unknown) = parsed
        .named_fields()
        .into_iter()
        .find(|f| !f.eq_ignore_ascii_case("Id") && !f.eq_ignore_ascii_case("Name"))
    {
        return one_error(
            400,
            "INVALID_FIELD",
            &format!("No such column '{unknown}' on entity 'Account'."),
        );
    }
    let state = sandbox.state();
    let Some(found) = state.orgs.get(org) else {
        return not_found();
    };
    let records: Vec<Value> = found
        .accounts
        .iter()
        .map(|(id, name)| Map::from_iter([("Id".to_owned(), json!(id)), ("Name".to_owned(), json!(name))]))
        .filter(|account| parsed.keeps(account))
        .take(parsed.limit.unwrap_or(usize::MAX))
        .map(|account| {
            let mut out = Map::new();
            let id = account["Id"].as_str().unwrap_or_default().to_owned();
            out.insert(
                "attributes".into(),
                json!({"type": "Account", "url": format!("/services/data/{version}/sobjects/Account/{id}")}),
            );
            for field in &parsed.fields {
                out.insert(field.clone(), soql::get(&account, field).clone());
            }
            Value::Object(out)
        })
        .collect();
    Response::json(
        200,
        json!({"totalSize": records.len(), "done": true, "records": records}),
    )
}

/// One page of `ids` (with `fields`), keeping the rest behind a cursor.
fn page(
    batch: usize,
    found: &mut Org,
    version: &str,
    mut ids: Vec<String>,
    fields: Vec<String>,
    total: usize,
) -> Response {
    let rest = ids.split_off(ids.len().min(batch));
    let records: Vec<Value> = ids
        .iter()
        .filter_map(|id| found.contacts.get(id))
        .map(|contact| {
            let mut out = Map::new();
            let id = contact.get("Id").and_then(Value::as_str).unwrap_or_default();
            out.insert(
                "attributes".into(),
                json!({"type": "Contact", "url": format!("/services/data/{version}/sobjects/Contact/{id}")}),
            );
            for field in &fields {
                let (name, value) = contact
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(field))
                    .map_or((field.clone(), Value::Null), |(n, v)| (n.clone(), v.clone()));
                out.insert(name, value);
            }
            Value::Object(out)
        })
        .collect();
    let mut body = json!({"totalSize": total, "done": rest.is_empty(), "records": records});
    if !rest.is_empty() {
        let cursor = format!("01g{}-{}", random_text(15), total - rest.len());
        body["nextRecordsUrl"] = json!(format!("/services/data/{version}/query/{cursor}"));
        found.cursors.insert(cursor, (rest, fields));
    }
    Response::json(200, body)
}

fn more(sandbox: &Sandbox, org: &str, version: &str, cursor: &str) -> Response {
    let mut state = sandbox.state();
    let Some(found) = state.orgs.get_mut(org) else {
        return not_found();
    };
    let Some((ids, fields)) = found.cursors.remove(cursor) else {
        return one_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    };
    let sent: usize = cursor.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let total = sent + ids.len();
    page(sandbox.config.batch_size, found, version, ids, fields, total)
}

/// `sobjects/Contact/updated` or `…/deleted`: the contacts changed (by `SystemModstamp`) or
/// deleted in `[start, end)`, both cut to the whole minute as Salesforce does.
fn changed(sandbox: &Sandbox, request: &Request, org: &str, deleted: bool) -> Response {
    let read = |name: &str| request.query.get(name).and_then(|t| parse_salesforce_time(t));
    let (Some(start), Some(end)) = (read("start"), read("end")) else {
        return one_error(
            400,
            "INVALID_REPLICATION_DATE",
            "start and end must be dates such as 2013-05-05T00:00:00+00:00",
        );
    };
    let minute = |t: DateTime<Utc>| t.duration_trunc(Span::minutes(1)).unwrap_or(t);
    let now = Utc::now();
    let (start, end) = (minute(start), minute(end.min(now)));
    if start < now - Span::days(30) {
        return one_error(
            400,
            "INVALID_REPLICATION_DATE",
            "start date cannot be more than 30 days ago",
        );
    }
    if end < start {
        return one_error(400, "INVALID_REPLICATION_DATE", "end date must be after start date");
    }
    let state = sandbox.state();
    let Some(found) = state.orgs.get(org) else {
        return not_found();
    };
    let within = |t: DateTime<Utc>| t >= start && t < end;
    if deleted {
        let records: Vec<Value> = found
            .deleted
            .iter()
            .filter(|(_, at)| within(**at))
            .map(|(id, at)| json!({"id": id, "deletedDate": salesforce_time(*at)}))
            .collect();
        return Response::json(
            200,
            json!({"deletedRecords": records, "earliestDateAvailable": salesforce_time(now - Span::days(30)), "latestDateCovered": salesforce_time(end)}),
        );
    }
    let ids: Vec<&String> = found
        .contacts
        .iter()
        .filter(|(_, c)| {
            c.get("SystemModstamp")
                .and_then(Value::as_str)
                .and_then(parse_salesforce_time)
                .is_some_and(within)
        })
        .map(|(id, _)| id)
        .collect();
    Response::json(200, json!({"ids": ids, "latestDateCovered": salesforce_time(end)}))
}

/// A new contact with `fields`, as Salesforce stores it.
fn new_contact(state: &mut State, fields: Map<String, Value>) -> Map<String, Value> {
    let now = salesforce_time(state.now());
    let id = format!("003{}", random_text(15));
    let mut contact = Map::new();
    contact.insert("Id".into(), json!(id));
    for (field, kind) in contacts::WRITABLE {
        let blank = if kind == contacts::Kind::Bool {
            json!(false)
        } else {
            Value::Null
        };
        contact.insert(field.into(), blank);
    }
    contact.extend(fields);
    contact.insert("Name".into(), json!(full_name(&contact)));
    contact.insert("IsDeleted".into(), json!(false));
    contact.insert("CreatedDate".into(), json!(now));
    contact.insert("LastModifiedDate".into(), json!(now));
    contact.insert("SystemModstamp".into(), json!(now));
    contact
}

fn full_name(contact: &Map<String, Value>) -> String {
    ["FirstName", "MiddleName", "LastName"]
        .iter()
        .filter_map(|f| contact.get(*f).and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn checked_in(found: &Org, body: &Map<String, Value>, creating: bool) -> Result<Map<String, Value>, Vec<Value>> {
    contacts::checked(body, creating, |id| found.accounts.contains_key(id))
}

fn create_one(sandbox: &Sandbox, org: &str, body: &Map<String, Value>) -> Response {
    let mut state = sandbox.state();
    let Some(found) = state.orgs.get(org) else {
        return not_found();
    };
    let fields = match checked_in(found, body, true) {
        Ok(fields) => fields,
        Err(list) => return errors(400, list),
    };
    let contact = new_contact(&mut state, fields);
    let id = contact["Id"].as_str().unwrap_or_default().to_owned();
    if let Some(found) = state.orgs.get_mut(org) {
        found.contacts.insert(id.clone(), contact);
    }
    Response::json(201, json!({"id": id, "success": true, "errors": []}))
}

fn update_one(sandbox: &Sandbox, org: &str, id: &str, body: &Map<String, Value>) -> Result<(), (u16, Vec<Value>)> {
    let mut state = sandbox.state();
    let found = state.orgs.get(org).ok_or((404, Vec::new()))?;
    if !found.contacts.contains_key(id) {
        return Err((
            404,
            vec![error("NOT_FOUND", "The requested resource does not exist", &[])],
        ));
    }
    let fields = checked_in(found, body, false).map_err(|list| (400, list))?;
    let now = salesforce_time(state.now());
    if let Some(contact) = state.orgs.get_mut(org).and_then(|o| o.contacts.get_mut(id)) {
        contact.extend(fields);
        let name = full_name(contact);
        contact.insert("Name".into(), json!(name));
        contact.insert("LastModifiedDate".into(), json!(now));
        contact.insert("SystemModstamp".into(), json!(now));
    }
    Ok(())
}

/// One collection record that passed the checks: the contact it updates (none for a create)
/// and the fields to write.
type Planned = (Option<String>, Map<String, Value>);

/// `composite/sobjects`: up to 200 creates (POST) or updates (PATCH, each with its `id`), each
/// answered in order; with `allOrNone`, one failure rolls every record back.
fn collection(sandbox: &Sandbox, request: &Request, org: &str, creating: bool) -> (Option<usize>, Response) {
    let body = match request.object() {
        Ok(body) => body,
        Err(_) => {
            return (
                None,
                one_error(400, "JSON_PARSER_ERROR", "The request body is not a JSON object"),
            );
        }
    };
    let all_or_none = body.get("allOrNone").and_then(Value::as_bool).unwrap_or(false);
    let Some(records) = body.get("records").and_then(Value::as_array) else {
        return (None, one_error(400, "INVALID_FIELD", "records is required"));
    };
    if records.len() > COLLECTION_LIMIT {
        return (
            Some(records.len()),
            one_error(400, "EXCEEDED_ID_LIMIT", "Maximum number of records allowed is 200."),
        );
    }
    let mut guard = sandbox.state();
    let state = &mut *guard;
    let Some(found) = state.orgs.get(org) else {
        return (None, not_found());
    };
    // Check every record first, so allOrNone can refuse them all before anything is written.
    let mut planned: Vec<Result<Planned, Value>> = Vec::new();
    for record in records {
        let Some(record) = record.as_object() else {
            planned.push(Err(
                json!({"statusCode": "INVALID_FIELD", "message": "each record must be an object", "fields": []}),
            ));
            continue;
        };
        let kind = record
            .get("attributes")
            .and_then(|a| a.get("type"))
            .and_then(Value::as_str);
        if kind != Some("Contact") {
            planned.push(Err(
                json!({"statusCode": "INVALID_TYPE", "message": "attributes.type must be Contact", "fields": []}),
            ));
            continue;
        }
        let id = record
            .get("id")
            .or_else(|| record.get("Id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut fields = record.clone();
        fields.remove("id");
        fields.remove("Id");
        let outcome = match (creating, &id) {
            (true, Some(_)) => Err(vec![
                json!({"statusCode": "INVALID_FIELD_FOR_INSERT_UPDATE", "message": "cannot specify Id in an insert call", "fields": ["Id"]}),
            ]),
            (false, None) => Err(vec![
                json!({"statusCode": "MISSING_ARGUMENT", "message": "Id not specified in an update call", "fields": ["Id"]}),
            ]),
            (false, Some(id)) if !found.contacts.contains_key(id) => Err(vec![
                json!({"statusCode": if id.starts_with("003") && id.len() == 18 { "ENTITY_IS_DELETED" } else { "MALFORMED_ID" }, "message": format!("Contact ID: id value of incorrect type: {id}"), "fields": ["Id"]}),
            ]),
            _ => checked_in(found, &fields, creating).map_err(|list| {
                list.into_iter()
                    .map(|e| json!({"statusCode": e["errorCode"], "message": e["message"], "fields": e["fields"]}))
                    .collect()
            }),
        };
        planned.push(match outcome {
            Ok(fields) => Ok((id, fields)),
            Err(list) => Err(Value::Array(list)),
        });
    }
    let failed = planned.iter().any(Result::is_err);
    let results: Vec<Value> = if all_or_none && failed {
        planned
            .iter()
            .map(|p| match p {
                Ok((id, _)) => {
                    let mut result = json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []}]});
                    if let Some(id) = id {
                        result["id"] = json!(id);
                    }
                    result
                }
                Err(list) => json!({"success": false, "errors": list}),
            })
            .collect()
    } else {
        let mut results = Vec::new();
        for plan in planned {
            match plan {
                Ok((None, fields)) => {
                    let contact = new_contact(state, fields);
                    let id = contact["Id"].as_str().unwrap_or_default().to_owned();
                    if let Some(found) = state.orgs.get_mut(org) {
                        found.contacts.insert(id.clone(), contact);
                    }
                    results.push(json!({"id": id, "success": true, "errors": []}));
                }
                Ok((Some(id), fields)) => {
                    let now = salesforce_time(state.now());
                    if let Some(contact) = state.orgs.get_mut(org).and_then(|o| o.contacts.get_mut(&id)) {
                        contact.extend(fields);
                        let name = full_name(contact);
                        contact.insert("Name".into(), json!(name));
                        contact.insert("LastModifiedDate".into(), json!(now));
                        contact.insert("SystemModstamp".into(), json!(now));
                    }
                    results.push(json!({"id": id, "success": true, "errors": []}));
                }
                Err(list) => results.push(json!({"success": false, "errors": list})),
            }
        }
        results
    };
    (Some(records.len()), Response::json(200, Value::Array(results)))
}

/// The control plane: orgs and their apps, what an org's users do to contacts, and what the
/// sandbox saw.
fn control(sandbox: &Sandbox, request: &Request, rest: &[&str]) -> Response {
    let answer = |status: u16, body: Value| Response::json(status, body);
    match (request.method.as_str(), rest) {
        ("POST", ["orgs"]) => {
            let body = request.object().unwrap_or_default();
            let name = body
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("org{}", random_text(10).to_lowercase()), str::to_owned);
            let app = App {
                client_id: format!("3MVG9{}", random_text(30)),
                client_secret: random_text(32),
                username: format!("integration@{name}.example"),
                public_key_pem: body.get("public_key_pem").and_then(Value::as_str).map(str::to_owned),
            };
            let account_id = format!("001{}", random_text(15));
            let mut state = sandbox.state();
            if state.orgs.contains_key(&name) {
                return answer(409, json!({"message": format!("org {name} exists")}));
            }
            state.orgs.insert(
                name.clone(),
                Org {
                    apps: vec![app.clone()],
                    accounts: BTreeMap::from([(account_id.clone(), "Patients".to_owned())]),
                    ..Org::default()
                },
            );
            answer(
                201,
                json!({
                    "org": name,
                    "instance_url": format!("{}/{name}", sandbox.base_url),
                    "client_id": app.client_id,
                    "client_secret": app.client_secret,
                    "username": app.username,
                    "account_id": account_id,
                }),
            )
        }
        ("POST" | "DELETE", ["faults"]) => sandbox.state().faults.control(request),
        ("GET", ["requests"]) => answer(200, json!(sandbox.state().requests)),
        ("DELETE", ["requests"]) => {
            sandbox.state().requests.clear();
            Response::empty(204)
        }
        (_, ["orgs", org, rest @ ..]) => org_control(sandbox, request, org, rest),
        _ => not_found(),
    }
}

fn org_control(sandbox: &Sandbox, request: &Request, org: &str, rest: &[&str]) -> Response {
    if !sandbox.state().orgs.contains_key(org) {
        return not_found();
    }
    match (request.method.as_str(), rest) {
        ("POST", ["accounts"]) => {
            let name = request
                .object()
                .ok()
                .and_then(|b| b.get("Name").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "Account".into());
            let id = format!("001{}", random_text(15));
            if let Some(found) = sandbox.state().orgs.get_mut(org) {
                found.accounts.insert(id.clone(), name);
            }
            Response::json(201, json!({"id": id}))
        }
        ("POST", ["tokens", "expire"]) => {
            let mut state = sandbox.state();
            let expired = Instant::now();
            for session in state.sessions.values_mut().filter(|s| s.org == org) {
                session.expires = expired;
            }
            Response::empty(204)
        }
        ("POST", ["contacts"]) => {
            let bodies = match request.objects("contact") {
                Ok(bodies) => bodies,
                Err(response) => return response,
            };
            let mut made = Vec::new();
            let mut state = sandbox.state();
            for mut body in bodies {
                // A contact a user saved some minutes ago, for tests of what changed when.
                let minutes_ago = body.remove("_minutes_ago").and_then(|m| m.as_i64());
                let Some(found) = state.orgs.get(org) else {
                    return not_found();
                };
                let fields = match checked_in(found, &body, true) {
                    Ok(fields) => fields,
                    Err(list) => return errors(400, list),
                };
                let mut contact = new_contact(&mut state, fields);
                if let Some(minutes) = minutes_ago {
                    let then = json!(salesforce_time(Utc::now() - Span::minutes(minutes)));
                    for stamp in ["CreatedDate", "LastModifiedDate", "SystemModstamp"] {
                        contact.insert(stamp.into(), then.clone());
                    }
                }
                let id = contact["Id"].as_str().unwrap_or_default().to_owned();
                if let Some(found) = state.orgs.get_mut(org) {
                    found.contacts.insert(id, contact.clone());
                }
                made.push(Value::Object(contact));
            }
            Response::created(made)
        }
        ("GET", ["contacts"]) => {
            let state = sandbox.state();
            let all: Vec<&Map<String, Value>> = state
                .orgs
                .get(org)
                .map(|o| o.contacts.values().collect())
                .unwrap_or_default();
            Response::json(200, json!(all))
        }
        ("GET", ["contacts", id]) => {
            let state = sandbox.state();
            match state.orgs.get(org).and_then(|o| o.contacts.get(*id)) {
                Some(contact) => Response::json(200, Value::Object(contact.clone())),
                None => not_found(),
            }
        }
        ("PATCH", ["contacts", id]) => match request.object() {
            Ok(body) => match update_one(sandbox, org, id, &body) {
                Ok(()) => {
                    let state = sandbox.state();
                    let contact = state
                        .orgs
                        .get(org)
                        .and_then(|o| o.contacts.get(*id))
                        .cloned()
                        .unwrap_or_default();
                    Response::json(200, Value::Object(contact))
                }
                Err((status, list)) => errors(status, list),
            },
            Err(response) => response,
        },
        ("DELETE", ["contacts", id]) => {
            let mut state = sandbox.state();
            let now = state.now();
            match state.orgs.get_mut(org).and_then(|o| o.contacts.remove(*id).map(|_| o)) {
                Some(found) => {
                    found.deleted.insert((*id).to_owned(), now);
                    Response::empty(204)
                }
                None => not_found(),
            }
        }
        ("GET", ["usage"]) => {
            let state = sandbox.state();
            let used = state.orgs.get(org).map_or(0, |o| o.used);
            Response::json(200, json!({"used": used, "limit": sandbox.config.daily_limit}))
        }
        _ => not_found(),
    }
}
