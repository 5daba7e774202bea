//! Elation ⇄ carebridge: the one table of how each value maps, both ways.
//!
//! | carebridge | Elation | notes |
//! |---|---|---|
//! | first, middle, last name | `first_name`, `middle_name`, `last_name` | an empty middle name is sent as `""` |
//! | date of birth | `dob` (`YYYY-MM-DD`) | |
//! | sex female / male / other / unknown | `sex` Female / Male / Other / Unknown | intersex is sent as Other, and an Other coming back keeps intersex |
//! | e-mail | `emails[]` | the first one not deleted; sent as a one-item list |
//! | mobile phone | `phones[]` of type Mobile | |
//! | home phone | type Home, else Main | |
//! | office phone | type Work | Fax, Night and Other are not read |
//! | address lines, city, state, zip | `address{address_line1, address_line2, city, state, zip}` | Elation's addresses are in the US |
//! | practitioner (the coach) | `primary_physician` | through the physician's link to a carebridge practitioner |
//! | Elation id | external id `elation` | |
//! | practitioner first, last name, e-mail, NPI | physician `first_name`, `last_name`, `email`, `npi` | physicians come in as practitioners of kind coach |
//!
//! Phones are sent to Elation as ten digits for North American numbers (how Elation's own
//! screens hold them) and in E.164 otherwise; both read back to the same E.164 number.

use super::types::{Address, ElationId, NonVisitNote, Patient, Physician};
use chrono::Timelike;
use model::external::ExternalSystem;
use model::normalize::{self, Country};
use model::patient::{PatientFields, PatientInput, Sex};
use model::practitioner::PractitionerInput;
use model::sync::{VendorPatient, VendorPractitioner};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// carebridge's sex and Elation's, in the order a value sent to Elation is looked up.
pub const SEXES: [(Sex, &str); 5] = [
    (Sex::Female, "Female"),
    (Sex::Male, "Male"),
    (Sex::Other, "Other"),
    (Sex::Unknown, "Unknown"),
    // Elation has no intersex; Other is the nearest and reads back as Other.
    (Sex::Intersex, "Other"),
];

/// Which carebridge phone an Elation phone type fills, best match first for each.
pub const PHONE_TYPES: [(&str, Option<PhoneSlot>); 7] = [
    ("Mobile", Some(PhoneSlot::Mobile)),
    ("Home", Some(PhoneSlot::Home)),
    ("Main", Some(PhoneSlot::Home)),
    ("Work", Some(PhoneSlot::Office)),
    ("Fax", None),
    ("Night", None),
    ("Other", None),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneSlot {
    Mobile,
    Home,
    Office,
}

impl PhoneSlot {
    /// The Elation type a carebridge phone is sent as.
    pub fn elation_type(self) -> &'static str {
        match self {
            PhoneSlot::Mobile => "Mobile",
            PhoneSlot::Home => "Home",
            PhoneSlot::Office => "Work",
        }
    }
}

/// Elation's sex for carebridge's; an unrecorded sex is Unknown (Elation requires one).
pub fn sex_to_elation(sex: Option<Sex>) -> &'static str {
    let sex = sex.unwrap_or(Sex::Unknown);
    SEXES
        .iter()
        .find(|(ours, _)| *ours == sex)
        .map_or("Unknown", |(_, theirs)| theirs)
}

/// carebridge's sex for Elation's. `current` is what carebridge holds: when it already maps to
/// the same Elation value it is kept, so intersex survives a round trip through Other.
pub fn sex_from_elation(raw: &str, current: Option<Sex>) -> Option<Sex> {
    let raw = raw.trim();
    if current.is_some() && sex_to_elation(current).eq_ignore_ascii_case(raw) {
        return current;
    }
    SEXES
        .iter()
        .find(|(_, theirs)| theirs.eq_ignore_ascii_case(raw))
        .map(|(ours, _)| *ours)
}

