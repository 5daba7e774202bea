//! Plan notes: what a coach writes in carebridge about a patient's plan, delivered to the EHR
//! that keeps the patient's chart (Elation, as a non-visit note).

use crate::error::{FieldError, ValidationErrors};
use crate::ids::{GroupId, PatientId, PlanNoteId, PractitionerId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest note accepted: a plan, not a document.
pub const MAX_TEXT_CHARS: usize = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanNoteInput {
    /// Required: the plan, 1 to 10,000 characters.
    pub text: Option<String>,
    /// Required: the practitioner writing it; in Elation the note is theirs.
    pub author_practitioner_id: Option<String>,
}

impl PlanNoteInput {
    /// The note's text (trimmed) and author, or every problem at once.
    pub fn validate(&self) -> Result<(String, PractitionerId), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let text = self.text.as_deref().map(str::trim).unwrap_or_default();
        if text.is_empty() {
            errors.push(FieldError::required("text"));
        } else if text.chars().count() > MAX_TEXT_CHARS {
            errors.push(FieldError::new(
                "text",
                "too_long",
                format!("a plan note is at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        let author = match self.author_practitioner_id.as_deref().map(str::trim) {
            None | Some("") => {
                errors.push(FieldError::required("author_practitioner_id"));
                None
            }
            Some(raw) => match PractitionerId::parse(raw) {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push(FieldError::new(
                        "author_practitioner_id",
                        "invalid_id",
                        "author_practitioner_id must be a practitioner id (prc_…)",
                    ));
                    None
                }
            },
        };
        match author {
            Some(author) if errors.is_empty() => Ok((text.to_owned(), author)),
            _ => Err(errors),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryStatus {
    /// Waiting to be sent (or being retried).
    Pending,
    Delivered,
    /// Every try failed (see `error`).
    Failed,
}

/// Where a note stands with the EHR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delivery {
    pub status: DeliveryStatus,
    /// The EHR's id for the note, once delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elation_note_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When carebridge last sent the note without hearing whether the EHR took it. The next try
    /// first looks for the note in the EHR, so a lost answer never posts it twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfirmed_post_at: Option<DateTime<Utc>>,
}

impl Delivery {
    /// A new note's: not sent yet.
    pub fn pending() -> Delivery {
        Delivery {
            status: DeliveryStatus::Pending,
            elation_note_id: None,
            delivered_at: None,
            error: None,
            unconfirmed_post_at: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanNote {
    pub id: PlanNoteId,
    pub group: GroupId,
    pub patient_id: PatientId,
    pub author_practitioner_id: PractitionerId,
    pub text: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub delivery: Delivery,
}

impl PlanNote {
    pub fn delivered(&self, elation_note_id: String, now: DateTime<Utc>) -> PlanNote {
        PlanNote {
            delivery: Delivery {
                status: DeliveryStatus::Delivered,
                elation_note_id: Some(elation_note_id),
                delivered_at: Some(now),
                error: None,
                unconfirmed_post_at: None,
            },
            ..self.clone()
        }
    }

    /// About to be sent: until the EHR answers, the note may or may not be there.
    pub fn posting(&self, now: DateTime<Utc>) -> PlanNote {
        self.with_unconfirmed_post(Some(now))
    }

    /// The EHR certainly did not take the last post (it refused or rate-limited it).
    pub fn not_posted(&self) -> PlanNote {
        self.with_unconfirmed_post(None)
    }

    /// True when an earlier post may have reached the EHR unbeknown to carebridge.
    pub fn may_be_posted(&self) -> bool {
        self.delivery.unconfirmed_post_at.is_some()
    }

    fn with_unconfirmed_post(&self, at: Option<DateTime<Utc>>) -> PlanNote {
        PlanNote {
            delivery: Delivery {
                unconfirmed_post_at: at,
                ..self.delivery.clone()
            },
            ..self.clone()
        }
    }

    pub fn failed(&self, reason: String) -> PlanNote {
        PlanNote {
            delivery: Delivery {
                status: DeliveryStatus::Failed,
                error: Some(reason),
                ..self.delivery.clone()
            },
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_needs_text_and_an_author_and_every_problem_is_named() {
        let author = PractitionerId::generate();
        let input = PlanNoteInput {
            text: Some("  Walk 20 minutes daily.  ".into()),
            author_practitioner_id: Some(author.to_string()),
        };
        assert_eq!(input.validate().unwrap(), ("Walk 20 minutes daily.".into(), author));
        let errors = PlanNoteInput {
            text: Some("x".repeat(MAX_TEXT_CHARS + 1)),
            author_practitioner_id: Some("pat_0190".into()),
        }
        .validate()
        .unwrap_err();
        let codes: Vec<_> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(codes, [("text", "too_long"), ("author_practitioner_id", "invalid_id")]);
        assert_eq!(PlanNoteInput::default().validate().unwrap_err().0.len(), 2);
    }
}
