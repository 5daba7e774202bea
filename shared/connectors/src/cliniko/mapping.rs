//! The one table of how a Cliniko client becomes a carebridge patient. Profile data flows one
//! way, Cliniko → carebridge, so there is no table back.
//!
//! | Cliniko | carebridge |
//! |---|---|
//! | `id` | `external_ids.cliniko` |
//! | `title` | `name_prefix` |
//! | `first_name`, `last_name` | `first_name`, `last_name` |
//! | `date_of_birth` | `date_of_birth` |
//! | `sex` (free text) | `sex`: Female, Male, Intersex, Other, Unknown and their usual spellings; any other text is `other`, with a warning naming Cliniko's value |
//! | `email` | `email` |
//! | `patient_phone_numbers` by `phone_type` | Mobile → `mobile_phone`, Home → `home_phone`, Work → `office_phone` (the first of each); other types are left, with a warning |
//! | `address_1`, `address_2` + `address_3`, `city`, `state`, `post_code`, `country_code` | `address_line1`, `address_line2` (joined with ", "), `city`, `state`, `zip`, `country` |
//! | the practitioner of the client's latest individual appointment that was neither cancelled, deleted nor missed (`did_not_arrive`) | `practitioner_id`: that practitioner's carebridge coach; with no such appointment Cliniko names no coach and carebridge keeps the one it has |
//!
//! And a Cliniko practitioner becomes a carebridge coach:
//!
//! | Cliniko | carebridge |
//! |---|---|
//! | `id` | `external_ids.cliniko` |
//! | `title`, `first_name`, `last_name` | `name_prefix`, `first_name`, `last_name` |
//! | its user's `email` | `email` (carebridge finds coaches by it) |
//! | | `kind`: `coach` |

use super::types::{Appointment, Id, Patient, Practitioner};
use model::external::ExternalSystem;
use model::patient::{PatientFields, PatientInput, Sex};
use model::practitioner::PractitionerInput;
use model::sync::VendorPractitioner;
use std::collections::{BTreeMap, HashMap};

/// The carebridge fields a Cliniko client sets: while a patient is linked to Cliniko, these are
/// Cliniko's to change, not carebridge callers'.
pub const OWNED_FIELDS: [&str; 15] = [
    "name_prefix",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "email",
    "mobile_phone",
    "home_phone",
    "office_phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zip",
    "country",
];

/// What a profile needs before carebridge syncs it (the clinic's guide names these): the
/// reasons a client is in error, one per missing field.
pub const REQUIRED: [(&str, &str); 5] = [
    ("first_name", "missing_first_name"),
    ("last_name", "missing_last_name"),
    ("date_of_birth", "missing_date_of_birth"),
    ("sex", "missing_sex"),
    ("email", "missing_email"),
];

/// A Cliniko client read for carebridge: the patient as entered and what did not carry over.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub input: PatientInput,
    /// Codes of what carebridge could not keep exactly (`sex_not_recognised`,
    /// `phone_type_not_kept`), each with Cliniko's own value.
    pub warnings: Vec<(&'static str, String)>,
}

/// The client's Cliniko id as carebridge keeps it.
pub fn cliniko_id(fields: &PatientFields) -> Option<&str> {
    fields.external_ids.get(&ExternalSystem::Cliniko).map(String::as_str)
}

/// The required fields the client lacks, as reason codes (see [`REQUIRED`]).
pub fn missing(patient: &Patient) -> Vec<&'static str> {
    let present = [
        patient.first_name.is_some(),
        patient.last_name.is_some(),
        patient.date_of_birth.is_some(),
        patient.sex.is_some(),
        patient.email.is_some(),
    ];
    REQUIRED
        .iter()
        .zip(present)
        .filter(|(_, present)| !present)
        .map(|((_, reason), _)| *reason)
        .collect()
}

