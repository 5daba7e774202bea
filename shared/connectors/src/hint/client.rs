//! Hint's provider API over HTTPS: `Authorization: Bearer <practice key>`, lists read by `limit`
//! and `offset` until a page comes back short (Hint's lists are bare arrays with no total), every
//! try through a [`Gate`] (the practice's share of Hint's 20 requests a second) and retried as
//! every connector retries. Webhook signatures are checked by [`signature_is_valid`].

use super::types::Patient;
use crate::error::ConnectorError;
use crate::http::{self, Answer, Gate, Repeat, RetryPolicy};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const VENDOR: &str = "Hint";

/// Hint's API root for every practice (sandbox keys, `sbx-…`, are served there too).
pub const BASE_URL: &str = "https://api.hint.com/api";

/// Hint's page size cap.
pub const PAGE_SIZE: usize = 100;

/// A practice's API key. Its text is shown only to the HTTP client; `Debug` hides it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PracticeKey(String);

impl PracticeKey {
    /// A key as a practice admin copies it: one token of visible characters.
    pub fn parse(raw: &str) -> Result<PracticeKey, ConnectorError> {
        let key = raw.trim();
        if key.len() < 8 || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConnectorError::Settings {
                vendor: VENDOR,
                detail: "a practice API key is one word of 8 to 200 visible characters, as Hint shows it".into(),
            });
        }
        Ok(PracticeKey(key.to_owned()))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PracticeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PracticeKey(…)")
    }
}

