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
        self.client().subscriptions().await.unwrap()
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
async fn an_initial_import_killed_halfway_resumes_with_exact_counts_and_no_duplicates() {
    let group = new_group().await;
    let practice = Practice::start().await;
    let grace = practice.physician("Grace", "grace@clinic.example").await;
    let alan = practice.physician("Alan", "alan@clinic.example").await;
    for n in 0..12 {
        let physician = if n % 2 == 0 { grace } else { alan };
        practice
            .patient(physician, &format!("Pat{n}"), &format!("pat{n}@example.org"))
            .await;
    }
    connect(&group, &practice).await;
    assert_eq!(preview(&group).await["counts"]["patients"]["create"], 12);

    // The worker dies at its 9th write: after starting the run, its progress, both coaches and
    // four patients. SQS hands the job out again, and the run starts over.
    let observations = &stack().observations;
    observations.watch(&group);
    observations.fail_write_after(&group, "SyncWorkerFunction", 8);
    let enabled = post(&path(&group, "/enable")).token(&admin(&group)).send().await;
    assert_status(&enabled, 202);
    let import = finished(&group, enabled.body["initial_import"].as_str().unwrap()).await;
    assert_eq!(observations.failures_injected(&group), 1, "the worker was killed once");
    assert_eq!(import["status"], "succeeded", "{import}");
    assert_eq!(import["counts"]["practitioners"]["create"], 2, "{import}");
    assert_eq!(import["counts"]["patients"]["create"], 12, "{import}");
    assert_eq!(import["counts"]["patients"]["unchanged"], 0, "{import}");

    let patients = all_patients(&group).await;
    assert_eq!(patients.len(), 12, "no patient was created twice");
    let mut stored: Vec<&str> = patients.iter().map(|p| p["id"].as_str().unwrap()).collect();
    stored.sort_unstable();
    let reported = results(&group, &import, "patients").await;
    let mut named: Vec<&str> = reported
        .iter()
        .map(|item| item["carebridge_id"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    assert_eq!(named, stored, "every result names its own patient");
    let coaches = get(&format!("/v1/groups/{group}/practitioners"))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .send()
        .await;
    assert_eq!(coaches.body["items"].as_array().unwrap().len(), 2, "{:?}", coaches.body);
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

    /// Every API request the sandbox answered for `path` (a prefix), as method and status.
    async fn requests_to(&self, path: &str) -> Vec<(String, u64)> {
        let url = format!("{}/_sandbox/requests", self.sandbox.base_url());
        let reply = self.http.get(url).send().await.unwrap();
        reply
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r["path"].as_str().unwrap().starts_with(path))
            .map(|r| (r["method"].as_str().unwrap().to_owned(), r["status"].as_u64().unwrap()))
            .collect()
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
    let first_edit = practice.all_delivered().await.last().unwrap()["event"].clone();
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

/// Puts a change of an Elation patient straight on the sync queue, as the webhooks function
/// does once it has checked the signature.
async fn queue_patient_change(group: &str, patient: &connectors::elation::types::Patient) {
    let job = json!({
        "job": "elation_event",
        "group": group,
        "event": {
            "data": patient, "action": "saved", "resource": "patients",
            "event_uuid": uuid::Uuid::now_v7().to_string(),
        },
    });
    let (sqs, url) = queue(&format!("carebridge-{}-sync", stack().stage)).await;
    sqs.send_message()
        .queue_url(url)
        .message_body(job.to_string())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_change_older_than_the_initial_import_arriving_late_changes_nothing() {
    let group = new_group().await;
    let practice = Practice::start().await;
    let ada = enabled_with_one_patient(&group, &practice).await;
    let imported = linked_patient(&group, ada).await.unwrap();
    let in_elation = practice.client().patient(ada).await.unwrap().unwrap();
    let read_at = in_elation.last_modified.expect("Elation dates its records");
    let copy = |first_name: &str, last_modified| connectors::elation::types::Patient {
        first_name: Some(first_name.into()),
        last_modified: Some(last_modified),
        ..in_elation.clone()
    };
    // A change Elation made before the import read the patient, arriving only now (a backlog, a
    // replay), then a genuinely newer one.
    queue_patient_change(&group, &copy("Adeline", read_at - chrono::Duration::hours(1))).await;
    queue_patient_change(&group, &copy("Augusta", read_at + chrono::Duration::seconds(1))).await;
    let after = patient_becomes(&group, ada, |p| p["first_name"] == "Augusta").await;
    assert_eq!(
        after["version"].as_u64(),
        imported["version"].as_u64().map(|v| v + 1),
        "only the newer change was applied: {after}"
    );
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
    let forged_signature = format!("{}==", "A".repeat(86));
    let deliver = |group: String, signature: Option<String>| {
        let body = body.clone();
        async move {
            let mut request = post(&format!("/webhooks/elation/{group}"));
            if let Some(signature) = signature {
                request = request.header("El8-Ed25519-Signature", &signature);
            }
            request.json(&body).send().await
        }
    };
    // A group with Elation activated but never enabled, and one where it was cancelled.
    let pending = new_group().await;
    connect(&pending, &practice).await;
    let cancelled = new_group().await;
    let other_practice = Practice::start().await;
    enabled_with_one_patient(&cancelled, &other_practice).await;
    assert_status(
        &post(&path(&cancelled, "/cancel"))
            .token(&admin(&cancelled))
            .send()
            .await,
        200,
    );

    let refusals = [
        ("unsigned", deliver(group.clone(), None).await),
        ("forged", deliver(group.clone(), Some(forged_signature.clone())).await),
        (
            "unknown group",
            deliver("no-such-group".into(), Some(forged_signature.clone())).await,
        ),
        (
            "not a group id",
            deliver("Not_A_Group".into(), Some(forged_signature.clone())).await,
        ),
        (
            "pending integration",
            deliver(pending, Some(forged_signature.clone())).await,
        ),
        (
            "cancelled integration",
            deliver(cancelled, Some(forged_signature.clone())).await,
        ),
    ];
    // Without a proven signature the endpoint says one thing, whatever the reason, so it does
    // not tell a stranger which groups use Elation.
    let (_, first) = &refusals[0];
    for (case, reply) in &refusals {
        assert_status(reply, 401);
        assert_eq!(reply.problem(), "bad-signature", "{case}");
        assert_eq!(reply.body["detail"], first.body["detail"], "{case}");
        assert_eq!(reply.body["title"], first.body["title"], "{case}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(linked_patient(&group, ada).await.unwrap()["first_name"], "Ada");
}

impl Practice {
    /// The app's own client for the practice, to read what carebridge sent.
    fn client(&self) -> Elation {
        let demo = elation::demo_client();
        Elation::new(
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
        .unwrap()
    }
}

async fn coach_id(group: &str) -> String {
    let reply = get(&format!("/v1/groups/{group}/practitioners"))
        .token(&token(&[group], &[GROUP_ADMIN]))
        .send()
        .await;
    reply.body["items"][0]["id"].as_str().unwrap().to_owned()
}

async fn write_plan_note(group: &str, patient: &str, text: &str) -> Reply {
    post(&format!("/v1/groups/{group}/patients/{patient}/plan-notes"))
        .token(&token(&[group], &[GROUP_ADMIN]))
        .json(&json!({"text": text, "author_practitioner_id": coach_id(group).await}))
        .send()
        .await
}

/// Reads the patient's notes until the first is no longer pending.
async fn note_settled(group: &str, patient: &str) -> Value {
    for _ in 0..200 {
        let reply = get(&format!("/v1/groups/{group}/patients/{patient}/plan-notes"))
            .token(&token(&[group], &[GROUP_ADMIN]))
            .send()
            .await;
        assert_status(&reply, 200);
        let note = reply.body["items"][0].clone();
        if note["delivery"]["status"] != "pending" {
            return note;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the plan note was still pending after 20 s");
}

#[tokio::test]
async fn a_carebridge_edit_and_a_plan_note_reach_elation_without_coming_back() {
    let group = new_group().await;
    let practice = Practice::start().await;
    let ada = enabled_with_one_patient(&group, &practice).await;
    let patient = linked_patient(&group, ada).await.unwrap();
    let id = patient["id"].as_str().unwrap();
    let edited = patch(&format!("/v1/groups/{group}/patients/{id}"))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .header("if-match", &format!("\"{}\"", patient["version"]))
        .json(&json!({"first_name": "Augusta", "mobile_phone": "+1 415 555 0123"}))
        .send()
        .await;
    assert_status(&edited, 200);
    let client = practice.client();
    let mut in_elation = None;
    for _ in 0..100 {
        let now = client.patient(ada).await.unwrap().unwrap();
        if now.first_name.as_deref() == Some("Augusta") {
            in_elation = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_elation = in_elation.expect("the edit reached Elation within 10 s");
    let mobile = in_elation.phones.iter().find(|p| p.phone_type == "Mobile").unwrap();
    assert_eq!(mobile.phone, "4155550123");

    let written = write_plan_note(&group, id, "Walk 20 minutes after lunch.").await;
    assert_status(&written, 202);
    assert_eq!(written.body["delivery"]["status"], "pending");
    let note = note_settled(&group, id).await;
    assert_eq!(note["delivery"]["status"], "delivered", "{note}");
    let elation_note: i64 = note["delivery"]["elation_note_id"].as_str().unwrap().parse().unwrap();
    let url = format!(
        "{}/api/2.0/non_visit_notes/{elation_note}/",
        practice.sandbox.base_url()
    );
    let token = practice
        .http
        .post(format!("{}/api/2.0/oauth2/token/", practice.sandbox.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "carebridge-local"),
            ("client_secret", "local-sandbox-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let posted: Value = practice
        .http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["type"], "nonvisit");
    assert_eq!(posted["patient"], ada);
    assert_eq!(posted["bullets"][0]["category"], "Plan");
    assert_eq!(posted["bullets"][0]["text"], "Walk 20 minutes after lunch.");

    // Elation sends no webhook for carebridge's own writes, and carebridge wrote nothing back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(practice.all_delivered().await.len(), 0);
    let after = linked_patient(&group, ada).await.unwrap();
    assert_eq!(after["version"], edited.body["version"]);
}

#[tokio::test]
async fn an_edit_sends_elation_only_what_changed_and_keeps_its_other_entries_exactly() {
    let group = new_group().await;
    let practice = Practice::start().await;
    let grace = practice.physician("Grace", "grace@clinic.example").await;
    let ada = practice
        .add(
            "patients",
            json!({
                "first_name": "Ada", "last_name": "Lovelace", "dob": "1980-02-29", "sex": "Female",
                "primary_physician": grace, "emails": [{"email": "ada@example.org"}],
                "phones": [
                    {"phone": "(415) 555-2671", "phone_type": "Mobile"},
                    {"phone": "415.555.0100", "phone_type": "Home"},
                    {"phone": "415 555 0199", "phone_type": "Fax"},
                ],
                "address": {"address_line1": "1 Market St", "city": "San Francisco", "state": "CA", "zip": "94105"},
            }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    connect(&group, &practice).await;
    assert_eq!(preview(&group).await["counts"]["patients"]["with_warnings"], 0);
    let enabled = post(&path(&group, "/enable")).token(&admin(&group)).send().await;
    assert_status(&enabled, 202);
    finished(&group, enabled.body["initial_import"].as_str().unwrap()).await;
    let record = format!("patients/{ada}");
    let before = practice.control(reqwest::Method::GET, &record, Value::Null).await;

    let patient = linked_patient(&group, ada).await.unwrap();
    let edited = patch(&format!(
        "/v1/groups/{group}/patients/{}",
        patient["id"].as_str().unwrap()
    ))
    .token(&token(&[&group], &[GROUP_ADMIN]))
    .header("if-match", &format!("\"{}\"", patient["version"]))
    .json(&json!({"home_phone": "+1 415 555 0142"}))
    .send()
    .await;
    assert_status(&edited, 200);
    let mut after = Value::Null;
    for _ in 0..100 {
        after = practice.control(reqwest::Method::GET, &record, Value::Null).await;
        if after["phones"][1]["phone"] != before["phones"][1]["phone"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        after["phones"][1],
        json!({"phone": "4155550142", "phone_type": "Home"}),
        "the edit reached Elation: {after}"
    );
    // The entries nobody touched, byte for byte as Elation held them.
    let text = |value: &Value| serde_json::to_string(value).unwrap();
    assert_eq!(
        text(&after["phones"][0]),
        text(&before["phones"][0]),
        "the mobile number"
    );
    assert_eq!(text(&after["phones"][2]), text(&before["phones"][2]), "the fax number");
    assert_eq!(after["phones"].as_array().unwrap().len(), 3);
    for untouched in [
        "emails",
        "address",
        "first_name",
        "last_name",
        "dob",
        "sex",
        "middle_name",
    ] {
        assert_eq!(text(&after[untouched]), text(&before[untouched]), "{untouched}");
    }
}

/// A new group enabled with one patient, whose practice answers note requests with `fault`;
/// returns the group, the practice, and the patient's Elation and carebridge ids.
async fn notes_failing_with(mut fault: Value) -> (String, Practice, i64, String) {
    let group = new_group().await;
    let practice = Practice::start().await;
    let ada = enabled_with_one_patient(&group, &practice).await;
    let id = linked_patient(&group, ada).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    fault["path_prefix"] = json!("/api/2.0/non_visit_notes");
    practice.control(reqwest::Method::POST, "faults", fault).await;
    (group, practice, ada, id)
}

#[tokio::test]
async fn a_plan_note_whose_answer_was_lost_is_found_in_elation_and_not_posted_twice() {
    // Elation stores the note, but its answer is lost on the way back.
    let (group, practice, ada, id) = notes_failing_with(json!({"kind": "lost_answer"})).await;
    assert_status(&write_plan_note(&group, &id, "Check blood pressure weekly.").await, 202);
    let note = note_settled(&group, &id).await;
    assert_eq!(note["delivery"]["status"], "delivered", "{note}");
    assert!(note["delivery"].get("unconfirmed_post_at").is_none(), "{note}");

    let in_elation = practice.client().notes_of(ada).all().await.unwrap();
    assert_eq!(in_elation.len(), 1, "the note was posted once: {in_elation:?}");
    assert_eq!(note["delivery"]["elation_note_id"], in_elation[0].id.to_string());
    // The retry looked for the note before posting again, found it and posted nothing.
    let seen = practice.requests_to("/api/2.0/non_visit_notes").await;
    assert_eq!(
        seen[..2],
        [("POST".to_owned(), 502), ("GET".to_owned(), 200)],
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|(method, _)| method == "POST").count(),
        1,
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_failing_elation_is_retried_then_the_job_is_dead_lettered_and_the_note_says_why() {
    let (group, practice, _, id) = notes_failing_with(json!({"kind": "status", "status": 429, "times": 1000})).await;
    let written = write_plan_note(&group, &id, "Call back on Monday.").await;
    assert_status(&written, 202);
    let note = note_settled(&group, &id).await;
    assert_eq!(note["delivery"]["status"], "failed", "{note}");
    assert!(
        note["delivery"]["error"]
            .as_str()
            .unwrap()
            .contains("gave up after the last try"),
        "{note}"
    );
    let posts = practice
        .requests_to("/api/2.0/non_visit_notes")
        .await
        .into_iter()
        .filter(|(method, _)| method == "POST")
        .count();
    // Three tries per job (a 429 is retried with backoff), five deliveries of the job.
    assert_eq!(posts, 15);

    let (sqs, dlq) = queue(&format!("carebridge-{}-sync-dlq", stack().stage)).await;
    let mut dead = Vec::new();
    for _ in 0..50 {
        let received = sqs
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        dead.extend(received.messages.unwrap_or_default().into_iter().filter_map(|m| m.body));
        if dead
            .iter()
            .any(|body| body.contains(written.body["id"].as_str().unwrap()))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the job did not reach the dead-letter queue: {dead:?}");
}
