//! The customer API over HTTPS for one organization: an access token from the identity server
//! (client credentials in HTTP Basic), renewed before it lapses and once more when the API
//! answers 401; a `User-Agent` on every call, which the API requires; lists read by `page` (from
//! 1) and `size` (at most 100) until a page comes back short.

use super::types::{Site, SoapNote, Student, User};
use crate::error::ConnectorError;
use crate::http::{self, Answer, Repeat, RetryPolicy};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

const VENDOR: &str = "Ensora";

/// The customer API's root.
pub const API_URL: &str = "https://customerapi.datafinch.com";
/// The identity server's token endpoint.
pub const TOKEN_URL: &str = "https://api.datafinch.com/connect/token";
/// The largest page the API gives.
pub const PAGE_SIZE: usize = 100;
/// How long before a token's stated expiry carebridge gets a new one, so a call never carries
/// a token that lapses on the way.
const TOKEN_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// The API client Ensora issues to an organization. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClientCredentials({}, …)", self.client_id)
    }
}

#[derive(Clone)]
struct Token {
    access_token: String,
    renew_at: DateTime<Utc>,
}

/// A connection to one organization's customer API.
pub struct Ensora {
    http: reqwest::Client,
    api_url: Url,
    token_url: Url,
    credentials: ClientCredentials,
    user_agent: String,
    retry: RetryPolicy,
    token: tokio::sync::Mutex<Option<Token>>,
}

/// An API time parameter: UTC, to the millisecond.
fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Ensora {
    /// `api_url` is the customer API's root ([`API_URL`]), `token_url` the identity server's
    /// token endpoint ([`TOKEN_URL`]); `user_agent` names carebridge on every call.
    pub fn new(
        api_url: Url,
        token_url: Url,
        credentials: ClientCredentials,
        user_agent: &str,
        retry: RetryPolicy,
        timeout: Duration,
    ) -> Result<Ensora, ConnectorError> {
        Ok(Ensora {
            http: http::client(timeout)?,
            api_url,
            token_url,
            credentials,
            user_agent: user_agent.to_owned(),
            retry,
            token: tokio::sync::Mutex::new(None),
        })
    }

    /// Gets a new token and reads the sites: proves the client and its organization work.
    pub async fn check_credentials(&self) -> Result<(), ConnectorError> {
        self.token(true).await?;
        self.page::<Value>("/v1/site", &[], 1, 1).await.map(drop)
    }

    async fn token(&self, fresh: bool) -> Result<String, ConnectorError> {
        let mut cached = self.token.lock().await;
        if !fresh && let Some(token) = cached.as_ref().filter(|t| t.renew_at > Utc::now()) {
            return Ok(token.access_token.clone());
        }
        let form = [("grant_type", "client_credentials")];
        let answer = http::send(VENDOR, &self.retry, Repeat::Safe, || {
            self.http
                .post(self.token_url.clone())
                .basic_auth(&self.credentials.client_id, Some(&self.credentials.client_secret))
                .header("user-agent", &self.user_agent)
                .form(&form)
        })
        .await?;
        if let Some(refused) = http::token_refusal(VENDOR, &answer, "the token endpoint refused the client", |status| {
            format!("the token endpoint answered {status}")
        }) {
            return Err(refused);
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            #[serde(default)]
            expires_in: Option<i64>,
        }
        let granted: Granted = answer.json(VENDOR)?;
        let lasts = chrono::Duration::seconds(granted.expires_in.unwrap_or(3_600).max(0));
        let token = Token {
            access_token: granted.access_token,
            renew_at: Utc::now() + (lasts - TOKEN_MARGIN).max(chrono::Duration::zero()),
        };
        *cached = Some(token.clone());
        Ok(token.access_token)
    }

    /// One GET of the API; a token the API no longer takes gets one renewal and one more try.
    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, ConnectorError> {
        let mut url = self.api_url.clone();
        url.set_path(&format!("{}{path}", self.api_url.path().trim_end_matches('/')));
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut fresh = false;
        loop {
            let token = self.token(fresh).await?;
            let answer = http::send(VENDOR, &self.retry, Repeat::Safe, || {
                self.http
                    .get(url.clone())
                    .bearer_auth(&token)
                    .header("user-agent", &self.user_agent)
                    .header("accept", "application/json")
            })
            .await?;
            if answer.status == StatusCode::UNAUTHORIZED && !fresh {
                tracing::info!(vendor = VENDOR, "the Ensora token was refused; getting a new one");
                fresh = true;
                continue;
            }
            return Ok(answer);
        }
    }

    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(&str, String)],
        page: usize,
        size: usize,
    ) -> Result<Vec<T>, ConnectorError> {
        let mut query = filters.to_vec();
        query.push(("page", page.to_string()));
        query.push(("size", size.to_string()));
        read(self.get(path, &query).await?)
    }

    /// Every record of a list, a page of [`PAGE_SIZE`] at a time until a short page.
    async fn all<T: DeserializeOwned>(&self, path: &str, filters: &[(&str, String)]) -> Result<Vec<T>, ConnectorError> {
        let mut all = Vec::new();
        for page in 1.. {
            let records: Vec<T> = self.page(path, filters, page, PAGE_SIZE).await?;
            let short = records.len() < PAGE_SIZE;
            all.extend(records);
            if short {
                break;
            }
        }
        Ok(all)
    }

    /// Every site of the organization.
    pub async fn sites(&self) -> Result<Vec<Site>, ConnectorError> {
        self.all("/v1/site", &[]).await
    }

    /// The students changed at or after `since` (every student when `None`).
    pub async fn students(&self, since: Option<DateTime<Utc>>) -> Result<Vec<Student>, ConnectorError> {
        let filters: Vec<_> = since.map(|s| ("StartTime", time_text(s))).into_iter().collect();
        self.all("/v1/Patient", &filters).await
    }

    /// The users changed at or after `since` (every user when `None`).
    pub async fn users(&self, since: Option<DateTime<Utc>>) -> Result<Vec<User>, ConnectorError> {
        let filters: Vec<_> = since.map(|s| ("StartTime", time_text(s))).into_iter().collect();
        self.all("/v1/User", &filters).await
    }

    /// The SOAP notes published, revised or deleted at or after `since` (every note when
    /// `None`) and before `until`.
    pub async fn notes(
        &self,
        since: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> Result<Vec<SoapNote>, ConnectorError> {
        let mut filters: Vec<_> = since.map(|s| ("StartTime", time_text(s))).into_iter().collect();
        filters.push(("EndTime", time_text(until)));
        self.all("/v1/SoapNote", &filters).await
    }
}

/// A 2xx answer as `T`; otherwise a refusal in Ensora's words, naming the fields it named.
fn read<T: DeserializeOwned>(answer: Answer) -> Result<T, ConnectorError> {
    answer.read(VENDOR, &["message", "Message"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_secret_is_never_shown() {
        let credentials = ClientCredentials {
            client_id: "acme-client".into(),
            client_secret: "hunter2".into(),
        };
        assert_eq!(format!("{credentials:?}"), "ClientCredentials(acme-client, …)");
    }
}
