//! Cliniko's records as its API (v1) sends them, reduced to the fields carebridge reads.
//!
//! Cliniko's published examples send patient ids as numbers and practitioner ids as strings,
//! and its current schema types every id as a string: [`Id`] reads either. Empty texts stand
//! for unset values (`"archived_at": ""`), so optional fields read `""` and `null` alike.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// A Cliniko id: a 64-bit number, sent as a number or as a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Id(pub u64);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Number(u64),
            Text(String),
        }
        match Either::deserialize(deserializer)? {
            Either::Number(n) => Ok(Id(n)),
            Either::Text(text) => text
                .trim()
                .parse()
                .map(Id)
                .map_err(|_| serde::de::Error::custom(format!("{text:?} is not a Cliniko id"))),
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Id {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Id, Self::Err> {
        text.trim().parse().map(Id)
    }
}

/// A text that may be absent, `null` or empty: `None` for all three.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(deserializer)?;
    Ok(value.filter(|t| !t.trim().is_empty()))
}

/// A time that may be absent, `null` or empty.
fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match text(deserializer)? {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc3339(&raw)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| serde::de::Error::custom(format!("{raw:?} is not a time"))),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Patient {
    pub id: Id,
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`; kept as text so a bad value becomes the client's error, not a failed page.
    #[serde(default, deserialize_with = "text")]
    pub date_of_birth: Option<String>,
    /// Free text in Cliniko ("Female", "Female to Male", …).
    #[serde(default, deserialize_with = "text")]
    pub sex: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "phones")]
    pub patient_phone_numbers: Vec<PhoneNumber>,
    #[serde(default, deserialize_with = "text")]
    pub address_1: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_2: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub address_3: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub state: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub post_code: Option<String>,
    /// ISO 3166-1; `country` (a name) is deprecated in Cliniko's newer docs.
    #[serde(default, deserialize_with = "text")]
    pub country_code: Option<String>,
    #[serde(default, deserialize_with = "time")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub archived_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub deleted_at: Option<DateTime<Utc>>,
}

fn phones<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<PhoneNumber>, D::Error> {
    Ok(Option::<Vec<PhoneNumber>>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PhoneNumber {
    /// "Mobile", "Home", "Work", "Fax", "Other", …
    #[serde(default, deserialize_with = "text")]
    pub phone_type: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub number: Option<String>,
}

/// A deleted patient, as `/patients/deleted` lists it: when, and its link (which holds its id).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeletedPatient {
    #[serde(default, deserialize_with = "time")]
    pub deleted_at: Option<DateTime<Utc>>,
    pub links: Links,
}

impl DeletedPatient {
    /// The id at the end of the patient's `self` link.
    pub fn id(&self) -> Option<Id> {
        self.links.id()
    }
}

/// Another record, as Cliniko names it from inside one: by its link.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Linked {
    pub links: Links,
}

impl Linked {
    pub fn id(&self) -> Option<Id> {
        self.links.id()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Links {
    #[serde(default, rename = "self")]
    pub this: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

impl Links {
    /// The id at the end of the `self` link.
    pub fn id(&self) -> Option<Id> {
        self.this
            .as_deref()?
            .trim_end_matches('/')
            .rsplit('/')
            .next()?
            .parse()
            .ok()
    }
}

/// An individual appointment: which client saw which practitioner, and when.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Appointment {
    pub id: Id,
    #[serde(default, deserialize_with = "time")]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "time")]
    pub deleted_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "flag")]
    pub did_not_arrive: bool,
    #[serde(default)]
    pub patient: Option<Linked>,
    #[serde(default)]
    pub practitioner: Option<Linked>,
    #[serde(default, deserialize_with = "time")]
    pub updated_at: Option<DateTime<Utc>>,
}

fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

/// A user of the clinic's account; every practitioner has one, which holds their e-mail.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct User {
    pub id: Id,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Practitioner {
    pub id: Id,
    #[serde(default, deserialize_with = "text")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub designation: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub label: Option<String>,
    /// The practitioner's user account, which holds their e-mail.
    #[serde(default)]
    pub user: Option<Linked>,
}

/// One page of a list: the records under the list's own name, the total, and the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_entries: Option<u64>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_clinikos_published_patient_with_its_blank_times_and_phones() {
        let patient: Patient = serde_json::from_str(include_str!("../../fixtures/cliniko-patient.json")).unwrap();
        assert_eq!(patient.id, Id(1));
        assert_eq!(patient.first_name.as_deref(), Some("Peter"));
        assert_eq!(patient.sex.as_deref(), Some("Female to Male"));
        assert_eq!(patient.archived_at, None, "an empty archived_at is unset");
        assert_eq!(patient.address_2, None);
        assert_eq!(patient.patient_phone_numbers.len(), 2);
        assert_eq!(patient.patient_phone_numbers[0].phone_type.as_deref(), Some("Mobile"));
    }

    #[test]
    fn reads_practitioner_ids_sent_as_strings() {
        let practitioner: Practitioner =
            serde_json::from_str(include_str!("../../fixtures/cliniko-practitioner.json")).unwrap();
        assert_eq!(practitioner.id, Id(514_810_972_972_521_916));
        assert_eq!(practitioner.designation.as_deref(), Some("Osteopath"));
        assert!(serde_json::from_str::<Id>("\"12a\"").is_err());
    }

    #[test]
    fn reads_clinikos_published_appointment_which_names_its_client_and_practitioner_by_link() {
        let appointment: Appointment =
            serde_json::from_str(include_str!("../../fixtures/cliniko-individual-appointment.json")).unwrap();
        assert_eq!(appointment.id, Id(1));
        assert_eq!(appointment.patient.and_then(|p| p.id()), Some(Id(82)));
        assert_eq!(appointment.practitioner.and_then(|p| p.id()), Some(Id(1)));
        assert_eq!(appointment.cancelled_at, None);
        assert!(!appointment.did_not_arrive);
        let user: User = serde_json::from_str(include_str!("../../fixtures/cliniko-user.json")).unwrap();
        assert_eq!(user.email.as_deref(), Some("john@example.com"));
    }

    #[test]
    fn a_deleted_patient_is_known_by_its_link() {
        let deleted: DeletedPatient = serde_json::from_str(
            r#"{"deleted_at": "2013-06-05T14:38:48Z", "links": {"self": "https://api.au1.cliniko.com/v1/patients/1"}}"#,
        )
        .unwrap();
        assert_eq!(deleted.id(), Some(Id(1)));
    }
}
