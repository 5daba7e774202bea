//! Agencies (a group's practices or sites) through the shared record flow.

use crate::people::GroupRecord;
use chrono::{DateTime, NaiveDate, Utc};
use model::agency::{Agency, AgencyFields, AgencyInput};
use model::group::Group;
use model::{AgencyId, FieldError, GroupId, ValidationErrors};
use store::Key;
use store::keys;

pub use crate::people::{create, get, list, update};

/// The agency a person record names, which must be the group's: its key and the error when
/// it is not.
pub(crate) fn reference(group: &GroupId, agency: Option<&AgencyId>) -> Option<(Key, FieldError)> {
    agency.map(|agency| {
        (
            keys::agency(group, agency),
            FieldError::new("agency_id", "unknown_agency", "agency_id names no agency in this group"),
        )
    })
}

impl GroupRecord for Agency {
    type Input = AgencyInput;
    type Fields = AgencyFields;
    type Id = AgencyId;
    type Stored = Agency;

    const WHAT: &'static str = "agency";
    const SORT_KEY_PREFIX: &'static str = keys::AGENCY_PREFIX;

    fn new_id() -> AgencyId {
        AgencyId::generate()
    }

    fn parse_id(raw: &str) -> Option<AgencyId> {
        AgencyId::parse(raw).ok()
    }

    fn key(group: &GroupId, id: &AgencyId) -> Key {
        keys::agency(group, id)
    }

    fn validate(input: &AgencyInput, _group: &Group, _today: NaiveDate) -> Result<AgencyFields, ValidationErrors> {
        input.validate()
    }

    fn assemble(
        id: AgencyId,
        group: GroupId,
        fields: AgencyFields,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Agency {
        Agency {
            id,
            group,
            fields,
            created_at,
            updated_at,
        }
    }

    fn id(stored: &Agency) -> &AgencyId {
        &stored.id
    }

    fn fields(stored: &Agency) -> &AgencyFields {
        &stored.fields
    }

    fn created_at(stored: &Agency) -> DateTime<Utc> {
        stored.created_at
    }
}
