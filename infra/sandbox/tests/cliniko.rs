//! The Cliniko sandbox keeps Cliniko's public contract, checked over HTTP.

use sandbox::Running;
use sandbox::cliniko::{self, Config};
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "MS0xLXRlc3Qta2V5LW9uZQ-au2";
const AGENT: &str = "carebridge tests (dev@carebridge.example)";

struct Cliniko {
    running: Running,
    http: reqwest::Client,
}

impl Cliniko {
    async fn start_with(config: Config) -> Cliniko {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Cliniko {
            running: cliniko::start(listener, config).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn start() -> Cliniko {
        Cliniko::start_with(Config {
            keys: vec![KEY.into()],
            ..Config::default()
        })
        .await
    }

    fn api(&self, shard: &str, path: &str) -> String {
        format!("{}/{shard}/v1{path}", self.running.base_url())
    }

    /// A GET as carebridge sends it: the key as Basic user, Accept and User-Agent.
    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(KEY, "au2", path, AGENT).await
    }

    async fn get_as(&self, key: &str, shard: &str, path: &str, agent: &str) -> (u16, Value) {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.api(shard, path)
        };
        let answer = self
            .http
            .get(url)
            .basic_auth(key, Some(""))
            .header("accept", "application/json")
            .header("user-agent", agent)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }

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

    async fn add_clients(&self, clients: Value) -> Value {
        self.control(reqwest::Method::POST, "/patients", Some(clients)).await
    }
}

#[tokio::test]
async fn a_key_answers_on_its_own_shard_with_or_without_its_suffix_and_nowhere_else() {
    let cliniko = Cliniko::start().await;
    assert_eq!(cliniko.get("/patients").await.0, 200);
    let bare = KEY.rsplit_once('-').unwrap().0;
    assert_eq!(cliniko.get_as(bare, "au2", "/patients", AGENT).await.0, 200);
    assert_eq!(cliniko.get_as(KEY, "uk1", "/patients", AGENT).await.0, 401);
    let (status, body) = cliniko.get_as("not-a-key-au2", "au2", "/patients", AGENT).await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("not valid"));
}

#[tokio::test]
async fn a_request_that_does_not_name_the_app_and_a_contact_email_is_refused() {
    let cliniko = Cliniko::start().await;
    let (status, body) = cliniko.get_as(KEY, "au2", "/patients", "reqwest/0.12").await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("APP_VENDOR_EMAIL"));
}

#[tokio::test]
async fn clients_page_by_links_next_with_the_total_and_at_most_a_hundred_a_page() {
    let cliniko = Cliniko::start().await;
    let clients: Vec<Value> = (0..130)
        .map(|n| json!({"first_name": format!("Client{n:03}"), "last_name": "Tester"}))
        .collect();
    cliniko.add_clients(Value::Array(clients)).await;

    let (_, first) = cliniko.get("/patients").await;
    assert_eq!(first["total_entries"], 130);
    assert_eq!(first["patients"].as_array().unwrap().len(), 50, "50 a page by default");
    assert!(first["links"].get("previous").is_none());

    let (_, page) = cliniko.get("/patients?per_page=100").await;
    assert_eq!(page["patients"].as_array().unwrap().len(), 100);
    let (_, last) = cliniko.get(page["links"]["next"].as_str().unwrap()).await;
    assert_eq!(last["patients"].as_array().unwrap().len(), 30);
    assert!(last["links"].get("next").is_none(), "no next link on the last page");
    assert!(last["links"]["previous"].is_string());
    assert_eq!(
        last["patients"][29]["first_name"], "Client129",
        "oldest first by default"
    );

    assert_eq!(cliniko.get("/patients?per_page=101").await.0, 400);
    let (_, by_name) = cliniko.get("/patients?sort=first_name:desc&per_page=1").await;
    assert_eq!(by_name["patients"][0]["first_name"], "Client129");
}