/// An Elation patient as carebridge input, checked by the model like any other input. The
/// practitioner is left out: the caller resolves `primary_physician` through its links.
/// `current` is carebridge's copy, if it has one (see [`sex_from_elation`]).
pub fn patient_input(patient: &Patient, current: Option<&PatientFields>) -> PatientInput {
    let live_email = patient.emails.iter().find(|e| e.deleted_date.is_none());
    let phone = |slot: PhoneSlot| {
        PHONE_TYPES
            .iter()
            .filter(|(_, filled)| *filled == Some(slot))
            .find_map(|(kind, _)| {
                patient
                    .phones
                    .iter()
                    .find(|p| p.deleted_date.is_none() && p.phone_type.eq_ignore_ascii_case(kind))
            })
            .map(|p| us_phone(&p.phone))
    };
    let address = patient.address.clone().unwrap_or_default();
    let has_address = [&address.address_line1, &address.city, &address.state, &address.zip]
        .iter()
        .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()));
    let sex = patient.sex.as_deref().map(|raw| {
        sex_from_elation(raw, current.and_then(|c| c.sex))
            // Not one of Elation's four: let the model's parser try, and name it if it cannot.
            .map_or_else(|| raw.to_owned(), |sex| sex.as_str().to_owned())
    });
    PatientInput {
        first_name: patient.first_name.clone(),
        middle_name: patient.middle_name.clone(),
        last_name: patient.last_name.clone(),
        date_of_birth: patient.dob.clone(),
        sex,
        email: live_email.map(|e| e.email.clone()),
        mobile_phone: phone(PhoneSlot::Mobile),
        home_phone: phone(PhoneSlot::Home),
        office_phone: phone(PhoneSlot::Office),
        address_line1: address.address_line1,
        address_line2: address.address_line2,
        city: address.city,
        state: address.state,
        zip: address.zip,
        country: has_address.then(|| "US".to_owned()),
        external_ids: Some(BTreeMap::from([(
            ExternalSystem::Elation.as_str().to_owned(),
            patient.id.to_string(),
        )])),
        ..PatientInput::default()
    }
}

/// Elation's numbers are North American: read them so, whatever the group's own country.
fn us_phone(raw: &str) -> String {
    normalize::phone(raw, &Country::us()).map_or_else(|_| raw.to_owned(), |e164| e164.as_str().to_owned())
}

/// A physician as carebridge practitioner input (a coach).
pub fn practitioner_input(physician: &Physician) -> PractitionerInput {
    PractitionerInput {
        first_name: physician.first_name.clone(),
        last_name: physician.last_name.clone(),
        email: physician.email.clone(),
        kind: Some("coach".to_owned()),
        npi: physician
            .npi
            .clone()
            .filter(|npi| model::practitioner::is_valid_npi(npi)),
        external_ids: Some(BTreeMap::from([(
            ExternalSystem::Elation.as_str().to_owned(),
            physician.id.to_string(),
        )])),
        ..PractitionerInput::default()
    }
}

/// A physician as the vendor-neutral record an integration's plan reads.
pub fn vendor_practitioner(physician: &Physician) -> VendorPractitioner {
    VendorPractitioner {
        vendor_id: physician.id.to_string(),
        input: practitioner_input(physician),
    }
}

/// A patient as the vendor-neutral record an integration's plan reads; `current` as for
/// [`patient_input`].
pub fn vendor_patient(patient: &Patient, current: Option<&PatientFields>) -> VendorPatient {
    VendorPatient {
        vendor_id: patient.id.to_string(),
        input: patient_input(patient, current),
        practitioner_vendor_id: patient.primary_physician.map(|id| id.to_string()),
    }
}

/// The Elation id carebridge holds for a patient or practitioner, if it is linked.
pub fn elation_id(external_ids: &model::external::ExternalIds) -> Option<ElationId> {
    external_ids.get(&ExternalSystem::Elation)?.parse().ok()
}

