//! The Ensora connector against the Ensora sandbox over HTTP: the client-credentials token and
//! its renewal, the User-Agent, paging to the short page, changes since a time and note
//! windows, refusals in Ensora's words, and retries.

use connectors::ConnectorError;
use connectors::ensora::{ClientCredentials, Ensora, PAGE_SIZE};
use connectors::http::RetryPolicy;
use sandbox::Running;
use sandbox::ensora::{self, ClientSetup, Config};
use serde_json::{Value, json};
use std::time::Duration;

const AGENT: &str = "carebridge connector tests (tests@carebridge.health)";

fn client() -> ClientSetup {
    ClientSetup {
        organization: "org-connector".into(),
        client_id: "connector-client".into(),
        client_secret: "connector-secret".into(),
    }
}

struct Sandbox {
    running: Running,
}

impl Sandbox {
    async fn start() -> Sandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Sandbox {
            running: ensora::start(
                listener,
                Config {
                    clients: vec![client()],
                },
            )
            .unwrap(),
        }
    }

    fn connect_with(&self, secret: &str) -> Ensora {
        let retry = RetryPolicy {
            tries: 3,
            first_wait: Duration::from_millis(10),
            longest_wait: Duration::from_millis(50),
        };
        let base = self.running.base_url();
        Ensora::new(
            base.parse().unwrap(),
            format!("{base}/connect/token").parse().unwrap(),
            ClientCredentials {
                client_id: client().client_id,
                client_secret: secret.into(),
            },
            AGENT,
            retry,
            Duration::from_secs(2),
        )
        .unwrap()
    }

    fn connect(&self) -> Ensora {
        self.connect_with(&client().client_secret)
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

    async fn add(&self, what: &str, records: Value) -> Value {
        self.control(&format!("/organizations/{}/{what}", client().organization), records)
            .await
    }

    async fn requests(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_sandbox/requests", self.running.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn credentials_are_checked_with_a_token_and_a_read_of_the_sites() {
    let sandbox = Sandbox::start().await;
    sandbox.connect().check_credentials().await.unwrap();
    let refused = sandbox
        .connect_with("not-the-secret")
        .check_credentials()
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        ConnectorError::BadCredentials {
            vendor: "Ensora",
            reason: "invalid_client".into()
        }
    );
    let requests = sandbox.requests().await;
    assert_eq!(requests.last().unwrap()["path"], "/connect/token");
    assert_eq!(
        requests.iter().filter(|r| r["path"] == "/v1/site").count(),
        1,
        "the refused client read nothing"
    );
}

#[tokio::test]
async fn every_record_is_read_a_hundred_at_a_time_until_a_short_page_and_changes_since_a_time() {
    let sandbox = Sandbox::start().await;
    let site = sandbox
        .add("sites", json!({"name": "North Clinic", "timeZone": "America/Chicago"}))
        .await;
    let site_id = site["siteId"].as_str().unwrap().to_owned();
    let students: Vec<Value> = (0..230)
        .map(|n| json!({"firstName": format!("Kid{n:03}"), "lastName": "Paged", "dateOfBirth": "2015-02-03", "siteId": site_id}))
        .collect();
    sandbox.add("patients", Value::Array(students)).await;
    let ensora = sandbox.connect();

    let sites = ensora.sites().await.unwrap();
    assert_eq!(sites.len(), 1);
    assert_eq!(
        (sites[0].name.as_str(), sites[0].time_zone.as_deref()),
        ("North Clinic", Some("America/Chicago"))
    );
    let all = ensora.students(None).await.unwrap();
    assert_eq!(all.len(), 230);
    assert_eq!(all[229].first_name, "Kid229");
    let pages: Vec<(String, String)> = sandbox
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == "/v1/Patient")
        .map(|r| {
            let query: Vec<(String, String)> = serde_json::from_value(r["query"].clone()).unwrap();
            let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
            (get("page"), get("size"))
        })
        .collect();
    let size = PAGE_SIZE.to_string();
    assert_eq!(
        pages,
        [
            ("1".into(), size.clone()),
            ("2".into(), size.clone()),
            ("3".into(), size)
        ]
    );

    let since = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    sandbox
        .add("users", json!({"firstName": "Tess", "lastName": "Ng", "email": "tess@example.com", "siteAssignments": [{"siteId": site_id}]}))
        .await;
    assert!(ensora.students(Some(since)).await.unwrap().is_empty());
    let users = ensora.users(Some(since)).await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].site_assignments[0].site_id, site_id);
    assert!(users[0].active);
    let agents: Vec<Value> = sandbox
        .requests()
        .await
        .into_iter()
        .map(|r| r["status"].clone())
        .collect();
    assert!(
        agents.iter().all(|s| s == 200),
        "every call carried a User-Agent: {agents:?}"
    );
}

