//! Elation's REST API (v2.0) over HTTPS: tokens, paged lists, patients, notes, subscriptions.

use super::types::{CreatedNote, ElationId, NonVisitNote, Page, Patient, Physician, Subscription};
use crate::error::ConnectorError;
use crate::http::{self, Answer, Repeat, RetryPolicy};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

const VENDOR: &str = "Elation";

/// Elation's sandbox; production's host is configured per group (Elation's documents disagree
/// on it, see VENDOR_APIS.md §1.2).
pub const SANDBOX_BASE_URL: &str = "https://sandbox.elationemr.com/api/2.0";
pub const PRODUCTION_BASE_URL: &str = "https://app.elationemr.com/api/2.0";

/// Elation's page size limit.
pub const PAGE_SIZE: u32 = 100;

/// An app's credentials. `username` and `password` are only for older apps that still use the
/// password grant; the client-credentials grant is used otherwise.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub client_id: String,
    pub client_secret: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl fmt::Debug for Credentials {
    /// Names the app, never the secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("password_grant", &self.username.is_some())
            .finish_non_exhaustive()
    }
}

/// A base URL as Elation's settings give it (see [`crate::http::parse_base_url`]).
pub fn parse_base_url(raw: &str, allow_local: bool) -> Result<Url, ConnectorError> {
    http::parse_base_url(VENDOR, raw, allow_local)
}

/// A connection to one Elation practice, for one app's credentials.
pub struct Elation {
    http: reqwest::Client,
    base_url: Url,
    credentials: Credentials,
    retry: RetryPolicy,
    token: tokio::sync::Mutex<Option<Token>>,
}

struct Token {
    value: String,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Elation {
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Result<Elation, ConnectorError> {
        Ok(Elation {
            http: http::client(timeout)?,
            // Checked as the admin gave it (see `Connection`); here only its form matters.
            base_url: parse_base_url(base_url, true)?,
            credentials,
            retry,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// Gets a new token, which proves the credentials and the base URL work.
    pub async fn check_credentials(&self) -> Result<(), ConnectorError> {
        self.token(true).await.map(drop)
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base_url.clone();
        url.set_path(&format!("{}/{}", self.base_url.path().trim_end_matches('/'), path));
        url
    }

    /// A token, reused until a minute before Elation said it expires.
    async fn token(&self, fresh: bool) -> Result<String, ConnectorError> {
        let mut cached = self.token.lock().await;
        if !fresh && let Some(token) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.value.clone());
        }
        let url = self.url("oauth2/token/");
        let Credentials {
            client_id,
            client_secret,
            username,
            password,
        } = &self.credentials;
        let answer = http::send(VENDOR, &self.retry, Repeat::Safe, || {
            let request = self.http.post(url.clone());
            match (username, password) {
                (Some(username), Some(password)) => request.basic_auth(client_id, Some(client_secret)).form(&[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", password),
                ]),
                _ => request.form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", client_secret),
                ]),
            }
        })
        .await?;
        if matches!(answer.status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) {
            return Err(ConnectorError::BadCredentials {
                vendor: VENDOR,
                reason: oauth_reason(&answer),
            });
        }
        if !answer.is_success() {
            return Err(ConnectorError::Rejected {
                vendor: VENDOR,
                status: answer.status.as_u16(),
                detail: format!(
                    "the token endpoint {url} answered {}; check the base URL",
                    answer.status.as_u16()
                ),
                fields: Vec::new(),
            });
        }
        let token: TokenAnswer = answer.json(VENDOR)?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        let renew_at = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        *cached = Some(Token {
            value: token.access_token.clone(),
            renew_at,
        });
        Ok(token.access_token)
    }

