//! Applying Elation's changes, as its webhooks report them, to carebridge (in the sync-worker).
//!
//! - A saved patient carebridge does not know is created; a known one takes Elation's
//!   demographics (`PatientFields::synced_from`). A saved physician becomes or updates a coach.
//! - A deleted patient is unlinked: carebridge keeps its record, without the Elation id.
//! - Every applied change records Elation's `last_modified` for the record, in the same
//!   transaction; a change no newer than that (a late retry, a replay) is dropped.
//! - Nothing here is pushed back to Elation: a change that carries exactly what carebridge holds
//!   writes nothing, so a change carebridge itself made cannot echo.

use crate::people::{Person, counted, replacement};
use crate::{AppError, Deps, finding, groups};
use chrono::{DateTime, Utc};
use connectors::elation::mapping::{patient_input, practitioner_input};
use connectors::elation::types::{Action, Event, Patient as ElationPatient, Physician};
use model::GroupId;
use model::external::ExternalSystem;
use model::integration::{IntegrationKind, IntegrationStatus};
use model::lookup::{Lookup, PersonKind};
use model::patient::{Context, Patient, PatientFields};
use model::practitioner::{Practitioner, PractitionerFields};
use serde::{Deserialize, Serialize};
use store::keys::{self, LinkedKind};
use store::{Condition, Record, StoreError, Versioned, Write};

/// What carebridge last applied from Elation for one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Applied {
    pub last_modified: Option<DateTime<Utc>>,
    pub deleted: bool,
}

/// What applying one event did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applying {
    Created,
    Updated,
    Unlinked,
    /// Carebridge already holds exactly this.
    Unchanged,
    /// No newer than what carebridge last applied.
    Stale,
    /// Not something carebridge follows, or the integration is not active.
    Ignored,
    /// Elation's record cannot be stored as it is (logged with the fields at fault).
    Invalid,
}

pub async fn apply(deps: &Deps, group: &GroupId, event: &Event) -> Result<Applying, AppError> {
    let integration = deps
        .read::<model::integration::Integration>(&keys::integration(group, IntegrationKind::Elation))
        .await?;
    if integration.is_none_or(|i| i.value.status != IntegrationStatus::Active) {
        return Ok(Applying::Ignored);
    }
    match (event.resource.as_str(), event.action) {
        ("patients", action) => {
            let Some(patient) = event_patient(deps, group, event).await? else {
                return Ok(Applying::Ignored);
            };
            apply_patient(deps, group, &patient, action).await
        }
        ("physicians", Action::Saved) => {
            let Some(physician) = inline::<Physician>(event)? else {
                return Ok(Applying::Ignored);
            };
            apply_physician(deps, group, &physician).await
        }
        _ => Ok(Applying::Ignored),
    }
}

/// The event's record as Elation sent it inline.
fn inline<T: serde::de::DeserializeOwned>(event: &Event) -> Result<Option<T>, AppError> {
    event
        .data
        .as_ref()
        .map(|data| serde_json::from_value(data.clone()))
        .transpose()
        .map_err(|e| AppError::Conflict(format!("the event's {} record is unreadable: {e}", event.resource)))
}

/// The event's patient: inline, or fetched when Elation sent only its URL (large records).
async fn event_patient(deps: &Deps, group: &GroupId, event: &Event) -> Result<Option<ElationPatient>, AppError> {
    if event.data.is_some() {
        return inline(event);
    }
    let Some(id) = event
        .resource_url
        .as_deref()
        .and_then(|url| url.trim_end_matches('/').rsplit('/').next())
        .and_then(|id| id.parse().ok())
    else {
        return Ok(None);
    };
    let client = super::client(deps, group).await?;
    Ok(client.patient(id).await?)
}

/// The carebridge record linked to an Elation id, if any.
async fn linked<P: Person>(
    deps: &Deps,
    group: &GroupId,
    elation_id: i64,
) -> Result<Option<Versioned<P::Stored>>, AppError> {
    let id = elation_id.to_string();
    let lookup = match P::KIND {
        PersonKind::Patient => Lookup::PatientLink(ExternalSystem::Elation, id),
        PersonKind::Practitioner => Lookup::PractitionerLink(ExternalSystem::Elation, id),
    };
    finding::linked::<P>(deps, group, lookup).await
}

/// Where what carebridge last applied of an Elation record is kept, by the record's Elation id
/// (a number, or the same number as carebridge's plans write it).
pub(crate) fn state_key(group: &GroupId, kind: LinkedKind, elation_id: impl std::fmt::Display) -> store::Key {
    keys::vendor_state(group, ExternalSystem::Elation, kind, &elation_id.to_string())
}

/// True when a change modified at `incoming` is no newer than what was applied.
pub(crate) fn is_stale(applied: Option<&Versioned<Applied>>, incoming: Option<DateTime<Utc>>) -> bool {
    match (applied.and_then(|a| a.value.last_modified), incoming) {
        (Some(applied), Some(incoming)) => incoming <= applied,
        _ => false,
    }
}

pub(crate) fn state_write(
    key: store::Key,
    before: Option<&Versioned<Applied>>,
    now: &Applied,
) -> Result<Write, AppError> {
    let (version, condition) = match before {
        Some(before) => (before.version + 1, Condition::AtVersion(before.version)),
        None => (1, Condition::Absent),
    };
    Ok(Write::Put {
        record: Record::encode(key, version, now)?,
        condition,
    })
}

