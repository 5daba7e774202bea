//! carebridge → Elation: a caller's edit of a linked patient's demographics is PATCHed to
//! Elation, and plan notes are posted as non-visit notes. Both go through the sync queue, so a
//! busy or failing Elation is retried with backoff and, after the last try, the job waits in the
//! dead-letter queue with an Error log entry naming the record.

use super::Job;
use super::client as elation_client;
use super::inbound::{Applied, record_applied};
use crate::integrations::jobs::enqueue;
use crate::paging::{Listing, list_records};
use crate::{AppError, Deps, groups};
use connectors::elation::mapping::{
    KEPT_FIELDS, elation_id, is_plan_note, kept_changes, patch_for, patient_input, plan_note,
};
use model::access::{Action, Caller, authorize};
use model::integration::{Integration, IntegrationKind, IntegrationStatus};
use model::patient::{Context, Patient, PatientFields};
use model::plan_note::{Delivery, DeliveryStatus, PlanNote, PlanNoteInput};
use model::practitioner::Practitioner;
use model::{GroupId, PatientId, PlanNoteId};
use store::keys::{self, LinkedKind};
use store::{Condition, Record, StoreError, Versioned, Write};

/// After a caller's edit of `after`: queues a push when the patient is linked to Elation and
/// something Elation keeps changed. The edit is already stored, so a failure to queue is logged
/// as an error naming the patient, not returned.
pub(crate) async fn patient_edited(deps: &Deps, before: &PatientFields, after: &Patient) {
    let fields = kept_changes(before, &after.fields);
    if elation_id(&after.fields.external_ids).is_none() || fields.is_empty() {
        return;
    }
    let job = Job::PushPatient {
        group: after.group.clone(),
        patient: after.id.clone(),
        fields,
    };
    if let Err(error) = enqueue(deps, &[job.into()]).await {
        tracing::error!(group = %after.group, patient = %after.id, %error, "the edit is saved but could not be queued for Elation");
    }
}

async fn active_elation(deps: &Deps, group: &GroupId) -> Result<bool, AppError> {
    let integration = deps
        .read::<Integration>(&keys::integration(group, IntegrationKind::Elation))
        .await?;
    Ok(integration.is_some_and(|i| i.value.status == IntegrationStatus::Active))
}

/// Sends Elation carebridge's values of `fields` (a caller's edit), where Elation's copy differs
/// (from the sync-worker). Elation's copy is read first, so a retried or repeated push sends
/// nothing twice, and only what the caller changed is sent: a field changed in Elation meanwhile
/// is not overwritten with carebridge's older value. No `fields` (a job queued before pushes
/// named them) sends every field Elation keeps that differs.
pub async fn push_patient(deps: &Deps, group: &GroupId, id: &PatientId, fields: &[String]) -> Result<(), AppError> {
    if !active_elation(deps, group).await? {
        return Ok(());
    }
    let Some(patient) = deps.read::<Patient>(&keys::patient(group, id)).await? else {
        return Ok(());
    };
    let Some(elation_id) = elation_id(&patient.value.fields.external_ids) else {
        return Ok(());
    };
    let client = elation_client(deps, group).await?;
    let Some(theirs) = client.patient(elation_id).await? else {
        tracing::warn!(%group, patient = %id, elation_patient = elation_id, "the linked Elation patient no longer exists; nothing was sent");
        return Ok(());
    };
    let ours = &patient.value.fields;
    let settings = groups::load(deps, group).await?.value.settings;
    let ctx = Context {
        default_country: settings.default_country,
        today: deps.clock.now().date_naive(),
    };
    let every_field: Vec<String>;
    let fields = if fields.is_empty() {
        every_field = KEPT_FIELDS.iter().map(|f| (*f).to_owned()).collect();
        &every_field
    } else {
        fields
    };
    // Elation's copy may not read as valid (then each changed field is sent as carebridge has it).
    let their_fields = patient_input(&theirs, Some(ours)).validate(&ctx).ok();
    let patch = patch_for(&theirs, their_fields.as_ref(), ours, fields);
    if patch.is_empty() {
        return Ok(());
    }
    let updated = client.update_patient(elation_id, &patch).await?;
    // Elation does not echo an app's own writes, but a late copy of an older change could still
    // arrive: what was just written is recorded as applied, so that copy is stale.
    record_applied(
        deps,
        group,
        LinkedKind::Patient,
        elation_id,
        Applied {
            last_modified: updated.last_modified,
            deleted: false,
        },
    )
    .await?;
    tracing::info!(%group, patient = %id, fields = patch.len(), "patient demographics sent to Elation");
    Ok(())
}

