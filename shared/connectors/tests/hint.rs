//! The Hint connector against the Hint sandbox over HTTP: the key, offset paging to the short
//! page, changes since a time, matching, writes refused in Hint's words, and retries.

use connectors::ConnectorError;
use connectors::hint::{Hint, PracticeKey, mapping};
use connectors::http::{Open, RetryPolicy};
use sandbox::Running;
use sandbox::hint::{self, Config, PracticeSetup};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn practice() -> PracticeSetup {
    PracticeSetup {
        id: "pra-connectorTests".into(),
        api_key: "sbx-connector-test-key".into(),
        signature_key: "connector-test-signing".into(),
    }
}

struct Sandbox {
    running: Running,
}

impl Sandbox {
    async fn start() -> Sandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = Config {
            practices: vec![practice()],
            ..Config::default()
        };
        Sandbox {
            running: hint::start(listener, config).unwrap(),
        }
    }

    fn connect_with(&self, key: &str) -> Hint {
        let retry = RetryPolicy {
            tries: 3,
            first_wait: Duration::from_millis(10),
            longest_wait: Duration::from_millis(50),
        };
        let base = format!("{}/api", self.running.base_url()).parse().unwrap();
        Hint::new(
            base,
            PracticeKey::parse(key).unwrap(),
            retry,
            Duration::from_secs(2),
            Arc::new(Open),
        )
        .unwrap()
    }

    fn connect(&self) -> Hint {
        self.connect_with(&practice().api_key)
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let answer = reqwest::Client::new()
            .post(format!("{}/_sandbox{path}", self.running.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn add_patients(&self, patients: Value) -> Value {
        self.control(&format!("/practices/{}/patients", practice().id), patients)
            .await
    }
}

#[tokio::test]
async fn every_patient_is_read_by_offset_until_a_short_page_and_changes_since_a_time() {
    let sandbox = Sandbox::start().await;
    let patients: Vec<Value> = (0..230)
        .map(|n| json!({"first_name": format!("P{n:03}"), "last_name": "Paged", "dob": "1990-01-01"}))
        .collect();
    sandbox.add_patients(Value::Array(patients)).await;
    let hint = sandbox.connect();
    hint.check_key().await.unwrap();
    let mut pages = hint.patients(None);
    let mut sizes = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        sizes.push(page.len());
    }
    assert_eq!(sizes, [100, 100, 30]);
    assert_eq!(pages.offset(), 230, "the checkpoint a resumed batch starts from");

    let mut every = Vec::new();
    let mut all = hint.patients(None);
    while let Some(page) = all.next_page().await.unwrap() {
        every.extend(page);
    }
    let since = every.iter().filter_map(|p| p.updated_at).max().unwrap();
    let later = sandbox
        .add_patients(json!({"first_name": "Late", "last_name": "Comer"}))
        .await;
    let changed = hint.patients(Some(since)).next_page().await.unwrap().unwrap();
    let changed_ids: Vec<&str> = changed.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        changed_ids,
        [later["id"].as_str().unwrap()],
        "only what changed after the time"
    );
}

#[tokio::test]
async fn a_patient_is_matched_written_and_refused_in_hints_words() {
    let sandbox = Sandbox::start().await;
    let ann = sandbox
        .add_patients(json!({"first_name": "Ann", "last_name": "Lee", "dob": "1980-02-03"}))
        .await;
    let hint = sandbox.connect();
    let matches = hint.matching("ann", "lee", Some("1980-02-03")).await.unwrap();
    assert_eq!(matches.len(), 1);
    assert!(
        hint.matching("Ann", "Lee", Some("1980-02-04"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(hint.named("ANN", "Lee").await.unwrap().len(), 1);

    let id = ann["id"].as_str().unwrap();
    let current = hint.patient(id).await.unwrap().unwrap();
    let mut demographics = mapping::read(&current).demographics;
    demographics.email = Some("ann@example.org".into());
    demographics.mobile_phone = Some("5551234567".into());
    let (body, _) = mapping::body(&demographics, &current.phones);
    let written = hint.update(id, &body).await.unwrap();
    assert_eq!(
        mapping::read(&written).demographics,
        demographics,
        "what is written reads back the same"
    );
    assert!(hint.patient("pat-nobody").await.unwrap().is_none());

    match hint.create(&json!({"first_name": "No", "dob": "yesterday"})).await {
        Err(ConnectorError::Rejected {
            status: 422, fields, ..
        }) => {
            assert!(
                fields.contains(&"dob".to_owned()) && fields.contains(&"last_name".to_owned()),
                "{fields:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    match sandbox.connect_with("sbx-not-a-practice-key").check_key().await {
        Err(ConnectorError::BadCredentials { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let sandbox = Sandbox::start().await;
    sandbox
        .control("/faults", json!({"kind": "status", "status": 503, "times": 2}))
        .await;
    sandbox.connect().check_key().await.unwrap();
}
