//! The `api` Lambda: builds the clients once, then serves API Gateway HTTP API events.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    app::init_lambda_logging();
    // In the init phase, not in the first request that reads a phone number.
    model::normalize::load_phone_metadata();
    let config = store::aws::load_config().await;
    let (records, uploads) = store::aws::table_and_uploads(&config, |name| std::env::var(name).ok())?;
    let import_queue = store::aws::queue(&config, |name| std::env::var(name).ok(), "IMPORT_QUEUE_URL")?;
    let deps = api::Deps::new(Arc::new(records), Arc::new(uploads)).with_import_queue(Arc::new(import_queue));
    lambda_http::run(lambda_http::service_fn(|request| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(api::handle(&deps, request).await) }
    }))
    .await
}
