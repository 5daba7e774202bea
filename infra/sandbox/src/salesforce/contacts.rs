//! The Contact object as this sandbox's org defines it: Salesforce's standard fields (lengths from
//! its field reference) and the custom fields the Hint integration adds. Writes are checked as
//! Salesforce checks them, each problem an `{message, errorCode, fields}` entry.

use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text of at most this many characters.
    Text(usize),
    Email,
    Date,
    DateTime,
    Bool,
    /// An Account id.
    Account,
}

/// Fields a caller may write, with their kinds.
pub const WRITABLE: [(&str, Kind); 28] = [
    ("Salutation", Kind::Text(40)),
    ("FirstName", Kind::Text(40)),
    ("MiddleName", Kind::Text(40)),
    ("LastName", Kind::Text(80)),
    ("Suffix", Kind::Text(40)),
    ("Birthdate", Kind::Date),
    ("Gender__c", Kind::Text(40)),
    ("Email", Kind::Email),
    ("MobilePhone", Kind::Text(40)),
    ("HomePhone", Kind::Text(40)),
    ("Phone", Kind::Text(40)),
    ("MailingStreet", Kind::Text(255)),
    ("MailingCity", Kind::Text(40)),
    ("MailingState", Kind::Text(80)),
    ("MailingPostalCode", Kind::Text(20)),
    ("MailingCountry", Kind::Text(80)),
    ("AccountId", Kind::Account),
    ("Synced_to_Hint__c", Kind::Bool),
    ("Hint_Patient_Id__c", Kind::Text(40)),
    ("Last_Batch_Sync_Id__c", Kind::Text(80)),
    ("Hint_Practitioner_Name__c", Kind::Text(255)),
    ("Hint_Insurance_Payer__c", Kind::Text(255)),
    ("Hint_Insurance_Group_Id__c", Kind::Text(80)),
    ("Hint_Insurance_Member_Id__c", Kind::Text(80)),
    ("Hint_Member_Contract_Accepted__c", Kind::Bool),
    ("Hint_Member_Contract_Accepted_At__c", Kind::DateTime),
    ("Hint_HIPAA_Authorization_Accepted__c", Kind::Bool),
    ("Hint_HIPAA_Authorization_Accepted_At__c", Kind::DateTime),
];

/// Fields Salesforce sets itself; they read, but cannot be written.
pub const SYSTEM: [&str; 7] = [
    "Id",
    "Name",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
    "IsDeleted",
    "OwnerId",
];

/// Whether `field` is a Contact field (any case, as SOQL takes it).
pub fn is_field(field: &str) -> bool {
    WRITABLE.iter().any(|(name, _)| name.eq_ignore_ascii_case(field))
        || SYSTEM.iter().any(|name| name.eq_ignore_ascii_case(field))
}

pub fn error(code: &str, message: impl Into<String>, fields: &[&str]) -> Value {
    json!({"message": message.into(), "errorCode": code, "fields": fields})
}