/// carebridge's demographics in Elation's shape: every field carebridge sends to Elation.
pub fn demographics(fields: &PatientFields) -> Map<String, Value> {
    let phones: Vec<Value> = [
        (PhoneSlot::Mobile, &fields.mobile_phone),
        (PhoneSlot::Home, &fields.home_phone),
        (PhoneSlot::Office, &fields.office_phone),
    ]
    .into_iter()
    .filter_map(|(slot, phone)| {
        let phone = phone.as_deref()?;
        Some(json!({"phone": elation_phone(phone), "phone_type": slot.elation_type()}))
    })
    .collect();
    let address = Address {
        address_line1: fields.address_line1.clone(),
        address_line2: fields.address_line2.clone(),
        city: fields.city.clone(),
        state: fields.state.clone(),
        zip: fields.zip.clone(),
    };
    let mut body = Map::new();
    body.insert("first_name".into(), json!(fields.first_name));
    body.insert("middle_name".into(), json!(fields.middle_name.as_deref().unwrap_or("")));
    body.insert("last_name".into(), json!(fields.last_name));
    body.insert("dob".into(), json!(fields.date_of_birth.format("%Y-%m-%d").to_string()));
    body.insert("sex".into(), json!(sex_to_elation(fields.sex)));
    body.insert(
        "emails".into(),
        json!(
            fields
                .email
                .iter()
                .map(|email| json!({"email": email}))
                .collect::<Vec<_>>()
        ),
    );
    body.insert("phones".into(), Value::Array(phones));
    body.insert("address".into(), json!(address));
    body
}

/// What to PATCH so Elation holds `after` where it held `before`: only the fields whose Elation
/// form changed. Empty when nothing Elation keeps changed (for example only the coach did).
pub fn patch_between(before: &PatientFields, after: &PatientFields) -> Map<String, Value> {
    let before = demographics(before);
    demographics(after)
        .into_iter()
        .filter(|(field, value)| before.get(field) != Some(value))
        .collect()
}

/// A North American E.164 number as its ten digits; any other as it is.
fn elation_phone(e164: &str) -> &str {
    e164.strip_prefix("+1").filter(|rest| rest.len() == 10).unwrap_or(e164)
}

/// A plan note as an Elation non-visit note: one bullet of category Plan by `author` (an Elation
/// physician or user id), dated `at`.
pub fn plan_note(patient: ElationId, author: ElationId, text: &str, at: chrono::DateTime<chrono::Utc>) -> Value {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "type": "nonvisit",
        "patient": patient,
        "document_date": at,
        "chart_date": at,
        "bullets": [{"text": text, "author": author, "category": "Plan"}],
    })
}

