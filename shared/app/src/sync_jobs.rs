//! The jobs on the sync queue, run by the sync-worker function. Every job may arrive more than
//! once and in any order, so each one is safe to run again.

use crate::{AppError, Deps, backfill, elation_inbound, elation_outbound, integration_runs};
use connectors::elation::types::Event;
use model::integration::IntegrationKind;
use model::{GroupId, PatientId, PlanNoteId, SyncRunId};
use serde::{Deserialize, Serialize};

/// One message on the sync queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum SyncJob {
    /// Run (or resume) a preview or initial import.
    Run {
        group: GroupId,
        integration: IntegrationKind,
        run: SyncRunId,
    },
    /// Apply a change Elation reported by webhook (already proven to be Elation's).
    ElationEvent { group: GroupId, event: Box<Event> },
    /// Send what a caller changed of a linked patient's demographics (`fields`, carebridge's
    /// names) to Elation, as carebridge now holds them.
    PushPatient {
        group: GroupId,
        patient: PatientId,
        #[serde(default)]
        fields: Vec<String>,
    },
    /// Give a batch of a group's older records their lookup keys (see `backfill`).
    FillLookupKeys { group: GroupId },
    /// Post a plan note to Elation.
    PostPlanNote {
        group: GroupId,
        patient: PatientId,
        note: PlanNoteId,
    },
}

impl SyncJob {
    pub fn group(&self) -> &GroupId {
        match self {
            SyncJob::Run { group, .. }
            | SyncJob::ElationEvent { group, .. }
            | SyncJob::PushPatient { group, .. }
            | SyncJob::FillLookupKeys { group }
            | SyncJob::PostPlanNote { group, .. } => group,
        }
    }

    /// The record the job is about, by id (never by anything a patient told us), for logs.
    pub fn record(&self) -> String {
        match self {
            SyncJob::Run { integration, run, .. } => format!("{integration} run {run}"),
            SyncJob::ElationEvent { event, .. } => format!(
                "elation {} {} (event {})",
                event.resource,
                event
                    .data
                    .as_ref()
                    .and_then(|d| d.get("id"))
                    .map_or_else(|| "?".to_owned(), ToString::to_string),
                event.dedupe_key().unwrap_or_default()
            ),
            SyncJob::PushPatient { patient, .. } => format!("patient {patient} (push to Elation)"),
            SyncJob::FillLookupKeys { group } => format!("lookup keys of group {group}"),
            SyncJob::PostPlanNote { patient, note, .. } => format!("plan note {note} of patient {patient}"),
        }
    }
}

/// Runs one job. An error means it should be tried again later.
pub async fn perform(deps: &Deps, job: &SyncJob) -> Result<(), AppError> {
    match job {
        SyncJob::Run {
            group,
            integration,
            run,
        } => integration_runs::execute(deps, group, *integration, run).await,
        SyncJob::ElationEvent { group, event } => {
            let applied = elation_inbound::apply(deps, group, event).await?;
            tracing::info!(%group, resource = %event.resource, ?applied, "an Elation change was handled");
            Ok(())
        }
        SyncJob::PushPatient { group, patient, fields } => {
            elation_outbound::push_patient(deps, group, patient, fields).await
        }
        SyncJob::PostPlanNote { group, patient, note } => {
            elation_outbound::post_plan_note(deps, group, patient, note).await
        }
        SyncJob::FillLookupKeys { group } => backfill::run(deps, group).await,
    }
}

/// Called when the last try of a job has failed, before it goes to the dead-letter queue: the
/// record it concerns says so, so nobody waits on it.
pub async fn abandon(deps: &Deps, job: &SyncJob, reason: &str) -> Result<(), AppError> {
    match job {
        SyncJob::Run {
            group,
            integration,
            run,
        } => integration_runs::abandon(deps, group, *integration, run, reason).await,
        // The Error log entry the worker writes names the record; nothing else waits on it.
        // The next flow that needs the keys starts the fill again from its last saved point.
        SyncJob::ElationEvent { .. } | SyncJob::PushPatient { .. } | SyncJob::FillLookupKeys { .. } => Ok(()),
        SyncJob::PostPlanNote { group, patient, note } => {
            elation_outbound::abandon_plan_note(deps, group, patient, note, reason).await
        }
    }
}

/// Puts jobs on the sync queue.
pub(crate) async fn enqueue(deps: &Deps, jobs: &[SyncJob]) -> Result<(), AppError> {
    let bodies = jobs
        .iter()
        .map(|job| {
            serde_json::to_string(job).map_err(|e| AppError::Internal(format!("a sync job could not be encoded: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    deps.sync_queue()?.send(bodies).await?;
    Ok(())
}
