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

use super::types::{ElationId, Email, NonVisitNote, Patient, Phone, Physician};
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
    let live_email = patient.emails.iter().find(|e| e.is_live());
    let phone = |slot: PhoneSlot| slot_entry(&patient.phones, slot).map(|at| us_phone(&patient.phones[at].phone));
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

/// The carebridge fields Elation keeps, by the names `PatientFields::changes_from` gives them.
pub const KEPT_FIELDS: [&str; 14] = [
    "first_name",
    "middle_name",
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
];

/// The fields Elation keeps that differ between `before` and `after` (say, a caller's edit).
/// Empty when nothing Elation keeps changed (for example only the coach did).
pub fn kept_changes(before: &PatientFields, after: &PatientFields) -> Vec<String> {
    after
        .changes_from(before)
        .into_iter()
        .map(|change| change.field)
        .filter(|field| KEPT_FIELDS.contains(&field.as_str()))
        .collect()
}

/// What to PATCH so that Elation's copy `theirs` holds carebridge's value of each field in
/// `changed` (carebridge's names, see [`KEPT_FIELDS`]) where it differs from what Elation holds.
/// `their_fields` is Elation's copy read as carebridge fields; `None` when it does not read as
/// valid, and then every changed field is sent.
///
/// Nothing else is sent: a field nobody changed is left as Elation has it, even where the two
/// differ (a change made in Elation may be on its way to carebridge). Where Elation keeps a
/// list (phones, e-mails) or an address, its entries carebridge did not change are sent back
/// exactly as Elation holds them, types and formatting included, and entries carebridge does
/// not read (a fax, a deleted e-mail) stay.
pub fn patch_for(
    theirs: &Patient,
    their_fields: Option<&PatientFields>,
    ours: &PatientFields,
    changed: &[String],
) -> Map<String, Value> {
    let differs: Vec<String> = match their_fields {
        Some(their_fields) => kept_changes(their_fields, ours),
        None => KEPT_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
    };
    let send = |field: &str| changed.iter().any(|f| f == field) && differs.iter().any(|f| f == field);
    let mut body = Map::new();
    if send("first_name") {
        body.insert("first_name".into(), json!(ours.first_name));
    }
    if send("middle_name") {
        body.insert("middle_name".into(), json!(ours.middle_name.as_deref().unwrap_or("")));
    }
    if send("last_name") {
        body.insert("last_name".into(), json!(ours.last_name));
    }
    if send("date_of_birth") {
        body.insert("dob".into(), json!(ours.date_of_birth.format("%Y-%m-%d").to_string()));
    }
    if send("sex") {
        body.insert("sex".into(), json!(sex_to_elation(ours.sex)));
    }
    if send("email") {
        let mut emails = theirs.emails.clone();
        match (emails.iter().position(Email::is_live), ours.email.as_deref()) {
            (Some(at), Some(email)) => emails[at].email = email.to_owned(),
            (Some(at), None) => drop(emails.remove(at)),
            (None, Some(email)) => emails.push(Email::new(email)),
            (None, None) => {}
        }
        body.insert("emails".into(), json!(emails));
    }
    let slots = [
        (PhoneSlot::Mobile, "mobile_phone", &ours.mobile_phone),
        (PhoneSlot::Home, "home_phone", &ours.home_phone),
        (PhoneSlot::Office, "office_phone", &ours.office_phone),
    ];
    if slots.iter().any(|(_, field, _)| send(field)) {
        let mut phones = theirs.phones.clone();
        for (slot, field, phone) in slots {
            if !send(field) {
                continue;
            }
            match (slot_entry(&phones, slot), phone.as_deref()) {
                (Some(at), Some(phone)) => phones[at].phone = elation_phone(phone).to_owned(),
                (Some(at), None) => drop(phones.remove(at)),
                (None, Some(phone)) => phones.push(Phone::new(elation_phone(phone), slot.elation_type())),
                (None, None) => {}
            }
        }
        body.insert("phones".into(), json!(phones));
    }
    let parts: [(&str, &Option<String>); 5] = [
        ("address_line1", &ours.address_line1),
        ("address_line2", &ours.address_line2),
        ("city", &ours.city),
        ("state", &ours.state),
        ("zip", &ours.zip),
    ];
    if parts.iter().any(|(field, _)| send(field)) {
        let mut address = theirs.address.clone().unwrap_or_default();
        for (field, value) in parts {
            if !send(field) {
                continue;
            }
            let slot = match field {
                "address_line1" => &mut address.address_line1,
                "address_line2" => &mut address.address_line2,
                "city" => &mut address.city,
                "state" => &mut address.state,
                _ => &mut address.zip,
            };
            slot.clone_from(value);
        }
        body.insert("address".into(), json!(address));
    }
    body
}

