//! The `api` Lambda: builds the clients once, then serves API Gateway HTTP API events.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
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
    let deps = api::Deps::new(Arc::new(records), Arc::new(uploads));
    lambda_http::run(lambda_http::service_fn(|request| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(api::handle(&deps, request).await) }
    }))
    .await
}
