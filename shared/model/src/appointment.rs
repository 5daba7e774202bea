//! Appointments: a patient's session with a practitioner at an agency, on a date, from a start
//! to an end in the agency's time zone. A session note (Ensora's) completes one: its notes become
//! the results notes, its signatures the signature data, and the appointment is rendered.

use crate::checks;
use crate::ensora::SignatureData;
use crate::error::{FieldError, ValidationErrors};
use crate::ids::{AgencyId, AppointmentId, GroupId, PatientId, PractitionerId};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest results notes kept (a session note's narrative).
pub const MAX_RESULTS_NOTES: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AppointmentStatus {
    #[default]
    Scheduled,
    /// Completed from its session note; only carebridge's render sets it.
    Rendered,
    Cancelled,
}

impl AppointmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Scheduled => "scheduled",
            AppointmentStatus::Rendered => "rendered",
            AppointmentStatus::Cancelled => "cancelled",
        }
    }
}

/// An appointment as a caller sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppointmentInput {
    /// Required: the agency the appointment is at.
    pub agency_id: Option<String>,
    /// Required.
    pub patient_id: Option<String>,
    /// Required.
    pub practitioner_id: Option<String>,
    /// Required: `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Required: `HH:MM` (or `HH:MM:SS`), in the agency's time zone.
    pub start: Option<String>,
    /// Required: after `start`, on the same date.
    pub end: Option<String>,
    /// scheduled (the default) or cancelled; an appointment is rendered by its session note.
    pub status: Option<String>,
    pub results_notes: Option<String>,
}

/// An appointment's validated details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppointmentFields {
    pub agency_id: AgencyId,
    pub patient_id: PatientId,
    pub practitioner_id: PractitionerId,
    pub date: NaiveDate,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub status: AppointmentStatus,
    pub results_notes: Option<String>,
}

/// An appointment as carebridge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Appointment {
    pub id: AppointmentId,
    pub group: GroupId,
    #[serde(flatten)]
    pub fields: AppointmentFields,
    /// What the session note gave beside its notes: names, relationship, times, signatures and
    /// where they were made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_data: Option<SignatureData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_at: Option<DateTime<Utc>>,
    /// Revisions of the session note that came after the appointment was rendered: the render
    /// stands, and each revision is recorded here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions_after_render: Vec<RevisionAfterRender>,
    /// The session note whose revision last wrote the results notes and signature data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_note: Option<SessionNote>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A vendor's session note, at one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionNote {
    /// The vendor (`ensora`).
    pub system: String,
    pub note_id: String,
    /// The vendor's revision time, or `original` for a note never revised.
    pub revision: String,
}

/// A session note's revision that arrived after its appointment was rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RevisionAfterRender {
    /// When the therapist revised the note, as the vendor says.
    pub revised_at: String,
    pub recorded_at: DateTime<Utc>,
    pub results_notes: Option<String>,
    pub signature_data: SignatureData,
}

/// A time of day as the API takes it: `HH:MM` or `HH:MM:SS`.
pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    let raw = raw.trim();
    NaiveTime::parse_from_str(raw, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M"))
        .ok()
}

fn required<'a>(errors: &mut ValidationErrors, field: &str, raw: Option<&'a str>) -> Option<&'a str> {
    let value = checks::present(raw).map(str::trim);
    if value.is_none() {
        errors.push(FieldError::required(field));
    }
    value
}

fn id<T>(
    errors: &mut ValidationErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, crate::ids::IdError>,
) -> Option<T> {
    let raw = required(errors, field, raw)?;
    match parse(raw) {
        Ok(id) => Some(id),
        Err(e) => {
            errors.push(FieldError::new(field, "invalid_id", format!("{field}: {e}")));
            None
        }
    }
}

