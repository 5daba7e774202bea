//! The `csv-preview` Lambda: builds the clients once, then handles S3 events.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = app::start_function().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<S3Event>| {
        let deps = deps.clone();
        // Failing the invocation makes Lambda retry the event; the preview is idempotent.
        async move {
            csv_preview::handle(&deps, event.payload)
                .await
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))
        }
    }))
    .await
}
