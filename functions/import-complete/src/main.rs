//! The `import-complete` Lambda: builds the clients once, then applies import parts from SQS.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    app::init_lambda_logging();
    // In the init phase, not in the first request that reads a phone number.
    model::normalize::load_phone_metadata();
    let config = store::aws::load_config().await;
    let (records, uploads) = store::aws::table_and_uploads(&config, |name| std::env::var(name).ok())?;
    let deps = import_complete::Deps::new(Arc::new(records), Arc::new(uploads));
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move { Ok::<_, std::convert::Infallible>(import_complete::handle(&deps, event.payload).await) }
    }))
    .await
}
