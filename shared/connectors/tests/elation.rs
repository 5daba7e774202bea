//! The Elation connector against the Elation sandbox over HTTP: tokens, paging, writes,
//! subscriptions, and what it does when Elation rate-limits, fails, stalls or garbles.

use connectors::ConnectorError;
use connectors::elation::types::Patient;
use connectors::elation::{Credentials, Elation};
use connectors::http::RetryPolicy;
use sandbox::Running;
use sandbox::elation::{self, Client, Config, Retry};
use serde_json::{Map, Value, json};
use std::time::Duration;

const APP: (&str, &str) = ("connector-app", "connector-secret");

struct Sandbox {
    running: Running,
    http: reqwest::Client,
}

impl Sandbox {
    async fn start() -> Sandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = Config {
            retry: Retry {
                first: Duration::from_millis(20),
                longest: Duration::from_millis(100),
            },
            clients: vec![Client {
                client_id: APP.0.into(),
                client_secret: APP.1.into(),
                username: Some("legacy-user".into()),
                password: Some("legacy-password".into()),
            }],
        };
        Sandbox {
            running: elation::start(listener, config).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn base_url(&self) -> String {
        format!("{}/api/2.0", self.running.base_url())
    }

    fn connect_as(&self, credentials: Credentials) -> Elation {
        let retry = RetryPolicy {
            tries: 3,
            first_wait: Duration::from_millis(10),
            longest_wait: Duration::from_millis(50),
        };
        Elation::new(&self.base_url(), credentials, retry, Duration::from_millis(500)).unwrap()
    }

    fn connect(&self) -> Elation {
        self.connect_as(credentials(APP.0, APP.1))
    }

    /// What a practice user does in Elation's own screens.
    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/_sandbox/{path}", self.running.base_url());
        let answer = self.http.request(method, url).json(&body).send().await.unwrap();
        assert!(
            answer.status().is_success(),
            "control plane {path}: {}",
            answer.status()
        );
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn add_physician(&self, last_name: &str) -> i64 {
        let body = json!({"first_name": "Grace", "last_name": last_name, "email": format!("{last_name}@example.org")});
        self.control(reqwest::Method::POST, "physicians", body).await["id"]
            .as_i64()
            .unwrap()
    }

    async fn add_patient(&self, physician: i64, first_name: &str) -> i64 {
        let body = json!({
            "first_name": first_name, "last_name": "Lovelace", "dob": "1980-02-29", "sex": "Female",
            "primary_physician": physician, "emails": [{"email": format!("{first_name}@example.org")}],
        });
        self.control(reqwest::Method::POST, "patients", body).await["id"]
            .as_i64()
            .unwrap()
    }

    async fn fault(&self, fault: Value) {
        self.control(reqwest::Method::POST, "faults", fault).await;
    }

    /// The API requests the sandbox answered, as `METHOD path status`.
    async fn requests(&self) -> Vec<String> {
        let seen = self.control(reqwest::Method::GET, "requests", Value::Null).await;
        seen.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["method"].as_str().unwrap(),
                    r["path"].as_str().unwrap(),
                    r["status"]
                )
            })
            .collect()
    }
}

fn credentials(id: &str, secret: &str) -> Credentials {
    Credentials {
        client_id: id.into(),
        client_secret: secret.into(),
        username: None,
        password: None,
    }
}

#[tokio::test]
async fn good_credentials_get_a_token_and_bad_ones_carry_elations_reason() {
    let sandbox = Sandbox::start().await;
    sandbox.connect().check_credentials().await.unwrap();

    let wrong = sandbox.connect_as(credentials(APP.0, "not-the-secret"));
    match wrong.check_credentials().await {
        Err(ConnectorError::BadCredentials { reason, .. }) => {
            assert!(reason.contains("invalid_client"), "{reason}");
            assert!(!reason.contains("not-the-secret"));
        }
        other => panic!("expected bad credentials, got {other:?}"),
    }
}