/// The client as a patient input, by the table above.
pub fn patient_input(patient: &Patient) -> Mapped {
    let mut warnings = Vec::new();
    let sex = patient.sex.as_deref().map(|raw| match Sex::parse(raw) {
        Some(sex) => sex.as_str().to_owned(),
        None => {
            warnings.push(("sex_not_recognised", raw.to_owned()));
            Sex::Other.as_str().to_owned()
        }
    });
    let (mut mobile, mut home, mut office) = (None, None, None);
    for phone in &patient.patient_phone_numbers {
        let Some(number) = phone.number.clone() else { continue };
        let kind = phone.phone_type.as_deref().unwrap_or("").trim().to_ascii_lowercase();
        let slot = match kind.as_str() {
            "mobile" => &mut mobile,
            "home" => &mut home,
            "work" => &mut office,
            _ => {
                warnings.push(("phone_type_not_kept", phone.phone_type.clone().unwrap_or_default()));
                continue;
            }
        };
        slot.get_or_insert(number);
    }
    let line2: Vec<&str> = [&patient.address_2, &patient.address_3]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let input = PatientInput {
        name_prefix: patient.title.clone(),
        first_name: patient.first_name.clone(),
        middle_name: None,
        last_name: patient.last_name.clone(),
        date_of_birth: patient.date_of_birth.clone(),
        sex,
        email: patient.email.clone(),
        mobile_phone: mobile,
        home_phone: home,
        office_phone: office,
        address_line1: patient.address_1.clone(),
        address_line2: (!line2.is_empty()).then(|| line2.join(", ")),
        city: patient.city.clone(),
        state: patient.state.clone(),
        zip: patient.post_code.clone(),
        country: patient.country_code.clone(),
        practitioner_id: None,
        agency_id: None,
        external_ids: Some(BTreeMap::from([(
            ExternalSystem::Cliniko.as_str().to_owned(),
            patient.id.to_string(),
        )])),
    };
    Mapped { input, warnings }
}

/// For each client the appointments name, the practitioner Cliniko says they see (the table's
/// rule): the one of their latest appointment that was neither cancelled, deleted nor missed; of
/// two at the same time, the one booked later (the higher id).
pub fn coaches(appointments: &[Appointment]) -> HashMap<Id, Id> {
    let mut latest: HashMap<Id, &Appointment> = HashMap::new();
    let counts = appointments
        .iter()
        .filter(|a| a.cancelled_at.is_none() && a.deleted_at.is_none() && !a.did_not_arrive && a.starts_at.is_some());
    for appointment in counts {
        let (Some(patient), Some(_)) = (
            appointment.patient.as_ref().and_then(|p| p.id()),
            appointment.practitioner.as_ref().and_then(|p| p.id()),
        ) else {
            continue;
        };
        let later = |held: &&Appointment| (appointment.starts_at, appointment.id) > (held.starts_at, held.id);
        if latest.get(&patient).is_none_or(later) {
            latest.insert(patient, appointment);
        }
    }
    latest
        .into_iter()
        .filter_map(|(patient, a)| Some((patient, a.practitioner.as_ref()?.id()?)))
        .collect()
}

