//! Cliniko's API (v1) over HTTPS: HTTP Basic with the key as user, the app named in
//! `User-Agent`, lists followed page by page through `links.next`, every try through a [`Gate`]
//! (the key's shared rate budget) and retried as every connector retries.

use super::key::ApiKey;
use super::types::{Appointment, DeletedPatient, Id, Page, Patient, Practitioner, User};
use crate::error::ConnectorError;
use crate::http::{self, Answer, Gate, Repeat, RetryPolicy};
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

const VENDOR: &str = "Cliniko";

/// Cliniko's page size cap.
pub const PAGE_SIZE: u32 = 100;

/// A connection to one Cliniko account, with one user's key.
pub struct Cliniko {
    http: reqwest::Client,
    base_url: Url,
    key: ApiKey,
    retry: RetryPolicy,
    gate: Arc<dyn Gate>,
    user_agent: String,
}

/// Which of Cliniko's patient lists to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientList {
    /// `/patients`: neither archived nor deleted.
    Current,
    /// `/patients/archived`.
    Archived,
}

/// Which of Cliniko's individual appointment lists to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentList {
    /// `/individual_appointments`.
    Current,
    /// `/individual_appointments/cancelled`.
    Cancelled,
    /// `/individual_appointments/deleted`.
    Deleted,
}

/// How many ids one `q[]=id:=…` filter names, so its URL stays short.
pub const IDS_PER_REQUEST: usize = 50;

impl Cliniko {
    /// `base_url` is the key's shard's API (see [`ApiKey::base_url`]); `user_agent` names the
    /// app and a contact e-mail, as Cliniko requires.
    pub fn new(
        base_url: Url,
        key: ApiKey,
        retry: RetryPolicy,
        timeout: Duration,
        gate: Arc<dyn Gate>,
        user_agent: &str,
    ) -> Result<Cliniko, ConnectorError> {
        // A 429 names when the limit resets, up to a minute away: waiting that long beats
        // failing the job.
        let retry = RetryPolicy {
            longest_wait: retry.longest_wait.max(Duration::from_secs(61)),
            ..retry
        };
        Ok(Cliniko {
            http: http::client(timeout)?,
            base_url,
            key,
            retry,
            gate,
            user_agent: user_agent.to_owned(),
        })
    }

    /// Checks the key with one small read (the first practitioner): refused with Cliniko's own
    /// reason, or unavailable.
    pub async fn check_key(&self) -> Result<(), ConnectorError> {
        let url = self.url("/practitioners", &[("per_page", "1".into())])?;
        let answer = self.get(&url).await?;
        read::<Value>(answer).map(drop)
    }

