//! The sync-worker function: each SQS message is one integration job (`app::integrations::jobs`). A job
//! that fails is reported back as a batch item failure, so SQS hands it out again (every job is
//! safe to run again). On its last try the record it concerns is marked as given up and an
//! Error log entry names that record by id; SQS then moves the message to the dead-letter queue.

use app::integrations::jobs::{self as sync_jobs, SyncJob};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

pub use app::Deps;

/// How many times SQS hands a message out before dead-lettering it: the sync queue's
/// `maxReceiveCount`, which the function reads as `SYNC_MAX_RECEIVES`.
pub const DEFAULT_TRIES: u32 = 5;

pub async fn handle(deps: &Deps, tries: u32, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let job: SyncJob = match serde_json::from_str(body) {
            Ok(job) => job,
            Err(error) => {
                // Not ours to guess at: it fails until it lands in the dead-letter queue.
                tracing::error!(message = %id, %error, "a sync-queue message is not a job");
                response.add_failure(id);
                continue;
            }
        };
        let attempt: u32 = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let group = job
            .group()
            .map_or_else(|| "every group".to_owned(), ToString::to_string);
        let record = job.record();
        match sync_jobs::perform(deps, &job).await {
            Ok(()) => tracing::info!(%group, record, "sync job done"),
            Err(error) if attempt >= tries => {
                tracing::error!(%group, record, attempt, %error, "a sync job failed its last try and goes to the dead-letter queue");
                if let Err(marking) = sync_jobs::abandon(deps, &job, &error.to_string()).await {
                    tracing::error!(%group, record, error = %marking, "could not record that the job was given up");
                }
                response.add_failure(id);
            }
            Err(error) => {
                tracing::warn!(%group, record, attempt, %error, "a sync job failed; it will be retried");
                response.add_failure(id);
            }
        }
    }
    response
}