/// A Cliniko practitioner as the coach a plan reads, with its user's e-mail (`None` when its
/// user has none, which the plan reports).
pub fn vendor_practitioner(practitioner: &Practitioner, email: Option<&str>) -> VendorPractitioner {
    VendorPractitioner {
        vendor_id: practitioner.id.to_string(),
        input: PractitionerInput {
            name_prefix: practitioner.title.clone(),
            first_name: practitioner.first_name.clone(),
            last_name: practitioner.last_name.clone(),
            email: email.map(str::to_owned),
            kind: Some("coach".to_owned()),
            external_ids: Some(BTreeMap::from([(
                ExternalSystem::Cliniko.as_str().to_owned(),
                practitioner.id.to_string(),
            )])),
            ..PractitionerInput::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::patient::Context;

    fn published() -> Patient {
        serde_json::from_str(include_str!("../../fixtures/cliniko-patient.json")).unwrap()
    }

    fn context() -> Context {
        Context {
            default_country: model::normalize::Country::parse("AU").unwrap(),
            today: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
        }
    }

    #[test]
    fn clinikos_published_client_reads_by_the_table() {
        let Mapped { input, warnings } = patient_input(&published());
        assert_eq!(input.name_prefix.as_deref(), Some("Mr"));
        assert_eq!(input.first_name.as_deref(), Some("Peter"));
        assert_eq!(input.date_of_birth.as_deref(), Some("2001-05-26"));
        assert_eq!(input.mobile_phone.as_deref(), Some("61444444444"));
        assert_eq!(input.home_phone.as_deref(), Some("61399999999"));
        assert_eq!(
            (input.address_line1.as_deref(), input.address_line2.as_deref()),
            (Some("1 Smith Street"), None)
        );
        assert_eq!(
            (input.zip.as_deref(), input.city.as_deref()),
            (Some("3000"), Some("Melbourne"))
        );
        assert_eq!(input.external_ids.as_ref().unwrap()["cliniko"], "1");
        assert_eq!(input.sex.as_deref(), Some("other"));
        assert_eq!(warnings, [("sex_not_recognised", "Female to Male".to_owned())]);
        let fields = input.validate(&context()).unwrap();
        assert_eq!(cliniko_id(&fields), Some("1"));
        assert_eq!(
            fields.country,
            Some(model::normalize::Country::parse("AU").unwrap()),
            "no country_code: the group's default"
        );
    }

    #[test]
    fn known_sexes_map_and_other_phone_types_are_named() {
        let mut patient = published();
        patient.sex = Some("Female".into());
        patient.address_2 = Some("Unit 4".into());
        patient.address_3 = Some("Rear".into());
        patient.patient_phone_numbers = serde_json::from_str(
            r#"[{"phone_type": "Fax", "number": "1"}, {"phone_type": "Work", "number": "61388888888"}]"#,
        )
        .unwrap();
        let Mapped { input, warnings } = patient_input(&patient);
        assert_eq!(input.sex.as_deref(), Some("female"));
        assert_eq!(input.office_phone.as_deref(), Some("61388888888"));
        assert_eq!(input.address_line2.as_deref(), Some("Unit 4, Rear"));
        assert_eq!(warnings, [("phone_type_not_kept", "Fax".to_owned())]);
    }

    #[test]
    fn every_missing_required_field_is_a_reason() {
        let mut patient = published();
        assert!(missing(&patient).is_empty());
        patient.first_name = None;
        patient.email = None;
        patient.sex = None;
        assert_eq!(
            missing(&patient),
            ["missing_first_name", "missing_sex", "missing_email"]
        );
    }

    fn appointment(id: u64, patient: u64, practitioner: u64, starts_at: &str) -> Appointment {
        serde_json::from_value(serde_json::json!({
            "id": id,
            "starts_at": starts_at,
            "patient": {"links": {"self": format!("https://api.au1.cliniko.com/v1/patients/{patient}")}},
            "practitioner": {"links": {"self": format!("https://api.au1.cliniko.com/v1/practitioners/{practitioner}")}},
        }))
        .unwrap()
    }

    #[test]
    fn a_clients_coach_is_the_practitioner_of_their_latest_appointment_that_counts() {
        let mut cancelled = appointment(4, 1, 30, "2024-06-01T09:00:00Z");
        cancelled.cancelled_at = cancelled.starts_at;
        let mut missed = appointment(5, 1, 40, "2024-07-01T09:00:00Z");
        missed.did_not_arrive = true;
        let appointments = [
            appointment(1, 1, 10, "2024-01-01T09:00:00Z"),
            appointment(2, 1, 20, "2024-05-01T09:00:00Z"),
            cancelled,
            missed,
            appointment(6, 2, 10, "2024-03-01T09:00:00Z"),
            appointment(7, 2, 50, "2024-03-01T09:00:00Z"),
        ];
        let coaches = coaches(&appointments);
        assert_eq!(coaches[&Id(1)], Id(20), "cancelled and missed appointments say nothing");
        assert_eq!(coaches[&Id(2)], Id(50), "at the same time, the one booked later");
        assert_eq!(coaches.len(), 2);
        assert!(super::coaches(&[]).is_empty(), "no appointments, no coach");
    }

    #[test]
    fn a_practitioner_becomes_a_coach_found_by_its_users_email() {
        let practitioner: Practitioner =
            serde_json::from_str(include_str!("../../fixtures/cliniko-practitioner.json")).unwrap();
        let coach = vendor_practitioner(&practitioner, Some("randy@clinic.example"));
        assert_eq!(coach.vendor_id, "514810972972521916");
        let fields = coach.input.validate(&context().default_country).unwrap();
        assert_eq!(
            (fields.first_name.as_str(), fields.last_name.as_str()),
            ("Randy", "Savage")
        );
        assert_eq!(fields.email, "randy@clinic.example");
        assert_eq!(fields.name_prefix.as_deref(), Some("Mr"));
        assert_eq!(fields.kind, model::practitioner::PractitionerKind::Coach);
        assert_eq!(fields.external_ids[&ExternalSystem::Cliniko], "514810972972521916");
        assert!(
            vendor_practitioner(&practitioner, None)
                .input
                .validate(&context().default_country)
                .is_err()
        );
    }

    #[test]
    fn every_owned_field_is_a_patient_field() {
        let fields = serde_json::to_value(patient_input(&published()).input.validate(&context()).unwrap()).unwrap();
        for owned in OWNED_FIELDS {
            assert!(fields.get(owned).is_some(), "{owned} is not a patient field");
        }
    }
}