#[tokio::test]
async fn the_legacy_password_grant_authenticates_the_app_with_basic_auth() {
    let sandbox = Sandbox::start().await;
    let mut legacy = credentials(APP.0, APP.1);
    legacy.username = Some("legacy-user".into());
    legacy.password = Some("legacy-password".into());
    sandbox.connect_as(legacy.clone()).check_credentials().await.unwrap();

    legacy.password = Some("wrong".into());
    let refused = sandbox.connect_as(legacy).check_credentials().await.unwrap_err();
    assert!(matches!(&refused, ConnectorError::BadCredentials { reason, .. } if reason.contains("invalid_grant")));
}

#[tokio::test]
async fn a_base_url_that_is_not_elations_api_is_named() {
    let sandbox = Sandbox::start().await;
    let retry = RetryPolicy::default();
    let lost = Elation::new(
        &format!("{}/no-api-here", sandbox.running.base_url()),
        credentials(APP.0, APP.1),
        retry,
        Duration::from_secs(1),
    )
    .unwrap();
    let error = lost.check_credentials().await.unwrap_err();
    assert!(
        matches!(&error, ConnectorError::Rejected { status: 404, detail, .. } if detail.contains("base URL")),
        "{error}"
    );
}

#[tokio::test]
async fn every_patient_is_read_by_following_next_links_a_hundred_at_a_time() {
    let sandbox = Sandbox::start().await;
    let physician = sandbox.add_physician("Hopper").await;
    for n in 0..230 {
        sandbox.add_patient(physician, &format!("p{n}")).await;
    }
    let elation = sandbox.connect();
    let mut pages = elation.patients(None);
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    while let Some(page) = pages.next_page().await.unwrap() {
        sizes.push(page.len());
        seen.extend(page.into_iter().map(|p: Patient| p.first_name.unwrap()));
        assert_eq!(pages.total, Some(230), "the total is known from the first page on");
    }
    assert_eq!(sizes, [100, 100, 30]);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 230);

    let physicians = elation.physicians().all().await.unwrap();
    assert_eq!(physicians.len(), 1);
    assert_eq!(physicians[0].id, physician);
}

#[tokio::test]
async fn only_patients_changed_after_a_time_are_read_when_asked() {
    let sandbox = Sandbox::start().await;
    let physician = sandbox.add_physician("Hopper").await;
    let first = sandbox.add_patient(physician, "early").await;
    let elation = sandbox.connect();
    let cutoff = elation.patient(first).await.unwrap().unwrap().last_modified.unwrap();
    let later = sandbox.add_patient(physician, "late").await;

    let changed = elation.patients(Some(cutoff)).all().await.unwrap();
    assert_eq!(changed.iter().map(|p| p.id).collect::<Vec<_>>(), [later]);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_until_elation_answers() {
    let sandbox = Sandbox::start().await;
    sandbox.add_physician("Hopper").await;
    let elation = sandbox.connect();
    elation.check_credentials().await.unwrap();
    sandbox
        .fault(json!({"kind": "status", "status": 429, "times": 1}))
        .await;
    sandbox
        .fault(json!({"kind": "status", "status": 503, "times": 1}))
        .await;

    assert_eq!(elation.physicians().all().await.unwrap().len(), 1);
    let calls: Vec<String> = sandbox
        .requests()
        .await
        .into_iter()
        .filter(|r| r.contains("physicians"))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /api/2.0/physicians/ 429",
            "GET /api/2.0/physicians/ 503",
            "GET /api/2.0/physicians/ 200"
        ]
    );
}