/// Stores a plan note and queues it for Elation (role `group_admin`). The patient and the
/// author must be linked to Elation, and the integration active.
pub async fn create_plan_note(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_patient: &str,
    input: &PlanNoteInput,
) -> Result<Versioned<PlanNote>, AppError> {
    authorize(caller, Some(group), Action::WriteRecords)?;
    groups::load(deps, group).await?;
    let patient = read_patient(deps, group, raw_patient).await?;
    let (text, author) = input.validate()?;
    let practitioner = deps
        .read::<Practitioner>(&keys::practitioner(group, &author))
        .await?
        .ok_or_else(|| {
            AppError::Invalid(model::ValidationErrors(vec![model::FieldError::new(
                "author_practitioner_id",
                "not_found",
                "no practitioner with this id in the group",
            )]))
        })?;
    if !active_elation(deps, group).await? {
        return Err(AppError::Conflict(
            "plan notes go to Elation: enable the Elation integration first".into(),
        ));
    }
    if elation_id(&patient.value.fields.external_ids).is_none() {
        return Err(AppError::Conflict(
            "this patient is not linked to an Elation patient".into(),
        ));
    }
    if elation_id(&practitioner.value.fields.external_ids).is_none() {
        return Err(AppError::Conflict(
            "the author is not linked to an Elation physician, so Elation cannot show the note as theirs".into(),
        ));
    }
    let note = PlanNote {
        id: PlanNoteId::generate(),
        group: group.clone(),
        patient_id: patient.value.id.clone(),
        author_practitioner_id: author,
        text,
        created_by: caller.subject.clone(),
        created_at: deps.clock.now(),
        delivery: Delivery::pending(),
    };
    let key = keys::plan_note(group, &note.patient_id, &note.id);
    deps.records
        .write(vec![Write::Put {
            record: Record::encode(key, 1, &note)?,
            condition: Condition::Absent,
        }])
        .await?;
    enqueue(
        deps,
        &[Job::PostPlanNote {
            group: group.clone(),
            patient: note.patient_id.clone(),
            note: note.id.clone(),
        }
        .into()],
    )
    .await?;
    Ok(Versioned {
        version: 1,
        value: note,
    })
}

