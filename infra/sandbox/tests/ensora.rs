//! The Ensora sandbox keeps the customer API's shapes (VENDOR_APIS.md §5), checked over HTTP.

use sandbox::Running;
use sandbox::ensora::{self, ClientSetup, Config};
use serde_json::{Value, json};

fn client() -> ClientSetup {
    ClientSetup {
        organization: "org-test".into(),
        client_id: "test-client".into(),
        client_secret: "test-secret".into(),
    }
}

struct Ensora {
    running: Running,
    http: reqwest::Client,
}

impl Ensora {
    async fn start() -> Ensora {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Ensora {
            running: ensora::start(
                listener,
                Config {
                    clients: vec![client()],
                },
            )
            .unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn token_with(&self, id: &str, secret: &str) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{}/connect/token", self.running.base_url()))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self) -> String {
        let (status, body) = self.token_with("test-client", "test-secret").await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: &str, agent: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .get(format!("{}/v1{path}", self.running.base_url()))
            .bearer_auth(token);
        if let Some(agent) = agent {
            request = request.header("user-agent", agent);
        }
        let answer = request.send().await.unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
    }

    async fn list(&self, token: &str, path: &str) -> Vec<Value> {
        let (status, body) = self.get(token, path, Some("carebridge tests")).await;
        assert_eq!(status, 200, "{path}: {body}");
        body.as_array().unwrap().clone()
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let answer = self
            .http
            .request(
                method,
                format!("{}/_sandbox/organizations/org-test{path}", self.running.base_url()),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn a_token_comes_from_the_clients_credentials_and_every_call_needs_it_and_a_user_agent() {
    let ensora = Ensora::start().await;
    let (status, body) = ensora.token_with("test-client", "wrong").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let token = ensora.token().await;
    assert_eq!(ensora.get(&token, "/site", Some("carebridge tests")).await.0, 200);
    assert_eq!(
        ensora.get("not-a-token", "/site", Some("carebridge tests")).await.0,
        401
    );
    assert_eq!(
        ensora.get(&token, "/site", None).await.0,
        400,
        "a User-Agent is required"
    );
    assert_eq!(ensora.get(&token, "/site", Some(" ")).await.0, 403);
    ensora
        .http
        .post(format!("{}/_sandbox/tokens/expire", ensora.running.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ensora.get(&token, "/site", Some("carebridge tests")).await.0,
        401,
        "an expired token"
    );
}

#[tokio::test]
async fn lists_page_and_filter_by_change_time_and_notes_say_when_they_were_revised_or_deleted() {
    let ensora = Ensora::start().await;
    let site = ensora
        .control(
            reqwest::Method::POST,
            "/sites",
            json!({"name": "North Clinic", "timeZone": "America/Chicago"}),
        )
        .await;
    let site_id = site["siteId"].as_str().unwrap().to_owned();
    let students: Vec<Value> = (0..25)
        .map(|i| json!({"firstName": format!("Kid{i}"), "lastName": "Lee", "dateOfBirth": "2015-02-03", "siteId": site_id}))
        .collect();
    ensora
        .control(reqwest::Method::POST, "/patients", Value::Array(students))
        .await;
    let token = ensora.token().await;
    assert_eq!(ensora.list(&token, "/Patient").await.len(), 20, "20 a page by default");
    assert_eq!(ensora.list(&token, "/Patient?page=2").await.len(), 5);
    assert_eq!(ensora.list(&token, "/Patient?size=100").await.len(), 25);
    assert_eq!(ensora.get(&token, "/Patient?size=101", Some("t")).await.0, 422);

    let kid = ensora.list(&token, "/Patient?size=1").await[0]["patientId"]
        .as_str()
        .unwrap()
        .to_owned();
    let note = ensora
        .control(
            reqwest::Method::POST,
            "/notes",
            json!({"patientId": kid, "userId": "u1", "date": "2026-11-02", "startTime": "09:00", "endTime": "10:00",
                "responses": [{"questionText": "Notes", "answer": "Good."}]}),
        )
        .await;
    assert_eq!(note["isDeleted"], false);
    assert_eq!(note["dateRevisionMade"], Value::Null);
    let id = note["soapNoteId"].as_str().unwrap().to_owned();
    let after = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert!(
        ensora
            .list(&token, &format!("/SoapNote?StartTime={after}"))
            .await
            .is_empty()
    );
    ensora
        .control(
            reqwest::Method::PATCH,
            &format!("/notes/{id}"),
            json!({"responses": [{"questionText": "Notes", "answer": "Better."}]}),
        )
        .await;
    let revised = ensora.list(&token, &format!("/SoapNote?StartTime={after}")).await;
    assert_eq!(revised.len(), 1, "a revision is a change since then");
    assert!(revised[0]["dateRevisionMade"].is_string());
    assert_eq!(revised[0]["responses"][0]["answer"], "Better.");
    ensora
        .control(reqwest::Method::DELETE, &format!("/notes/{id}"), json!({}))
        .await;
    let deleted = ensora.list(&token, &format!("/SoapNote?StartTime={after}")).await;
    assert_eq!(
        deleted[0]["isDeleted"], true,
        "a deleted note is kept and said to be deleted"
    );
    let before = "2000-01-01";
    assert!(
        ensora
            .list(&token, &format!("/SoapNote?StartTime={before}&EndTime={before}"))
            .await
            .is_empty()
    );
}