#[tokio::test]
async fn an_outage_longer_than_the_tries_is_a_retryable_error() {
    let sandbox = Sandbox::start().await;
    let elation = sandbox.connect();
    elation.check_credentials().await.unwrap();
    sandbox
        .fault(json!({"kind": "status", "status": 500, "times": 3}))
        .await;

    let error = elation.physicians().all().await.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(
        matches!(
            error,
            ConnectorError::Unavailable {
                status: Some(500),
                tries: 3,
                ..
            }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_garbled_answer_is_retried_and_one_that_stays_garbled_is_named() {
    let sandbox = Sandbox::start().await;
    sandbox.add_physician("Hopper").await;
    let elation = sandbox.connect();
    elation.check_credentials().await.unwrap();

    sandbox.fault(json!({"kind": "malformed", "times": 1})).await;
    assert_eq!(elation.physicians().all().await.unwrap().len(), 1);

    sandbox.fault(json!({"kind": "malformed", "times": 3})).await;
    let error = elation.physicians().all().await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Malformed { .. }) && error.is_retryable(),
        "{error}"
    );
}

#[tokio::test]
async fn a_stalled_answer_times_out_and_is_tried_again() {
    let sandbox = Sandbox::start().await;
    sandbox.add_physician("Hopper").await;
    let elation = sandbox.connect();
    elation.check_credentials().await.unwrap();
    sandbox
        .fault(json!({"kind": "slow", "delay_ms": 2_000, "times": 1}))
        .await;

    assert_eq!(elation.physicians().all().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_patch_changes_the_patient_and_a_refused_one_names_the_fields() {
    let sandbox = Sandbox::start().await;
    let physician = sandbox.add_physician("Hopper").await;
    let id = sandbox.add_patient(physician, "ada").await;
    let elation = sandbox.connect();

    let mut patch = Map::new();
    patch.insert("last_name".into(), json!("Byron"));
    let updated = elation.update_patient(id, &patch).await.unwrap();
    assert_eq!(updated.last_name.as_deref(), Some("Byron"));
    assert_eq!(
        elation.patient(id).await.unwrap().unwrap().last_name.as_deref(),
        Some("Byron")
    );

    patch.insert("sex".into(), json!("Robot"));
    let error = elation.update_patient(id, &patch).await.unwrap_err();
    assert!(
        matches!(&error, ConnectorError::Rejected { status: 400, fields, .. } if fields == &["sex"]),
        "{error}"
    );
    assert!(!error.is_retryable());
    assert_eq!(elation.patient(999).await.unwrap(), None);
}

#[tokio::test]
async fn a_note_is_posted_once_even_when_elation_fails_after_receiving_it() {
    let sandbox = Sandbox::start().await;
    let physician = sandbox.add_physician("Hopper").await;
    let patient = sandbox.add_patient(physician, "ada").await;
    let elation = sandbox.connect();
    let at = chrono::Utc::now();
    let note = connectors::elation::mapping::plan_note(patient, physician, "Walk daily", at);

    let created = elation.create_note(&note).await.unwrap();
    assert!(created.id > 0);

    sandbox
        .fault(json!({"kind": "status", "status": 502, "times": 1, "path_prefix": "/api/2.0/non_visit_notes/"}))
        .await;
    let error = elation.create_note(&note).await.unwrap_err();
    assert!(error.is_retryable(), "the job may try again later: {error}");
    let posts = sandbox
        .requests()
        .await
        .into_iter()
        .filter(|r| r.starts_with("POST /api/2.0/non_visit_notes/"))
        .count();
    assert_eq!(posts, 2, "the failed post was not repeated by the client");

    sandbox
        .fault(json!({"kind": "status", "status": 429, "times": 1, "path_prefix": "/api/2.0/non_visit_notes/"}))
        .await;
    elation
        .create_note(&note)
        .await
        .expect("a rate-limited post was never acted on, so it is retried");
}

#[tokio::test]
async fn subscribing_twice_returns_the_same_subscription_and_unsubscribing_twice_is_fine() {
    let sandbox = Sandbox::start().await;
    let elation = sandbox.connect();
    let target = "https://carebridge.example/webhooks/elation/group-1";

    let first = elation.subscribe("patients", target).await.unwrap();
    let again = elation.subscribe("patients", target).await.unwrap();
    assert_eq!(first.id, again.id);
    assert_eq!(first.signing_pub_key, again.signing_pub_key);
    assert_eq!(elation.subscriptions().await.unwrap().len(), 1);

    elation.unsubscribe(first.id).await.unwrap();
    elation.unsubscribe(first.id).await.unwrap();
    let live = elation.subscriptions().await.unwrap();
    assert!(live.iter().all(|s| s.deleted_date.is_some()), "{live:?}");
}
