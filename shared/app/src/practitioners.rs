//! Practitioners (coaches, physicians, staff) through the shared person flow.

use crate::people::{GroupRecord, Person};
use chrono::{DateTime, NaiveDate, Utc};
use model::group::Group;
use model::lookup::{Lookup, PersonKind};
use model::practitioner::{Practitioner, PractitionerFields, PractitionerInput};
use model::{FieldError, GroupId, PractitionerId, ValidationErrors};
use store::Key;
use store::keys::{self, LinkedKind};

pub use crate::people::{create, get, list, update};

impl GroupRecord for Practitioner {
    type Input = PractitionerInput;
    type Fields = PractitionerFields;
    type Id = PractitionerId;
    type Stored = Practitioner;

    const WHAT: &'static str = "practitioner";
    const SORT_KEY_PREFIX: &'static str = keys::PRACTITIONER_PREFIX;
    const COUNTED: Option<PersonKind> = Some(PersonKind::Practitioner);

    fn new_id() -> PractitionerId {
        PractitionerId::generate()
    }

    fn parse_id(raw: &str) -> Option<PractitionerId> {
        PractitionerId::parse(raw).ok()
    }

    fn key(group: &GroupId, id: &PractitionerId) -> Key {
        keys::practitioner(group, id)
    }

    fn validate(
        input: &PractitionerInput,
        group: &Group,
        _today: NaiveDate,
    ) -> Result<PractitionerFields, ValidationErrors> {
        input.validate(&group.settings.default_country)
    }

    fn lookups(fields: &PractitionerFields) -> Vec<Lookup> {
        model::lookup::of_practitioner(fields)
    }

    fn references(group: &GroupId, fields: &PractitionerFields) -> Vec<(Key, FieldError)> {
        crate::agencies::reference(group, fields.agency_id.as_ref())
            .into_iter()
            .collect()
    }

    fn assemble(
        id: PractitionerId,
        group: GroupId,
        fields: PractitionerFields,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Practitioner {
        Practitioner {
            id,
            group,
            fields,
            created_at,
            updated_at,
        }
    }

    fn id(stored: &Practitioner) -> &PractitionerId {
        &stored.id
    }

    fn fields(stored: &Practitioner) -> &PractitionerFields {
        &stored.fields
    }

    fn created_at(stored: &Practitioner) -> DateTime<Utc> {
        stored.created_at
    }
}

impl Person for Practitioner {
    const LINKS: LinkedKind = LinkedKind::Practitioner;
    const KIND: PersonKind = PersonKind::Practitioner;
}
