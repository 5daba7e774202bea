//! Completing a previewed `update` row against the patient as it is now. Between preview and
//! completion someone may have edited the patient, so the row's changes are re-applied field by
//! field (a three-way merge): a field that still holds its previewed value takes the new one, a
//! field that already holds the new one needs nothing, and a field someone else changed is a
//! conflict. Other fields keep whatever they hold now: nothing is blindly overwritten.

use crate::merge_patch;
use crate::patient::{Change, Context, PatientFields, PatientInput};
use crate::{FieldError, ValidationErrors};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Recheck {
    /// Write these fields (boxed: a patient's fields dwarf the other outcomes).
    Apply(Box<PatientFields>),
    /// The patient already holds every change (the row was applied before: a redelivery).
    AlreadyApplied,
    /// These fields were changed by someone else since the preview; the row is not applied.
    Conflict(Vec<String>),
    /// The merged record would not be valid (it cannot happen for values the preview checked,
    /// but the rules may have changed since).
    Invalid(ValidationErrors),
}

pub fn recheck_update(current: &PatientFields, changes: &[Change], ctx: &Context) -> Recheck {
    let unreadable =
        |reason: String| Recheck::Invalid(ValidationErrors(vec![FieldError::new("record", "unreadable", reason)]));
    let Ok(Value::Object(now)) = serde_json::to_value(PatientInput::from(current)) else {
        return unreadable("the current record cannot be read as input".into());
    };
    let value_now = |field: &str| now.get(field).cloned().unwrap_or(Value::Null);
    let mut patch = Map::new();
    let mut conflicts = Vec::new();
    for change in changes {
        let held = value_now(&change.field);
        if held == change.to {
            continue;
        } else if held == change.from {
            patch.insert(change.field.clone(), change.to.clone());
        } else {
            conflicts.push(change.field.clone());
        }
    }
    if !conflicts.is_empty() {
        return Recheck::Conflict(conflicts);
    }
    if patch.is_empty() {
        return Recheck::AlreadyApplied;
    }
    let mut merged = Value::Object(now);
    merge_patch::apply(&mut merged, &Value::Object(patch));
    match serde_json::from_value::<PatientInput>(merged) {
        Ok(input) => match input.validate(ctx) {
            Ok(fields) => Recheck::Apply(Box::new(fields)),
            Err(errors) => Recheck::Invalid(errors),
        },
        Err(error) => unreadable(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patient::tests::ctx;

    fn patient(city: Option<&str>, email: Option<&str>) -> PatientFields {
        PatientInput {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            date_of_birth: Some("1984-03-07".into()),
            city: city.map(Into::into),
            email: email.map(Into::into),
            ..Default::default()
        }
        .validate(&ctx())
        .unwrap()
    }

    /// The changes a preview of `before` → `after` recorded.
    fn changes(before: &PatientFields, after: &PatientFields) -> Vec<Change> {
        after.changes_from(before)
    }

    #[test]
    fn an_untouched_patient_takes_the_previewed_changes() {
        let base = patient(Some("London"), None);
        let previewed = changes(&base, &patient(Some("Paris"), None));
        assert_eq!(
            recheck_update(&base, &previewed, &ctx()),
            Recheck::Apply(Box::new(patient(Some("Paris"), None)))
        );
    }

    #[test]
    fn an_edit_to_another_field_since_the_preview_is_kept() {
        let base = patient(Some("London"), None);
        let previewed = changes(&base, &patient(Some("Paris"), None));
        let edited_since = patient(Some("London"), Some("ada@example.org"));
        assert_eq!(
            recheck_update(&edited_since, &previewed, &ctx()),
            Recheck::Apply(Box::new(patient(Some("Paris"), Some("ada@example.org"))))
        );
    }

    #[test]
    fn a_row_applied_before_is_recognised() {
        let base = patient(Some("London"), None);
        let after = patient(Some("Paris"), None);
        assert_eq!(
            recheck_update(&after, &changes(&base, &after), &ctx()),
            Recheck::AlreadyApplied
        );
    }

    #[test]
    fn a_field_someone_else_changed_is_a_conflict_not_an_overwrite() {
        let base = patient(Some("London"), None);
        let previewed = changes(&base, &patient(Some("Paris"), None));
        let edited_since = patient(Some("Rome"), None);
        assert_eq!(
            recheck_update(&edited_since, &previewed, &ctx()),
            Recheck::Conflict(vec!["city".into()])
        );
    }
}
