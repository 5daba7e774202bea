//! The Elation sandbox keeps Elation's public contract, checked over HTTP.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
mod common;

use common::receiver;
use sandbox::Running;
use sandbox::elation::{self, Client, Config, Retry};
use serde_json::{Value, json};
use std::time::Duration;

const APP: (&str, &str) = ("app-one", "secret-one");
const OTHER_APP: (&str, &str) = ("app-two", "secret-two");

struct Elation {
    running: Running,
    http: reqwest::Client,
}

impl Elation {
    async fn start() -> Elation {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = |(id, secret): (&str, &str)| Client {
            client_id: id.into(),
            client_secret: secret.into(),
            username: Some(format!("{id}-user")),
            password: Some("user-password".into()),
        };
        let config = Config {
            retry: Retry {
                first: Duration::from_millis(20),
                longest: Duration::from_millis(100),
            },
            clients: vec![client(APP), client(OTHER_APP)],
        };
        Elation {
            running: elation::start(listener, config).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    async fn token(&self, (id, secret): (&str, &str)) -> String {
        let answer: Value = self
            .http
            .post(self.url("/api/2.0/oauth2/token/"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn physician(&self) -> i64 {
        let body = json!({"first_name": "Christopher", "last_name": "Morales", "email": "c.morales@clinic.example", "npi": "155532"});
        let (status, physician) = self.call("POST", "/_sandbox/physicians", None, Some(body)).await;
        assert_eq!(status, 201, "{physician}");
        physician["id"].as_i64().unwrap()
    }

    async fn patient(&self, physician: i64, first: &str) -> Value {
        let body = json!({"first_name": first, "last_name": "Lovelace", "dob": "1984-03-07", "sex": "Female", "primary_physician": physician});
        let (status, patient) = self.call("POST", "/_sandbox/patients", None, Some(body)).await;
        assert_eq!(status, 201, "{patient}");
        patient
    }

    async fn deliveries(&self) -> Vec<Value> {
        let (_, deliveries) = self.call("GET", "/_sandbox/deliveries", None, None).await;
        deliveries.as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn tokens_come_from_client_credentials_or_the_legacy_password_grant() {
    let elation = Elation::start().await;
    let token_url = elation.url("/api/2.0/oauth2/token/");
    let answer: Value = elation
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP.0),
            ("client_secret", APP.1),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (answer["token_type"].as_str(), answer["expires_in"].as_i64()),
        (Some("Bearer"), Some(36_000))
    );

    let basic = |id: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let grant = |auth: Option<String>, password: &str| {
        let mut request = elation.http.post(&token_url).form(&[
            ("grant_type", "password"),
            ("username", "app-one-user"),
            ("password", password),
        ]);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(
        grant(Some(basic(APP.0, APP.1)), "user-password")
            .await
            .unwrap()
            .status(),
        200
    );
    let wrong_password = grant(Some(basic(APP.0, APP.1)), "guess").await.unwrap();
    assert_eq!(wrong_password.status(), 400);
    assert_eq!(wrong_password.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert_eq!(grant(None, "user-password").await.unwrap().status(), 401);

    let wrong_secret = elation
        .http
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP.0),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    assert_eq!(wrong_secret.json::<Value>().await.unwrap()["error"], "invalid_client");

    assert_eq!(elation.call("GET", "/api/2.0/patients/", None, None).await.0, 401);
    assert_eq!(
        elation.call("GET", "/api/2.0/patients/", Some("made-up"), None).await.0,
        401
    );
}

#[tokio::test]
async fn lists_page_at_most_a_hundred_with_next_links_and_filter_by_last_modified() {
    let elation = Elation::start().await;
    let token = elation.token(APP).await;
    let physician = elation.physician().await;
    let mut created = Vec::new();
    for i in 0..130 {
        created.push(elation.patient(physician, &format!("Ada{i}")).await);
    }

    let (_, first) = elation
        .call("GET", "/api/2.0/patients/?limit=500", Some(&token), None)
        .await;
    assert_eq!(first["count"], 130);
    assert_eq!(first["results"].as_array().unwrap().len(), 100);
    assert_eq!(first["previous"], Value::Null);
    let (_, default) = elation.call("GET", "/api/2.0/patients/", Some(&token), None).await;
    assert_eq!(default["results"].as_array().unwrap().len(), elation::DEFAULT_PAGE);

    // Following `next` to the end visits every patient once.
    let mut seen = Vec::new();
    let mut next = Some(elation.url("/api/2.0/patients/?limit=40"));
    while let Some(url) = next {
        let page: Value = elation
            .http
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_i64().unwrap()),
        );
        next = page["next"].as_str().map(str::to_owned);
    }
    let all: Vec<i64> = created.iter().map(|p| p["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all);

    let since = created[119]["last_modified"].as_str().unwrap();
    let query = format!("/api/2.0/patients/?last_modified__gt={}", urlencode(since));
    let (_, changed) = elation.call("GET", &query, Some(&token), None).await;
    assert_eq!(changed["count"], 10);
    let (status, bad) = elation
        .call(
            "GET",
            "/api/2.0/patients/?last_modified__gt=yesterday",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        (status, bad["last_modified__gt"][0].as_str()),
        (400, Some("Enter a valid date/time."))
    );

    let (_, physicians) = elation.call("GET", "/api/2.0/physicians/", Some(&token), None).await;
    assert_eq!(physicians["results"][0]["id"], physician);
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_patch_is_checked_like_elation_checks_it_and_moves_last_modified() {
    let elation = Elation::start().await;
    let token = elation.token(APP).await;
    let physician = elation.physician().await;
    let patient = elation.patient(physician, "Ada").await;
    let path = format!("/api/2.0/patients/{}/", patient["id"]);

    let bad = json!({"sex": "F", "first_name": "", "primary_physician": 1, "phones": [{"phone": "5125550100", "phone_type": "Cell"}]});
    let (status, errors) = elation.call("PATCH", &path, Some(&token), Some(bad)).await;
    assert_eq!(status, 400);
    for field in ["sex", "first_name", "primary_physician", "phones"] {
        assert!(errors.get(field).is_some(), "{field} in {errors}");
    }

    let good = json!({"last_name": "King", "emails": [{"email": "ada@example.org"}], "phones": [{"phone": "5125550100", "phone_type": "Mobile"}]});
    let (status, patched) = elation.call("PATCH", &path, Some(&token), Some(good)).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["last_name"].as_str(), patched["first_name"].as_str()),
        (Some("King"), Some("Ada"))
    );
    assert!(patched["last_modified"].as_str() > patient["last_modified"].as_str());
    let (_, fetched) = elation.call("GET", &path, Some(&token), None).await;
    assert_eq!(fetched, patched);
    assert_eq!(
        elation
            .call("PATCH", "/api/2.0/patients/42/", Some(&token), Some(json!({})))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_non_visit_note_needs_its_fields_and_is_listed_by_patient() {
    let elation = Elation::start().await;
    let token = elation.token(APP).await;
    let physician = elation.physician().await;
    let patient = elation.patient(physician, "Ada").await;

    let (status, errors) = elation
        .call(
            "POST",
            "/api/2.0/non_visit_notes/",
            Some(&token),
            Some(json!({"type": "nonvisit", "bullets": [{"text": "x", "author": 64, "category": "Plans"}]})),
        )
        .await;
    assert_eq!(status, 400);
    for field in ["patient", "document_date", "chart_date", "bullets"] {
        assert!(errors.get(field).is_some(), "{field} in {errors}");
    }

    let note = json!({
        "type": "nonvisit",
        "patient": patient["id"],
        "document_date": "2026-11-21T10:00:00Z",
        "chart_date": "2026-11-21T10:00:00Z",
        "bullets": [{"text": "Walk 20 minutes a day", "author": physician, "category": "Plan"}],
    });
    let (status, created) = elation
        .call("POST", "/api/2.0/non_visit_notes/", Some(&token), Some(note))
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["id"].as_i64().is_some() && created["bullets"][0]["id"].as_i64().is_some());
    assert_eq!(created["bullets"][0]["category"], "Plan");
    let (_, listed) = elation
        .call(
            "GET",
            &format!("/api/2.0/non_visit_notes/?patient={}", patient["id"]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(listed["results"][0]["id"], created["id"]);
}

#[tokio::test]
async fn a_subscription_is_unique_per_resource_and_target_and_carries_a_signing_key() {
    let elation = Elation::start().await;
    let token = elation.token(APP).await;
    let body = json!({"resource": "patients", "target": "https://carebridge.example/webhooks/elation/g1"});
    let (status, subscription) = elation
        .call("POST", "/api/2.0/app/subscriptions/", Some(&token), Some(body.clone()))
        .await;
    assert_eq!(status, 201);
    let key = STANDARD
        .decode(subscription["signing_pub_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(
        elation
            .call("POST", "/api/2.0/app/subscriptions/", Some(&token), Some(body.clone()))
            .await
            .0,
        409
    );

    let path = format!("/api/2.0/app/subscriptions/{}/", subscription["id"]);
    assert_eq!(elation.call("DELETE", &path, Some(&token), None).await.0, 204);
    let (_, listed) = elation
        .call("GET", "/api/2.0/app/subscriptions/", Some(&token), None)
        .await;
    assert_eq!(listed["count"], 0);
    assert_eq!(
        elation
            .call("POST", "/api/2.0/app/subscriptions/", Some(&token), Some(body))
            .await
            .0,
        201
    );
    let bad = json!({"resource": "pateints", "target": "not a url"});
    let (status, errors) = elation
        .call("POST", "/api/2.0/app/subscriptions/", Some(&token), Some(bad))
        .await;
    assert_eq!(status, 400);
    assert!(errors.get("resource").is_some() && errors.get("target").is_some());
}

async fn subscribe(elation: &Elation, token: &str, target: &str) -> VerifyingKey {
    let body = json!({"resource": "patients", "target": target});
    let (status, subscription) = elation
        .call("POST", "/api/2.0/app/subscriptions/", Some(token), Some(body))
        .await;
    assert_eq!(status, 201);
    let key: [u8; 32] = STANDARD
        .decode(subscription["signing_pub_key"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    VerifyingKey::from_bytes(&key).unwrap()
}

#[tokio::test]
async fn webhooks_are_signed_over_the_raw_body_and_never_echo_the_apps_own_writes() {
    let elation = Elation::start().await;
    let (mine, others) = (
        receiver("/webhooks/elation/g1", "El8-Ed25519-Signature", vec![200]).await,
        receiver("/webhooks/elation/g1", "El8-Ed25519-Signature", vec![200]).await,
    );
    let token = elation.token(APP).await;
    let key = subscribe(&elation, &token, &mine.url).await;
    let other_token = elation.token(OTHER_APP).await;
    subscribe(&elation, &other_token, &others.url).await;

    // A practice user edits a patient in Elation: both apps hear of it.
    let physician = elation.physician().await;
    let patient = elation.patient(physician, "Ada").await;
    let got = mine.wait_for(1).await;
    let (signature, body) = &got[0];
    let signature: [u8; 64] = STANDARD
        .decode(signature.as_ref().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    key.verify(body, &Signature::from_bytes(&signature))
        .expect("a valid signature over the raw body");
    let event: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(
        (
            &event["action"],
            &event["resource"],
            &event["application_id"],
            &event["data"]["id"],
            &event["resource_url"]
        ),
        (
            &json!("saved"),
            &json!("patients"),
            &json!(APP.0),
            &patient["id"],
            &Value::Null
        )
    );
    assert!(event["event_id"].as_i64().is_some() && event["event_uuid"].as_str().is_some());
    assert_eq!(others.wait_for(1).await.len(), 1);

    // The first app's own PATCH reaches only the other app.
    let path = format!("/api/2.0/patients/{}/", patient["id"]);
    assert_eq!(
        elation
            .call("PATCH", &path, Some(&token), Some(json!({"last_name": "King"})))
            .await
            .0,
        200
    );
    assert_eq!(others.wait_for(2).await.len(), 2);
    // A deletion in Elation is the last event either app gets; the first app never got the PATCH.
    let delete = format!("/_sandbox/patients/{}", patient["id"]);
    assert_eq!(elation.call("DELETE", &delete, None, None).await.0, 204);
    let got = mine.wait_for(2).await;
    let actions: Vec<Value> = got
        .iter()
        .map(|(_, body)| serde_json::from_slice::<Value>(body).unwrap()["action"].clone())
        .collect();
    assert_eq!(actions, [json!("saved"), json!("deleted")]);
}

#[tokio::test]
async fn the_control_plane_reads_records_back_exactly_as_stored() {
    let elation = Elation::start().await;
    let physician = elation.physician().await;
    let patient = elation.patient(physician, "Ada").await;
    let (status, listed) = elation.call("GET", "/_sandbox/patients", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(listed, json!([patient.clone()]));
    let one = format!("/_sandbox/patients/{}", patient["id"]);
    assert_eq!(elation.call("GET", &one, None, None).await, (200, patient.clone()));
    // A deleted patient is still there to read, with its deletion date.
    assert_eq!(elation.call("DELETE", &one, None, None).await.0, 204);
    let (_, deleted) = elation.call("GET", &one, None, None).await;
    assert!(deleted["deleted_date"].is_string(), "{deleted}");
    let (status, physicians) = elation.call("GET", "/_sandbox/physicians", None, None).await;
    assert_eq!((status, physicians[0]["id"].clone()), (200, json!(physician)));
    assert_eq!(elation.call("GET", "/_sandbox/patients/999", None, None).await.0, 404);
}

#[tokio::test]
async fn a_webhook_is_retried_until_it_is_answered_200() {
    let elation = Elation::start().await;
    let flaky = receiver("/webhooks/elation/g1", "El8-Ed25519-Signature", vec![500, 503, 200]).await;
    let token = elation.token(APP).await;
    subscribe(&elation, &token, &flaky.url).await;
    let physician = elation.physician().await;
    elation.patient(physician, "Ada").await;
    let got = flaky.wait_for(3).await;
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|(_, body)| body == &got[0].1),
        "every try sends the same event"
    );
    for _ in 0..100 {
        if elation.deliveries().await[0]["delivered"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivery = &elation.deliveries().await[0];
    assert_eq!(
        (&delivery["attempts"], &delivery["delivered"]),
        (&json!([500, 503, 200]), &json!(true))
    );
}

#[tokio::test]
async fn faults_can_be_injected_into_the_api() {
    let elation = Elation::start().await;
    let token = elation.token(APP).await;
    let fault = |body: Value| elation.call("POST", "/_sandbox/faults", None, Some(body));
    assert_eq!(fault(json!({"kind": "status", "status": 429, "times": 2})).await.0, 201);
    assert_eq!(
        elation.call("GET", "/api/2.0/patients/", Some(&token), None).await.0,
        429
    );
    assert_eq!(
        elation.call("GET", "/api/2.0/patients/", Some(&token), None).await.0,
        429
    );
    assert_eq!(
        elation.call("GET", "/api/2.0/patients/", Some(&token), None).await.0,
        200
    );

    fault(json!({"kind": "status", "status": 500, "path_prefix": "/api/2.0/physicians/"})).await;
    assert_eq!(
        elation.call("GET", "/api/2.0/patients/", Some(&token), None).await.0,
        200
    );
    assert_eq!(
        elation.call("GET", "/api/2.0/physicians/", Some(&token), None).await.0,
        500
    );

    fault(json!({"kind": "malformed"})).await;
    let (status, body) = elation.call("GET", "/api/2.0/patients/", Some(&token), None).await;
    assert_eq!(status, 200);
    assert!(body.is_string(), "the body is not JSON: {body}");

    fault(json!({"kind": "slow", "delay_ms": 5_000})).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let timed_out = impatient
        .get(elation.url("/api/2.0/patients/"))
        .bearer_auth(&token)
        .send()
        .await;
    assert!(timed_out.is_err_and(|e| e.is_timeout()));

    assert_eq!(fault(json!({"kind": "flaky"})).await.0, 400);
    let (_, requests) = elation.call("GET", "/_sandbox/requests", None, None).await;
    let statuses: Vec<u64> = requests
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(&statuses[..6], [200, 429, 429, 200, 200, 500]);
}