#[tokio::test]
async fn notes_are_read_for_a_window_with_their_revisions_and_deletions() {
    let sandbox = Sandbox::start().await;
    let note = json!({"patientId": "s1", "userId": "u1", "date": "2026-11-02", "startTime": "09:00", "endTime": "10:00",
        "responses": [{"questionText": "Notes", "answer": "Worked on turn taking."}]});
    let written = sandbox.add("notes", note).await;
    let id = written["soapNoteId"].as_str().unwrap().to_owned();
    let ensora = sandbox.connect();
    let until = chrono::Utc::now() + chrono::Duration::seconds(1);
    let notes = ensora.notes(None, until).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].date_revision_made.as_deref(), notes[0].is_deleted),
        (None, false)
    );
    assert_eq!(
        notes[0].answers().next(),
        Some(("Notes", Some("Worked on turn taking.")))
    );

    let since = chrono::Utc::now();
    reqwest::Client::new()
        .delete(format!(
            "{}/_sandbox/organizations/{}/notes/{id}",
            sandbox.running.base_url(),
            client().organization
        ))
        .send()
        .await
        .unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(1);
    let changed = ensora.notes(Some(since), until).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert!(changed[0].is_deleted && changed[0].date_revision_made.is_some());
    assert!(
        ensora.notes(Some(since), since).await.unwrap().is_empty(),
        "EndTime bounds the window"
    );
}

#[tokio::test]
async fn a_lapsed_token_is_renewed_once_and_failures_are_retried_or_named() {
    let sandbox = Sandbox::start().await;
    let ensora = sandbox.connect();
    ensora.sites().await.unwrap();
    sandbox.control("/tokens/expire", json!({})).await;
    ensora.sites().await.expect("a refused token gets one renewal");
    let tokens = sandbox
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == "/connect/token")
        .count();
    assert_eq!(tokens, 2);

    sandbox
        .control(
            "/faults",
            json!({"kind": "status", "status": 503, "times": 2, "path_prefix": "/v1/User"}),
        )
        .await;
    ensora.users(None).await.expect("two 503s, then an answer");
    sandbox
        .control(
            "/faults",
            json!({"kind": "status", "status": 503, "times": 3, "path_prefix": "/v1/User"}),
        )
        .await;
    let error = ensora.users(None).await.unwrap_err();
    assert!(
        matches!(
            error,
            ConnectorError::Unavailable {
                status: Some(503),
                tries: 3,
                ..
            }
        ),
        "{error:?}"
    );
    sandbox
        .control(
            "/faults",
            json!({"kind": "malformed", "times": 3, "path_prefix": "/v1/SoapNote"}),
        )
        .await;
    let error = ensora.notes(None, chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Malformed { .. }), "{error:?}");
    sandbox
        .control(
            "/faults",
            json!({"kind": "status", "status": 422, "times": 1, "path_prefix": "/v1/site"}),
        )
        .await;
    let error = ensora.sites().await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::Rejected { status: 422, .. }),
        "{error:?}"
    );
}
