//! Completing a previewed import. The API call checks the import may be completed, marks it
//! `completing` and sends one message per results part to the import queue; the import-complete
//! function applies each part ([`apply_part`]) and the part that finds every part applied marks
//! the import `completed` with the final counts.
//!
//! Every message may arrive more than once, and a function may die halfway through a part. So a
//! part is applied again from the start until its done-record exists, and each row's write is
//! one conditional write whose rerun is recognised (see `model::import::complete`): no patient is
//! created twice and every row ends in exactly one final state.

use crate::imports::{result_part, save, write_result_line};
use crate::paging::all_records;
use crate::people::{counted, record_writes};
use crate::{AppError, Deps, groups, imports};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use model::access::{Action, Caller, authorize};
use model::import::RowResult;
use model::import::complete::{
    CompleteRequest, Completion, Current, FinalCounts, Outcome, RowCompletion, Start, Step, check_can_complete,
    external_id_taken, import_row, kept_changing, plan_row,
};
use model::import::job::{ImportJob, ImportStatus, results_part_key};
use model::patient::{Context, Patient, PatientFields};
use model::{GroupId, ImportId, PatientId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::{Condition, Record, StoreError, Versioned, Write, keys};

/// One part of an import to apply: the body of an import-queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartMessage {
    pub group: GroupId,
    pub import_id: ImportId,
    pub part: u32,
}

/// The record saying a part is applied, and how its rows ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PartDone {
    part: u32,
    counts: FinalCounts,
    finished_at: DateTime<Utc>,
}

