//! The `sync-worker` Lambda: builds the clients once, then runs integration jobs from SQS.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = app::start_function().await?;
    let tries = std::env::var("SYNC_MAX_RECEIVES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(sync_worker::DEFAULT_TRIES);
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(sync_worker::handle(&deps, tries, event.payload).await) }
    }))
    .await
}
