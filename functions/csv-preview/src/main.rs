//! The `csv-preview` Lambda: builds the clients once, then handles S3 events.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::init_lambda_logging();
    // In the init phase, not in the first request that reads a phone number.
    model::normalize::load_phone_metadata();
    let config = store::aws::load_config().await;
    let (records, uploads) = store::aws::table_and_uploads(&config, |name| std::env::var(name).ok())?;
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