/// A patient's plan notes, newest first, with their delivery to Elation.
pub async fn list_plan_notes(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_patient: &str,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Versioned<PlanNote>>, AppError> {
    authorize(caller, Some(group), Action::ReadRecords)?;
    groups::load(deps, group).await?;
    let patient = read_patient(deps, group, raw_patient).await?;
    list_records(
        deps,
        group,
        &keys::plan_note_prefix(&patient.value.id),
        cursor,
        limit,
        true,
    )
    .await
}

async fn read_patient(deps: &Deps, group: &GroupId, raw: &str) -> Result<Versioned<Patient>, AppError> {
    let not_found = || AppError::NotFound { what: "patient" };
    let id = PatientId::parse(raw).map_err(|_| not_found())?;
    deps.read(&keys::patient(group, &id)).await?.ok_or_else(not_found)
}

/// Posts a plan note to Elation (from the sync-worker) and records Elation's id. A note already
/// delivered is not posted again, and neither is one whose earlier post Elation took although
/// its answer never came: Elation has no idempotency key, so the note is marked before it is
/// sent, and a marked note is first looked for among the patient's notes in Elation.
pub async fn post_plan_note(
    deps: &Deps,
    group: &GroupId,
    patient: &PatientId,
    id: &PlanNoteId,
) -> Result<(), AppError> {
    let Some(note) = pending_note(deps, group, patient, id).await? else {
        return Ok(());
    };
    let patient_record = read_patient(deps, group, patient.as_str()).await?;
    let author = deps
        .read::<Practitioner>(&keys::practitioner(group, &note.value.author_practitioner_id))
        .await?;
    let (Some(elation_patient), Some(elation_author)) = (
        elation_id(&patient_record.value.fields.external_ids),
        author.and_then(|a| elation_id(&a.value.fields.external_ids)),
    ) else {
        let failed = note
            .value
            .failed("the patient or the author is no longer linked to Elation".into());
        return save_note(deps, &note, failed).await.map(drop);
    };
    let client = elation_client(deps, group).await?;
    let (text, at) = (&note.value.text, note.value.created_at);
    if note.value.may_be_posted() {
        let mut listed = client.notes_of(elation_patient);
        while let Some(page) = listed.next_page().await? {
            if let Some(found) = page
                .iter()
                .find(|n| is_plan_note(n, elation_patient, elation_author, text, at))
            {
                tracing::info!(%group, %patient, note = %id, elation_note = found.id, "an earlier post of the plan note reached Elation; recorded, not posted again");
                let delivered = note.value.delivered(found.id.to_string(), deps.clock.now());
                return save_note(deps, &note, delivered).await.map(drop);
            }
        }
    }
    let note = save_note(deps, &note, note.value.posting(deps.clock.now())).await?;
    let created = match client
        .create_note(&plan_note(elation_patient, elation_author, text, at))
        .await
    {
        Ok(created) => created,
        // Elation refused this note for good (a 4xx): no retry will change that.
        Err(error) if !error.is_retryable() => {
            tracing::error!(%group, %patient, note = %id, %error, "Elation refused the plan note");
            let failed = note
                .value
                .not_posted()
                .failed(format!("Elation refused the note: {error}"));
            return save_note(deps, &note, failed).await.map(drop);
        }
        Err(error) => {
            if error.certainly_not_applied() {
                save_note(deps, &note, note.value.not_posted()).await?;
            }
            return Err(error.into());
        }
    };
    let delivered = note.value.delivered(created.id.to_string(), deps.clock.now());
    save_note(deps, &note, delivered).await?;
    tracing::info!(%group, %patient, note = %id, elation_note = created.id, "plan note delivered to Elation");
    Ok(())
}

/// Marks a note failed after its job's last try.
pub async fn abandon_plan_note(
    deps: &Deps,
    group: &GroupId,
    patient: &PatientId,
    id: &PlanNoteId,
    reason: &str,
) -> Result<(), AppError> {
    let Some(note) = pending_note(deps, group, patient, id).await? else {
        return Ok(());
    };
    let failed = note.value.failed(format!("gave up after the last try: {reason}"));
    save_note(deps, &note, failed).await.map(drop)
}

/// The note, if it is still waiting to be delivered.
async fn pending_note(
    deps: &Deps,
    group: &GroupId,
    patient: &PatientId,
    id: &PlanNoteId,
) -> Result<Option<Versioned<PlanNote>>, AppError> {
    let note = deps.read::<PlanNote>(&keys::plan_note(group, patient, id)).await?;
    Ok(note.filter(|note| note.value.delivery.status == DeliveryStatus::Pending))
}

async fn save_note(
    deps: &Deps,
    current: &Versioned<PlanNote>,
    next: PlanNote,
) -> Result<Versioned<PlanNote>, AppError> {
    let key = keys::plan_note(&next.group, &next.patient_id, &next.id);
    match deps.write_next(key, current.version, &next).await {
        Ok(version) => Ok(Versioned { version, value: next }),
        Err(StoreError::VersionConflict { .. }) => Err(AppError::InProgressElsewhere),
        Err(other) => Err(other.into()),
    }
}