/// Checks the fields of a create (`creating`) or update; answers them in their canonical names,
/// or every problem found.
pub fn checked(
    body: &Map<String, Value>,
    creating: bool,
    account_exists: impl Fn(&str) -> bool,
) -> Result<Map<String, Value>, Vec<Value>> {
    let mut problems = Vec::new();
    let mut fields = Map::new();
    for (name, value) in body {
        if name == "attributes" {
            continue;
        }
        if SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            problems.push(error(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                format!("Unable to create/update fields: {name}. Please check the security settings of this field."),
                &[name],
            ));
            continue;
        }
        let Some((canonical, kind)) = WRITABLE.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            problems.push(error(
                "INVALID_FIELD",
                format!("No such column '{name}' on sobject of type Contact"),
                &[],
            ));
            continue;
        };
        let text = value.as_str();
        let problem = match (kind, value) {
            (_, Value::Null) => None,
            (Kind::Bool, Value::Bool(_)) => None,
            (Kind::Bool, _) => Some((
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                format!("{canonical}: value not of required type: {value}"),
            )),
            (_, v) if !v.is_string() => Some((
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                format!("{canonical}: value not of required type: {value}"),
            )),
            (Kind::Text(max), _) if text.is_some_and(|t| t.chars().count() > *max) => Some((
                "STRING_TOO_LONG",
                format!("{canonical}: data value too large (max length={max})"),
            )),
            (Kind::Email, _) if text.is_some_and(|t| !t.is_empty() && !looks_like_email(t)) => Some((
                "INVALID_EMAIL_ADDRESS",
                format!("{canonical}: invalid email address: {}", text.unwrap_or("")),
            )),
            (Kind::Date, _) if text.is_some_and(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_err()) => {
                Some((
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{canonical}: value not of required type: {}", text.unwrap_or("")),
                ))
            }
            (Kind::DateTime, _)
                if text.is_some_and(|t| {
                    chrono::DateTime::parse_from_rfc3339(t).is_err() && parse_salesforce_time(t).is_none()
                }) =>
            {
                Some((
                    "INVALID_TYPE_ON_FIELD_IN_RECORD",
                    format!("{canonical}: value not of required type: {}", text.unwrap_or("")),
                ))
            }
            (Kind::Account, _) if text.is_some_and(|t| !account_exists(t)) => Some((
                "INVALID_CROSS_REFERENCE_KEY",
                format!("Account ID: id value of incorrect type: {}", text.unwrap_or("")),
            )),
            _ => None,
        };
        match problem {
            Some((code, message)) => problems.push(error(code, message, &[canonical])),
            None => {
                fields.insert((*canonical).to_owned(), value.clone());
            }
        }
    }
    let last_name = fields.get("LastName").and_then(Value::as_str).map(str::trim);
    let blanks_last_name =
        body.keys().any(|k| k.eq_ignore_ascii_case("LastName")) && last_name.is_none_or(str::is_empty);
    if (creating && last_name.is_none_or(str::is_empty)) || blanks_last_name {
        problems.push(error(
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [LastName]",
            &["LastName"],
        ));
    }
    if problems.is_empty() { Ok(fields) } else { Err(problems) }
}

fn looks_like_email(text: &str) -> bool {
    match text.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && domain.contains('.') && !domain.ends_with('.') && !text.contains(' ')
        }
        None => false,
    }
}

/// Salesforce writes times as `2013-05-08T17:20:00.000+0000`.
pub fn parse_salesforce_time(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

pub fn salesforce_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_contact_needs_a_last_name_and_each_field_its_kind() {
        let ok = checked(
            &body(json!({"lastname": "Lee", "Birthdate": "1980-02-03"})),
            true,
            |_| true,
        )
        .unwrap();
        assert_eq!(
            ok["LastName"], "Lee",
            "names are taken in any case and kept in Salesforce's"
        );
        let problems = checked(
            &body(json!({"FirstName": "x".repeat(41), "Email": "nope", "Birthdate": "03/02/1980", "Shoe__c": 1, "Id": "003"})),
            true,
            |_| true,
        )
        .unwrap_err();
        let codes: Vec<&str> = problems.iter().map(|p| p["errorCode"].as_str().unwrap()).collect();
        for code in [
            "STRING_TOO_LONG",
            "INVALID_EMAIL_ADDRESS",
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            "INVALID_FIELD",
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "REQUIRED_FIELD_MISSING",
        ] {
            assert!(codes.contains(&code), "{code} in {codes:?}");
        }
        assert!(
            checked(&body(json!({"Email": "a@b.org"})), false, |_| true).is_ok(),
            "an update needs no last name"
        );
        assert!(
            checked(&body(json!({"LastName": ""})), false, |_| true).is_err(),
            "but cannot blank it"
        );
        assert!(checked(&body(json!({"LastName": "Lee", "AccountId": "001x"})), true, |_| false).is_err());
    }

    #[test]
    fn salesforce_times_read_and_write_in_its_own_format() {
        let time = parse_salesforce_time("2013-05-08T17:20:00.000+0000").unwrap();
        assert_eq!(salesforce_time(time), "2013-05-08T17:20:00.000+0000");
        assert!(parse_salesforce_time("2013-05-08T17:20:00Z").is_some());
    }
}