/// Whether `header` (`X-Hint-Signature: sha256=<hex>`) is the HMAC-SHA256 of `body` under the
/// practice's webhook signature key, compared in constant time.
pub fn signature_is_valid(signing_key: &str, body: &[u8], header: Option<&str>) -> bool {
    use hmac::{Hmac, Mac};
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(sent) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(signing_key.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sent).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A connection to one Hint practice.
pub struct Hint {
    http: reqwest::Client,
    base_url: Url,
    key: PracticeKey,
    retry: RetryPolicy,
    gate: Arc<dyn Gate>,
}

impl Hint {
    /// `base_url` is Hint's API root (`https://api.hint.com/api`).
    pub fn new(
        base_url: Url,
        key: PracticeKey,
        retry: RetryPolicy,
        timeout: Duration,
        gate: Arc<dyn Gate>,
    ) -> Result<Hint, ConnectorError> {
        Ok(Hint {
            http: http::client(timeout)?,
            base_url,
            key,
            retry,
            gate,
        })
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.base_url.clone();
        url.set_path(&format!(
            "{}/provider{path}",
            self.base_url.path().trim_end_matches('/')
        ));
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    async fn call(&self, method: Method, url: &Url, body: Option<&Value>) -> Result<Answer, ConnectorError> {
        let repeat = if method == Method::POST {
            Repeat::OnlyUnsent
        } else {
            Repeat::Safe
        };
        http::send_through(VENDOR, &self.retry, repeat, self.gate.as_ref(), || {
            let request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.key.expose());
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        })
        .await
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<T, ConnectorError> {
        read(self.call(method, url, body).await?)
    }

    /// Checks the key with the smallest read there is (one patient).
    pub async fn check_key(&self) -> Result<(), ConnectorError> {
        let url = self.url("/patients", &[("limit", "1".into())]);
        self.call_json::<Value>(Method::GET, &url, None).await.map(drop)
    }

    /// Every current patient, or those changed after `changed_after`, a page at a time.
    pub fn patients(&self, changed_after: Option<DateTime<Utc>>) -> Pages<'_> {
        let mut filters = vec![("sort", "created_at".to_owned())];
        if let Some(after) = changed_after {
            let after = after.to_rfc3339_opts(SecondsFormat::Micros, true);
            filters.push(("updated_at", json!({"gt": after}).to_string()));
        }
        Pages {
            client: self,
            filters,
            offset: 0,
            done: false,
        }
    }

    /// Patients whose first and last names are exactly these (case aside), as Hint filters.
    pub async fn named(&self, first_name: &str, last_name: &str) -> Result<Vec<Patient>, ConnectorError> {
        let url = self.url(
            "/patients",
            &[
                ("first_name", first_name.to_owned()),
                ("last_name", last_name.to_owned()),
                ("limit", PAGE_SIZE.to_string()),
            ],
        );
        self.call_json(Method::GET, &url, None).await
    }

    /// `POST /patients/matching`: the patients with these names and, when given, date of birth.
    pub async fn matching(
        &self,
        first_name: &str,
        last_name: &str,
        dob: Option<&str>,
    ) -> Result<Vec<Patient>, ConnectorError> {
        let mut body = json!({"first_name": first_name, "last_name": last_name});
        if let Some(dob) = dob {
            body["dob"] = json!(dob);
        }
        // A read, though it is a POST: safe to send again.
        let url = self.url("/patients/matching", &[]);
        let answer = http::send_through(VENDOR, &self.retry, Repeat::Safe, self.gate.as_ref(), || {
            self.http.post(url.clone()).bearer_auth(self.key.expose()).json(&body)
        })
        .await?;
        read(answer)
    }

    /// One patient; `None` when Hint has none with that id.
    pub async fn patient(&self, id: &str) -> Result<Option<Patient>, ConnectorError> {
        let answer = self
            .call(Method::GET, &self.url(&format!("/patients/{id}"), &[]), None)
            .await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        read(answer).map(Some)
    }

    pub async fn create(&self, body: &Value) -> Result<Patient, ConnectorError> {
        self.call_json(Method::POST, &self.url("/patients", &[]), Some(body))
            .await
    }

    pub async fn update(&self, id: &str, body: &Value) -> Result<Patient, ConnectorError> {
        self.call_json(Method::PATCH, &self.url(&format!("/patients/{id}"), &[]), Some(body))
            .await
    }
}

/// A 2xx answer as `T`; otherwise a refusal in Hint's words, naming the fields it named.
fn read<T: DeserializeOwned>(answer: Answer) -> Result<T, ConnectorError> {
    answer.read(VENDOR, &["message"])
}

/// A patient list read by `limit` and `offset`.
pub struct Pages<'c> {
    client: &'c Hint,
    filters: Vec<(&'static str, String)>,
    offset: usize,
    done: bool,
}

impl Pages<'_> {
    /// The next page, or `None` once a page came back short.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Patient>>, ConnectorError> {
        if self.done {
            return Ok(None);
        }
        let mut query = self.filters.clone();
        query.push(("limit", PAGE_SIZE.to_string()));
        query.push(("offset", self.offset.to_string()));
        let url = self.client.url("/patients", &query);
        let page: Vec<Patient> = self.client.call_json(Method::GET, &url, None).await?;
        self.offset += page.len();
        self.done = page.len() < PAGE_SIZE;
        Ok(Some(page))
    }

    /// How far the list has been read: where the next page starts (a checkpoint to resume from).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Starts at `offset` instead of the beginning (resuming from a checkpoint).
    pub fn from(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_must_be_the_hmac_of_the_raw_body_under_the_practices_key() {
        let body = br#"{"id":"evt-1","type":"patient.created"}"#;
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"practice-key").unwrap();
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let header = format!("sha256={hex}");
        assert!(signature_is_valid("practice-key", body, Some(&header)));
        assert!(!signature_is_valid("another-key", body, Some(&header)));
        assert!(
            !signature_is_valid("practice-key", b"{}", Some(&header)),
            "the body as sent, byte for byte"
        );
        assert!(
            !signature_is_valid("practice-key", body, Some(&hex)),
            "the sha256= prefix is part of it"
        );
        assert!(!signature_is_valid("practice-key", body, None));
        assert!(!signature_is_valid("practice-key", body, Some("sha256=zz")));
    }

    #[test]
    fn a_key_is_one_visible_word_and_never_shown() {
        assert!(PracticeKey::parse("sbx-abc def").is_err());
        assert!(PracticeKey::parse("short").is_err());
        let key = PracticeKey::parse("  sbx-carebridge-local-practice-key ").unwrap();
        assert_eq!(format!("{key:?}"), "PracticeKey(…)");
    }
}
