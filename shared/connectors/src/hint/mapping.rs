//! The one table of how a Hint patient reads as the fields Hint ⇄ Salesforce keeps in sync, and
//! how those fields are written back to Hint.
//!
//! | Hint | kept in sync as |
//! |---|---|
//! | `title` | `name_prefix` |
//! | `first_name`, `middle_name`, `last_name` | the same |
//! | `dob` (`YYYY-MM-DD`) | `date_of_birth` |
//! | `sex`: `male`, `female`, `intersex` | `gender`: Male, Female, Intersex (Hint holds no other value: one is not written, with a warning) |
//! | `email` | `email` |
//! | `phones[]` by `type`: `mobile`, `home`, `work` (or `office`) | `mobile_phone`, `home_phone`, `office_phone` (the first of each; other types stay in Hint as they are) |
//! | `address_line1`, `address_line2`, `address_city`, `address_state`, `address_zip`, `address_country` | `address_line1`, `address_line2`, `city`, `state`, `zip`, `country` |
//!
//! Read-only in Salesforce (Hint → Salesforce only): `practitioner.name`,
//! `health_insurance_payer_name`, `health_insurance_group_id`, `health_insurance_member_id`,
//! `patient_agreement_accepted` (the member contract) and `hipaa_authorization_accepted`, each
//! with its `…_at`.

use super::types::{Patient, Phone};
use chrono::NaiveDate;
use model::hint_salesforce::{Demographics, HintOnly};
use model::patient::Sex;
use serde_json::{Map, Value, json};

/// A Hint patient, read: what is kept in sync, what Hint alone keeps, and what did not read.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub demographics: Demographics,
    pub hint_only: HintOnly,
    /// `(code, field)`: `invalid_dob`, `sex_not_recognised`.
    pub warnings: Vec<(&'static str, &'static str)>,
}

/// The phone slot a Hint phone type fills.
fn slot(kind: Option<&str>) -> Option<usize> {
    match kind.map(str::to_ascii_lowercase).as_deref() {
        Some("mobile" | "cell") => Some(0),
        Some("home") => Some(1),
        Some("work" | "office") => Some(2),
        _ => None,
    }
}

const SLOT_TYPES: [&str; 3] = ["mobile", "home", "work"];

pub fn read(patient: &Patient) -> Read {
    let mut warnings = Vec::new();
    let date_of_birth = patient.dob.as_deref().and_then(|raw| {
        let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
        if parsed.is_none() {
            warnings.push(("invalid_dob", "date_of_birth"));
        }
        parsed
    });
    let gender = patient.sex.as_deref().and_then(|raw| {
        let parsed = Sex::parse(raw);
        if parsed.is_none() {
            warnings.push(("sex_not_recognised", "gender"));
        }
        parsed
    });
    let mut phones: [Option<String>; 3] = Default::default();
    for phone in &patient.phones {
        if let (Some(i), Some(number)) = (slot(phone.kind.as_deref()), &phone.number) {
            phones[i].get_or_insert_with(|| number.clone());
        }
    }
    let [mobile_phone, home_phone, office_phone] = phones;
    Read {
        demographics: Demographics {
            name_prefix: patient.title.clone(),
            first_name: patient.first_name.clone(),
            middle_name: patient.middle_name.clone(),
            last_name: patient.last_name.clone(),
            date_of_birth,
            gender,
            email: patient.email.clone(),
            mobile_phone,
            home_phone,
            office_phone,
            address_line1: patient.address_line1.clone(),
            address_line2: patient.address_line2.clone(),
            city: patient.address_city.clone(),
            state: patient.address_state.clone(),
            zip: patient.address_zip.clone(),
            country: patient.address_country.clone(),
        },
        hint_only: HintOnly {
            practitioner_name: patient.practitioner.as_ref().and_then(|p| p.name.clone()),
            insurance_payer: patient.health_insurance_payer_name.clone(),
            insurance_group_id: patient.health_insurance_group_id.clone(),
            insurance_member_id: patient.health_insurance_member_id.clone(),
            member_contract_accepted: patient.patient_agreement_accepted,
            member_contract_accepted_at: patient.patient_agreement_accepted_at,
            hipaa_authorization_accepted: patient.hipaa_authorization_accepted,
            hipaa_authorization_accepted_at: patient.hipaa_authorization_accepted_at,
        },
        warnings,
    }
}

