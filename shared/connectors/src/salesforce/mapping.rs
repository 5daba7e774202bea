//! The one table of how a Salesforce contact reads as the fields Hint ⇄ Salesforce keeps in
//! sync, and what carebridge writes to a contact.
//!
//! | Salesforce Contact | kept in sync as |
//! |---|---|
//! | `Salutation` | `name_prefix` |
//! | `FirstName`, `MiddleName`, `LastName` | `first_name`, `middle_name`, `last_name` |
//! | `Birthdate` | `date_of_birth` |
//! | `Gender__c` (Male, Female, Intersex) | `gender` |
//! | `Email` | `email` |
//! | `MobilePhone`, `HomePhone`, `Phone` | `mobile_phone`, `home_phone`, `office_phone` |
//! | `MailingStreet` (first line; the rest joined with ", ") | `address_line1`, `address_line2` |
//! | `MailingCity`, `MailingState`, `MailingPostalCode`, `MailingCountry` | `city`, `state`, `zip`, `country` |
//!
//! Written from Hint only (read-only for Salesforce users; an edit there is overwritten):
//! `Hint_Practitioner_Name__c`, `Hint_Insurance_Payer__c`, `Hint_Insurance_Group_Id__c`,
//! `Hint_Insurance_Member_Id__c`, `Hint_Member_Contract_Accepted__c` and `…_At__c`,
//! `Hint_HIPAA_Authorization_Accepted__c` and `…_At__c`. The link itself: `Synced_to_Hint__c`,
//! `Hint_Patient_Id__c`, `Last_Batch_Sync_Id__c`.

use super::types::Contact;
use chrono::{DateTime, NaiveDate, Utc};
use model::hint_salesforce::{Demographics, HintOnly};
use model::patient::Sex;
use serde_json::{Map, Value, json};

/// A contact, read: what is kept in sync, and what did not read (`(code, field)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub demographics: Demographics,
    pub warnings: Vec<(&'static str, &'static str)>,
}

pub fn read(contact: &Contact) -> Read {
    let mut warnings = Vec::new();
    let date_of_birth = contact.birthdate.as_deref().and_then(|raw| {
        let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok();
        if parsed.is_none() {
            warnings.push(("invalid_birthdate", "date_of_birth"));
        }
        parsed
    });
    let gender = contact.gender.as_deref().and_then(|raw| {
        let parsed = Sex::parse(raw);
        if parsed.is_none() {
            warnings.push(("gender_not_recognised", "gender"));
        }
        parsed
    });
    let (address_line1, address_line2) = match contact.mailing_street.as_deref() {
        None => (None, None),
        Some(street) => {
            let mut lines = street.lines().map(str::trim).filter(|l| !l.is_empty());
            let first = lines.next().map(str::to_owned);
            let rest: Vec<&str> = lines.collect();
            (first, (!rest.is_empty()).then(|| rest.join(", ")))
        }
    };
    Read {
        demographics: Demographics {
            name_prefix: contact.salutation.clone(),
            first_name: contact.first_name.clone(),
            middle_name: contact.middle_name.clone(),
            last_name: contact.last_name.clone(),
            date_of_birth,
            gender,
            email: contact.email.clone(),
            mobile_phone: contact.mobile_phone.clone(),
            home_phone: contact.home_phone.clone(),
            office_phone: contact.phone.clone(),
            address_line1,
            address_line2,
            city: contact.mailing_city.clone(),
            state: contact.mailing_state.clone(),
            zip: contact.mailing_postal_code.clone(),
            country: contact.mailing_country.clone(),
        },
        warnings,
    }
}

/// The read-only Hint fields as the contact holds them now (a Salesforce user may have edited
/// them; carebridge writes them back from Hint).
pub fn read_hint_only(contact: &Contact) -> HintOnly {
    let at = |raw: &Option<String>| raw.as_deref().and_then(super::client::parse_time);
    HintOnly {
        practitioner_name: contact.hint_practitioner_name.clone(),
        insurance_payer: contact.hint_insurance_payer.clone(),
        insurance_group_id: contact.hint_insurance_group_id.clone(),
        insurance_member_id: contact.hint_insurance_member_id.clone(),
        member_contract_accepted: contact.hint_member_contract_accepted,
        member_contract_accepted_at: at(&contact.hint_member_contract_accepted_at),
        hipaa_authorization_accepted: contact.hint_hipaa_authorization_accepted,
        hipaa_authorization_accepted_at: at(&contact.hint_hipaa_authorization_accepted_at),
    }
}

