//! Connecting a group to Elation through the dev host: preview with warnings, resolve, preview
//! clean, enable, the initial import, cancel. The Elation sandbox runs per test over HTTP; the
//! preview and import run on the sync queue in moto, applied by the sync-worker function.

use connectors::elation::{Credentials, Elation};
use e2e::*;
use sandbox::Running;
use sandbox::elation::{self, Config, Retry};
use serde_json::Value;
use std::time::Duration;

/// An Elation practice for one test, reached with the local stack's demo app.
struct Practice {
    sandbox: Running,
    http: reqwest::Client,
}

impl Practice {
    async fn start() -> Practice {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = Config {
            retry: Retry {
                first: Duration::from_millis(20),
                longest: Duration::from_millis(200),
            },
            clients: vec![elation::demo_client()],
        };
        Practice {
            sandbox: elation::start(listener, config).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    /// Adds a record as a practice user would in Elation's own screens.
    async fn add(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/_sandbox/{path}", self.sandbox.base_url());
        let reply = self.http.post(url).json(&body).send().await.unwrap();
        assert_eq!(reply.status(), 201);
        reply.json().await.unwrap()
    }

    async fn physician(&self, first_name: &str, email: &str) -> i64 {
        let body = json!({"first_name": first_name, "last_name": "Hopper", "email": email, "npi": "1234567893"});
        self.add("physicians", body).await["id"].as_i64().unwrap()
    }

    async fn patient(&self, physician: i64, first_name: &str, email: &str) -> i64 {
        let body = json!({
            "first_name": first_name, "last_name": "Lovelace", "dob": "1980-02-29", "sex": "Female",
            "primary_physician": physician, "emails": [{"email": email}],
        });
        self.add("patients", body).await["id"].as_i64().unwrap()
    }

    /// The app's own view of its webhook subscriptions.
    async fn subscriptions(&self) -> Vec<connectors::elation::types::Subscription> {
        let demo = elation::demo_client();
        let client = Elation::new(
            &format!("{}/api/2.0", self.sandbox.base_url()),
            Credentials {
                client_id: demo.client_id,
                client_secret: demo.client_secret,
                username: None,
                password: None,
            },
            connectors::http::RetryPolicy::default(),
            Duration::from_secs(5),
        )
        .unwrap();
        client.subscriptions().await.unwrap()
    }
}

fn admin(group: &str) -> String {
    token(&[group], &[INTEGRATION_ADMIN])
}

fn path(group: &str, rest: &str) -> String {
    format!("/v1/groups/{group}/integrations/elation{rest}")
}

/// Activates Elation in `group` and stores the sandbox's demo credentials.
async fn connect(group: &str, practice: &Practice) {
    let activated = post(&path(group, "/activate")).token(&admin(group)).send().await;
    assert_status(&activated, 200);
    let demo = elation::demo_client();
    let stored = put(&path(group, "/credentials"))
        .token(&admin(group))
        .json(&json!({
            "client_id": demo.client_id,
            "client_secret": demo.client_secret,
            "base_url": format!("{}/api/2.0", practice.sandbox.base_url()),
        }))
        .send()
        .await;
    assert_status(&stored, 200);
}

/// Reads a run until it has finished.
async fn finished(group: &str, run: &str) -> Value {
    for _ in 0..150 {
        let reply = get(&path(group, &format!("/runs/{run}")))
            .token(&admin(group))
            .send()
            .await;
        assert_status(&reply, 200);
        if matches!(reply.body["status"].as_str(), Some("succeeded" | "failed")) {
            return reply.body;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("run {run} did not finish within 30 s");
}

/// Starts a preview and waits for it.
async fn preview(group: &str) -> Value {
    let started = post(&path(group, "/preview")).token(&admin(group)).send().await;
    assert_status(&started, 202);
    assert_eq!(started.body["status"], "queued");
    finished(group, started.body["id"].as_str().unwrap()).await
}

async fn results(group: &str, run: &Value, filter: &str) -> Vec<Value> {
    let run = run["id"].as_str().unwrap();
    let reply = get(&path(group, &format!("/runs/{run}/results?filter={filter}&limit=200")))
        .token(&admin(group))
        .send()
        .await;
    assert_status(&reply, 200);
    reply.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_duplicate_email_is_warned_resolved_previewed_clean_and_then_enabled_and_imported() {
    let group = new_group().await;
    let practice = Practice::start().await;
    let grace = practice.physician("Grace", "grace@clinic.example").await;
    for (first_name, email) in [
        ("Ada", "ada@example.org"),
        ("Bea", "bea@example.org"),
        ("Cy", "cy@example.org"),
    ] {
        practice.patient(grace, first_name, email).await;
    }
    // A carebridge patient who already uses Ada's e-mail address.
    let zed = create_patient(
        &group,
        json!({"first_name": "Zed", "last_name": "Other", "date_of_birth": "1970-01-01", "email": "ada@example.org"}),
    )
    .await;
    assert_status(&zed, 201);
    connect(&group, &practice).await;

    let warned = preview(&group).await;
    assert_eq!(warned["status"], "succeeded", "{warned}");
    assert_eq!(warned["progress"], json!({"fetched": 4, "total": 4}));
    assert_eq!(warned["counts"]["patients"]["create"], 3);
    assert_eq!(warned["counts"]["patients"]["with_warnings"], 1);
    let warnings = results(&group, &warned, "warnings").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["name"], "Ada Lovelace");
    assert_eq!(warnings[0]["warnings"][0]["code"], "duplicate_email");
    assert_eq!(all_patients(&group).await.len(), 1, "a preview writes no patient");

    let refused = post(&path(&group, "/enable")).token(&admin(&group)).send().await;
    assert_status(&refused, 409);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("1 record(s) with warnings"),
        "{refused:?}"
    );

    // Resolved by editing the carebridge record, then previewed again.
    let zed_id = zed.body["id"].as_str().unwrap();
    let edited = patch(&format!("/v1/groups/{group}/patients/{zed_id}"))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .header("if-match", "\"1\"")
        .json(&json!({"email": "zed@example.org"}))
        .send()
        .await;
    assert_status(&edited, 200);
    let clean = preview(&group).await;
    assert_eq!(clean["counts"]["patients"]["with_warnings"], 0, "{clean}");
    assert_eq!(results(&group, &clean, "warnings").await, Vec::<Value>::new());

    let enabled = post(&path(&group, "/enable")).token(&admin(&group)).send().await;
    assert_status(&enabled, 202);
    assert_eq!(enabled.body["status"], "active");
    let resources: Vec<&str> = enabled.body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["resource"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["patients", "physicians"]);
    let subscribed = practice.subscriptions().await;
    assert_eq!(subscribed.len(), 2);
    assert!(subscribed[0].target.ends_with(&format!("/webhooks/elation/{group}")));

    let import = finished(&group, enabled.body["initial_import"].as_str().unwrap()).await;
    assert_eq!(import["status"], "succeeded", "{import}");
    assert_eq!(import["counts"]["practitioners"]["create"], 1);
    assert_eq!(import["counts"]["patients"]["create"], 3);
    let patients = all_patients(&group).await;
    assert_eq!(patients.len(), 4);
    let coach = results(&group, &import, "practitioners").await[0]["carebridge_id"].clone();
    let imported: Vec<&Value> = patients
        .iter()
        .filter(|p| p["external_ids"]["elation"].is_string())
        .collect();
    assert_eq!(imported.len(), 3);
    assert!(imported.iter().all(|p| p["practitioner_id"] == coach), "{imported:?}");

    // Enabling again changes nothing; cancelling removes the subscriptions and keeps the data.
    let again = post(&path(&group, "/enable")).token(&admin(&group)).send().await;
    assert_status(&again, 202);
    assert_eq!(again.body["version"], enabled.body["version"]);
    let cancelled = post(&path(&group, "/cancel")).token(&admin(&group)).send().await;
    assert_status(&cancelled, 200);
    assert!(practice.subscriptions().await.is_empty());
    assert_eq!(all_patients(&group).await.len(), 4);
}

#[tokio::test]
async fn enabling_needs_a_preview_and_force_overrides_warnings() {
    let group = new_group().await;
    let practice = Practice::start().await;
    // A physician without an e-mail cannot become a coach: both it and its patient are warned.
    let body = json!({"first_name": "No", "last_name": "Email"});
    let physician = practice.add("physicians", body).await["id"].as_i64().unwrap();
    practice.patient(physician, "Ada", "ada@example.org").await;
    connect(&group, &practice).await;
    let refused = post(&path(&group, "/enable")).token(&admin(&group)).send().await;
    assert_status(&refused, 409);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("preview"),
        "{refused:?}"
    );

    let warned = preview(&group).await;
    let codes: Vec<String> = results(&group, &warned, "warnings")
        .await
        .iter()
        .map(|item| item["warnings"][0]["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes, ["missing_email", "physician_not_imported"]);
    let forced = post(&path(&group, "/enable"))
        .token(&admin(&group))
        .json(&json!({"force": true}))
        .send()
        .await;
    assert_status(&forced, 202);
    let import = finished(&group, forced.body["initial_import"].as_str().unwrap()).await;
    assert_eq!(import["counts"]["practitioners"]["skip"], 1, "{import}");
    assert_eq!(import["counts"]["patients"]["create"], 1, "{import}");
}
