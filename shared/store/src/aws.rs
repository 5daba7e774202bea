//! Builds AWS clients from the environment. The same code runs in Lambda and locally: endpoints
//! come from `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` when set, never from code.

use aws_config::{BehaviorVersion, SdkConfig};

pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

/// S3 with path-style addressing when `S3_FORCE_PATH_STYLE=true` (S3-compatible endpoints such
/// as a local emulator cannot resolve per-bucket host names).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let path_style = std::env::var("S3_FORCE_PATH_STYLE").is_ok_and(|v| v == "true");
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

pub fn sqs(config: &SdkConfig) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(config)
}

pub fn secrets_manager(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(config)
}

/// The ports every function uses, from where the environment says they are: the table
/// (`TABLE_NAME`) and the uploads bucket (`UPLOADS_BUCKET`). `lookup` reads a variable: the process
/// environment in Lambda, the template's resolved environment in the dev host.
pub fn table_and_uploads(
    config: &SdkConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(crate::dynamo::DynamoRecords, crate::blobs::S3Blobs), String> {
    let table = lookup("TABLE_NAME").ok_or("TABLE_NAME is not set")?;
    let bucket = lookup("UPLOADS_BUCKET").ok_or("UPLOADS_BUCKET is not set")?;
    Ok((
        crate::dynamo::DynamoRecords::new(dynamodb(config), table),
        crate::blobs::S3Blobs::new(s3(config), bucket),
    ))
}

/// The queue whose URL the environment variable `variable` holds (e.g. `IMPORT_QUEUE_URL`).
pub fn queue(
    config: &SdkConfig,
    lookup: impl Fn(&str) -> Option<String>,
    variable: &str,
) -> Result<crate::queue::SqsQueue, String> {
    let url = lookup(variable).ok_or_else(|| format!("{variable} is not set"))?;
    Ok(crate::queue::SqsQueue::new(sqs(config), url))
}