impl AppointmentInput {
    pub fn validate(&self) -> Result<AppointmentFields, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let e = &mut errors;
        let agency_id = id(e, "agency_id", self.agency_id.as_deref(), AgencyId::parse);
        let patient_id = id(e, "patient_id", self.patient_id.as_deref(), PatientId::parse);
        let practitioner_id = id(
            e,
            "practitioner_id",
            self.practitioner_id.as_deref(),
            PractitionerId::parse,
        );
        let date = required(e, "date", self.date.as_deref()).and_then(|raw| {
            let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
            if date.is_none() {
                e.push(FieldError::new("date", "invalid_date", "date must be YYYY-MM-DD"));
            }
            date
        });
        let mut time = |field: &str, raw: Option<&str>| {
            required(e, field, raw).and_then(|raw| {
                let time = parse_time(raw);
                if time.is_none() {
                    e.push(FieldError::new(
                        field,
                        "invalid_time",
                        format!("{field} must be HH:MM or HH:MM:SS"),
                    ));
                }
                time
            })
        };
        let start = time("start", self.start.as_deref());
        let end = time("end", self.end.as_deref());
        if let (Some(start), Some(end)) = (start, end)
            && end <= start
        {
            e.push(FieldError::new("end", "end_before_start", "end must be after start"));
        }
        let status = match checks::present(self.status.as_deref()).map(|s| s.trim().to_ascii_lowercase()) {
            None => Some(AppointmentStatus::Scheduled),
            Some(s) if s == "scheduled" => Some(AppointmentStatus::Scheduled),
            Some(s) if s == "cancelled" => Some(AppointmentStatus::Cancelled),
            Some(s) if s == "rendered" => {
                e.push(FieldError::new(
                    "status",
                    "rendered_by_session_note",
                    "an appointment is rendered when its session note completes it, not by setting its status",
                ));
                None
            }
            Some(_) => {
                e.push(FieldError::new(
                    "status",
                    "invalid_status",
                    "status must be scheduled or cancelled",
                ));
                None
            }
        };
        let results_notes = checks::optional_text(e, "results_notes", self.results_notes.as_deref(), MAX_RESULTS_NOTES);
        match (agency_id, patient_id, practitioner_id, date, start, end, status) {
            (
                Some(agency_id),
                Some(patient_id),
                Some(practitioner_id),
                Some(date),
                Some(start),
                Some(end),
                Some(status),
            ) if errors.is_empty() => Ok(AppointmentFields {
                agency_id,
                patient_id,
                practitioner_id,
                date,
                start,
                end,
                status,
                results_notes: results_notes.map(str::to_owned),
            }),
            _ => Err(errors),
        }
    }
}

impl From<&AppointmentFields> for AppointmentInput {
    /// The base a caller's patch is merged onto. A rendered appointment's status is left out:
    /// only its session note renders it, and a rendered appointment takes no edits.
    fn from(fields: &AppointmentFields) -> Self {
        AppointmentInput {
            agency_id: Some(fields.agency_id.to_string()),
            patient_id: Some(fields.patient_id.to_string()),
            practitioner_id: Some(fields.practitioner_id.to_string()),
            date: Some(fields.date.to_string()),
            start: Some(fields.start.format("%H:%M:%S").to_string()),
            end: Some(fields.end.format("%H:%M:%S").to_string()),
            status: (fields.status != AppointmentStatus::Rendered).then(|| fields.status.as_str().to_owned()),
            results_notes: fields.results_notes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> AppointmentInput {
        AppointmentInput {
            agency_id: Some(AgencyId::generate().to_string()),
            patient_id: Some(PatientId::generate().to_string()),
            practitioner_id: Some(PractitionerId::generate().to_string()),
            date: Some("2026-11-02".into()),
            start: Some("09:00".into()),
            end: Some("09:45".into()),
            ..AppointmentInput::default()
        }
    }

    fn codes(input: AppointmentInput) -> Vec<(String, &'static str)> {
        input
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    #[test]
    fn an_appointment_is_at_an_agency_with_a_patient_and_a_practitioner_on_a_date_from_start_to_end() {
        let fields = input().validate().unwrap();
        assert_eq!(fields.start, NaiveTime::from_hms_opt(9, 0, 0).unwrap());
        assert_eq!(fields.status, AppointmentStatus::Scheduled);
        assert_eq!(
            AppointmentInput::from(&fields).validate().unwrap(),
            fields,
            "a record reads back as its input"
        );
        assert_eq!(
            codes(AppointmentInput::default()),
            [
                ("agency_id".into(), "required"),
                ("patient_id".into(), "required"),
                ("practitioner_id".into(), "required"),
                ("date".into(), "required"),
                ("start".into(), "required"),
                ("end".into(), "required"),
            ]
        );
    }

    #[test]
    fn times_dates_ids_and_statuses_are_checked() {
        let wrong = AppointmentInput {
            patient_id: Some("prc_0192".into()),
            date: Some("11/02/2026".into()),
            start: Some("10:00".into()),
            end: Some("9:30".into()),
            status: Some("done".into()),
            ..input()
        };
        assert_eq!(
            codes(wrong),
            [
                ("patient_id".into(), "invalid_id"),
                ("date".into(), "invalid_date"),
                ("end".into(), "end_before_start"),
                ("status".into(), "invalid_status"),
            ]
        );
        let rendered = AppointmentInput {
            status: Some("rendered".into()),
            ..input()
        };
        assert_eq!(codes(rendered), [("status".into(), "rendered_by_session_note")]);
        let cancelled = AppointmentInput {
            status: Some("Cancelled".into()),
            ..input()
        };
        assert_eq!(cancelled.validate().unwrap().status, AppointmentStatus::Cancelled);
    }
}