/// Records that carebridge wrote Elation's record itself (a push), unless a newer change was
/// recorded meanwhile.
pub(crate) async fn record_applied(
    deps: &Deps,
    group: &GroupId,
    kind: LinkedKind,
    elation_id: i64,
    now: Applied,
) -> Result<(), AppError> {
    let key = state_key(group, kind, elation_id);
    for _ in 0..3 {
        let before = deps.read::<Applied>(&key).await?;
        if is_stale(before.as_ref(), now.last_modified) {
            return Ok(());
        }
        match write(deps, vec![state_write(key.clone(), before.as_ref(), &now)?]).await {
            Err(AppError::InProgressElsewhere) => continue,
            other => return other,
        }
    }
    Err(AppError::InProgressElsewhere)
}

async fn write(deps: &Deps, writes: Vec<Write>) -> Result<(), AppError> {
    match deps.records.write(writes).await {
        Ok(()) => Ok(()),
        // Another change to the same record was applied at the same moment: try again, and the
        // staleness check decides.
        Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => {
            Err(AppError::InProgressElsewhere)
        }
        Err(other) => Err(other.into()),
    }
}

async fn context(deps: &Deps, group: &GroupId) -> Result<Context, AppError> {
    let settings = groups::load(deps, group).await?.value.settings;
    Ok(Context {
        default_country: settings.default_country,
        today: deps.clock.now().date_naive(),
    })
}

async fn apply_patient(
    deps: &Deps,
    group: &GroupId,
    patient: &ElationPatient,
    action: Action,
) -> Result<Applying, AppError> {
    let key = state_key(group, LinkedKind::Patient, patient.id);
    let applied = deps.read::<Applied>(&key).await?;
    if is_stale(applied.as_ref(), patient.last_modified) {
        return Ok(Applying::Stale);
    }
    let current = linked::<Patient>(deps, group, patient.id).await?;
    let deleted = action == Action::Deleted || patient.deleted_date.is_some();
    let now_applied = Applied {
        last_modified: patient.last_modified,
        deleted,
    };
    let mut writes = vec![state_write(key, applied.as_ref(), &now_applied)?];
    if deleted {
        let Some(current) = current else {
            write(deps, writes).await?;
            return Ok(Applying::Unchanged);
        };
        let mut fields = current.value.fields.clone();
        fields.external_ids.remove(&ExternalSystem::Elation);
        let (_, mut record) = replacement::<Patient>(group, Some(&current), fields, deps.clock.now())?;
        record.append(&mut writes);
        write(deps, record).await?;
        return Ok(Applying::Unlinked);
    }
    let mut input = patient_input(patient, current.as_ref().map(|c| &c.value.fields));
    if let Some(physician) = patient.primary_physician
        && let Some(coach) = linked::<Practitioner>(deps, group, physician).await?
    {
        input.practitioner_id = Some(coach.value.id.to_string());
    }
    let incoming = match input.validate(&context(deps, group).await?) {
        Ok(fields) => fields,
        Err(errors) => {
            let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
            tracing::warn!(%group, elation_patient = patient.id, ?fields, "an Elation patient cannot be stored as it is; the change was not applied");
            return Ok(Applying::Invalid);
        }
    };
    store_synced::<Patient>(
        deps,
        group,
        current.as_ref(),
        incoming,
        PatientFields::synced_from,
        writes,
    )
    .await
}

async fn apply_physician(deps: &Deps, group: &GroupId, physician: &Physician) -> Result<Applying, AppError> {
    let key = state_key(group, LinkedKind::Practitioner, physician.id);
    let applied = deps.read::<Applied>(&key).await?;
    if is_stale(applied.as_ref(), physician.last_modified) {
        return Ok(Applying::Stale);
    }
    let current = linked::<Practitioner>(deps, group, physician.id).await?;
    let incoming = match practitioner_input(physician).validate(&context(deps, group).await?.default_country) {
        Ok(fields) => fields,
        Err(errors) => {
            let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
            tracing::warn!(%group, elation_physician = physician.id, ?fields, "an Elation physician cannot be stored as a coach; the change was not applied");
            return Ok(Applying::Invalid);
        }
    };
    let writes = vec![state_write(
        key,
        applied.as_ref(),
        &Applied {
            last_modified: physician.last_modified,
            deleted: false,
        },
    )?];
    store_synced::<Practitioner>(
        deps,
        group,
        current.as_ref(),
        incoming,
        PractitionerFields::synced_from,
        writes,
    )
    .await
}

/// Stores Elation's copy (`incoming`) laid over carebridge's (`current`, if linked) with
/// `synced_from`, together with `state` (what was applied); only `state` when nothing changed.
async fn store_synced<P: Person>(
    deps: &Deps,
    group: &GroupId,
    current: Option<&Versioned<P::Stored>>,
    incoming: P::Fields,
    synced_from: fn(&P::Fields, &P::Fields) -> P::Fields,
    mut state: Vec<Write>,
) -> Result<Applying, AppError> {
    let (fields, outcome) = match current {
        Some(current) => {
            let next = synced_from(P::fields(&current.value), &incoming);
            if &next == P::fields(&current.value) {
                write(deps, state).await?;
                return Ok(Applying::Unchanged);
            }
            (next, Applying::Updated)
        }
        None => (incoming, Applying::Created),
    };
    let (_, mut record) = replacement::<P>(group, current, fields, deps.clock.now())?;
    record.append(&mut state);
    write(deps, record).await?;
    if outcome == Applying::Created {
        counted::<P>(deps, group, 1).await;
    }
    Ok(outcome)
}
