//! Idempotency records on DynamoDB Local: one claim per event, results remembered, dead
//! attempts taken over, reuse of a key for another payload caught, expiry checked by time.

mod common;

use chrono::{Duration, TimeZone, Utc};
use model::GroupId;
use serde_json::json;
use store::StoreError;
use store::idempotency::{Idempotency, Outcome, Windows};

fn windows() -> Windows {
    Windows {
        in_progress: Duration::minutes(5),
        keep: Duration::hours(72),
    }
}

fn group() -> GroupId {
    GroupId::parse("acme").unwrap()
}

#[tokio::test]
async fn an_event_is_claimed_once_and_its_result_remembered() {
    let table = common::fresh_table().await;
    let idempotency = Idempotency::new(&table, windows());
    let now = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
    let Outcome::Proceed(ticket) = idempotency
        .begin(&group(), "s3", "bucket/key#v1", b"event", now)
        .await
        .unwrap()
    else {
        panic!("the first delivery must proceed");
    };
    assert_eq!(
        idempotency
            .begin(&group(), "s3", "bucket/key#v1", b"event", now)
            .await
            .unwrap(),
        Outcome::InProgressElsewhere
    );
    idempotency.complete(ticket, json!({"rows": 3})).await.unwrap();
    assert_eq!(
        idempotency
            .begin(&group(), "s3", "bucket/key#v1", b"event", now + Duration::hours(1))
            .await
            .unwrap(),
        Outcome::AlreadyDone(json!({"rows": 3}))
    );
}

#[tokio::test]
async fn a_key_reused_for_another_payload_is_an_error() {
    let table = common::fresh_table().await;
    let idempotency = Idempotency::new(&table, windows());
    let now = Utc::now();
    let Outcome::Proceed(ticket) = idempotency.begin(&group(), "sqs", "m-1", b"first", now).await.unwrap() else {
        panic!("must proceed");
    };
    idempotency.complete(ticket, json!(null)).await.unwrap();
    let reused = idempotency.begin(&group(), "sqs", "m-1", b"second", now).await;
    assert!(matches!(reused, Err(StoreError::IdempotencyKeyReused(_))), "{reused:?}");
}

#[tokio::test]
async fn an_attempt_that_died_is_taken_over_and_cannot_complete_afterwards() {
    let table = common::fresh_table().await;
    let idempotency = Idempotency::new(&table, windows());
    let start = Utc::now();
    let Outcome::Proceed(dead) = idempotency.begin(&group(), "sqs", "m-2", b"x", start).await.unwrap() else {
        panic!("must proceed");
    };
    let later = start + Duration::minutes(6);
    let Outcome::Proceed(retry) = idempotency.begin(&group(), "sqs", "m-2", b"x", later).await.unwrap() else {
        panic!("an expired in-progress claim must be taken over");
    };
    assert!(matches!(
        idempotency.complete(dead, json!("late")).await,
        Err(StoreError::VersionConflict { .. })
    ));
    idempotency.complete(retry, json!("done")).await.unwrap();
    assert_eq!(
        idempotency.begin(&group(), "sqs", "m-2", b"x", later).await.unwrap(),
        Outcome::AlreadyDone(json!("done"))
    );
}

#[tokio::test]
async fn a_released_claim_can_be_claimed_again() {
    let table = common::fresh_table().await;
    let idempotency = Idempotency::new(&table, windows());
    let now = Utc::now();
    let Outcome::Proceed(ticket) = idempotency
        .begin(&group(), "webhook", "evt-1", b"x", now)
        .await
        .unwrap()
    else {
        panic!("must proceed");
    };
    idempotency.release(ticket).await.unwrap();
    assert!(matches!(
        idempotency
            .begin(&group(), "webhook", "evt-1", b"x", now)
            .await
            .unwrap(),
        Outcome::Proceed(_)
    ));
}

#[tokio::test]
async fn a_record_past_its_expiry_counts_as_absent_even_before_ttl_deletes_it() {
    let table = common::fresh_table().await;
    let idempotency = Idempotency::new(&table, windows());
    let now = Utc::now();
    let Outcome::Proceed(ticket) = idempotency
        .begin(&group(), "webhook", "evt-2", b"x", now)
        .await
        .unwrap()
    else {
        panic!("must proceed");
    };
    idempotency.complete(ticket, json!(1)).await.unwrap();
    let after_expiry = now + Duration::hours(73);
    assert!(matches!(
        idempotency
            .begin(&group(), "webhook", "evt-2", b"changed", after_expiry)
            .await
            .unwrap(),
        Outcome::Proceed(_)
    ));
}

#[tokio::test]
async fn claims_are_kept_per_group() {
    let table = common::fresh_table().await;
    let idempotency = Idempotency::new(&table, windows());
    let now = Utc::now();
    let other = GroupId::parse("other").unwrap();
    assert!(matches!(
        idempotency.begin(&group(), "s", "k", b"x", now).await.unwrap(),
        Outcome::Proceed(_)
    ));
    assert!(matches!(
        idempotency.begin(&other, "s", "k", b"x", now).await.unwrap(),
        Outcome::Proceed(_)
    ));
}
