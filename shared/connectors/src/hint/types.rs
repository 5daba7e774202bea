//! Hint's records as its provider API sends them, reduced to the fields carebridge reads.
//! Hint's examples send `null` for unset values; empty texts read as unset too.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(deserializer)?;
    Ok(value.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
}

fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match text(deserializer)? {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(&raw)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| serde::de::Error::custom(format!("{raw:?} is not a time"))),
    }
}

fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A Hint patient (`pat-…`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Patient {
    pub id: String,
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub middle_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`, kept as text so a bad value is the record's error, not a failed page.
    #[serde(default, deserialize_with = "text")]
    pub dob: Option<String>,
    /// `male`, `female` or `intersex`.
    #[serde(default, deserialize_with = "text")]
    pub sex: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub phones: Vec<Phone>,
    #[serde(default, deserialize_with = "text")]
    pub address_line1: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_line2: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_city: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_state: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_zip: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_country: Option<String>,
    #[serde(default)]
    pub practitioner: Option<Practitioner>,
    #[serde(default, deserialize_with = "text")]
    pub health_insurance_payer_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub health_insurance_group_id: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub health_insurance_member_id: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub patient_agreement_accepted: bool,
    #[serde(default, deserialize_with = "time")]
    pub patient_agreement_accepted_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "flag")]
    pub hipaa_authorization_accepted: bool,
    #[serde(default, deserialize_with = "time")]
    pub hipaa_authorization_accepted_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "text")]
    pub membership_status: Option<String>,
    /// The partner's own id of the record this patient was made from (carebridge writes the
    /// Salesforce contact's id when it creates a patient from a contact).
    #[serde(default, deserialize_with = "text")]
    pub integration_record_id: Option<String>,
    #[serde(default, deserialize_with = "time")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Phone {
    /// A number, as text or digits.
    #[serde(default, deserialize_with = "number")]
    pub number: Option<String>,
    /// `mobile`, `home`, `work`, …
    #[serde(default, rename = "type", deserialize_with = "text")]
    pub kind: Option<String>,
}

fn number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(t)) => Some(t.trim().to_owned()).filter(|t| !t.is_empty()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Practitioner {
    pub id: String,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
}

/// A webhook delivery: `{id, created_at, type, practice_id, object}`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Event {
    pub id: String,
    #[serde(default, deserialize_with = "time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(rename = "type")]
    pub kind: String,
    pub practice_id: String,
    pub object: serde_json::Value,
}

impl Event {
    /// The id of the record the event is about (`object.id`), when it has one.
    pub fn object_id(&self) -> Option<&str> {
        self.object.get("id").and_then(serde_json::Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hints_published_patient() {
        let patient: Patient = serde_json::from_str(include_str!("../../fixtures/hint-patient.json")).unwrap();
        assert_eq!(patient.id, "pat-ab12C345DeF6");
        assert_eq!(patient.dob.as_deref(), Some("1956-04-24"));
        assert_eq!(patient.practitioner.unwrap().name.as_deref(), Some("Reginald Dwight"));
        assert!(patient.hipaa_authorization_accepted);
        assert!(patient.patient_agreement_accepted_at.is_none());
        assert_eq!(
            patient.health_insurance_payer_name.as_deref(),
            Some("Anthem Blue Cross California")
        );
    }

    #[test]
    fn reads_hints_published_webhook_envelope() {
        let event: Event =
            serde_json::from_str(include_str!("../../fixtures/hint-webhook-event-patient-created.json")).unwrap();
        assert_eq!(
            (event.kind.as_str(), event.practice_id.as_str()),
            ("patient.created", "pra-6BIBTelN3rM5")
        );
        assert_eq!(event.object["id"], "pat-eN9DgCQ9iQxL");
    }
}
