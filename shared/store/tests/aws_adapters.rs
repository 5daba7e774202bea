//! The S3, SQS and Secrets Manager adapters against moto's server.

mod common;

use std::time::Duration;
use store::blobs::{Blobs, S3Blobs};
use store::queue::{Queue, SqsQueue};
use store::secrets::{CachedSecrets, Secrets, SecretsManager};

async fn fresh_bucket() -> S3Blobs {
    let config = common::config().await;
    let client = store::aws::s3(&config);
    let bucket = common::unique("store-test");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create a test bucket in moto");
    S3Blobs::new(client, bucket)
}

#[tokio::test]
async fn blobs_are_written_read_and_deleted() {
    let blobs = fresh_bucket().await;
    blobs
        .put("imports/acme/1/raw.csv", b"first_name\nAda\n".to_vec(), "text/csv")
        .await
        .unwrap();
    assert_eq!(
        blobs.get("imports/acme/1/raw.csv").await.unwrap().as_deref(),
        Some(&b"first_name\nAda\n"[..])
    );
    blobs.delete("imports/acme/1/raw.csv").await.unwrap();
    assert_eq!(blobs.get("imports/acme/1/raw.csv").await.unwrap(), None);
    blobs
        .delete("imports/acme/1/raw.csv")
        .await
        .expect("deleting twice is fine");
}

#[tokio::test]
async fn a_presigned_upload_accepts_a_put_over_http() {
    let blobs = fresh_bucket().await;
    let upload = blobs
        .presign_put("imports/acme/2/raw.csv", "text/csv", Duration::from_secs(900))
        .await
        .unwrap();
    assert!(upload.url.contains("X-Amz-Signature"), "{}", upload.url);
    let response = reqwest::Client::new()
        .put(&upload.url)
        .header("content-type", "text/csv")
        .body("last_name\nLovelace\n")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        blobs.get("imports/acme/2/raw.csv").await.unwrap().as_deref(),
        Some(&b"last_name\nLovelace\n"[..])
    );
}

#[tokio::test]
async fn a_presigned_download_serves_the_object_as_an_attachment() {
    let blobs = fresh_bucket().await;
    blobs
        .put("results/acme/1/results.csv", b"a,b\n".to_vec(), "text/csv")
        .await
        .unwrap();
    let url = blobs
        .presign_get(
            "results/acme/1/results.csv",
            "list-results.csv",
            Duration::from_secs(300),
        )
        .await
        .unwrap();
    let response = reqwest::get(&url).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let disposition = response
        .headers()
        .get("content-disposition")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"list-results.csv\"")
    );
    assert_eq!(response.text().await.unwrap(), "a,b\n");
}

#[tokio::test]
async fn queued_messages_arrive_in_batches_and_leave_once_deleted() {
    let config = common::config().await;
    let client = store::aws::sqs(&config);
    let url = client
        .create_queue()
        .queue_name(common::unique("store-test"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue = SqsQueue::new(client, url);
    let sent: Vec<String> = (0..15).map(|i| format!("{{\"job\":{i}}}")).collect();
    queue.send(sent.clone()).await.unwrap();

    let mut received = Vec::new();
    for _ in 0..10 {
        let batch = queue.receive(10, Duration::from_secs(1)).await.unwrap();
        for message in batch {
            assert_eq!(message.receive_count, 1);
            queue.delete(&message.receipt_handle).await.unwrap();
            received.push(message.body);
        }
        if received.len() == sent.len() {
            break;
        }
    }
    received.sort();
    let mut expected = sent;
    expected.sort();
    assert_eq!(received, expected);
    assert!(queue.receive(10, Duration::from_secs(0)).await.unwrap().is_empty());
}

#[tokio::test]
async fn secrets_are_created_replaced_and_deleted() {
    let config = common::config().await;
    let secrets = SecretsManager::new(store::aws::secrets_manager(&config));
    let name = format!("carebridge/test/{}/elation", common::unique("g"));
    assert_eq!(secrets.get(&name).await.unwrap(), None);
    secrets.put(&name, r#"{"client_id":"a"}"#).await.unwrap();
    secrets.put(&name, r#"{"client_id":"b"}"#).await.unwrap();
    assert_eq!(
        secrets.get(&name).await.unwrap().as_deref(),
        Some(r#"{"client_id":"b"}"#)
    );
    secrets.delete(&name).await.unwrap();
    assert_eq!(secrets.get(&name).await.unwrap(), None);
    secrets.delete(&name).await.expect("deleting a missing secret is fine");
}

#[tokio::test]
async fn cached_secrets_are_served_from_memory_until_they_age_out() {
    let config = common::config().await;
    let direct = SecretsManager::new(store::aws::secrets_manager(&config));
    let name = format!("carebridge/test/{}/hint", common::unique("g"));
    direct.put(&name, "v1").await.unwrap();

    let cached = CachedSecrets::new(
        SecretsManager::new(store::aws::secrets_manager(&config)),
        Duration::from_secs(300),
    );
    assert_eq!(cached.get(&name).await.unwrap().as_deref(), Some("v1"));
    direct.put(&name, "v2").await.unwrap();
    assert_eq!(
        cached.get(&name).await.unwrap().as_deref(),
        Some("v1"),
        "served from the cache"
    );
    cached.put(&name, "v3").await.unwrap();
    assert_eq!(
        cached.get(&name).await.unwrap().as_deref(),
        Some("v3"),
        "writes through refresh the cache"
    );

    let uncached = CachedSecrets::new(
        SecretsManager::new(store::aws::secrets_manager(&config)),
        Duration::ZERO,
    );
    direct.put(&name, "v4").await.unwrap();
    assert_eq!(uncached.get(&name).await.unwrap().as_deref(), Some("v4"));
}
