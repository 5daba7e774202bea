//! Patients through the shared person flow; a patient's coach must exist in the same group.

use crate::people::{GroupRecord, Person};
use chrono::{DateTime, NaiveDate, Utc};
use model::group::Group;
use model::lookup::{Lookup, PersonKind};
use model::patient::{Context, Patient, PatientFields, PatientInput};
use model::{FieldError, GroupId, PatientId, ValidationErrors};
use store::Key;
use store::keys::{self, LinkedKind};

pub use crate::people::{create, delete, get, list, update};

impl GroupRecord for Patient {
    type Input = PatientInput;
    type Fields = PatientFields;
    type Id = PatientId;
    type Stored = Patient;

    const WHAT: &'static str = "patient";
    const SORT_KEY_PREFIX: &'static str = keys::PATIENT_PREFIX;
    const COUNTED: Option<PersonKind> = Some(PersonKind::Patient);

    fn new_id() -> PatientId {
        PatientId::generate()
    }

    fn parse_id(raw: &str) -> Option<PatientId> {
        PatientId::parse(raw).ok()
    }

    fn key(group: &GroupId, id: &PatientId) -> Key {
        keys::patient(group, id)
    }

    fn validate(input: &PatientInput, group: &Group, today: NaiveDate) -> Result<PatientFields, ValidationErrors> {
        input.validate(&Context {
            default_country: group.settings.default_country.clone(),
            today,
        })
    }

    fn lookups(fields: &PatientFields) -> Vec<Lookup> {
        model::lookup::of_patient(fields)
    }

    fn belongings(id: &PatientId) -> Vec<String> {
        vec![keys::plan_note_prefix(id)]
    }

    fn references(group: &GroupId, fields: &PatientFields) -> Vec<(Key, FieldError)> {
        let practitioner = fields.practitioner_id.iter().map(|practitioner| {
            (
                keys::practitioner(group, practitioner),
                FieldError::new(
                    "practitioner_id",
                    "unknown_practitioner",
                    "practitioner_id names no practitioner in this group",
                ),
            )
        });
        practitioner
            .chain(crate::agencies::reference(group, fields.agency_id.as_ref()))
            .collect()
    }

    fn assemble(
        id: PatientId,
        group: GroupId,
        fields: PatientFields,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Patient {
        Patient {
            id,
            group,
            fields,
            created_at,
            updated_at,
            imported_from: None,
            unlinked: Vec::new(),
        }
    }

    /// Links that other systems ended stay marked through every later write.
    fn carry_over(current: &Patient, next: &mut Patient) {
        next.unlinked = current.unlinked.clone();
    }

    fn may_edit(before: &PatientFields, after: &PatientFields) -> Result<(), crate::AppError> {
        crate::integrations::may_edit_patient(before, after)
    }

    fn edited(deps: &crate::Deps, before: &PatientFields, after: &Patient) -> impl Future<Output = ()> + Send {
        crate::integrations::patient_edited(deps, before, after)
    }

    fn id(stored: &Patient) -> &PatientId {
        &stored.id
    }

    fn fields(stored: &Patient) -> &PatientFields {
        &stored.fields
    }

    fn created_at(stored: &Patient) -> DateTime<Utc> {
        stored.created_at
    }
}

impl Person for Patient {
    const LINKS: LinkedKind = LinkedKind::Patient;
    const KIND: PersonKind = PersonKind::Patient;
}