/// True when `note` is the plan note [`plan_note`] would post for these arguments: the same
/// patient and document date, a bullet with the same author and text, and not deleted. A post
/// whose answer was lost is found this way instead of being posted twice.
pub fn is_plan_note(
    note: &NonVisitNote,
    patient: ElationId,
    author: ElationId,
    text: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> bool {
    let at = at.with_nanosecond(0).unwrap_or(at);
    note.deleted_date.is_none()
        && note.patient == Some(patient)
        && note.document_date == Some(at)
        && note
            .bullets
            .iter()
            .any(|bullet| bullet.author == Some(author) && bullet.text.as_deref().map(str::trim) == Some(text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elation::types::{Email, Phone};
    use chrono::NaiveDate;
    use model::patient::Context;

    fn ctx() -> Context {
        Context {
            default_country: Country::parse("GB").unwrap(),
            today: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        }
    }

    fn elation_patient() -> Patient {
        Patient {
            id: 140758510600193,
            first_name: Some("Ada".into()),
            middle_name: Some("".into()),
            last_name: Some("Lovelace".into()),
            dob: Some("1980-02-29".into()),
            sex: Some("Female".into()),
            emails: vec![
                Email {
                    email: "old@example.org".into(),
                    deleted_date: Some("2024-01-01T00:00:00Z".into()),
                },
                Email {
                    email: "Ada@Example.org".into(),
                    deleted_date: None,
                },
            ],
            phones: vec![
                Phone {
                    phone: "(415) 555-2671".into(),
                    phone_type: "Main".into(),
                    deleted_date: None,
                },
                Phone {
                    phone: "415-555-0100".into(),
                    phone_type: "Home".into(),
                    deleted_date: None,
                },
                Phone {
                    phone: "4155550199".into(),
                    phone_type: "Mobile".into(),
                    deleted_date: None,
                },
                Phone {
                    phone: "4155550123".into(),
                    phone_type: "Fax".into(),
                    deleted_date: None,
                },
            ],
            address: Some(Address {
                address_line1: Some("1 Market St".into()),
                address_line2: None,
                city: Some("San Francisco".into()),
                state: Some("CA".into()),
                zip: Some("94105".into()),
            }),
            primary_physician: Some(7),
            last_modified: None,
            deleted_date: None,
        }
    }

    #[test]
    fn sex_maps_both_ways_and_intersex_survives_the_round_trip() {
        for (ours, theirs) in [
            (Sex::Female, "Female"),
            (Sex::Male, "Male"),
            (Sex::Other, "Other"),
            (Sex::Unknown, "Unknown"),
        ] {
            assert_eq!(sex_to_elation(Some(ours)), theirs);
            assert_eq!(sex_from_elation(theirs, None), Some(ours));
        }
        assert_eq!(sex_to_elation(Some(Sex::Intersex)), "Other");
        assert_eq!(sex_to_elation(None), "Unknown");
        assert_eq!(sex_from_elation("Other", Some(Sex::Intersex)), Some(Sex::Intersex));
        assert_eq!(sex_from_elation("Male", Some(Sex::Intersex)), Some(Sex::Male));
        assert_eq!(sex_from_elation("Robot", None), None);
    }

    #[test]
    fn a_patient_reads_into_carebridge_fields_by_the_table() {
        let fields = patient_input(&elation_patient(), None).validate(&ctx()).unwrap();
        assert_eq!(fields.first_name, "Ada");
        assert_eq!(fields.middle_name, None);
        assert_eq!(fields.date_of_birth, NaiveDate::from_ymd_opt(1980, 2, 29).unwrap());
        assert_eq!(fields.sex, Some(Sex::Female));
        assert_eq!(
            fields.email.as_deref(),
            Some("ada@example.org"),
            "the live e-mail, not the deleted one"
        );
        assert_eq!(fields.mobile_phone.as_deref(), Some("+14155550199"));
        assert_eq!(
            fields.home_phone.as_deref(),
            Some("+14155550100"),
            "Home wins over Main"
        );
        assert_eq!(fields.office_phone, None, "a fax is not an office phone");
        assert_eq!(fields.city.as_deref(), Some("San Francisco"));
        assert_eq!(fields.country.map(|c| c.as_str().to_owned()).as_deref(), Some("US"));
        assert_eq!(
            fields.external_ids.get(&ExternalSystem::Elation).map(String::as_str),
            Some("140758510600193")
        );
    }

    #[test]
    fn main_fills_the_home_phone_when_there_is_no_home() {
        let mut patient = elation_patient();
        patient.phones.retain(|p| p.phone_type != "Home");
        let fields = patient_input(&patient, None).validate(&ctx()).unwrap();
        assert_eq!(fields.home_phone.as_deref(), Some("+14155552671"));
    }

    #[test]
    fn a_bad_date_of_birth_is_the_models_error_to_report() {
        let mut patient = elation_patient();
        patient.dob = Some("1980-02-30".into());
        let errors = patient_input(&patient, None).validate(&ctx()).unwrap_err();
        assert!(errors.0.iter().any(|e| e.field == "date_of_birth"), "{errors:?}");
    }

    #[test]
    fn what_carebridge_sends_reads_back_unchanged() {
        let fields = patient_input(&elation_patient(), None).validate(&ctx()).unwrap();
        let sent = demographics(&fields);
        assert_eq!(
            sent["phones"][0],
            json!({"phone": "4155550199", "phone_type": "Mobile"})
        );
        let mut echoed = serde_json::to_value(elation_patient()).unwrap();
        for (field, value) in sent {
            echoed[field] = value;
        }
        let echoed: Patient = serde_json::from_value(echoed).unwrap();
        let read_back = patient_input(&echoed, Some(&fields)).validate(&ctx()).unwrap();
        assert_eq!(read_back, fields);
    }

    #[test]
    fn a_patch_carries_only_what_elation_would_see_change() {
        let before = patient_input(&elation_patient(), None).validate(&ctx()).unwrap();
        let mut after = before.clone();
        after.last_name = "Byron".into();
        after.office_phone = Some("+442079460000".into());
        after.practitioner_id = Some(model::ids::PractitionerId::generate());
        let patch = patch_between(&before, &after);
        assert_eq!(patch.keys().collect::<Vec<_>>(), ["last_name", "phones"]);
        assert_eq!(
            patch["phones"][2],
            json!({"phone": "+442079460000", "phone_type": "Work"})
        );
        assert!(patch_between(&before, &before).is_empty());
    }

    #[test]
    fn a_physician_becomes_a_coach_linked_by_its_elation_id() {
        let physician = Physician {
            id: 140758834544642,
            first_name: Some("Christopher".into()),
            last_name: Some("Morales".into()),
            email: Some("c.morales@example.org".into()),
            npi: Some("155532".into()),
            credentials: None,
            is_active: Some(true),
            last_modified: None,
        };
        let fields = practitioner_input(&physician).validate(&Country::us()).unwrap();
        assert_eq!(fields.kind, model::practitioner::PractitionerKind::Coach);
        assert_eq!(
            fields.npi, None,
            "155532 is not a valid NPI, so it is left out rather than failing"
        );
        assert_eq!(elation_id(&fields.external_ids), Some(140758834544642));
    }

    #[test]
    fn a_plan_note_is_a_nonvisit_note_with_one_plan_bullet() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z")
            .unwrap()
            .to_utc();
        let note = plan_note(5, 9, "Walk daily", at);
        assert_eq!(note["type"], "nonvisit");
        assert_eq!(note["document_date"], "2026-11-22T10:00:00Z");
        assert_eq!(
            note["bullets"],
            json!([{"text": "Walk daily", "author": 9, "category": "Plan"}])
        );
    }

    #[test]
    fn a_listed_note_is_recognised_as_the_plan_note_only_when_patient_date_author_and_text_match() {
        let sample = include_str!("../../fixtures/elation-non-visit-note-create-response.json");
        let listed: NonVisitNote = serde_json::from_str(sample).unwrap();
        // Sub-second parts are not sent (the document date goes out to the second).
        let at = chrono::DateTime::parse_from_rfc3339("2022-05-05T07:50:20.734Z")
            .unwrap()
            .to_utc();
        let patient = 140758510600193;
        assert!(is_plan_note(&listed, patient, 64, "New POST non visit", at));
        assert!(!is_plan_note(&listed, patient, 64, "Another plan", at));
        assert!(!is_plan_note(&listed, patient, 65, "New POST non visit", at));
        assert!(!is_plan_note(&listed, 1638401, 64, "New POST non visit", at));
        let later = at + chrono::Duration::seconds(1);
        assert!(!is_plan_note(&listed, patient, 64, "New POST non visit", later));
        let deleted = NonVisitNote {
            deleted_date: Some("2022-05-14T00:00:00Z".into()),
            ..listed
        };
        assert!(!is_plan_note(&deleted, patient, 64, "New POST non visit", at));
    }
}
