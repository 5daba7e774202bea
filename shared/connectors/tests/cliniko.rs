//! The Cliniko connector against the Cliniko sandbox over HTTP: the key and its shard, paging,
//! changes since a time, archived and deleted clients, appointments and the practitioners they
//! name, and what it does when Cliniko rate-limits or fails.

use async_trait::async_trait;
use connectors::ConnectorError;
use connectors::cliniko::mapping::coaches;
use connectors::cliniko::types::Id;
use connectors::cliniko::{ApiKey, AppointmentList, Cliniko, PatientList};
use connectors::http::{Gate, Open, RetryPolicy};
use sandbox::Running;
use sandbox::cliniko::{self, Config};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const KEY: &str = "MS0xLWNvbm5lY3Rvci10ZXN0cw-uk1";
const AGENT: &str = "carebridge connector tests (dev@carebridge.example)";

struct Sandbox {
    running: Running,
    http: reqwest::Client,
}

impl Sandbox {
    async fn start_with(config: Config) -> Sandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Sandbox {
            running: cliniko::start(listener, config).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn start() -> Sandbox {
        Sandbox::start_with(Config {
            keys: vec![KEY.into()],
            ..Config::default()
        })
        .await
    }

    /// The sandbox's stand-in for `https://api.{shard}.cliniko.com/v1`.
    fn template(&self) -> String {
        format!("{}/{{shard}}/v1", self.running.base_url())
    }

    fn connect_with(&self, key: &str, gate: Arc<dyn Gate>) -> Cliniko {
        let key = ApiKey::parse(key).unwrap();
        let retry = RetryPolicy {
            tries: 3,
            first_wait: Duration::from_millis(10),
            longest_wait: Duration::from_millis(50),
        };
        let base = key.base_url(&self.template()).unwrap();
        Cliniko::new(base, key, retry, Duration::from_millis(500), gate, AGENT).unwrap()
    }

    fn connect(&self) -> Cliniko {
        self.connect_with(KEY, Arc::new(Open))
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.running.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        assert!(
            answer.status().is_success(),
            "control plane {path}: {}",
            answer.status()
        );
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn requests(&self) -> Vec<Value> {
        self.control(reqwest::Method::GET, "/requests", None)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn a_good_key_is_accepted_on_its_shard_and_a_bad_one_refused_in_clinikos_words() {
    let sandbox = Sandbox::start().await;
    sandbox.connect().check_key().await.unwrap();
    let seen = sandbox.requests().await;
    assert!(
        seen[0]["path"].as_str().unwrap().starts_with("/uk1/v1/"),
        "the key's shard picks the host"
    );

    match sandbox
        .connect_with("not-our-key-uk1", Arc::new(Open))
        .check_key()
        .await
    {
        Err(ConnectorError::BadCredentials { vendor, reason }) => {
            assert_eq!(vendor, "Cliniko");
            assert!(reason.contains("not valid"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_client_is_read_page_by_page_with_the_total_from_the_first() {
    let sandbox = Sandbox::start().await;
    let clients: Vec<Value> = (0..250)
        .map(|n| json!({"first_name": format!("C{n}"), "last_name": "Page"}))
        .collect();
    sandbox
        .control(reqwest::Method::POST, "/patients", Some(Value::Array(clients)))
        .await;
    let cliniko = sandbox.connect();
    let mut pages = cliniko.patients(PatientList::Current, None);
    let first = pages.next_page().await.unwrap().unwrap();
    assert_eq!((first.len(), pages.total), (100, Some(250)));
    let rest = pages.all().await.unwrap();
    assert_eq!(rest.len(), 150);
    assert_eq!(rest.last().unwrap().first_name.as_deref(), Some("C249"));
    assert_eq!(sandbox.requests().await.len(), 3, "three pages of at most 100");
}

#[tokio::test]
async fn changes_since_a_time_and_archived_and_deleted_clients_are_read_by_their_own_lists() {
    let sandbox = Sandbox::start().await;
    let created = sandbox
        .control(
            reqwest::Method::POST,
            "/patients",
            Some(json!([{"first_name": "Ann", "last_name": "A"}, {"first_name": "Bo", "last_name": "B"}, {"first_name": "Cy", "last_name": "C"}])),
        )
        .await;
    let id = |n: usize| created[n]["id"].as_u64().unwrap();
    let since: chrono::DateTime<chrono::Utc> = created[2]["updated_at"].as_str().unwrap().parse().unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    sandbox
        .control(
            reqwest::Method::PATCH,
            &format!("/patients/{}", id(0)),
            Some(json!({"email": "ann@example.com"})),
        )
        .await;
    sandbox
        .control(reqwest::Method::POST, &format!("/patients/{}/archive", id(1)), None)
        .await;
    sandbox
        .control(reqwest::Method::DELETE, &format!("/patients/{}", id(2)), None)
        .await;

    let cliniko = sandbox.connect();
    let changed = cliniko.patients(PatientList::Current, Some(since)).all().await.unwrap();
    assert_eq!(changed.iter().map(|p| p.id).collect::<Vec<_>>(), [Id(id(0))]);
    assert_eq!(changed[0].email.as_deref(), Some("ann@example.com"));
    let archived = cliniko
        .patients(PatientList::Archived, Some(since))
        .all()
        .await
        .unwrap();
    assert_eq!(archived[0].id, Id(id(1)));
    assert!(archived[0].archived_at.is_some());
    let deleted = cliniko.deleted_patients(Some(since)).all().await.unwrap();
    assert_eq!(deleted.iter().map(|d| d.id()).collect::<Vec<_>>(), [Some(Id(id(2)))]);

    assert_eq!(cliniko.patient(Id(id(1))).await.unwrap().map(|p| p.id), Some(Id(id(1))));
    assert_eq!(
        cliniko.patient(Id(id(2))).await.unwrap(),
        None,
        "a deleted client reads as none"
    );
    let asked = sandbox.requests().await;
    let filtered = &asked[0]["query"];
    assert!(
        filtered
            .as_array()
            .unwrap()
            .iter()
            .any(|pair| pair[0] == "q[]" && pair[1].as_str().unwrap().starts_with("updated_at:>")),
        "{filtered}"
    );
}

#[tokio::test]
async fn a_rate_limited_call_waits_until_the_reset_cliniko_names_then_succeeds() {
    let sandbox = Sandbox::start_with(Config {
        keys: vec![KEY.into()],
        rate_limit: 1,
        rate_window: Duration::from_millis(1_200),
    })
    .await;
    let cliniko = sandbox.connect();
    cliniko.check_key().await.unwrap();
    let started = std::time::Instant::now();
    cliniko.check_key().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it waited for the window to reset"
    );
    let statuses: Vec<u64> = sandbox
        .requests()
        .await
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.first(), Some(&200));
    assert_eq!(statuses.last(), Some(&200));
    assert!(statuses.contains(&429));
}

#[tokio::test]
async fn server_errors_are_retried_and_every_try_waits_for_the_gate() {
    struct Counting(AtomicU32);
    #[async_trait]
    impl Gate for Counting {
        async fn wait_turn(&self) -> Result<(), ConnectorError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let sandbox = Sandbox::start().await;
    sandbox
        .control(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"kind": "status", "status": 502, "times": 2})),
        )
        .await;
    let gate = Arc::new(Counting(AtomicU32::new(0)));
    let cliniko = sandbox.connect_with(KEY, gate.clone());
    cliniko.check_key().await.unwrap();
    assert_eq!(
        gate.0.load(Ordering::SeqCst),
        3,
        "two failed tries and the one that worked"
    );

    sandbox
        .control(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"kind": "status", "status": 503, "times": 5})),
        )
        .await;
    match cliniko.check_key().await {
        Err(error @ ConnectorError::Unavailable { .. }) => assert!(error.is_retryable()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_request_without_the_apps_name_and_email_is_refused_so_ours_always_carries_them() {
    let sandbox = Sandbox::start().await;
    sandbox.connect().check_key().await.unwrap();
    let anonymous = sandbox
        .http
        .get(format!("{}/uk1/v1/patients", sandbox.running.base_url()))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 403);
}

#[tokio::test]
async fn a_clients_appointments_name_the_practitioner_whose_user_holds_their_email() {
    let sandbox = Sandbox::start().await;
    let post = |path: &'static str, body: Value| sandbox.control(reqwest::Method::POST, path, Some(body));
    let randy = post(
        "/practitioners",
        json!({"first_name": "Randy", "last_name": "Savage", "email": "randy@clinic.example"}),
    )
    .await;
    let dana = post(
        "/practitioners",
        json!({"first_name": "Dana", "last_name": "Scully", "email": "dana@clinic.example"}),
    )
    .await;
    let ann = post("/patients", json!({"first_name": "Ann", "last_name": "Lee"})).await;
    for (practitioner, starts_at) in [(&randy, "2026-01-05T09:00:00Z"), (&dana, "2026-02-05T09:00:00Z")] {
        post(
            "/appointments",
            json!({"patient_id": ann["id"], "practitioner_id": practitioner["id"], "starts_at": starts_at}),
        )
        .await;
    }
    let cliniko = sandbox.connect();
    let ann_id: Id = ann["id"].as_u64().map(Id).unwrap();
    let hers = cliniko.appointments_of(ann_id).all().await.unwrap();
    assert_eq!(hers.len(), 2);
    assert!(hers[0].starts_at > hers[1].starts_at, "the latest first");
    let dana_id: Id = dana["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(coaches(&hers)[&ann_id], dana_id);

    let practitioner = cliniko.practitioner(dana_id).await.unwrap().unwrap();
    let user = practitioner.user.and_then(|u| u.id()).unwrap();
    assert_eq!(
        cliniko.user(user).await.unwrap().unwrap().email.as_deref(),
        Some("dana@clinic.example")
    );
    assert_eq!(cliniko.users().all().await.unwrap().len(), 2);
    assert!(cliniko.practitioner(Id(42)).await.unwrap().is_none());

    let all = cliniko
        .appointments(AppointmentList::Current, None)
        .all()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let later = cliniko
        // The filter is sent in whole milliseconds: a millisecond past the last change.
        .appointments(
            AppointmentList::Current,
            all.iter()
                .filter_map(|a| a.updated_at)
                .max()
                .map(|t| t + chrono::Duration::milliseconds(1)),
        )
        .all()
        .await
        .unwrap();
    assert!(later.is_empty(), "nothing changed after the last change");
    let found = cliniko.patients_with_ids(&[ann_id, Id(7)]).all().await.unwrap();
    assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), [ann_id]);
}