    /// One API call with a bearer token; a 401 gets one new token and one more try, since a
    /// token can be revoked before it expires.
    async fn call(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<Answer, ConnectorError> {
        let repeat = if method == Method::POST {
            Repeat::OnlyUnsent
        } else {
            Repeat::Safe
        };
        let mut fresh = false;
        loop {
            let token = self.token(fresh).await?;
            let answer = http::send(VENDOR, &self.retry, repeat, || {
                let request = self.http.request(method.clone(), url.clone()).bearer_auth(&token);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
            if answer.status == StatusCode::UNAUTHORIZED && !fresh {
                fresh = true;
                continue;
            }
            return Ok(answer);
        }
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<T, ConnectorError> {
        let answer = self.call(method, url, body).await?;
        if !answer.is_success() {
            return Err(refused(&answer));
        }
        answer.json(VENDOR)
    }

    /// Every physician of the practice, a page at a time.
    pub fn physicians(&self) -> Pages<'_, Physician> {
        Pages::new(self, self.list_url("physicians/", &[]))
    }

    /// Every patient, or only those changed after `modified_after`, a page at a time.
    pub fn patients(&self, modified_after: Option<DateTime<Utc>>) -> Pages<'_, Patient> {
        let since = modified_after.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
        let filter: Vec<(&str, &str)> = since.iter().map(|t| ("last_modified__gt", t.as_str())).collect();
        Pages::new(self, self.list_url("patients/", &filter))
    }

    fn list_url(&self, path: &str, filters: &[(&str, &str)]) -> Url {
        let mut url = self.url(path);
        url.query_pairs_mut()
            .append_pair("limit", &PAGE_SIZE.to_string())
            .append_pair("offset", "0")
            .extend_pairs(filters);
        url
    }

    /// One patient; `None` when Elation has no such patient.
    pub async fn patient(&self, id: ElationId) -> Result<Option<Patient>, ConnectorError> {
        let answer = self
            .call(Method::GET, &self.url(&format!("patients/{id}/")), None)
            .await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => answer.json(VENDOR).map(Some),
            _ => Err(refused(&answer)),
        }
    }

    /// Changes the given fields of a patient and returns the patient as Elation now holds it.
    pub async fn update_patient(&self, id: ElationId, patch: &Map<String, Value>) -> Result<Patient, ConnectorError> {
        let body = Value::Object(patch.clone());
        self.call_json(Method::PATCH, &self.url(&format!("patients/{id}/")), Some(&body))
            .await
    }

    /// Posts a non-visit note (see `mapping::plan_note`). Not retried once Elation may have
    /// received it: Elation has no idempotency key, so a retry could post the note twice.
    pub async fn create_note(&self, note: &Value) -> Result<CreatedNote, ConnectorError> {
        self.call_json(Method::POST, &self.url("non_visit_notes/"), Some(note))
            .await
    }

    /// A patient's non-visit notes, a page at a time.
    pub fn notes_of(&self, patient: ElationId) -> Pages<'_, NonVisitNote> {
        Pages::new(
            self,
            self.list_url("non_visit_notes/", &[("patient", &patient.to_string())]),
        )
    }

    /// This app's subscriptions.
    pub async fn subscriptions(&self) -> Result<Vec<Subscription>, ConnectorError> {
        Pages::new(self, self.url("app/subscriptions/")).all().await
    }

    /// Subscribes `target` to changes of `resource`. Subscribing again returns the existing
    /// subscription (Elation answers 409), so enabling can be retried safely.
    pub async fn subscribe(&self, resource: &str, target: &str) -> Result<Subscription, ConnectorError> {
        let body = serde_json::json!({"resource": resource, "target": target});
        let answer = self
            .call(Method::POST, &self.url("app/subscriptions/"), Some(&body))
            .await?;
        match answer.status {
            StatusCode::CONFLICT => self
                .subscriptions()
                .await?
                .into_iter()
                .find(|s| s.resource == resource && s.target == target && s.deleted_date.is_none())
                .ok_or_else(|| refused(&answer)),
            status if status.is_success() => answer.json(VENDOR),
            _ => Err(refused(&answer)),
        }
    }

    /// Ends a subscription; one already gone is fine.
    pub async fn unsubscribe(&self, id: ElationId) -> Result<(), ConnectorError> {
        let answer = self
            .call(Method::DELETE, &self.url(&format!("app/subscriptions/{id}/")), None)
            .await?;
        match answer.status {
            StatusCode::NOT_FOUND => Ok(()),
            status if status.is_success() => Ok(()),
            _ => Err(refused(&answer)),
        }
    }
}

/// A list read a page at a time by following Elation's `next` links.
pub struct Pages<'a, T> {
    client: &'a Elation,
    next: Option<Url>,
    /// How many records the list holds, once the first page has said.
    pub total: Option<u64>,
    records: PhantomData<T>,
}

