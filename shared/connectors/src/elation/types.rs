//! Elation's records as its REST API (v2.0) sends them, reduced to the fields carebridge reads.
//! Elation sends `null` for many empty values, so every optional field accepts it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Elation's ids are 64-bit integers, often 15 or more digits.
pub type ElationId = i64;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Patient {
    pub id: ElationId,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub middle_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`; kept as text so a bad value becomes a warning, not a failed page.
    #[serde(default)]
    pub dob: Option<String>,
    /// Female, Male, Other or Unknown.
    #[serde(default)]
    pub sex: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub emails: Vec<Email>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub phones: Vec<Phone>,
    #[serde(default)]
    pub address: Option<Address>,
    #[serde(default)]
    pub primary_physician: Option<ElationId>,
    #[serde(default)]
    pub last_modified: Option<DateTime<Utc>>,
    #[serde(default)]
    pub deleted_date: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Email {
    pub email: String,
    /// Everything else Elation holds for the entry (`created_date`, `deleted_date`, …), kept as
    /// it came, so a list sent back carries its untouched entries exactly as Elation had them.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Email {
    pub fn new(email: impl Into<String>) -> Self {
        Email {
            email: email.into(),
            other: Map::new(),
        }
    }

    /// Not deleted in Elation.
    pub fn is_live(&self) -> bool {
        is_live(&self.other)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Phone {
    pub phone: String,
    /// Fax, Home, Main, Mobile, Night, Other or Work.
    pub phone_type: String,
    /// Everything else, kept as it came (see [`Email::other`]).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Phone {
    pub fn new(phone: impl Into<String>, phone_type: impl Into<String>) -> Self {
        Phone {
            phone: phone.into(),
            phone_type: phone_type.into(),
            other: Map::new(),
        }
    }

    /// Not deleted in Elation.
    pub fn is_live(&self) -> bool {
        is_live(&self.other)
    }
}

/// An entry is deleted once Elation gives it a `deleted_date`.
fn is_live(other: &Map<String, Value>) -> bool {
    other.get("deleted_date").is_none_or(Value::is_null)
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Address {
    #[serde(default)]
    pub address_line1: Option<String>,
    #[serde(default)]
    pub address_line2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip: Option<String>,
    /// Anything else Elation holds in the address, kept as it came.
    #[serde(flatten, default)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Physician {
    pub id: ElationId,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub npi: Option<String>,
    #[serde(default)]
    pub credentials: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub last_modified: Option<DateTime<Utc>>,
}

/// An event subscription: where Elation sends a resource's changes, and the key it signs with.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Subscription {
    pub id: ElationId,
    pub resource: String,
    pub target: String,
    /// Base64 of the 32-byte Ed25519 public key that checks this subscription's deliveries.
    pub signing_pub_key: String,
    #[serde(default)]
    pub deleted_date: Option<String>,
}

/// A non-visit note as Elation answers its creation; carebridge keeps the id.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CreatedNote {
    pub id: ElationId,
}

/// A non-visit note as Elation lists it, reduced to what identifies a note carebridge posted
/// (see `mapping::is_plan_note`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NonVisitNote {
    pub id: ElationId,
    #[serde(default)]
    pub patient: Option<ElationId>,
    #[serde(default)]
    pub document_date: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub bullets: Vec<NoteBullet>,
    #[serde(default)]
    pub deleted_date: Option<String>,
}

/// One line of a note. Elation's answers do not always echo the bullet's category.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct NoteBullet {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub author: Option<ElationId>,
}

/// One page of a list: `next` is the full URL of the next page, absent on the last.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Page<T> {
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub next: Option<String>,
    pub results: Vec<T>,
}

/// What a webhook delivery carries (Elation's "published event").
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Event {
    /// The whole resource; absent when Elation sends `resource_url` instead.
    #[serde(default)]
    pub data: Option<Value>,
    pub action: Action,
    #[serde(default)]
    pub event_id: Option<i64>,
    /// A UUIDv7 that names the event across Elation's retries.
    #[serde(default)]
    pub event_uuid: Option<String>,
    #[serde(default)]
    pub application_id: Option<String>,
    pub resource: String,
    #[serde(default)]
    pub resource_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Created or changed: Elation does not tell the two apart.
    Saved,
    Deleted,
}

impl Event {
    /// The id that names this event across Elation's retries, for dropping repeats.
    pub fn dedupe_key(&self) -> Option<String> {
        self.event_uuid
            .clone()
            .or_else(|| self.event_id.map(|id| format!("event-{id}")))
    }
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elations_published_physician_example() {
        let sample = include_str!("../../fixtures/elation-physician.json");
        let physician: Physician = serde_json::from_str(sample).unwrap();
        assert_eq!(physician.id, 140758834544642);
        assert_eq!(physician.first_name.as_deref(), Some("Christopher"));
        assert_eq!(physician.npi.as_deref(), Some("155532"));
        assert_eq!(physician.is_active, Some(true));
    }

    #[test]
    fn reads_elations_published_note_creation_answer() {
        let sample = include_str!("../../fixtures/elation-non-visit-note-create-response.json");
        let note: CreatedNote = serde_json::from_str(sample).unwrap();
        assert!(note.id > 0);
        let listed: NonVisitNote = serde_json::from_str(sample).unwrap();
        assert_eq!(listed.patient, Some(140758510600193));
        assert_eq!(listed.document_date.unwrap().to_rfc3339(), "2022-05-05T07:50:20+00:00");
        assert_eq!(listed.bullets[0].author, Some(64));
        assert_eq!(listed.bullets[0].text.as_deref(), Some("New POST non visit"));
    }

    #[test]
    fn a_patient_with_nulls_where_lists_and_texts_go_still_reads() {
        let patient: Patient = serde_json::from_value(serde_json::json!({
            "id": 140758510600193i64, "first_name": "Ada", "last_name": null, "middle_name": null,
            "emails": null, "phones": null, "address": null, "dob": "1980-02-29", "sex": "Female"
        }))
        .unwrap();
        assert!(patient.emails.is_empty() && patient.phones.is_empty());
        assert_eq!(patient.last_name, None);
    }
}
