//! Ensora's records as its customer API sends them. Ids arrive as text or as numbers (third-party
//! code has seen both) and are kept as text; dates and times are kept as Ensora wrote them and read
//! by the model's rules.

use serde::{Deserialize, Deserializer, Serialize};

/// An id as text, whether Ensora sent `"123"` or `123`.
fn id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(i64),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(text) => text,
        Raw::Number(number) => number.to_string(),
    })
}

/// As [`id`], for an id that may be missing or null.
fn optional_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "id")] String);
    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|w| w.0))
}

fn yes() -> bool {
    true
}

/// A site of the organization (carebridge maps it to an agency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    #[serde(deserialize_with = "id")]
    pub site_id: String,
    pub name: String,
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A student (`Patient` in the customer API; carebridge maps it to a patient).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Student {
    #[serde(deserialize_with = "id")]
    pub patient_id: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// `2015-02-03`, or with a time of day after it.
    #[serde(default)]
    pub date_of_birth: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub gender: Option<String>,
    #[serde(default, deserialize_with = "optional_id")]
    pub site_id: Option<String>,
}

/// One site a user works at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteAssignment {
    #[serde(deserialize_with = "id")]
    pub site_id: String,
}

/// A user (a therapist; carebridge maps it to a practitioner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(deserialize_with = "id")]
    pub user_id: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub site_assignments: Vec<SiteAssignment>,
}

/// One answer of a SOAP note, under the template's question text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub question_text: String,
    #[serde(default)]
    pub answer: Option<String>,
}

/// A published SOAP session note (carebridge maps it to an appointment and completes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoapNote {
    #[serde(deserialize_with = "id")]
    pub soap_note_id: String,
    #[serde(default, deserialize_with = "optional_id")]
    pub patient_id: Option<String>,
    #[serde(default, deserialize_with = "optional_id")]
    pub user_id: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub end_time: Option<String>,
    /// When a therapist last revised the published note; none for a note never revised.
    #[serde(default)]
    pub date_revision_made: Option<String>,
    #[serde(default)]
    pub is_deleted: bool,
    #[serde(default)]
    pub responses: Vec<Response>,
}

impl SoapNote {
    /// The answers as the model's note reader takes them.
    pub fn answers(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.responses
            .iter()
            .map(|r| (r.question_text.as_str(), r.answer.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_arrive_as_text_or_numbers_and_are_kept_as_text() {
        let student: Student = serde_json::from_value(
            serde_json::json!({"patientId": 42, "firstName": "Ana", "lastName": "Ruiz", "siteId": "s-1"}),
        )
        .unwrap();
        assert_eq!(student.patient_id, "42");
        assert_eq!(student.site_id.as_deref(), Some("s-1"));
        assert!(student.active, "a student Ensora sends without `active` is active");
        let note: SoapNote = serde_json::from_value(
            serde_json::json!({"soapNoteId": 7, "patientId": null, "userId": 9, "isDeleted": false, "responses": [{"questionText": "Notes", "answer": null}]}),
        )
        .unwrap();
        assert_eq!(
            (
                note.soap_note_id.as_str(),
                note.patient_id.as_deref(),
                note.user_id.as_deref()
            ),
            ("7", None, Some("9"))
        );
        assert_eq!(note.answers().collect::<Vec<_>>(), [("Notes", None)]);
    }
}
