//! Appointments through the shared record flow, indexed by date (and by agency and date) so a
//! date range is one query. A rendered appointment takes no edits: its session note completed
//! it, and the note's later revisions are recorded on it instead.

use crate::AppError;
use crate::Deps;
use crate::paging::{Listing, list_by_date};
use crate::people::GroupRecord;
use chrono::{DateTime, NaiveDate, Utc};
use model::access::{Action, Caller, authorize};
use model::appointment::{Appointment, AppointmentFields, AppointmentInput, AppointmentStatus};
use model::group::Group;
use model::{AgencyId, AppointmentId, FieldError, GroupId, ValidationErrors};
use store::keys;
use store::{Key, Versioned};

pub use crate::people::{create, get, update};

impl GroupRecord for Appointment {
    type Input = AppointmentInput;
    type Fields = AppointmentFields;
    type Id = AppointmentId;
    type Stored = Appointment;

    const WHAT: &'static str = "appointment";
    const SORT_KEY_PREFIX: &'static str = keys::APPOINTMENT_PREFIX;

    fn new_id() -> AppointmentId {
        AppointmentId::generate()
    }

    fn parse_id(raw: &str) -> Option<AppointmentId> {
        AppointmentId::parse(raw).ok()
    }

    fn key(group: &GroupId, id: &AppointmentId) -> Key {
        keys::appointment(group, id)
    }

    fn validate(
        input: &AppointmentInput,
        _group: &Group,
        _today: NaiveDate,
    ) -> Result<AppointmentFields, ValidationErrors> {
        input.validate()
    }

    fn index_keys(group: &GroupId, id: &AppointmentId, fields: &AppointmentFields) -> Vec<Key> {
        keys::appointment_days(group, &fields.agency_id, &fields.date.to_string(), id).into()
    }

    fn references(group: &GroupId, fields: &AppointmentFields) -> Vec<(Key, FieldError)> {
        let missing = |field: &str, what: &str| {
            FieldError::new(
                field,
                "not_found",
                format!("{field}: no {what} with this id in the group"),
            )
        };
        vec![
            (keys::agency(group, &fields.agency_id), missing("agency_id", "agency")),
            (
                keys::patient(group, &fields.patient_id),
                missing("patient_id", "patient"),
            ),
            (
                keys::practitioner(group, &fields.practitioner_id),
                missing("practitioner_id", "practitioner"),
            ),
        ]
    }

    fn may_edit(before: &AppointmentFields, _after: &AppointmentFields) -> Result<(), AppError> {
        if before.status == AppointmentStatus::Rendered {
            return Err(AppError::Conflict(
                "this appointment was rendered from its session note and takes no edits; revisions of the note are recorded on it"
                    .into(),
            ));
        }
        Ok(())
    }

    fn carry_over(current: &Appointment, next: &mut Appointment) {
        next.signature_data = current.signature_data.clone();
        next.rendered_at = current.rendered_at;
        next.revisions_after_render = current.revisions_after_render.clone();
        next.session_note = current.session_note.clone();
    }

    fn assemble(
        id: AppointmentId,
        group: GroupId,
        fields: AppointmentFields,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Appointment {
        Appointment {
            id,
            group,
            fields,
            signature_data: None,
            rendered_at: None,
            revisions_after_render: Vec::new(),
            session_note: None,
            created_at,
            updated_at,
        }
    }

    fn id(stored: &Appointment) -> &AppointmentId {
        &stored.id
    }

    fn fields(stored: &Appointment) -> &AppointmentFields {
        &stored.fields
    }

    fn created_at(stored: &Appointment) -> DateTime<Utc> {
        stored.created_at
    }
}

/// Every appointment on any of `dates`, from the date index.
pub(crate) async fn on_dates(
    deps: &Deps,
    group: &GroupId,
    dates: impl IntoIterator<Item = NaiveDate>,
) -> Result<Vec<Versioned<Appointment>>, AppError> {
    let mut keys = Vec::new();
    for date in dates {
        let prefix = format!("{}{date}#", keys::APPOINTMENT_DAY_PREFIX);
        for entry in crate::paging::all_keys(deps, group, &prefix).await? {
            if let Some(id) = entry
                .sk
                .strip_prefix(&prefix)
                .and_then(|id| AppointmentId::parse(id).ok())
            {
                keys.push(keys::appointment(group, &id));
            }
        }
    }
    let mut found = Vec::new();
    for chunk in keys.chunks(100) {
        for record in deps.records.get_many(chunk).await? {
            found.push(record.decode()?);
        }
    }
    Ok(found)
}

/// Which appointments a listing shows: at one agency or all, on dates from `from` to `to`
/// (both included; either may be left open).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub agency: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

fn date(field: &str, raw: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    raw.map(|raw| {
        NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| AppError::BadBody(format!("{field} must be a date, YYYY-MM-DD")))
    })
    .transpose()
}

/// One page of a group's appointments in date order, filtered as `filter` says.
pub async fn list(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    filter: &Filter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Versioned<Appointment>>, AppError> {
    authorize(caller, Some(group), Action::ReadRecords)?;
    let from = date("from", filter.from.as_deref())?;
    let to = date("to", filter.to.as_deref())?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(AppError::BadBody("to must not be before from".into()));
    }
    let prefix = match filter.agency.as_deref() {
        Some(raw) => {
            let agency = AgencyId::parse(raw.trim()).map_err(|e| AppError::BadBody(format!("agency_id: {e}")))?;
            keys::agency_appointments_prefix(&agency)
        }
        None => keys::APPOINTMENT_DAY_PREFIX.to_owned(),
    };
    list_by_date(deps, group, &prefix, (from, to), (cursor, limit), |id| {
        AppointmentId::parse(id).ok().map(|id| keys::appointment(group, &id))
    })
    .await
}
