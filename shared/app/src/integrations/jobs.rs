//! The jobs on the sync queue, run by the sync-worker function. Every job may arrive more than
//! once and in any order, so each one is safe to run again.
//!
//! Jobs every integration shares are [`SyncJob`]'s own variants; a vendor's own jobs are its
//! folder's `Job`, registered once in [`VendorJob`]. On the queue both read the same way:
//! `{"job": "<name>", …}`.

use super::VendorJob;
use crate::{AppError, Deps};
use async_trait::async_trait;
use model::integration::IntegrationKind;
use model::sync::SyncRun;
use model::{GroupId, SyncRunId};
use serde::{Deserialize, Serialize};

/// One message on the sync queue. Each job is performed where its work lives (the `Job` impl
/// beside it), so the queue itself knows no flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub enum SyncJob {
    /// Run (or resume) one of an integration's runs (a preview, an initial import); see `runs`.
    Run(RunJob),
    /// Give a batch of a group's older records their lookup keys; see `backfill`.
    FillLookupKeys(FillLookupKeys),
    /// A job only one vendor's flows know.
    #[serde(untagged)]
    Vendor(VendorJob),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJob {
    pub group: GroupId,
    pub integration: IntegrationKind,
    pub run: SyncRunId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FillLookupKeys {
    pub group: GroupId,
}

/// What the worker needs of a job.
#[async_trait]
pub trait Job: Sync {
    /// The group the job works for; none for a schedule's job that fans out to many.
    fn group(&self) -> Option<&GroupId>;

    /// The record the job is about, by id (never by anything a patient told us), for logs.
    fn record(&self) -> String;

    /// Runs the job. An error means it should be tried again later.
    async fn perform(&self, deps: &Deps) -> Result<(), AppError>;

    /// Called when the last try has failed, before the job goes to the dead-letter queue: the
    /// record it concerns says so, so nobody waits on it. The Error log entry the worker writes
    /// names the record, which is all most jobs need.
    async fn abandon(&self, _deps: &Deps, _reason: &str) -> Result<(), AppError> {
        Ok(())
    }
}

impl SyncJob {
    /// The job that runs (or resumes) `run`.
    pub fn run(run: &SyncRun) -> SyncJob {
        SyncJob::Run(RunJob {
            group: run.group.clone(),
            integration: run.integration,
            run: run.id.clone(),
        })
    }

    pub fn job(&self) -> &dyn Job {
        match self {
            SyncJob::Run(job) => job,
            SyncJob::FillLookupKeys(job) => job,
            SyncJob::Vendor(job) => job.job(),
        }
    }

    pub fn group(&self) -> Option<&GroupId> {
        self.job().group()
    }

    /// The record the job is about, by id, for logs.
    pub fn record(&self) -> String {
        self.job().record()
    }
}

/// Runs one job. An error means it should be tried again later.
pub async fn perform(deps: &Deps, job: &SyncJob) -> Result<(), AppError> {
    job.job().perform(deps).await
}

/// Called when the last try of a job has failed, before it goes to the dead-letter queue.
pub async fn abandon(deps: &Deps, job: &SyncJob, reason: &str) -> Result<(), AppError> {
    job.job().abandon(deps, reason).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_jobs_read_back_from_the_queue_as_they_were_written_and_strangers_are_refused() {
        let group = GroupId::parse("acme").unwrap();
        let job = SyncJob::FillLookupKeys(FillLookupKeys { group });
        let body = serde_json::to_string(&job).unwrap();
        assert_eq!(body, r#"{"job":"fill_lookup_keys","group":"acme"}"#);
        assert_eq!(serde_json::from_str::<SyncJob>(&body).unwrap(), job);
        assert!(serde_json::from_str::<SyncJob>(r#"{"job":"nothing_we_know","group":"acme"}"#).is_err());
    }
}
