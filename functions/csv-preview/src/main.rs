//! The `csv-preview` Lambda: builds the clients once, then handles S3 events.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let bucket = std::env::var("UPLOADS_BUCKET").map_err(|_| "UPLOADS_BUCKET is not set")?;
    let config = store::aws::load_config().await;
    let records = store::dynamo::DynamoRecords::new(store::aws::dynamodb(&config), table);
    let uploads = store::blobs::S3Blobs::new(store::aws::s3(&config), bucket);
    let deps = csv_preview::Deps::new(Arc::new(records), Arc::new(uploads));
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
