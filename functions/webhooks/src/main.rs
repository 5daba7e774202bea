//! The `webhooks` Lambda: builds the clients once, then serves vendors' webhook deliveries.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let deps = app::start_function().await?;
    // Every accepted delivery is queued; without the queue the function must not start.
    if deps.sync_queue.is_none() {
        return Err("SYNC_QUEUE_URL is not set".into());
    }
    lambda_http::run(lambda_http::service_fn(|request| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(webhooks::handle(&deps, request).await) }
    }))
    .await
}
