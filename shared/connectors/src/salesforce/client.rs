//! Salesforce's REST API over HTTPS for one org: an access token from the org's My Domain
//! (client credentials, or the JWT bearer flow with the app's private key), renewed once when
//! Salesforce answers `INVALID_SESSION_ID`; SOQL queries followed through `nextRecordsUrl`;
//! single contacts; `composite/sobjects` batches of at most 200; and the changed and deleted
//! contacts of a time window.

use super::types::{Contact, SaveResult};
use crate::error::ConnectorError;
use crate::http::{self, Answer, Gate, Repeat, RetryPolicy};
use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

const VENDOR: &str = "Salesforce";

/// The API version carebridge speaks.
pub const API_VERSION: &str = "v62.0";
/// The most records one collection call takes.
pub const BATCH: usize = 200;

/// How carebridge gets a token for the org.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "flow", rename_all = "snake_case")]
pub enum Grant {
    /// The connected app's consumer key and secret, on the org's My Domain; calls run as the
    /// app's "Run As" user.
    ClientCredentials { client_id: String, client_secret: String },
    /// A JWT signed with the private key whose certificate the app holds, for `username`.
    JwtBearer {
        client_id: String,
        username: String,
        private_key_pem: String,
        /// `https://login.salesforce.com`, `https://test.salesforce.com` or the My Domain URL.
        audience: String,
    },
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grant::ClientCredentials { client_id, .. } => write!(f, "ClientCredentials({client_id}, …)"),
            Grant::JwtBearer {
                client_id, username, ..
            } => write!(f, "JwtBearer({client_id}, {username}, …)"),
        }
    }
}

#[derive(Clone)]
struct Session {
    access_token: String,
    instance_url: Url,
}

/// A connection to one org.
pub struct Salesforce {
    http: reqwest::Client,
    my_domain: Url,
    grant: Grant,
    retry: RetryPolicy,
    gate: Arc<dyn Gate>,
    session: tokio::sync::Mutex<Option<Session>>,
}

/// One page of a query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryPage<T> {
    records: Vec<T>,
    #[serde(default)]
    next_records_url: Option<String>,
}