impl<'a, T: DeserializeOwned> Pages<'a, T> {
    fn new(client: &'a Elation, first: Url) -> Self {
        Pages {
            client,
            next: Some(first),
            total: None,
            records: PhantomData,
        }
    }

    /// The next page's records, or `None` after the last page.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ConnectorError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        let page: Page<T> = self.client.call_json(Method::GET, &url, None).await?;
        self.total = page.count.or(self.total);
        self.next = match page.next {
            None => None,
            Some(next) => Some(self.follow(&next)?),
        };
        Ok(Some(page.results))
    }

    /// Every record of every page.
    pub async fn all(mut self) -> Result<Vec<T>, ConnectorError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }

    /// A `next` link, only if it stays on the configured host: the token goes with it.
    fn follow(&self, next: &str) -> Result<Url, ConnectorError> {
        let url = Url::parse(next).map_err(|e| ConnectorError::Malformed {
            vendor: VENDOR,
            detail: format!("a next-page link is not a URL ({e})"),
        })?;
        if url.origin() != self.client.base_url.origin() {
            return Err(ConnectorError::Malformed {
                vendor: VENDOR,
                detail: "a next-page link points away from the configured base URL".into(),
            });
        }
        Ok(url)
    }
}

/// The vendor's reason for refusing a token, in OAuth's words.
fn oauth_reason(answer: &Answer) -> String {
    #[derive(Deserialize)]
    struct OAuthError {
        error: Option<String>,
        error_description: Option<String>,
    }
    match serde_json::from_slice::<OAuthError>(&answer.body) {
        Ok(OAuthError {
            error_description: Some(description),
            error: Some(error),
        }) => format!("{description} ({error})"),
        Ok(OAuthError {
            error_description: Some(text),
            error: None,
        })
        | Ok(OAuthError {
            error_description: None,
            error: Some(text),
        }) => text,
        _ => format!("the token endpoint answered {}", answer.status.as_u16()),
    }
}

/// A refusal as an error: Elation's `detail`, or the fields its validation named (the messages
/// may quote values, so they are left out).
fn refused(answer: &Answer) -> ConnectorError {
    let body: Option<Map<String, Value>> = serde_json::from_slice(&answer.body).ok();
    let detail = body
        .as_ref()
        .and_then(|b| b.get("detail"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let fields: Vec<String> = match (&detail, &body) {
        (None, Some(body)) => body.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let detail = detail.unwrap_or_else(|| match fields.as_slice() {
        [] => "no reason given".to_owned(),
        fields => format!("invalid {}", fields.join(", ")),
    });
    ConnectorError::Rejected {
        vendor: VENDOR,
        status: answer.status.as_u16(),
        detail,
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_must_be_https_except_on_this_machine_when_allowed() {
        assert!(parse_base_url(SANDBOX_BASE_URL, false).is_ok());
        assert!(parse_base_url("http://127.0.0.1:4010/api/2.0/", true).is_ok());
        assert!(parse_base_url("http://localhost:4010/api/2.0", true).is_ok());
        assert!(parse_base_url("http://127.0.0.1:4010/api/2.0/", false).is_err());
        for bad in [
            "http://app.elationemr.com/api/2.0",
            "ftp://app.elationemr.com",
            "not a url",
            "https://app.elationemr.com/api/2.0?x=1",
            "https://user@app.elationemr.com/api/2.0",
        ] {
            assert!(
                matches!(parse_base_url(bad, true), Err(ConnectorError::Settings { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn credentials_never_show_their_secrets() {
        let credentials = Credentials {
            client_id: "app".into(),
            client_secret: "s3cret".into(),
            username: Some("user".into()),
            password: Some("hunter2".into()),
        };
        let shown = format!("{credentials:?}");
        assert!(shown.contains("app") && !shown.contains("s3cret") && !shown.contains("hunter2"));
    }

    #[test]
    fn a_refusal_names_fields_but_not_their_messages() {
        let answer = Answer {
            status: StatusCode::BAD_REQUEST,
            body: br#"{"sex": ["\"Robot\" is not a valid choice."], "emails": ["Enter a valid email address."]}"#
                .to_vec(),
        };
        let error = refused(&answer);
        assert_eq!(error.status(), Some(400));
        assert!(!error.to_string().contains("Robot"), "{error}");
        assert!(error.to_string().contains("emails, sex"), "{error}");
    }
}