/// What a contact holds once [`fields`] of `demographics` are written to it: the same, less
/// what Salesforce cannot hold (a gender it has no value for). Kept with a link, so that
/// difference is never read as the contact's edit.
pub fn written(demographics: &Demographics) -> Demographics {
    let mut record = fields(demographics);
    record.insert("Id".to_owned(), json!(""));
    match serde_json::from_value::<Contact>(Value::Object(record)) {
        Ok(contact) => read(&contact).demographics,
        // Every written field is a text or null, which always reads.
        Err(_) => demographics.clone(),
    }
}

fn text(value: &Option<String>) -> Value {
    value.clone().map_or(Value::Null, Value::String)
}

fn time(value: Option<DateTime<Utc>>) -> Value {
    value.map_or(Value::Null, |t| json!(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
}

/// The contact fields that give it `demographics` (a blank one as `null`).
pub fn fields(demographics: &Demographics) -> Map<String, Value> {
    let street = match (&demographics.address_line1, &demographics.address_line2) {
        (None, None) => None,
        (one, two) => Some([one, two].into_iter().flatten().cloned().collect::<Vec<_>>().join("\n")),
    };
    let gender = demographics.gender.and_then(|sex| match sex {
        Sex::Female => Some("Female"),
        Sex::Male => Some("Male"),
        Sex::Intersex => Some("Intersex"),
        Sex::Other | Sex::Unknown => None,
    });
    Map::from_iter([
        ("Salutation".to_owned(), text(&demographics.name_prefix)),
        ("FirstName".to_owned(), text(&demographics.first_name)),
        ("MiddleName".to_owned(), text(&demographics.middle_name)),
        ("LastName".to_owned(), text(&demographics.last_name)),
        (
            "Birthdate".to_owned(),
            demographics
                .date_of_birth
                .map_or(Value::Null, |d| json!(d.format("%Y-%m-%d").to_string())),
        ),
        ("Gender__c".to_owned(), gender.map_or(Value::Null, |g| json!(g))),
        ("Email".to_owned(), text(&demographics.email)),
        ("MobilePhone".to_owned(), text(&demographics.mobile_phone)),
        ("HomePhone".to_owned(), text(&demographics.home_phone)),
        ("Phone".to_owned(), text(&demographics.office_phone)),
        ("MailingStreet".to_owned(), text(&street)),
        ("MailingCity".to_owned(), text(&demographics.city)),
        ("MailingState".to_owned(), text(&demographics.state)),
        ("MailingPostalCode".to_owned(), text(&demographics.zip)),
        ("MailingCountry".to_owned(), text(&demographics.country)),
    ])
}

/// The read-only Hint fields, as Hint has them.
pub fn hint_fields(hint: &HintOnly) -> Map<String, Value> {
    Map::from_iter([
        ("Hint_Practitioner_Name__c".to_owned(), text(&hint.practitioner_name)),
        ("Hint_Insurance_Payer__c".to_owned(), text(&hint.insurance_payer)),
        ("Hint_Insurance_Group_Id__c".to_owned(), text(&hint.insurance_group_id)),
        (
            "Hint_Insurance_Member_Id__c".to_owned(),
            text(&hint.insurance_member_id),
        ),
        (
            "Hint_Member_Contract_Accepted__c".to_owned(),
            json!(hint.member_contract_accepted),
        ),
        (
            "Hint_Member_Contract_Accepted_At__c".to_owned(),
            time(hint.member_contract_accepted_at),
        ),
        (
            "Hint_HIPAA_Authorization_Accepted__c".to_owned(),
            json!(hint.hipaa_authorization_accepted),
        ),
        (
            "Hint_HIPAA_Authorization_Accepted_At__c".to_owned(),
            time(hint.hipaa_authorization_accepted_at),
        ),
    ])
}

/// The link fields: linked to `hint_patient` ("Synced to Hint" checked), or unlinked (`None`:
/// unchecked, the id cleared), and the batch that touched it last.
pub fn link_fields(hint_patient: Option<&str>, batch: Option<&str>) -> Map<String, Value> {
    let mut link = Map::from_iter([
        ("Synced_to_Hint__c".to_owned(), json!(hint_patient.is_some())),
        (
            "Hint_Patient_Id__c".to_owned(),
            hint_patient.map_or(Value::Null, |p| json!(p)),
        ),
    ]);
    if let Some(batch) = batch {
        link.insert("Last_Batch_Sync_Id__c".to_owned(), json!(batch));
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(value: Value) -> Contact {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_contact_reads_by_the_table_and_writes_back_the_same() {
        let read = read(&contact(json!({
            "Id": "0035g00000AbCdEAAZ", "Salutation": "Ms.", "FirstName": "Ann", "LastName": "Lee",
            "Birthdate": "1980-02-03", "Gender__c": "Female", "Phone": "5550000004",
            "MailingStreet": "157 E Houston St\nSuite 2402\nRear", "MailingCity": "New York",
            "Synced_to_Hint__c": true, "Hint_Patient_Id__c": "pat-1"
        })));
        let d = &read.demographics;
        assert_eq!((d.name_prefix.as_deref(), d.gender), (Some("Ms."), Some(Sex::Female)));
        assert_eq!(d.office_phone.as_deref(), Some("5550000004"));
        assert_eq!(
            (d.address_line1.as_deref(), d.address_line2.as_deref()),
            (Some("157 E Houston St"), Some("Suite 2402, Rear"))
        );
        let written = fields(d);
        assert_eq!(written["MailingStreet"], "157 E Houston St\nSuite 2402, Rear");
        assert_eq!(written["Birthdate"], "1980-02-03");
        assert_eq!(written["Email"], Value::Null, "a blank is cleared, not left");
        assert_eq!(
            super::read(&contact(
                json!({"Id": "003", "MailingStreet": written["MailingStreet"]})
            ))
            .demographics
            .address_line2
            .as_deref(),
            Some("Suite 2402, Rear")
        );
    }

    #[test]
    fn link_and_hint_fields_name_salesforces_custom_fields() {
        let linked = link_fields(Some("pat-1"), Some("batch-7"));
        assert_eq!(
            (
                linked["Synced_to_Hint__c"].clone(),
                linked["Hint_Patient_Id__c"].clone()
            ),
            (json!(true), json!("pat-1"))
        );
        let unlinked = link_fields(None, None);
        assert_eq!(unlinked["Synced_to_Hint__c"], false);
        assert!(unlinked.get("Last_Batch_Sync_Id__c").is_none());
        let hint = HintOnly {
            hipaa_authorization_accepted: true,
            hipaa_authorization_accepted_at: DateTime::from_timestamp(1_486_304_580, 0),
            ..HintOnly::default()
        };
        let written = hint_fields(&hint);
        assert_eq!(
            written["Hint_HIPAA_Authorization_Accepted_At__c"],
            "2017-02-05T14:23:00.000Z"
        );
        assert_eq!(written.len(), 8);
    }

    #[test]
    fn a_contact_holds_what_is_written_less_a_gender_salesforce_has_no_value_for() {
        let mut demographics = read(&contact(json!({"Id": "003", "FirstName": "Ann", "LastName": "Lee",
            "Birthdate": "1980-02-03", "MailingStreet": "1 Main St\nApt 2"})))
        .demographics;
        assert_eq!(written(&demographics), demographics);
        demographics.gender = Some(Sex::Other);
        let held = written(&demographics);
        assert_eq!(held.gender, None);
        assert_eq!(held.first_name.as_deref(), Some("Ann"));
    }

    #[test]
    fn the_read_only_hint_fields_read_back_as_written() {
        let hint = HintOnly {
            practitioner_name: Some("Reginald Dwight".into()),
            insurance_payer: Some("Anthem".into()),
            member_contract_accepted: true,
            member_contract_accepted_at: DateTime::from_timestamp(1_486_304_580, 0),
            ..HintOnly::default()
        };
        let mut record = hint_fields(&hint);
        record.insert("Id".into(), json!("003"));
        assert_eq!(read_hint_only(&contact(Value::Object(record))), hint);
    }

    #[test]
    fn what_does_not_read_is_named() {
        let odd = read(&contact(
            json!({"Id": "003", "Birthdate": "02/03/1980", "Gender__c": "Robot"}),
        ));
        assert_eq!(
            odd.warnings,
            [
                ("invalid_birthdate", "date_of_birth"),
                ("gender_not_recognised", "gender")
            ]
        );
    }
}