    /// Patients of `list`, those changed after `changed_after` when given (Cliniko's
    /// `updated_at:>` filter), oldest first.
    pub fn patients(&self, list: PatientList, changed_after: Option<DateTime<Utc>>) -> Pages<'_, Patient> {
        let path = match list {
            PatientList::Current => "/patients",
            PatientList::Archived => "/patients/archived",
        };
        self.pages(path, "patients", changed_after)
    }

    /// Patients deleted (as Cliniko records it, `updated_at`) after `changed_after` when given.
    pub fn deleted_patients(&self, changed_after: Option<DateTime<Utc>>) -> Pages<'_, DeletedPatient> {
        self.pages("/patients/deleted", "patients", changed_after)
    }

    /// Current patients with these ids (at most [`IDS_PER_REQUEST`]), in one filtered list.
    pub fn patients_with_ids(&self, ids: &[Id]) -> Pages<'_, Patient> {
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        self.filtered("/patients", "patients", vec![("q[]", format!("id:={}", ids.join(",")))])
    }

    /// Active practitioners.
    pub fn practitioners(&self) -> Pages<'_, Practitioner> {
        self.pages("/practitioners", "practitioners", None)
    }

    /// Practitioners no longer active, whom older appointments still name.
    pub fn inactive_practitioners(&self) -> Pages<'_, Practitioner> {
        self.pages("/practitioners/inactive", "practitioners", None)
    }

    /// The account's users (a practitioner's e-mail is its user's).
    pub fn users(&self) -> Pages<'_, User> {
        self.pages("/users", "users", None)
    }

    /// Individual appointments of `list`, those changed after `changed_after` when given.
    pub fn appointments(&self, list: AppointmentList, changed_after: Option<DateTime<Utc>>) -> Pages<'_, Appointment> {
        let path = match list {
            AppointmentList::Current => "/individual_appointments",
            AppointmentList::Cancelled => "/individual_appointments/cancelled",
            AppointmentList::Deleted => "/individual_appointments/deleted",
        };
        self.pages(path, "individual_appointments", changed_after)
    }

    /// One patient's current individual appointments, the latest first.
    pub fn appointments_of(&self, patient: Id) -> Pages<'_, Appointment> {
        let query = vec![
            ("q[]", format!("patient_id:={patient}")),
            ("sort", "starts_at:desc".to_owned()),
        ];
        self.filtered("/individual_appointments", "individual_appointments", query)
    }

    /// One practitioner, active or not; `None` when Cliniko has none with that id.
    pub async fn practitioner(&self, id: Id) -> Result<Option<Practitioner>, ConnectorError> {
        self.one(&format!("/practitioners/{id}")).await
    }

    /// One user; `None` when Cliniko has none with that id.
    pub async fn user(&self, id: Id) -> Result<Option<User>, ConnectorError> {
        self.one(&format!("/users/{id}")).await
    }

    /// One patient (archived ones too); `None` when Cliniko has none with that id (or it was
    /// deleted).
    pub async fn patient(&self, id: Id) -> Result<Option<Patient>, ConnectorError> {
        self.one(&format!("/patients/{id}")).await
    }

    /// The record at `path`, or `None` when Cliniko answers 404.
    async fn one<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ConnectorError> {
        let url = self.url(path, &[])?;
        let answer = self.get(&url).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        read(answer).map(Some)
    }

    fn pages<T>(&self, path: &str, name: &'static str, changed_after: Option<DateTime<Utc>>) -> Pages<'_, T> {
        let query = changed_after
            .map(|after| {
                let after = after.to_rfc3339_opts(SecondsFormat::Millis, true);
                ("q[]", format!("updated_at:>{after}"))
            })
            .into_iter()
            .collect();
        self.filtered(path, name, query)
    }

    /// The list at `path`, a hundred a page, as `query` filters and orders it.
    fn filtered<T>(&self, path: &str, name: &'static str, query: Vec<(&str, String)>) -> Pages<'_, T> {
        let mut query = query;
        query.insert(0, ("per_page", PAGE_SIZE.to_string()));
        Pages {
            client: self,
            name,
            next: Some(self.url(path, &query)),
            total: None,
            item: PhantomData,
        }
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, ConnectorError> {
        let mut url = self.base_url.clone();
        url.set_path(&format!("{}{path}", self.base_url.path().trim_end_matches('/')));
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    async fn get(&self, url: &Url) -> Result<Answer, ConnectorError> {
        http::send_through(VENDOR, &self.retry, Repeat::Safe, self.gate.as_ref(), || {
            self.http
                .get(url.clone())
                .basic_auth(self.key.expose(), Some(""))
                .header("accept", "application/json")
                .header("user-agent", &self.user_agent)
        })
        .await
    }

    /// A `links.next` of Cliniko's, if it points at this key's own API: the key is never sent
    /// anywhere else.
    fn follow(&self, link: &str) -> Result<Url, ConnectorError> {
        let url = Url::parse(link).map_err(|_| malformed(format!("links.next is not a URL: {link:?}")))?;
        let same_api = url.origin() == self.base_url.origin() && url.path().starts_with(self.base_url.path());
        if !same_api {
            return Err(malformed("links.next points away from the key's own API".into()));
        }
        Ok(url)
    }
}

fn malformed(detail: String) -> ConnectorError {
    ConnectorError::Malformed { vendor: VENDOR, detail }
}

/// A 2xx answer as `T`; anything else as the refusal it is, in Cliniko's own words.
fn read<T: DeserializeOwned>(answer: Answer) -> Result<T, ConnectorError> {
    if answer.is_success() {
        return answer.json(VENDOR);
    }
    let reason = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|body| {
            ["message", "error", "errors"].iter().find_map(|name| {
                body.get(*name)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            })
        })
        .unwrap_or_else(|| format!("status {}", answer.status.as_u16()));
    Err(match answer.status {
        StatusCode::UNAUTHORIZED => ConnectorError::BadCredentials { vendor: VENDOR, reason },
        status => ConnectorError::Rejected {
            vendor: VENDOR,
            status: status.as_u16(),
            detail: reason,
            fields: Vec::new(),
        },
    })
}

/// A list read page by page through `links.next`; [`Pages::total`] is known after the first.
pub struct Pages<'c, T> {
    client: &'c Cliniko,
    name: &'static str,
    next: Option<Result<Url, ConnectorError>>,
    pub total: Option<u64>,
    item: PhantomData<T>,
}

impl<T: DeserializeOwned> Pages<'_, T> {
    /// The next page's records, or `None` after the last page.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>, ConnectorError> {
        let Some(next) = self.next.take() else {
            return Ok(None);
        };
        let body: Value = read(self.client.get(&next?).await?)?;
        let page = page_of::<T>(&body, self.name)?;
        self.total = page.total_entries.or(self.total);
        self.next = page.next.map(|link| self.client.follow(&link));
        Ok(Some(page.items))
    }

    /// Every remaining record.
    pub async fn all(&mut self) -> Result<Vec<T>, ConnectorError> {
        let mut all = Vec::new();
        while let Some(page) = self.next_page().await? {
            all.extend(page);
        }
        Ok(all)
    }
}

