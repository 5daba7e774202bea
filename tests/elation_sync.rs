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

impl Practice {
    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/_sandbox/{path}", self.sandbox.base_url());
        let reply = self.http.request(method, url).json(&body).send().await.unwrap();
        assert!(reply.status().is_success(), "{path}: {}", reply.status());
        reply.json().await.unwrap_or(Value::Null)
    }

    /// Every webhook the sandbox has sent so far.
    async fn deliveries(&self) -> Vec<Value> {
        let url = format!("{}/_sandbox/deliveries", self.sandbox.base_url());
        let reply = self.http.get(url).send().await.unwrap();
        reply.json::<Vec<Value>>().await.unwrap()
    }

    /// Waits until every delivery so far has been answered 200, and returns them.
    async fn all_delivered(&self) -> Vec<Value> {
        for _ in 0..100 {
            let deliveries = self.deliveries().await;
            if deliveries.iter().all(|d| d["delivered"] == true) {
                return deliveries;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("webhooks were not accepted within 10 s: {:?}", self.deliveries().await);
    }
}

/// A group connected to a practice with one physician and one patient, enabled and imported;
/// returns the Elation patient's id.
async fn enabled_with_one_patient(group: &str, practice: &Practice) -> i64 {
    let grace = practice.physician("Grace", "grace@clinic.example").await;
    let ada = practice.patient(grace, "Ada", "ada@example.org").await;
    connect(group, practice).await;
    assert_eq!(preview(group).await["counts"]["patients"]["with_warnings"], 0);
    let enabled = post(&path(group, "/enable")).token(&admin(group)).send().await;
    assert_status(&enabled, 202);
    let import = finished(group, enabled.body["initial_import"].as_str().unwrap()).await;
    assert_eq!(import["status"], "succeeded", "{import}");
    ada
}

/// The carebridge patient linked to Elation patient `elation_id`.
async fn linked_patient(group: &str, elation_id: i64) -> Option<Value> {
    all_patients(group)
        .await
        .into_iter()
        .find(|p| p["external_ids"]["elation"].as_str().and_then(|id| id.parse().ok()) == Some(elation_id))
}

/// Reads the linked patient until `done` holds for it.
async fn patient_becomes(group: &str, elation_id: i64, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        if let Some(patient) = linked_patient(group, elation_id).await.filter(|p| done(p)) {
            return patient;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the change did not reach carebridge within 10 s: {:?}",
        linked_patient(group, elation_id).await
    );
}

#[tokio::test]
async fn an_edit_in_elation_arrives_by_signed_webhook_and_replayed_or_stale_copies_change_nothing() {
    let group = new_group().await;
    let practice = Practice::start().await;
    let ada = enabled_with_one_patient(&group, &practice).await;

    practice
        .control(
            reqwest::Method::PATCH,
            &format!("patients/{ada}"),
            json!({"first_name": "Augusta"}),
        )
        .await;
    patient_becomes(&group, ada, |p| p["first_name"] == "Augusta").await;
    let first_edit = practice.all_delivered().await.last().unwrap()["event_uuid"].clone();
    practice
        .control(
            reqwest::Method::PATCH,
            &format!("patients/{ada}"),
            json!({"last_name": "King"}),
        )
        .await;
    let settled = patient_becomes(&group, ada, |p| p["last_name"] == "King").await;

    // Elation retrying the first edit's event, and an older copy published as a new event.
    let redeliver = format!("deliveries/{}/redeliver", first_edit.as_str().unwrap());
    practice.control(reqwest::Method::POST, &redeliver, json!({})).await;
    practice
        .control(reqwest::Method::POST, &redeliver, json!({"as_new_event": true}))
        .await;
    let deliveries = practice.all_delivered().await;
    assert_eq!(deliveries.len(), 4, "{deliveries:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = linked_patient(&group, ada).await.unwrap();
    assert_eq!(after["last_name"], "King", "a stale copy must not undo a newer change");
    assert_eq!(after["version"], settled["version"], "nothing was written");
}

#[tokio::test]
async fn a_forged_webhook_is_refused_and_nothing_is_queued() {
    let group = new_group().await;
    let practice = Practice::start().await;
    let ada = enabled_with_one_patient(&group, &practice).await;
    let body = json!({
        "data": {"id": ada, "first_name": "Mallory", "last_name": "Lovelace", "dob": "1980-02-29", "sex": "Female"},
        "action": "saved", "event_id": 1, "event_uuid": "0190f0e0-0000-7000-8000-000000000001",
        "application_id": "carebridge-local", "resource": "patients", "resource_url": null,
    });
    let webhook = format!("/webhooks/elation/{group}");
    let unsigned = post(&webhook).json(&body).send().await;
    assert_status(&unsigned, 401);
    assert_eq!(unsigned.problem(), "bad-signature");
    let forged_signature = format!("{}==", "A".repeat(86));
    let forged = post(&webhook)
        .header("El8-Ed25519-Signature", &forged_signature)
        .json(&body)
        .send()
        .await;
    assert_status(&forged, 401);
    let elsewhere = post("/webhooks/elation/no-such-group")
        .header("El8-Ed25519-Signature", &forged_signature)
        .json(&body)
        .send()
        .await;
    assert_status(&elsewhere, 404);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(linked_patient(&group, ada).await.unwrap()["first_name"], "Ada");
}
