//! The csv-preview function: for each `ObjectCreated` record of an S3 event under `imports/`,
//! previews the uploaded participant list. A retryable failure fails the invocation so Lambda
//! retries it (the preview is idempotent per object version); any other failure is logged by
//! import id and the import stays as it was.

use app::AppError;
use app::import_preview::{UploadedObject, preview_upload};
use aws_lambda_events::s3::{S3Event, S3EventRecord};

pub use app::Deps;

pub async fn handle(deps: &Deps, event: S3Event) -> Result<(), AppError> {
    let mut retry = None;
    for record in event.records {
        let Some(object) = uploaded_object(&record) else {
            continue;
        };
        match preview_upload(deps, &object).await {
            Ok(outcome) => tracing::info!(key = %object.key, ?outcome, "upload handled"),
            Err(error) if error.is_retryable() => {
                tracing::warn!(key = %object.key, %error, "preview will be retried");
                retry = Some(error);
            }
            Err(error) => tracing::error!(key = %object.key, %error, "preview failed"),
        }
    }
    retry.map_or(Ok(()), Err)
}

/// The object an `ObjectCreated` record announces. S3 URL-encodes keys in events (a space is `+`).
fn uploaded_object(record: &S3EventRecord) -> Option<UploadedObject> {
    if !record.event_name.as_deref()?.starts_with("ObjectCreated") {
        return None;
    }
    let object = &record.s3.object;
    let raw_key = object.key.as_deref()?;
    let key = form_urlencoded::parse(format!("k={raw_key}").as_bytes())
        .next()?
        .1
        .into_owned();
    let version = object
        .version_id
        .clone()
        .filter(|v| !v.is_empty() && v != "null")
        .or_else(|| object.e_tag.clone())?;
    Some(UploadedObject {
        key,
        version,
        size: object.size.unwrap_or(0).max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, key: &str, version: Option<&str>) -> S3Event {
        serde_json::from_value(serde_json::json!({
            "Records": [{
                "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                "eventTime": "2026-11-21T12:00:00.000Z", "eventName": name,
                "userIdentity": {"principalId": "AWS:EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0", "configurationId": "imports",
                    "bucket": {"name": "uploads", "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": "arn:aws:s3:::uploads"},
                    "object": {"key": key, "size": 120, "eTag": "abc", "versionId": version, "sequencer": "01"}
                }
            }]
        }))
        .unwrap()
    }

    #[test]
    fn created_objects_become_uploads_with_decoded_keys_and_versions() {
        let parsed = event("ObjectCreated:Put", "imports/acme/imp_1+x%2Fy", Some("v7"));
        let object = uploaded_object(&parsed.records[0]).unwrap();
        assert_eq!(object.key, "imports/acme/imp_1 x/y");
        assert_eq!((object.version.as_str(), object.size), ("v7", 120));
        let unversioned = event("ObjectCreated:Put", "imports/acme/imp_1", None);
        assert_eq!(
            uploaded_object(&unversioned.records[0]).unwrap().version,
            "abc",
            "the ETag stands in"
        );
    }

    #[test]
    fn other_events_are_ignored() {
        let removed = event("ObjectRemoved:Delete", "imports/acme/imp_1", Some("v1"));
        assert_eq!(uploaded_object(&removed.records[0]), None);
    }
}
