//! The `api` Lambda: builds the clients once, then serves API Gateway HTTP API events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let deps = app::start_function().await?;
    // Completing an import needs the queue; without it the function must not start.
    if deps.import_queue.is_none() {
        return Err("IMPORT_QUEUE_URL is not set".into());
    }
    lambda_http::run(lambda_http::service_fn(|request| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(api::handle(&deps, request).await) }
    }))
    .await
}
