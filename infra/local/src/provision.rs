//! Creates what `template.yaml` declares (the table, buckets, queues) in the emulators. Safe to
//! run again: what exists already is left as it is.

use crate::template::{Template, TemplateError};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("creating {resource} failed: {message}")]
    Create { resource: String, message: String },
}

/// What was provisioned, by logical id: table and bucket names, queue URLs.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub tables: BTreeMap<String, String>,
    pub buckets: BTreeMap<String, String>,
    pub queues: BTreeMap<String, String>,
}

fn failed(resource: &str, error: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Create {
        resource: resource.to_owned(),
        message: error.to_string(),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub async fn provision(template: &Template, config: &SdkConfig) -> Result<Provisioned, ProvisionError> {
    let mut provisioned = Provisioned::default();
    let dynamodb = store::aws::dynamodb(config);
    for table in template.resources("AWS::DynamoDB::Table")? {
        let name = text(&table.properties["TableName"]);
        create_table(&dynamodb, &table.properties)
            .await
            .map_err(|e| failed(&table.logical_id, e))?;
        provisioned.tables.insert(table.logical_id, name);
    }
    let s3 = store::aws::s3(config);
    for bucket in template.resources("AWS::S3::Bucket")? {
        let name = text(&bucket.properties["BucketName"]);
        match s3.create_bucket().bucket(&name).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
            Err(e) => {
                return Err(failed(&bucket.logical_id, aws_sdk_s3::error::DisplayErrorContext(e)));
            }
        }
        if bucket.properties["VersioningConfiguration"]["Status"] == "Enabled" {
            let versioning = aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build();
            s3.put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(versioning)
                .send()
                .await
                .map_err(|e| failed(&bucket.logical_id, aws_sdk_s3::error::DisplayErrorContext(e)))?;
        }
        provisioned.buckets.insert(bucket.logical_id, name);
    }
    let sqs = store::aws::sqs(config);
    let mut queues = template.resources("AWS::SQS::Queue")?;
    // Dead-letter queues first: a redrive policy names an existing queue.
    queues.sort_by_key(|q| !q.properties["RedrivePolicy"].is_null());
    for queue in queues {
        let mut request = sqs.create_queue().queue_name(text(&queue.properties["QueueName"]));
        for (property, attribute) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
        ] {
            if !queue.properties[property].is_null() {
                request = request.attributes(attribute, text(&queue.properties[property]));
            }
        }
        if !queue.properties["RedrivePolicy"].is_null() {
            request = request.attributes(
                QueueAttributeName::RedrivePolicy,
                queue.properties["RedrivePolicy"].to_string(),
            );
        }
        let output = request
            .send()
            .await
            .map_err(|e| failed(&queue.logical_id, aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        provisioned
            .queues
            .insert(queue.logical_id, output.queue_url.unwrap_or_default());
    }
    Ok(provisioned)
}

async fn create_table(client: &aws_sdk_dynamodb::Client, properties: &Value) -> Result<(), String> {
    let key_schema = |value: &Value| -> Result<Vec<KeySchemaElement>, String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(text(&k["AttributeName"]))
                    .key_type(KeyType::from(text(&k["KeyType"]).as_str()))
                    .build()
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let mut request = client
        .create_table()
        .table_name(text(&properties["TableName"]))
        .billing_mode(BillingMode::PayPerRequest)
        .set_key_schema(Some(key_schema(&properties["KeySchema"])?));
    for attribute in properties["AttributeDefinitions"].as_array().into_iter().flatten() {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(text(&attribute["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(text(&attribute["AttributeType"]).as_str()))
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    for index in properties["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        request = request.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(&index["IndexName"]))
                .set_key_schema(Some(key_schema(&index["KeySchema"])?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            text(&index["Projection"]["ProjectionType"]).as_str(),
                        ))
                        .build(),
                )
                .build()
                .map_err(|e| e.to_string())?,
        );
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_in_use_exception()) => Ok(()),
        Err(e) => Err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()),
    }
}