/// A list answer: the records under `name`, `total_entries` (a number, or a string of digits
/// as some published examples send it) and `links.next`.
pub fn page_of<T: DeserializeOwned>(body: &Value, name: &str) -> Result<Page<T>, ConnectorError> {
    let items = body
        .get(name)
        .cloned()
        .ok_or_else(|| malformed(format!("a list answer without `{name}`")))?;
    let items: Vec<T> = serde_json::from_value(items).map_err(|e| malformed(format!("a record in `{name}`: {e}")))?;
    let total_entries = match body.get("total_entries") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let next = body.pointer("/links/next").and_then(Value::as_str).map(str::to_owned);
    Ok(Page {
        items,
        total_entries,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_clinikos_published_lists_whatever_type_their_totals_are() {
        let patients: Value = serde_json::from_str(include_str!("../../fixtures/cliniko-patients-list.json")).unwrap();
        let page = page_of::<Patient>(&patients, "patients").unwrap();
        assert_eq!((page.items.len(), page.total_entries, page.next), (1, Some(1), None));
        let practitioners: Value =
            serde_json::from_str(include_str!("../../fixtures/cliniko-practitioners-list.json")).unwrap();
        let page = page_of::<Practitioner>(&practitioners, "practitioners").unwrap();
        assert_eq!(page.items[0].first_name.as_deref(), Some("Randy"));
        assert!(page.total_entries.is_some(), "a total sent as a string still reads");
        assert!(page_of::<Patient>(&json_of("{}"), "patients").is_err());
    }

    fn json_of(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_refusal_is_told_in_clinikos_own_words() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
        };
        match read::<Value>(answer(401, r#"{"message": "Unauthorized"}"#)) {
            Err(ConnectorError::BadCredentials { reason, .. }) => assert_eq!(reason, "Unauthorized"),
            other => panic!("{other:?}"),
        }
        match read::<Value>(answer(403, "")) {
            Err(ConnectorError::Rejected { status, detail, .. }) => {
                assert_eq!((status, detail.as_str()), (403, "status 403"))
            }
            other => panic!("{other:?}"),
        }
    }
}