/// A SOQL text literal: `'…'` with backslashes and quotes escaped.
pub fn soql_text(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl Salesforce {
    /// `my_domain` is the org's `https://{domain}.my.salesforce.com`.
    pub fn new(
        my_domain: Url,
        grant: Grant,
        retry: RetryPolicy,
        timeout: Duration,
        gate: Arc<dyn Gate>,
    ) -> Result<Salesforce, ConnectorError> {
        Ok(Salesforce {
            http: http::client(timeout)?,
            my_domain,
            grant,
            retry,
            gate,
            session: tokio::sync::Mutex::new(None),
        })
    }

    /// Gets a new token: proves the credentials and the My Domain work.
    pub async fn check_credentials(&self) -> Result<(), ConnectorError> {
        self.session(true).await.map(drop)
    }

    async fn session(&self, fresh: bool) -> Result<Session, ConnectorError> {
        let mut cached = self.session.lock().await;
        if !fresh && let Some(session) = cached.as_ref() {
            return Ok(session.clone());
        }
        let mut url = self.my_domain.clone();
        url.set_path(&format!(
            "{}/services/oauth2/token",
            self.my_domain.path().trim_end_matches('/')
        ));
        let form: Vec<(&str, String)> = match &self.grant {
            Grant::ClientCredentials {
                client_id,
                client_secret,
            } => vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.clone()),
            ],
            Grant::JwtBearer {
                client_id,
                username,
                private_key_pem,
                audience,
            } => vec![
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".into()),
                ("assertion", assertion(client_id, username, audience, private_key_pem)?),
            ],
        };
        let answer = http::send(VENDOR, &self.retry, Repeat::Safe, || {
            self.http.post(url.clone()).form(&form)
        })
        .await?;
        if let Some(refused) = http::token_refusal(VENDOR, &answer, "the token endpoint refused", |status| {
            format!("the token endpoint answered {status}; check the My Domain URL")
        }) {
            return Err(refused);
        }
        #[derive(Deserialize)]
        struct Token {
            access_token: String,
            instance_url: String,
        }
        let token: Token = answer.json(VENDOR)?;
        let instance_url = Url::parse(&token.instance_url).map_err(|_| ConnectorError::Malformed {
            vendor: VENDOR,
            detail: "instance_url is not a URL".into(),
        })?;
        let session = Session {
            access_token: token.access_token,
            instance_url,
        };
        *cached = Some(session.clone());
        Ok(session)
    }

    /// One call to the REST API at `path` (from `/services/data/…`); an expired session gets one
    /// new token and one more try.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, ConnectorError> {
        let repeat = if method == Method::POST {
            Repeat::OnlyUnsent
        } else {
            Repeat::Safe
        };
        let mut fresh = false;
        loop {
            let session = self.session(fresh).await?;
            let mut url = session.instance_url.clone();
            url.set_path(&format!("{}{path}", session.instance_url.path().trim_end_matches('/')));
            if !query.is_empty() {
                url.query_pairs_mut()
                    .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
            }
            let answer = http::send_through(VENDOR, &self.retry, repeat, self.gate.as_ref(), || {
                let request = self
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(&session.access_token);
                match body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await?;
            if answer.status == StatusCode::UNAUTHORIZED && !fresh {
                tracing::info!(vendor = VENDOR, "the Salesforce session expired; getting a new token");
                fresh = true;
                continue;
            }
            return Ok(answer);
        }
    }

    fn data(path: &str) -> String {
        format!("/services/data/{API_VERSION}{path}")
    }

    /// Every record `soql` selects, following `nextRecordsUrl`.
    pub async fn query<T: DeserializeOwned>(&self, soql: &str) -> Result<Vec<T>, ConnectorError> {
        let first: QueryPage<T> = read(
            self.call(Method::GET, &Self::data("/query"), &[("q", soql.to_owned())], None)
                .await?,
        )?;
        let mut records = first.records;
        let mut next = first.next_records_url;
        while let Some(path) = next {
            if !path.starts_with("/services/data/") {
                return Err(ConnectorError::Malformed {
                    vendor: VENDOR,
                    detail: "nextRecordsUrl points away from the org's API".into(),
                });
            }
            let page: QueryPage<T> = read(self.call(Method::GET, &path, &[], None).await?)?;
            records.extend(page.records);
            next = page.next_records_url;
        }
        Ok(records)
    }

    /// Contacts by id, with every field carebridge reads (at most 200 ids per query).
    pub async fn contacts(&self, ids: &[String]) -> Result<Vec<Contact>, ConnectorError> {
        let mut found = Vec::new();
        for chunk in ids.chunks(BATCH) {
            let list: Vec<String> = chunk.iter().map(|id| soql_text(id)).collect();
            let soql = format!(
                "SELECT {} FROM Contact WHERE Id IN ({})",
                super::types::CONTACT_FIELDS.join(", "),
                list.join(", ")
            );
            found.extend(self.query::<Contact>(&soql).await?);
        }
        Ok(found)
    }

    /// The contacts of one identity (first name, last name, date of birth; names compared as
    /// Salesforce compares text, without regard to case), linked or not.
    pub async fn contacts_of_identity(
        &self,
        first_name: &str,
        last_name: &str,
        date_of_birth: chrono::NaiveDate,
    ) -> Result<Vec<Contact>, ConnectorError> {
        let soql = format!(
            "SELECT {} FROM Contact WHERE FirstName = {} AND LastName = {} AND Birthdate = {}",
            super::types::CONTACT_FIELDS.join(", "),
            soql_text(first_name.trim()),
            soql_text(last_name.trim()),
            date_of_birth.format("%Y-%m-%d")
        );
        self.query(&soql).await
    }

    /// The contacts that may be of these people: a last name and a birthday among theirs (100
    /// people a query). The caller keeps those whose identity is exactly one of theirs.
    pub async fn contacts_named_and_born(
        &self,
        people: &[(String, chrono::NaiveDate)],
    ) -> Result<Vec<Contact>, ConnectorError> {
        let mut found = Vec::new();
        for chunk in people.chunks(BATCH / 2) {
            let names: std::collections::BTreeSet<String> =
                chunk.iter().map(|(last, _)| soql_text(last.trim())).collect();
            let born: std::collections::BTreeSet<String> = chunk
                .iter()
                .map(|(_, day)| day.format("%Y-%m-%d").to_string())
                .collect();
            let soql = format!(
                "SELECT {} FROM Contact WHERE LastName IN ({}) AND Birthdate IN ({})",
                super::types::CONTACT_FIELDS.join(", "),
                names.into_iter().collect::<Vec<_>>().join(", "),
                born.into_iter().collect::<Vec<_>>().join(", ")
            );
            found.extend(self.query::<Contact>(&soql).await?);
        }
        // A contact may be found by two chunks.
        let mut seen = std::collections::HashSet::new();
        found.retain(|c| seen.insert(c.id.clone()));
        Ok(found)
    }

    /// The contacts batch `batch_id` wrote for these Hint patients: what a batch that stopped
    /// half-way through a page finds it already made.
    pub async fn contacts_of_batch(
        &self,
        batch_id: &str,
        hint_patient_ids: &[String],
    ) -> Result<Vec<Contact>, ConnectorError> {
        let mut found = Vec::new();
        for chunk in hint_patient_ids.chunks(BATCH) {
            let ids: Vec<String> = chunk.iter().map(|id| soql_text(id)).collect();
            let soql = format!(
                "SELECT {} FROM Contact WHERE Last_Batch_Sync_Id__c = {} AND Hint_Patient_Id__c IN ({})",
                super::types::CONTACT_FIELDS.join(", "),
                soql_text(batch_id),
                ids.join(", ")
            );
            found.extend(self.query::<Contact>(&soql).await?);
        }
        Ok(found)
    }

    /// The contacts whose "Hint Patient Id" is `hint_patient_id`: how a link that was written
    /// to Salesforce but not yet recorded by carebridge (an interrupted attempt) is found again.
    pub async fn contacts_naming(&self, hint_patient_id: &str) -> Result<Vec<Contact>, ConnectorError> {
        let soql = format!(
            "SELECT {} FROM Contact WHERE Hint_Patient_Id__c = {}",
            super::types::CONTACT_FIELDS.join(", "),
            soql_text(hint_patient_id)
        );
        self.query(&soql).await
    }

    /// The contacts linked to Hint whose `SystemModstamp` is at or after `since` (to the second),
    /// oldest change first: one query, so a poll with nothing new costs one call.
    pub async fn changed_linked_since(&self, since: DateTime<Utc>) -> Result<Vec<Contact>, ConnectorError> {
        let soql = format!(
            "SELECT {} FROM Contact WHERE Synced_to_Hint__c = true AND SystemModstamp >= {} ORDER BY SystemModstamp",
            super::types::CONTACT_FIELDS.join(", "),
            since.format("%Y-%m-%dT%H:%M:%SZ")
        );
        self.query(&soql).await
    }

    /// Whether the org has an Account with this id.
    pub async fn account_exists(&self, id: &str) -> Result<bool, ConnectorError> {
        let found: Vec<Value> = self
            .query(&format!("SELECT Id FROM Account WHERE Id = {}", soql_text(id)))
            .await?;
        Ok(!found.is_empty())
    }

    /// One contact; `None` when the org has none with that id.
    pub async fn contact(&self, id: &str) -> Result<Option<Contact>, ConnectorError> {
        let answer = self
            .call(Method::GET, &Self::data(&format!("/sobjects/Contact/{id}")), &[], None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        read(answer).map(Some)
    }

    /// Creates one contact; its id.
    pub async fn create_contact(&self, fields: &Map<String, Value>) -> Result<String, ConnectorError> {
        let body = Value::Object(fields.clone());
        let created: SaveResult = read(
            self.call(Method::POST, &Self::data("/sobjects/Contact"), &[], Some(&body))
                .await?,
        )?;
        created.id.ok_or_else(|| ConnectorError::Malformed {
            vendor: VENDOR,
            detail: "a created contact without an id".into(),
        })
    }

    pub async fn update_contact(&self, id: &str, fields: &Map<String, Value>) -> Result<(), ConnectorError> {
        let body = Value::Object(fields.clone());
        let answer = self
            .call(
                Method::PATCH,
                &Self::data(&format!("/sobjects/Contact/{id}")),
                &[],
                Some(&body),
            )
            .await?;
        if answer.is_success() {
            return Ok(());
        }
        Err(refused(&answer))
    }

    /// Creates (no `id`) or updates (each with its `id`) contacts, 200 to a call, each record
    /// answered in order; one record's failure does not stop the others.
    pub async fn save_contacts(
        &self,
        creating: bool,
        records: &[Map<String, Value>],
    ) -> Result<Vec<SaveResult>, ConnectorError> {
        let method = if creating { Method::POST } else { Method::PATCH };
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(BATCH) {
            let records: Vec<Value> = chunk
                .iter()
                .map(|fields| {
                    let mut record = Map::from_iter([("attributes".to_owned(), json!({"type": "Contact"}))]);
                    record.extend(fields.clone());
                    Value::Object(record)
                })
                .collect();
            let body = json!({"allOrNone": false, "records": records});
            let saved: Vec<SaveResult> = read(
                self.call(method.clone(), &Self::data("/composite/sobjects"), &[], Some(&body))
                    .await?,
            )?;
            if saved.len() != chunk.len() {
                return Err(ConnectorError::Malformed {
                    vendor: VENDOR,
                    detail: format!("{} results for {} records", saved.len(), chunk.len()),
                });
            }
            results.extend(saved);
        }
        Ok(results)
    }

    /// The contacts changed in `[start, end)` (whole minutes, by `SystemModstamp`), and the end
    /// of the window Salesforce covered: the next window starts there.
    pub async fn changed_contacts(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<(Vec<String>, DateTime<Utc>), ConnectorError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Updated {
            ids: Vec<String>,
            latest_date_covered: String,
        }
        let query = [("start", start.to_rfc3339()), ("end", end.to_rfc3339())];
        let updated: Updated = read(
            self.call(Method::GET, &Self::data("/sobjects/Contact/updated/"), &query, None)
                .await?,
        )?;
        let covered = parse_time(&updated.latest_date_covered).ok_or_else(|| ConnectorError::Malformed {
            vendor: VENDOR,
            detail: "latestDateCovered is not a time".into(),
        })?;
        Ok((updated.ids, covered))
    }
}

/// Salesforce's `2013-05-08T17:20:00.000+0000`, or RFC 3339.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A JWT bearer assertion: RS256, valid for three minutes.
fn assertion(client_id: &str, username: &str, audience: &str, private_key_pem: &str) -> Result<String, ConnectorError> {
    let key =
        jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|_| ConnectorError::Settings {
            vendor: VENDOR,
            detail: "the private key is not an RSA key in PEM".into(),
        })?;
    let claims = json!({"iss": client_id, "sub": username, "aud": audience, "exp": Utc::now().timestamp() + 170});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .map_err(|e| ConnectorError::Settings {
        vendor: VENDOR,
        detail: format!("the JWT could not be signed: {e}"),
    })
}