/// The body that gives a Hint patient `demographics`: every synced field (a blank one as
/// `null`), and its phones with the mobile, home and work numbers replaced and every other
/// entry of `current` kept as Hint has it. A gender Hint cannot hold is left out, with a warning.
pub fn body(demographics: &Demographics, current: &[Phone]) -> (Value, Vec<(&'static str, &'static str)>) {
    let mut warnings = Vec::new();
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    let mut body = Map::new();
    body.insert("title".into(), text(&demographics.name_prefix));
    body.insert("first_name".into(), text(&demographics.first_name));
    body.insert("middle_name".into(), text(&demographics.middle_name));
    body.insert("last_name".into(), text(&demographics.last_name));
    body.insert(
        "dob".into(),
        demographics
            .date_of_birth
            .map_or(Value::Null, |d| json!(d.format("%Y-%m-%d").to_string())),
    );
    match demographics.gender {
        Some(Sex::Female) => _ = body.insert("sex".into(), json!("female")),
        Some(Sex::Male) => _ = body.insert("sex".into(), json!("male")),
        Some(Sex::Intersex) => _ = body.insert("sex".into(), json!("intersex")),
        Some(Sex::Other | Sex::Unknown) => warnings.push(("gender_not_kept", "gender")),
        None => _ = body.insert("sex".into(), Value::Null),
    }
    body.insert("email".into(), text(&demographics.email));
    let wanted = [
        &demographics.mobile_phone,
        &demographics.home_phone,
        &demographics.office_phone,
    ];
    let mut phones: Vec<Value> = current
        .iter()
        .filter(|p| slot(p.kind.as_deref()).is_none())
        .map(|p| json!({"number": p.number, "type": p.kind}))
        .collect();
    for (i, number) in wanted.iter().enumerate() {
        if let Some(number) = number {
            phones.push(json!({"number": number, "type": SLOT_TYPES[i]}));
        }
    }
    body.insert("phones".into(), Value::Array(phones));
    body.insert("address_line1".into(), text(&demographics.address_line1));
    body.insert("address_line2".into(), text(&demographics.address_line2));
    body.insert("address_city".into(), text(&demographics.city));
    body.insert("address_state".into(), text(&demographics.state));
    body.insert("address_zip".into(), text(&demographics.zip));
    body.insert("address_country".into(), text(&demographics.country));
    // Hint requires both names; a record without them is not written (the caller's check).
    (Value::Object(body), warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Patient {
        serde_json::from_str(include_str!("../../fixtures/hint-patient.json")).unwrap()
    }

    #[test]
    fn hints_published_patient_reads_by_the_table() {
        let Read {
            demographics,
            hint_only,
            warnings,
        } = read(&published());
        assert_eq!(demographics.first_name.as_deref(), Some("Gordon"));
        assert_eq!(demographics.middle_name.as_deref(), Some("Thomas"));
        assert_eq!(demographics.date_of_birth, NaiveDate::from_ymd_opt(1956, 4, 24));
        assert_eq!(demographics.gender, Some(Sex::Male));
        assert_eq!(
            (demographics.city.as_deref(), demographics.zip.as_deref()),
            (Some("New York"), Some("10002"))
        );
        assert_eq!(demographics.country.as_deref(), Some("United States"));
        assert_eq!(hint_only.practitioner_name.as_deref(), Some("Reginald Dwight"));
        assert_eq!(hint_only.insurance_member_id.as_deref(), Some("A22222222"));
        assert!(hint_only.hipaa_authorization_accepted && !hint_only.member_contract_accepted);
        assert!(warnings.is_empty());
    }

    #[test]
    fn phones_fill_their_slots_and_other_entries_stay_as_hint_has_them() {
        let mut patient = published();
        patient.phones = serde_json::from_value(json!([
            {"number": "5550000001", "type": "fax"}, {"number": 5550000002u64, "type": "mobile"},
            {"number": "5550000003", "type": "Mobile"}, {"number": "5550000004", "type": "work"}
        ]))
        .unwrap();
        let demographics = read(&patient).demographics;
        assert_eq!(
            demographics.mobile_phone.as_deref(),
            Some("5550000002"),
            "the first of each type"
        );
        assert_eq!(demographics.office_phone.as_deref(), Some("5550000004"));
        let mut changed = demographics.clone();
        changed.mobile_phone = Some("5559999999".into());
        changed.office_phone = None;
        let (body, warnings) = body(&changed, &patient.phones);
        assert_eq!(
            body["phones"],
            json!([{"number": "5550000001", "type": "fax"}, {"number": "5559999999", "type": "mobile"}])
        );
        assert!(warnings.is_empty());
        assert_eq!(body["address_city"], "New York");
        assert_eq!(body["dob"], "1956-04-24");
    }

    #[test]
    fn a_gender_hint_cannot_hold_is_not_written() {
        let mut demographics = read(&published()).demographics;
        demographics.gender = Some(Sex::Other);
        let (body, warnings) = body(&demographics, &[]);
        assert!(body.get("sex").is_none());
        assert_eq!(warnings, [("gender_not_kept", "gender")]);
        let mut odd = published();
        odd.sex = Some("robot".into());
        odd.dob = Some("24/04/1956".into());
        let warned = read(&odd).warnings;
        assert_eq!(
            warned,
            [("invalid_dob", "date_of_birth"), ("sex_not_recognised", "gender")]
        );
    }
}
