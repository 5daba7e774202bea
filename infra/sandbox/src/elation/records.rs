//! What Elation accepts in a patient and a non-visit note, checked the way Elation's API (a
//! Django REST Framework service) answers: a 400 whose body maps each bad field to messages.
//! Limits and value lists are from ../shared/VENDOR_APIS.md section 1.

use serde_json::{Map, Value, json};

pub const SEXES: [&str; 4] = ["Female", "Male", "Other", "Unknown"];
pub const PHONE_TYPES: [&str; 7] = ["Fax", "Home", "Main", "Mobile", "Night", "Other", "Work"];
pub const NOTE_TYPES: [&str; 3] = ["nonvisit", "email", "phone"];
pub const BULLET_CATEGORIES: [&str; 28] = [
    "Problem",
    "Past",
    "Family",
    "Social",
    "Instr",
    "PE",
    "ROS",
    "Med",
    "Data",
    "Assessment",
    "Test",
    "Tx",
    "Narrative",
    "Followup",
    "Reason",
    "Plan",
    "Objective",
    "Hpi",
    "Allergies",
    "Habits",
    "Assessplan",
    "Consultant",
    "Attending",
    "Dateprocedure",
    "Surgical",
    "Orders",
    "Referenced",
    "Procedure",
];

/// Field errors, as Elation returns them: `{"field": ["message", …]}`.
#[derive(Default)]
pub struct FieldErrors(Map<String, Value>);

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let messages = self.0.entry(field).or_insert_with(|| json!([]));
        if let Value::Array(list) = messages {
            list.push(Value::String(message.into()));
        }
    }

    pub fn into_result(self) -> Result<(), Value> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Value::Object(self.0))
        }
    }
}

const REQUIRED: &str = "This field is required.";

/// A text field: `needed` when it must be given, `blank_ok` when it may be empty or null.
fn text(errors: &mut FieldErrors, body: &Map<String, Value>, field: &str, max: usize, needed: bool, blank_ok: bool) {
    match body.get(field) {
        None if needed => errors.add(field, REQUIRED),
        None => {}
        Some(Value::Null) if !blank_ok => errors.add(field, "This field may not be null."),
        Some(Value::Null) => {}
        Some(Value::String(value)) if !blank_ok && value.trim().is_empty() => {
            errors.add(field, "This field may not be blank.")
        }
        Some(Value::String(value)) if value.chars().count() > max => {
            errors.add(field, format!("Ensure this field has no more than {max} characters."))
        }
        Some(Value::String(_)) => {}
        Some(_) => errors.add(field, "Not a valid string."),
    }
}

fn one_of(errors: &mut FieldErrors, body: &Map<String, Value>, field: &str, choices: &[&str], required: bool) {
    match body.get(field) {
        None if required => errors.add(field, REQUIRED),
        None => {}
        Some(Value::String(value)) if choices.contains(&value.as_str()) => {}
        Some(value) => errors.add(field, format!("\"{}\" is not a valid choice.", plain(value))),
    }
}

