//! The `ensora-poller` Lambda: builds the clients once, then queues Ensora polls on schedule.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let deps = app::start_function().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deps = deps.clone();
        async move {
            // The error's own words (never PHI: it names groups and vendors) go to Lambda.
            ensora_poller::handle(&deps, event.payload)
                .await
                .map_err(|error| lambda_runtime::Diagnostic::from(error.to_string()))
        }
    }))
    .await
}