/// Starts completing an import (or, if it is already completing, sends its unapplied parts
/// again). Needs `importable_files_admin`.
pub async fn start(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_id: &str,
    request: CompleteRequest,
) -> Result<Versioned<ImportJob>, AppError> {
    authorize(caller, Some(group), Action::AdministerImport)?;
    let mut job = imports::read(deps, caller, group, raw_id).await?;
    let start = check_can_complete(&job.value, &request).map_err(|refusal| AppError::Conflict(refusal.to_string()))?;
    // Parts already applied: none when beginning; a resume re-sends only the others.
    let done: Vec<u32> = match start {
        Start::Finished => return Ok(job),
        Start::Resume => parts_done(deps, &job.value)
            .await?
            .iter()
            .map(|p| p.value.part)
            .collect(),
        Start::Begin => {
            job.value.status = ImportStatus::Completing;
            job.value.completion = Some(Completion {
                skip_error_rows: request.skip_error_rows,
                requested_by: caller.subject.clone(),
                requested_at: deps.clock.now(),
                parts: job.value.result_parts,
                parts_done: 0,
                counts: None,
                finished_at: None,
            });
            job = save(deps, job).await?;
            tracing::info!(group = %group, import = %job.value.id, parts = job.value.result_parts, "completion started");
            Vec::new()
        }
    };
    let messages = (0..job.value.result_parts)
        .filter(|part| !done.contains(part))
        .map(|part| {
            serde_json::to_string(&PartMessage {
                group: group.clone(),
                import_id: job.value.id.clone(),
                part,
            })
            .map_err(|e| AppError::Internal(format!("a part message could not be encoded: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    deps.import_queue()?.send(messages).await?;
    if let Some(completion) = job.value.completion.as_mut() {
        completion.parts_done = done.len() as u32;
    }
    Ok(job)
}

async fn parts_done(deps: &Deps, job: &ImportJob) -> Result<Vec<Versioned<PartDone>>, AppError> {
    all_records(deps, &job.group, &keys::completion_part_prefix(&job.id)).await
}

/// What applying one part did.
#[derive(Debug, Clone, PartialEq)]
pub enum PartOutcome {
    /// No import has this id.
    UnknownImport,
    /// The import is not completing (already completed, or never asked to).
    Skipped(ImportStatus),
    /// This part was applied before (a redelivery).
    AlreadyApplied,
    Applied(FinalCounts),
}

/// How many rows of a part are written at once.
const ROWS_IN_FLIGHT: usize = 8;
/// How often a row is re-read and re-planned when its patient changes under it.
const ATTEMPTS_PER_ROW: usize = 3;
/// How often the last part re-reads the import when another part saved it at the same moment.
const ATTEMPTS_TO_FINISH: usize = 3;

/// Applies one part of a completing import, then completes the import if every part is applied.
pub async fn apply_part(deps: &Deps, message: &PartMessage) -> Result<PartOutcome, AppError> {
    let Some(job) = deps
        .read::<ImportJob>(&keys::import(&message.group, &message.import_id))
        .await?
    else {
        return Ok(PartOutcome::UnknownImport);
    };
    let Some(completion) = job.value.completion.clone() else {
        return Ok(PartOutcome::Skipped(job.value.status));
    };
    if job.value.status != ImportStatus::Completing {
        return Ok(PartOutcome::Skipped(job.value.status));
    }
    let done_key = keys::completion_part(&message.group, &message.import_id, message.part);
    if deps.records.get(&done_key).await?.is_some() {
        finish_if_all_applied(deps, job).await?;
        return Ok(PartOutcome::AlreadyApplied);
    }

    let settings = groups::load(deps, &message.group).await?.value.settings;
    let ctx = Context {
        default_country: settings.default_country,
        today: deps.clock.now().date_naive(),
    };
    let mut rows = result_part(deps, &job.value, message.part).await?;
    let current = matched_patients(deps, &message.group, &rows).await?;
    let applying = Applying {
        deps,
        group: &message.group,
        import: &message.import_id,
        skip_error_rows: completion.skip_error_rows,
        ctx: &ctx,
    };
    // Built first, then run a few at a time: each row's write waits on DynamoDB, not the CPU.
    let pending: Vec<_> = rows
        .iter()
        .map(|row| {
            let matched = row.patient_id.as_ref().and_then(|id| current.get(id).cloned());
            applying.row(row, matched)
        })
        .collect();
    let results: Vec<Result<(RowCompletion, Option<PatientId>), AppError>> =
        stream::iter(pending).buffered(ROWS_IN_FLIGHT).collect().await;
    let mut counts = FinalCounts::default();
    let mut part = Vec::new();
    for (row, result) in rows.iter_mut().zip(results) {
        let (completion, patient_id) = result?;
        counts.count(completion.outcome);
        row.patient_id = patient_id;
        row.completion = Some(completion);
        write_result_line(&mut part, row)?;
    }
    let results_key = results_part_key(&message.group, &message.import_id, message.part);
    deps.uploads.put(&results_key, part, "application/x-ndjson").await?;
    let done = PartDone {
        part: message.part,
        counts,
        finished_at: deps.clock.now(),
    };
    match deps
        .records
        .write(vec![Write::Put {
            record: Record::encode(done_key, 1, &done)?,
            condition: Condition::Absent,
        }])
        .await
    {
        // Another delivery of this part finished first; both applied the same rows the same way.
        Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
        Err(other) => return Err(other.into()),
    }
    tracing::info!(group = %message.group, import = %message.import_id, part = message.part, ?counts, "part applied");
    finish_if_all_applied(deps, job).await?;
    Ok(PartOutcome::Applied(counts))
}

/// The patients the part's update rows matched, as they are now, read in batches.
async fn matched_patients(
    deps: &Deps,
    group: &GroupId,
    rows: &[RowResult],
) -> Result<HashMap<PatientId, Versioned<Patient>>, AppError> {
    let keys: Vec<_> = rows
        .iter()
        .filter(|row| row.action == model::import::Action::Update)
        .filter_map(|row| row.patient_id.as_ref())
        .map(|id| keys::patient(group, id))
        .collect();
    let mut patients = HashMap::with_capacity(keys.len());
    for record in deps.records.get_many(&keys).await? {
        let patient: Versioned<Patient> = record.decode()?;
        patients.insert(patient.value.id.clone(), patient);
    }
    Ok(patients)
}

/// What every row of a part shares.
struct Applying<'a> {
    deps: &'a Deps,
    group: &'a GroupId,
    import: &'a ImportId,
    skip_error_rows: bool,
    ctx: &'a Context,
}

impl Applying<'_> {
    /// Completes one row: its final state and the patient it concerns.
    async fn row(
        &self,
        row: &RowResult,
        mut current: Option<Versioned<Patient>>,
    ) -> Result<(RowCompletion, Option<PatientId>), AppError> {
        for _ in 0..ATTEMPTS_PER_ROW {
            let now = current.as_ref().map(|c| Current {
                version: c.version,
                patient: &c.value,
            });
            match plan_row(self.import, row, self.skip_error_rows, now, self.ctx) {
                Step::Done(done) => return Ok((done, row.patient_id.clone())),
                Step::Create { id, fields } => return self.create(row.row, id, *fields).await,
                Step::Update { id, fields, at_version } => {
                    let Some(before) = current.take() else {
                        return Err(AppError::Internal("an update was planned without a patient".into()));
                    };
                    match self.update(row.row, before, *fields, at_version).await? {
                        Some(done) => return Ok((done, Some(id))),
                        // Someone wrote the patient in between: read it again and re-plan.
                        None => {
                            current = self.deps.read(&keys::patient(self.group, &id)).await?;
                        }
                    }
                }
            }
        }
        Ok((kept_changing(), row.patient_id.clone()))
    }

    async fn create(
        &self,
        row: u32,
        id: PatientId,
        fields: PatientFields,
    ) -> Result<(RowCompletion, Option<PatientId>), AppError> {
        let now = self.deps.clock.now();
        let key = keys::patient(self.group, &id);
        let patient = Patient {
            id: id.clone(),
            group: self.group.clone(),
            fields,
            created_at: now,
            updated_at: now,
            imported_from: Some(import_row(self.import, row)),
            unlinked: Vec::new(),
        };
        let writes = record_writes::<Patient>(self.group, &patient, 1, None)?;
        match self.deps.records.write(writes).await {
            Ok(()) => {
                counted::<Patient>(self.deps, self.group, 1).await;
                Ok((RowCompletion::new(Outcome::Created), Some(id)))
            }
            // The id is this row's own: an earlier run of this part created the patient.
            Err(StoreError::AlreadyExists(refused)) if refused == key => {
                Ok((RowCompletion::new(Outcome::Created), Some(id)))
            }
            Err(StoreError::AlreadyExists(_)) => Ok((external_id_taken(), None)),
            Err(other) => Err(other.into()),
        }
    }

    /// Writes the patient's new fields; `None` when the patient changed under the write.
    async fn update(
        &self,
        row: u32,
        before: Versioned<Patient>,
        fields: PatientFields,
        at_version: u64,
    ) -> Result<Option<RowCompletion>, AppError> {
        let fields_before = before.value.fields.clone();
        let patient = Patient {
            fields,
            updated_at: self.deps.clock.now(),
            imported_from: Some(import_row(self.import, row)),
            ..before.value
        };
        let writes = record_writes::<Patient>(self.group, &patient, at_version + 1, Some(&fields_before))?;
        match self.deps.records.write(writes).await {
            Ok(()) => Ok(Some(RowCompletion::new(Outcome::Updated))),
            Err(StoreError::AlreadyExists(_)) => Ok(Some(external_id_taken())),
            Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}

/// Marks the import completed, with the final counts, once every part is applied. Every part
/// checks after its own done-record is written, so the last one to finish always sees them all.
async fn finish_if_all_applied(deps: &Deps, mut job: Versioned<ImportJob>) -> Result<(), AppError> {
    for _ in 0..ATTEMPTS_TO_FINISH {
        let done = parts_done(deps, &job.value).await?;
        let Some(completion) = job.value.completion.as_mut() else {
            return Ok(());
        };
        if job.value.status != ImportStatus::Completing || (done.len() as u32) < completion.parts {
            return Ok(());
        }
        let mut counts = FinalCounts::default();
        for part in &done {
            counts.add(&part.value.counts);
        }
        let rows = job.value.summary.as_ref().map_or(0, |s| s.rows);
        if counts.total() != rows {
            // Cannot happen while every part writes one outcome per row; if it does, keep the
            // import completing and say so rather than report counts that do not add up.
            tracing::error!(group = %job.value.group, import = %job.value.id, counted = counts.total(), rows, "completion counts do not add up to the rows");
            return Err(AppError::Internal("completion counts do not add up to the rows".into()));
        }
        completion.parts_done = done.len() as u32;
        completion.counts = Some(counts);
        completion.finished_at = Some(deps.clock.now());
        job.value.status = ImportStatus::Completed;
        let (group, id) = (job.value.group.clone(), job.value.id.clone());
        match save(deps, job).await {
            Ok(_) => {
                tracing::info!(group = %group, import = %id, ?counts, "import completed");
                return Ok(());
            }
            // Another part finished at the same moment: read the import again and look.
            Err(AppError::Conflict(_)) => {
                job = deps
                    .read(&keys::import(&group, &id))
                    .await?
                    .ok_or(AppError::NotFound { what: "import" })?;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(())
}