fn plain(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

fn date(errors: &mut FieldErrors, body: &Map<String, Value>, field: &str, required: bool) {
    match body.get(field) {
        None if required => errors.add(field, REQUIRED),
        None => {}
        Some(Value::String(value)) if chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() => {}
        Some(_) => errors.add(
            field,
            "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
        ),
    }
}

fn date_time(errors: &mut FieldErrors, body: &Map<String, Value>, field: &str, required: bool) {
    match body.get(field) {
        None if required => errors.add(field, REQUIRED),
        None => {}
        Some(Value::String(value)) if parse_date_time(value).is_some() => {}
        Some(_) => errors.add(
            field,
            "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].",
        ),
    }
}

pub fn parse_date_time(value: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Checks a patient body. `partial` is a PATCH: only the fields given are checked.
/// `physician_exists` answers whether an id is a physician of the practice.
pub fn check_patient(
    body: &Map<String, Value>,
    partial: bool,
    physician_exists: impl Fn(i64) -> bool,
) -> Result<(), Value> {
    let mut errors = FieldErrors::default();
    let required = !partial;
    text(&mut errors, body, "first_name", 70, required, false);
    text(&mut errors, body, "last_name", 70, required, false);
    text(&mut errors, body, "middle_name", 50, false, true);
    date(&mut errors, body, "dob", required);
    one_of(&mut errors, body, "sex", &SEXES, required);
    match body.get("primary_physician") {
        None if required => errors.add("primary_physician", REQUIRED),
        None => {}
        Some(value) => match value.as_i64() {
            Some(id) if physician_exists(id) => {}
            _ => errors.add(
                "primary_physician",
                format!("Invalid pk \"{}\" - object does not exist.", plain(value)),
            ),
        },
    }
    if let Some(emails) = body.get("emails") {
        match emails.as_array() {
            None => errors.add("emails", "Expected a list of items."),
            Some(list) => {
                for email in list {
                    match email.get("email").and_then(Value::as_str) {
                        Some(address) if address.len() <= 254 && address.contains('@') => {}
                        _ => errors.add("emails", "Enter a valid email address."),
                    }
                }
            }
        }
    }
    if let Some(phones) = body.get("phones") {
        match phones.as_array() {
            None => errors.add("phones", "Expected a list of items."),
            Some(list) => {
                for phone in list {
                    if phone.get("phone").and_then(Value::as_str).is_none_or(str::is_empty) {
                        errors.add("phones", "phone: This field is required.");
                    }
                    match phone.get("phone_type").and_then(Value::as_str) {
                        Some(kind) if PHONE_TYPES.contains(&kind) => {}
                        _ => errors.add("phones", "phone_type: not a valid choice."),
                    }
                }
            }
        }
    }
    match body.get("address") {
        None | Some(Value::Null) => {}
        Some(Value::Object(address)) => {
            let mut inner = FieldErrors::default();
            text(&mut inner, address, "address_line1", 200, false, true);
            text(&mut inner, address, "address_line2", 35, false, true);
            text(&mut inner, address, "city", 50, false, true);
            text(&mut inner, address, "state", 2, false, true);
            text(&mut inner, address, "zip", 10, false, true);
            if let Err(Value::Object(fields)) = inner.into_result() {
                for (field, messages) in fields {
                    for message in messages.as_array().into_iter().flatten() {
                        errors.add("address", format!("{field}: {}", plain(message)));
                    }
                }
            }
        }
        Some(_) => errors.add("address", "Invalid data. Expected a dictionary."),
    }
    errors.into_result()
}

/// Checks a non-visit note body. `patient_exists` answers whether an id is a live patient.
pub fn check_note(body: &Map<String, Value>, patient_exists: impl Fn(i64) -> bool) -> Result<(), Value> {
    let mut errors = FieldErrors::default();
    one_of(&mut errors, body, "type", &NOTE_TYPES, true);
    match body.get("patient") {
        None => errors.add("patient", REQUIRED),
        Some(value) => match value.as_i64() {
            Some(id) if patient_exists(id) => {}
            _ => errors.add(
                "patient",
                format!("Invalid pk \"{}\" - object does not exist.", plain(value)),
            ),
        },
    }
    date_time(&mut errors, body, "document_date", true);
    date_time(&mut errors, body, "chart_date", true);
    if let Some(bullets) = body.get("bullets") {
        match bullets.as_array() {
            None => errors.add("bullets", "Expected a list of items."),
            Some(list) => {
                for bullet in list {
                    if bullet
                        .get("text")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t.trim().is_empty())
                    {
                        errors.add("bullets", "text: This field is required.");
                    }
                    if bullet.get("author").and_then(Value::as_i64).is_none() {
                        errors.add("bullets", "author: This field is required.");
                    }
                    if let Some(category) = bullet.get("category")
                        && !category.as_str().is_some_and(|c| BULLET_CATEGORIES.contains(&c))
                    {
                        errors.add(
                            "bullets",
                            format!("category: \"{}\" is not a valid choice.", plain(category)),
                        );
                    }
                }
            }
        }
    }
    errors.into_result()
}
