//! Fixtures for tests against the emulators that infra/local/test starts: fresh resources per
//! test, so tests never see each other's data.

#![allow(dead_code)]

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use store::dynamo::DynamoRecords;

pub async fn config() -> SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok() && std::env::var("AWS_ENDPOINT_URL").is_ok(),
        "these tests talk to DynamoDB Local and moto: run them with infra/local/test, which starts both"
    );
    store::aws::load_config().await
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// A fresh table with carebridge's key schema (`pk`, `sk`).
pub async fn fresh_table() -> DynamoRecords {
    let config = config().await;
    let client = store::aws::dynamodb(&config);
    let name = unique("store-test");
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .send()
        .await
        .expect("create a test table in DynamoDB Local");
    DynamoRecords::new(client, name)
}
