//! The Hint sandbox keeps Hint's public contract, checked over HTTP.

mod common;

use common::receiver;
use sandbox::Running;
use sandbox::hint::{self, Config, PracticeSetup};
use serde_json::{Value, json};
use std::time::Duration;

fn practice() -> PracticeSetup {
    PracticeSetup {
        id: "pra-testPractice1".into(),
        api_key: "sbx-test-practice-key".into(),
        signature_key: "test-signature-key".into(),
    }
}

struct Hint {
    running: Running,
    http: reqwest::Client,
}

impl Hint {
    async fn start_with(config: Config) -> Hint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Hint {
            running: hint::start(listener, config).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn start() -> Hint {
        Hint::start_with(Config {
            practices: vec![practice()],
            ..Config::default()
        })
        .await
    }

    /// A call as carebridge makes it, with the practice's key.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/api/provider{path}", self.running.base_url()))
            .bearer_auth(practice().api_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// What the practice's users do in Hint.
    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.running.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn add_patients(&self, patients: Value) -> Value {
        let path = format!("/practices/{}/patients", practice().id);
        self.control(reqwest::Method::POST, &path, Some(patients)).await
    }
}

#[tokio::test]
async fn patients_list_as_bare_arrays_by_limit_and_offset_with_exact_filters() {
    let hint = Hint::start().await;
    let patients: Vec<Value> = (0..25)
        .map(|n| json!({"first_name": format!("Pat{n:02}"), "last_name": "Lee", "dob": "1980-01-02"}))
        .collect();
    hint.add_patients(Value::Array(patients)).await;

    let (status, first) = hint.get("/patients").await;
    assert_eq!(status, 200);
    assert_eq!(first.as_array().unwrap().len(), 10, "ten by default, as a bare array");
    let (_, last) = hint.get("/patients?limit=10&offset=20").await;
    assert_eq!(last.as_array().unwrap().len(), 5, "fewer than the limit: the last page");
    assert_eq!(hint.get("/patients?limit=101").await.0, 400);

    let (_, exact) = hint.get("/patients?first_name=PAT07").await;
    assert_eq!(exact.as_array().unwrap().len(), 1, "exact and case-insensitive");
    assert_eq!(exact[0]["name"], "Pat07 Lee");
    assert!(exact[0]["id"].as_str().unwrap().starts_with("pat-"));
    let (_, none) = hint.get("/patients?first_name=Pat").await;
    assert_eq!(none, json!([]), "a filter is not a prefix search");
    let (_, sorted) = hint.get("/patients?sort=-first_name&limit=1").await;
    assert_eq!(sorted[0]["first_name"], "Pat24");
}

#[tokio::test]
async fn a_patient_is_created_read_changed_matched_and_deleted_with_hints_checks() {
    let hint = Hint::start().await;
    let (status, refused) = hint
        .call(
            reqwest::Method::POST,
            "/patients",
            Some(json!({"first_name": "Ann", "dob": "02/03/1980"})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(refused["errors"]["last_name"].is_array(), "{refused}");
    assert!(refused["errors"]["dob"].is_array(), "{refused}");

    let body = json!({"first_name": "Ann", "last_name": "Lee", "dob": "1980-02-03", "sex": "female",
        "phones": [{"number": "5553050051", "type": "mobile"}]});
    let (status, ann) = hint.call(reqwest::Method::POST, "/patients", Some(body)).await;
    assert_eq!(status, 200);
    let id = ann["id"].as_str().unwrap().to_owned();
    let (_, read) = hint.get(&format!("/patients/{id}")).await;
    assert_eq!(read["phones"][0]["type"], "mobile");

    let (status, changed) = hint
        .call(
            reqwest::Method::PATCH,
            &format!("/patients/{id}"),
            Some(json!({"email": "ann@example.org"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (changed["email"].as_str(), changed["first_name"].as_str()),
        (Some("ann@example.org"), Some("Ann"))
    );
    assert!(changed["updated_at"].as_str() > ann["updated_at"].as_str());
    let blanked = hint
        .call(
            reqwest::Method::PUT,
            &format!("/patients/{id}"),
            Some(json!({"last_name": ""})),
        )
        .await;
    assert_eq!(blanked.0, 422, "a name cannot be blanked");

    let matching = |body: Value| hint.call(reqwest::Method::POST, "/patients/matching", Some(body));
    assert_eq!(
        matching(json!({"first_name": "ann", "last_name": "LEE"}))
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (_, other_birthday) = matching(json!({"first_name": "Ann", "last_name": "Lee", "dob": "1980-02-04"})).await;
    assert_eq!(other_birthday, json!([]));

    assert_eq!(
        hint.call(reqwest::Method::DELETE, &format!("/patients/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(hint.get(&format!("/patients/{id}")).await.0, 404);
}

#[tokio::test]
async fn archived_patients_are_listed_only_when_asked_for() {
    let hint = Hint::start().await;
    let gone = hint
        .add_patients(json!({"first_name": "Old", "last_name": "Member"}))
        .await;
    hint.add_patients(json!({"first_name": "New", "last_name": "Member"}))
        .await;
    let path = format!(
        "/practices/{}/patients/{}/archive",
        practice().id,
        gone["id"].as_str().unwrap()
    );
    hint.control(reqwest::Method::POST, &path, None).await;
    assert_eq!(hint.get("/patients").await.1.as_array().unwrap().len(), 1);
    assert_eq!(hint.get("/patients?filter=archived").await.1[0]["first_name"], "Old");
    assert_eq!(hint.get("/patients?filter=all").await.1.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn every_change_is_sent_signed_to_each_endpoint_until_answered_2xx_our_own_included() {
    let hint = Hint::start().await;
    let flaky = receiver("/webhooks/hint/g1", hint::SIGNATURE_HEADER, vec![500, 202]).await;
    let path = format!("/practices/{}/webhook_endpoints", practice().id);
    hint.control(reqwest::Method::POST, &path, Some(json!({"webhook_url": flaky.url})))
        .await;

    let ann = hint
        .add_patients(json!({"first_name": "Ann", "last_name": "Lee"}))
        .await;
    let got = flaky.wait_for(2).await;
    assert_eq!(got.len(), 2, "a 500 is tried again; 202 ends it");
    let (signature, body) = &got[1];
    assert_eq!(
        signature.as_deref(),
        Some(hint::sign(&practice().signature_key, body).as_str())
    );
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(event["type"], "patient.created");
    assert_eq!(event["practice_id"], practice().id);
    assert_eq!(event["object"]["id"], ann["id"]);
    assert!(event["id"].as_str().unwrap().starts_with("evt-"));

    // A change the app itself makes through the API comes back too: Hint has no filter.
    let id = ann["id"].as_str().unwrap();
    hint.call(
        reqwest::Method::PATCH,
        &format!("/patients/{id}"),
        Some(json!({"email": "a@example.org"})),
    )
    .await;
    hint.call(reqwest::Method::DELETE, &format!("/patients/{id}"), None)
        .await;
    let got = flaky.wait_for(4).await;
    let kinds: Vec<String> = got[2..]
        .iter()
        .map(|(_, body)| {
            serde_json::from_slice::<Value>(body).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds, ["patient.updated", "patient.destroyed"]);

    let deliveries = hint.control(reqwest::Method::GET, "/deliveries", None).await;
    let first = deliveries[0]["event"].as_str().unwrap().to_owned();
    assert_eq!(deliveries[0]["attempts"], json!([500, 202]));
    hint.control(reqwest::Method::POST, &format!("/deliveries/{first}/redeliver"), None)
        .await;
    let again = flaky.wait_for(5).await;
    assert_eq!(again[4].1, got[1].1, "a redelivery is the same event, byte for byte");
}

#[tokio::test]
async fn a_key_is_needed_and_past_twenty_a_second_requests_get_429() {
    let hint = Hint::start_with(Config {
        practices: vec![practice()],
        rate_limit: 3,
        rate_window: Duration::from_millis(500),
        ..Config::default()
    })
    .await;
    let anonymous = hint
        .http
        .get(format!("{}/api/provider/patients", hint.running.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    for _ in 0..3 {
        assert_eq!(hint.get("/patients").await.0, 200);
    }
    assert_eq!(hint.get("/patients").await.0, 429);
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(hint.get("/patients").await.0, 200, "a new window");

    hint.control(
        reqwest::Method::POST,
        "/faults",
        Some(json!({"kind": "status", "status": 503, "path_prefix": "/api/provider/patients"})),
    )
    .await;
    assert_eq!(hint.get("/patients").await.0, 503);
}
