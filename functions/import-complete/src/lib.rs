//! The import-complete function: each SQS message names one part of a completing import; the
//! function applies it. A part that fails is reported back as a batch item failure, so SQS hands
//! it out again (applying a part again is safe) and, after the queue's last try, moves it to the
//! dead-letter queue, where it waits with its import and part named.

use app::import_complete::{PartMessage, apply_part};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

pub use app::Deps;

pub async fn handle(deps: &Deps, event: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let body = message.body.as_deref().unwrap_or_default();
        let part: PartMessage = match serde_json::from_str(body) {
            Ok(part) => part,
            Err(error) => {
                // Not ours to guess at: it fails until it lands in the dead-letter queue.
                tracing::error!(message = %id, %error, "an import-queue message is not a part to apply");
                response.add_failure(id);
                continue;
            }
        };
        match apply_part(deps, &part).await {
            Ok(outcome) => {
                tracing::info!(group = %part.group, import = %part.import_id, part = part.part, ?outcome, "part handled")
            }
            Err(error) => {
                let attempt = message
                    .attributes
                    .get("ApproximateReceiveCount")
                    .map(String::as_str)
                    .unwrap_or("?");
                tracing::error!(group = %part.group, import = %part.import_id, part = part.part, attempt, %error, "applying a part failed; it will be retried");
                response.add_failure(id);
            }
        }
    }
    response
}