fn refused(answer: &Answer) -> ConnectorError {
    let errors: Vec<Value> = serde_json::from_slice(&answer.body).unwrap_or_default();
    let detail = errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.get("errorCode").and_then(Value::as_str).unwrap_or("ERROR"),
                e.get("message").and_then(Value::as_str).unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let fields = errors
        .iter()
        .flat_map(|e| e.get("fields").and_then(Value::as_array).cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    let detail = if detail.is_empty() {
        format!("status {}", answer.status.as_u16())
    } else {
        detail
    };
    match answer.status {
        StatusCode::UNAUTHORIZED => ConnectorError::BadCredentials {
            vendor: VENDOR,
            reason: detail,
        },
        status => ConnectorError::Rejected {
            vendor: VENDOR,
            status: status.as_u16(),
            detail,
            fields,
        },
    }
}

fn read<T: DeserializeOwned>(answer: Answer) -> Result<T, ConnectorError> {
    if answer.is_success() {
        return answer.json(VENDOR);
    }
    Err(refused(&answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soql_texts_escape_quotes_and_backslashes() {
        assert_eq!(soql_text("O'Brien"), r"'O\'Brien'");
        assert_eq!(soql_text(r"a\b"), r"'a\\b'");
    }

    #[test]
    fn salesforce_times_read_in_its_own_format() {
        assert_eq!(
            parse_time("2013-05-08T17:20:00.000+0000").map(|t| t.timestamp()),
            Some(1_368_033_600)
        );
    }

    #[test]
    fn a_grant_never_shows_its_secret() {
        let grant = Grant::ClientCredentials {
            client_id: "3MVG9".into(),
            client_secret: "s3cret".into(),
        };
        assert!(!format!("{grant:?}").contains("s3cret"));
    }
}