#[tokio::test]
async fn filters_pick_what_changed_and_archived_and_deleted_clients_have_their_own_lists() {
    let cliniko = Cliniko::start().await;
    let created = cliniko
        .add_clients(json!([
            {"first_name": "Ann", "last_name": "Archer", "email": "ann@example.com"},
            {"first_name": "Bob", "last_name": "Baker"},
            {"first_name": "Cat", "last_name": "Carter"},
        ]))
        .await;
    let id = |n: usize| created[n]["id"].as_u64().unwrap();
    assert!(
        created[0]["id"].is_number(),
        "patient ids are numbers, as Cliniko sends them"
    );
    let since = created[2]["updated_at"].as_str().unwrap().to_owned();

    tokio::time::sleep(Duration::from_millis(5)).await;
    cliniko
        .control(
            reqwest::Method::PATCH,
            &format!("/patients/{}", id(1)),
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    cliniko
        .control(reqwest::Method::POST, &format!("/patients/{}/archive", id(2)), None)
        .await;
    cliniko
        .control(reqwest::Method::DELETE, &format!("/patients/{}", id(0)), None)
        .await;

    let changed = format!("/patients?q[]=updated_at:>{since}");
    let (_, body) = cliniko.get(&changed).await;
    let names: Vec<&str> = body["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["first_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Bob"], "archived and deleted clients leave the plain list");

    let (_, archived) = cliniko
        .get(&format!("/patients/archived?q[]=updated_at:>{since}"))
        .await;
    assert_eq!(archived["patients"][0]["id"].as_u64(), Some(id(2)));
    assert!(archived["patients"][0]["archived_at"].is_string());

    let (_, deleted) = cliniko.get("/patients/deleted").await;
    assert_eq!(deleted["total_entries"], 1);
    let only = deleted["patients"][0].as_object().unwrap();
    assert_eq!(
        only.keys().collect::<Vec<_>>(),
        ["deleted_at", "links"],
        "deleted_at and a link only"
    );
    assert!(
        only["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/patients/{}", id(0)))
    );
    assert_eq!(cliniko.get(&format!("/patients/{}", id(0))).await.0, 404);
    assert_eq!(
        cliniko.get(&format!("/patients/{}", id(2))).await.0,
        200,
        "an archived client can still be read"
    );

    let (status, refused) = cliniko.get("/patients?q[]=phone:=1").await;
    assert_eq!(status, 400);
    assert!(refused["message"].as_str().unwrap().contains("phone"));
    let (_, two) = cliniko.get("/patients?q[]=first_name:~o&q[]=last_name:=baker").await;
    assert_eq!(two["total_entries"], 1);
}

#[tokio::test]
async fn practitioners_are_listed_active_and_inactive_with_string_ids() {
    let cliniko = Cliniko::start().await;
    cliniko
        .control(
            reqwest::Method::POST,
            "/practitioners",
            Some(json!({"first_name": "Randy", "last_name": "Savage", "designation": "Osteopath"})),
        )
        .await;
    cliniko
        .control(
            reqwest::Method::POST,
            "/practitioners",
            Some(json!({"first_name": "Old", "last_name": "Timer", "active": false})),
        )
        .await;
    let (_, active) = cliniko.get("/practitioners").await;
    assert_eq!(active["total_entries"], 1);
    assert!(active["practitioners"][0]["id"].is_string());
    assert_eq!(active["practitioners"][0]["label"], "Randy Savage");
    let (_, inactive) = cliniko.get("/practitioners/inactive").await;
    assert_eq!(inactive["practitioners"][0]["first_name"], "Old");
}

#[tokio::test]
async fn past_the_rate_limit_requests_get_429_until_the_reset_it_names() {
    let cliniko = Cliniko::start_with(Config {
        keys: vec![KEY.into()],
        rate_limit: 3,
        rate_window: Duration::from_millis(1_500),
    })
    .await;
    for _ in 0..3 {
        assert_eq!(cliniko.get("/patients").await.0, 200);
    }
    let answer = cliniko
        .http
        .get(cliniko.api("au2", "/patients"))
        .basic_auth(KEY, Some(""))
        .header("user-agent", AGENT)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 429);
    let reset: i64 = answer.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    let now = chrono::Utc::now().timestamp();
    // The window began a moment ago and lasts 1.5 s; the reset is rounded up to a whole second.
    assert!(
        (now + 1..=now + 3).contains(&reset),
        "reset {reset} is when the window ends (now {now})"
    );
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    assert_eq!(cliniko.get("/patients").await.0, 200);

    let rate = cliniko
        .control(reqwest::Method::GET, "/rate?window_ms=1500", None)
        .await;
    let most = rate["most_requests_by_key"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(most, 4, "the 429 counts as a request the key sent");
}

#[tokio::test]
async fn faults_and_the_request_log_show_what_a_client_met() {
    let cliniko = Cliniko::start().await;
    cliniko
        .control(
            reqwest::Method::POST,
            "/faults",
            Some(json!({"kind": "status", "status": 503, "path_prefix": "/au2/v1/patients"})),
        )
        .await;
    assert_eq!(cliniko.get("/patients").await.0, 503);
    assert_eq!(cliniko.get("/patients").await.0, 200);
    let log = cliniko.control(reqwest::Method::GET, "/requests", None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["status"], 503);
    assert_eq!(
        log[1]["key"],
        cliniko::fingerprint(KEY),
        "the log names the key by a fingerprint only"
    );
    assert_eq!(log[1]["account"], cliniko::DEMO_ACCOUNT);
}

#[tokio::test]
async fn a_key_added_through_the_control_plane_answers_on_its_shard() {
    let cliniko = Cliniko::start().await;
    let added = cliniko
        .control(reqwest::Method::POST, "/keys", Some(json!({"shard": "uk1"})))
        .await;
    let key = added["api_key"].as_str().unwrap();
    assert!(key.ends_with("-uk1"));
    assert_eq!(cliniko.get_as(key, "uk1", "/patients", AGENT).await.0, 200);
    assert_eq!(cliniko.get_as(key, "au2", "/patients", AGENT).await.0, 401);
}

#[tokio::test]
async fn appointments_name_their_client_and_practitioner_by_link_and_filter_by_their_ids() {
    let cliniko = Cliniko::start().await;
    let randy = cliniko
        .control(
            reqwest::Method::POST,
            "/practitioners",
            Some(json!({"first_name": "Randy", "last_name": "Savage", "email": "randy@clinic.example"})),
        )
        .await;
    let user_link = randy["user"]["links"]["self"].as_str().unwrap().to_owned();
    let (_, user) = cliniko
        .get(&format!("/users/{}", user_link.rsplit('/').next().unwrap()))
        .await;
    assert_eq!(
        user["email"], "randy@clinic.example",
        "a practitioner's e-mail is its user's"
    );
    let clients = cliniko
        .add_clients(json!([{"first_name": "Ann", "last_name": "Lee"}, {"first_name": "Bo", "last_name": "Ray"}]))
        .await;
    let (ann, bo) = (clients[0]["id"].as_u64().unwrap(), clients[1]["id"].as_u64().unwrap());
    let randy_id: u64 = randy["id"].as_str().unwrap().parse().unwrap();
    let book = |patient: u64, starts_at: &str| json!({"patient_id": patient, "practitioner_id": randy_id, "starts_at": starts_at});
    let first = cliniko
        .control(
            reqwest::Method::POST,
            "/appointments",
            Some(book(ann, "2024-03-01T09:00:00Z")),
        )
        .await;
    cliniko
        .control(
            reqwest::Method::POST,
            "/appointments",
            Some(book(ann, "2024-04-01T09:00:00Z")),
        )
        .await;
    cliniko
        .control(
            reqwest::Method::POST,
            "/appointments",
            Some(book(bo, "2024-05-01T09:00:00Z")),
        )
        .await;
    assert!(
        first["patient"]["links"]["self"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/patients/{ann}"))
    );
    assert!(
        first.get("patient_id").is_none(),
        "ids travel as links, as Cliniko sends them"
    );

    let (_, anns) = cliniko
        .get(&format!(
            "/individual_appointments?q[]=patient_id:={ann}&sort=starts_at:desc"
        ))
        .await;
    assert_eq!(anns["total_entries"], 2);
    assert_eq!(anns["individual_appointments"][0]["starts_at"], "2024-04-01T09:00:00Z");

    let id = first["id"].as_u64().unwrap();
    cliniko
        .control(reqwest::Method::POST, &format!("/appointments/{id}/cancel"), None)
        .await;
    let (_, current) = cliniko.get("/individual_appointments").await;
    assert_eq!(
        current["total_entries"], 2,
        "a cancelled appointment leaves the plain list"
    );
    let (_, cancelled) = cliniko.get("/individual_appointments/cancelled").await;
    assert_eq!(cancelled["individual_appointments"][0]["id"], id);
    assert!(cancelled["individual_appointments"][0]["cancelled_at"].is_string());

    let (status, refused) = cliniko.get("/individual_appointments?q[]=email:=a").await;
    assert_eq!(status, 400);
    assert!(refused["message"].as_str().unwrap().contains("email"));
}