/// Where in Elation's phones the one carebridge reads into `slot` is (see [`patient_input`]).
fn slot_entry(phones: &[Phone], slot: PhoneSlot) -> Option<usize> {
    PHONE_TYPES
        .iter()
        .filter(|(_, filled)| *filled == Some(slot))
        .find_map(|(kind, _)| {
            phones
                .iter()
                .position(|p| p.is_live() && p.phone_type.eq_ignore_ascii_case(kind))
        })
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
    use crate::elation::types::Address;
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
                    other: json!({"deleted_date": "2024-01-01T00:00:00Z"})
                        .as_object()
                        .unwrap()
                        .clone(),
                },
                Email::new("Ada@Example.org"),
            ],
            phones: vec![
                Phone::new("(415) 555-2671", "Main"),
                Phone::new("415-555-0100", "Home"),
                Phone::new("4155550199", "Mobile"),
                Phone {
                    phone: "4155550123".into(),
                    phone_type: "Fax".into(),
                    other: json!({"created_date": "2020-01-01T00:00:00Z"})
                        .as_object()
                        .unwrap()
                        .clone(),
                },
            ],
            address: Some(Address {
                address_line1: Some("1 Market St".into()),
                address_line2: None,
                city: Some("San Francisco".into()),
                state: Some("CA".into()),
                zip: Some("94105".into()),
                other: Map::new(),
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

    /// Every field Elation keeps, as changed.
    fn all_kept() -> Vec<String> {
        KEPT_FIELDS.iter().map(|f| (*f).to_owned()).collect()
    }

    /// `theirs` after Elation applied `patch`, as Elation's PATCH does: the given members replace
    /// its own.
    fn patched(theirs: &Patient, patch: Map<String, Value>) -> Patient {
        let mut echoed = serde_json::to_value(theirs).unwrap();
        for (field, value) in patch {
            echoed[field] = value;
        }
        serde_json::from_value(echoed).unwrap()
    }

    #[test]
    fn what_carebridge_sends_reads_back_unchanged() {
        let mut fields = patient_input(&elation_patient(), None).validate(&ctx()).unwrap();
        fields.first_name = "Augusta".into();
        fields.mobile_phone = Some("+14155550111".into());
        fields.office_phone = Some("+442079460000".into());
        fields.email = Some("augusta@example.org".into());
        fields.city = Some("Oakland".into());
        let theirs = elation_patient();
        let sent = patch_for(&theirs, None, &fields, &all_kept());
        assert_eq!(
            sent["phones"][2],
            json!({"phone": "4155550111", "phone_type": "Mobile"})
        );
        let read_back = patient_input(&patched(&theirs, sent), Some(&fields))
            .validate(&ctx())
            .unwrap();
        assert_eq!(read_back, fields);
    }

    #[test]
    fn a_patch_carries_only_the_changed_fields_that_elation_holds_otherwise() {
        let theirs = elation_patient();
        let before = patient_input(&theirs, None).validate(&ctx()).unwrap();
        let mut after = before.clone();
        after.last_name = "Byron".into();
        after.office_phone = Some("+442079460000".into());
        after.practitioner_id = Some(model::ids::PractitionerId::generate());
        let changed = kept_changes(&before, &after);
        assert_eq!(changed, ["last_name", "office_phone"], "the coach is not Elation's");
        let patch = patch_for(&theirs, Some(&before), &after, &changed);
        assert_eq!(patch.keys().collect::<Vec<_>>(), ["last_name", "phones"]);
        // The new number joins Elation's list; every other entry is as Elation holds it.
        let phones = patch["phones"].as_array().unwrap();
        assert_eq!(
            phones[..4],
            serde_json::to_value(&theirs.phones).unwrap().as_array().unwrap()[..]
        );
        assert_eq!(phones[4], json!({"phone": "+442079460000", "phone_type": "Work"}));
        assert!(patch_for(&theirs, Some(&before), &before, &changed).is_empty());
    }

    #[test]
    fn a_changed_phone_replaces_only_its_own_entry_and_keeps_its_type() {
        let theirs = elation_patient();
        let before = patient_input(&theirs, None).validate(&ctx()).unwrap();
        let mut after = before.clone();
        after.home_phone = Some("+14155550142".into());
        after.mobile_phone = None;
        let patch = patch_for(&theirs, Some(&before), &after, &kept_changes(&before, &after));
        assert_eq!(
            patch["phones"],
            json!([
                {"phone": "(415) 555-2671", "phone_type": "Main"},
                {"phone": "4155550142", "phone_type": "Home"},
                {"phone": "4155550123", "phone_type": "Fax", "created_date": "2020-01-01T00:00:00Z"},
            ]),
            "Main and Fax untouched, Home changed in place, Mobile removed"
        );
    }

    #[test]
    fn a_field_nobody_changed_is_not_sent_even_where_the_copies_differ() {
        let theirs = elation_patient();
        let before = patient_input(&theirs, None).validate(&ctx()).unwrap();
        let mut ours = before.clone();
        ours.first_name = "Augusta".into(); // carebridge's edit
        ours.city = Some("Oakland".into()); // an older value, say, that Elation has since changed
        let patch = patch_for(&theirs, Some(&before), &ours, &["first_name".to_owned()]);
        assert_eq!(patch, json!({"first_name": "Augusta"}).as_object().unwrap().clone());
    }

    #[test]
    fn an_edited_email_changes_the_live_entry_and_keeps_the_deleted_one() {
        let theirs = elation_patient();
        let before = patient_input(&theirs, None).validate(&ctx()).unwrap();
        let mut after = before.clone();
        after.email = Some("augusta@example.org".into());
        after.zip = Some("94107".into());
        let patch = patch_for(&theirs, Some(&before), &after, &kept_changes(&before, &after));
        assert_eq!(
            patch["emails"],
            json!([
                {"email": "old@example.org", "deleted_date": "2024-01-01T00:00:00Z"},
                {"email": "augusta@example.org"},
            ])
        );
        assert_eq!(
            patch["address"],
            json!({"address_line1": "1 Market St", "address_line2": null, "city": "San Francisco", "state": "CA", "zip": "94107"})
        );
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
