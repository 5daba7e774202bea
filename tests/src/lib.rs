//! The end-to-end harness: one dev host per test binary, provisioned from `template.yaml` into
//! the emulators infra/local/test starts, reached over real HTTP like any API client.

use devhost::auth::DevAuth;
use devhost::observe::Observations;
use reqwest::Method;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use store::dynamo::DynamoRecords;

pub use serde_json::json;

pub mod ensora;
pub mod hint;

/// A vendor sandbox's control plane (`{base}/_sandbox{path}`), where tests act as the vendor's
/// own users do; an answer that is not a success fails the test.
pub async fn control_with(method: Method, base: &str, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new().request(method, format!("{base}/_sandbox{path}"));
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

const SECRET: &str = "end-to-end-test-secret";

pub struct Stack {
    pub url: String,
    /// The stage the dev host provisioned: part of every resource's and secret's name.
    pub stage: String,
    pub table: String,
    pub bucket: String,
    /// The functions' DynamoDB requests, per watched group.
    pub observations: Arc<Observations>,
    /// The Cliniko sandbox the functions call (`/{shard}/v1`, and its `/_sandbox/` control plane).
    pub cliniko: String,
    /// The Hint sandbox (`/api/provider/…`, and its control plane).
    pub hint: String,
    /// The Salesforce sandbox (`/{org}/services/…`, and its control plane).
    pub salesforce: String,
    /// The Ensora sandbox's base URL (its API under `/v1`, its control plane under `/_sandbox`).
    pub ensora: String,
    pub auth: DevAuth,
    http: reqwest::Client,
}

static STACK: OnceLock<Stack> = OnceLock::new();

/// The rate limit the functions share per group's Cliniko in end-to-end tests: Cliniko's 200 a
/// minute, scaled down so a test can outrun it in seconds.
pub const CLINIKO_LIMIT: app::integrations::budget::RateLimit = app::integrations::budget::RateLimit {
    requests: 40,
    per: std::time::Duration::from_secs(2),
};

/// The running dev host, started on first use.
pub fn stack() -> &'static Stack {
    STACK.get_or_init(|| {
        assert!(
            std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok() && std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "end-to-end tests need DynamoDB Local and moto: run them with infra/local/test, which starts both"
        );
        // The functions' warnings and errors (a part that failed, an event kept for inspection)
        // go to stderr, so a failing test shows what the dev host saw; RUST_LOG changes the level.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .with_writer(std::io::stderr)
            .try_init();
        let (ready, started) = std::sync::mpsc::channel();
        // The host gets a runtime of its own, so it outlives each test's runtime.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the dev host");
            runtime.block_on(async move {
                let config = store::aws::load_config().await;
                // A stage of its own per test binary: queues shared with an earlier binary could
                // lose messages to that process's last long poll, which the emulator still answers
                // after the process is gone (they come back only after the visibility timeout).
                let stage = format!("e2e-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a loopback port");
                let url = format!("http://{}", listener.local_addr().expect("a bound address"));
                // One Cliniko sandbox for the binary: each test makes its own key, of its own
                // clinic's account, through the control plane.
                let cliniko = sandbox::cliniko::start(
                    tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a loopback port"),
                    sandbox::cliniko::Config::default(),
                )
                .expect("the Cliniko sandbox starts");
                let cliniko_url = cliniko.base_url();
                // One Hint and one Salesforce sandbox too: each test makes its own practice and
                // org through the control planes.
                let hint = sandbox::hint::start(
                    tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a loopback port"),
                    sandbox::hint::Config::default(),
                )
                .expect("the Hint sandbox starts");
                let hint_url = hint.base_url();
                let salesforce = sandbox::salesforce::start(
                    tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a loopback port"),
                    sandbox::salesforce::Config::default(),
                )
                .expect("the Salesforce sandbox starts");
                let salesforce_url = salesforce.base_url();
                let ensora = sandbox::ensora::start(
                    tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("a loopback port"),
                    sandbox::ensora::Config::default(),
                )
                .expect("the Ensora sandbox starts");
                let ensora_url = ensora.base_url();
                let mut built = devhost::build(
                    &devhost::default_template_path(),
                    &stage,
                    &config,
                    DevAuth::new(SECRET),
                    &url,
                    &devhost::SandboxesAt {
                        cliniko_api: format!("{cliniko_url}/{{shard}}/v1"),
                        cliniko_limit: CLINIKO_LIMIT,
                        hint_api: format!("{hint_url}/api"),
                        ensora: ensora_url.clone(),
                    },
                )
                .await
                .expect("the dev host provisions the test stage from template.yaml");
                built.start_triggers();
                let table = built.provisioned.tables["Table"].clone();
                let bucket = built.provisioned.buckets["UploadsBucket"].clone();
                let observations = Arc::clone(&built.observations);
                ready
                    .send((
                        url,
                        stage,
                        table,
                        bucket,
                        observations,
                        (cliniko_url, hint_url, salesforce_url, ensora_url),
                    ))
                    .expect("the test thread is waiting");
                devhost::server::serve(listener, built.host, std::future::pending()).await;
                drop((cliniko, hint, salesforce, ensora));
            });
        });
        let (url, stage, table, bucket, observations, (cliniko, hint, salesforce, ensora)) = started
            .recv()
            .expect("the dev host did not start (see the panic above)");
        Stack {
            url,
            stage,
            table,
            bucket,
            observations,
            cliniko,
            hint,
            salesforce,
            ensora,
            auth: DevAuth::new(SECRET),
            // Each test has its own runtime; a pooled connection would die with the test that opened it.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("an HTTP client"),
        }
    })
}

/// Reads until `done` holds for what `read` answers (a worker applies work a moment later),
/// for up to `patience`; panics naming `what` and the last answer otherwise.
pub async fn eventually_within<T, F>(
    what: &str,
    patience: std::time::Duration,
    read: impl Fn() -> F,
    done: impl Fn(&T) -> bool,
) -> T
where
    F: std::future::Future<Output = T>,
    T: std::fmt::Debug,
{
    let until = std::time::Instant::now() + patience;
    let mut last = read().await;
    while std::time::Instant::now() < until {
        if done(&last) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        last = read().await;
    }
    panic!("{what} did not happen; last seen: {last:?}");
}

/// A group id no other test uses.
pub fn unique_group() -> String {
    format!("t-{}", &uuid::Uuid::now_v7().simple().to_string()[16..])
}

/// A token for `groups` with `roles`, valid for an hour.
pub fn token(groups: &[&str], roles: &[&str]) -> String {
    stack().auth.mint("tester", groups, roles, 3600)
}

/// An answer: status, headers, the body as text and as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem type's last segment (`validation-failed`), checking the media type too.
    pub fn problem(&self) -> &str {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        assert_eq!(self.body["status"], self.status, "{self:?}");
        self.body["type"]
            .as_str()
            .and_then(|t| t.rsplit(':').next())
            .unwrap_or_default()
    }

    /// The codes of a validation problem's field errors, as (field, code).
    pub fn field_errors(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["field"].as_str().unwrap_or_default().to_owned(),
                    e["code"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

/// Builds and sends requests to the dev host.
pub struct Call {
    builder: reqwest::RequestBuilder,
}

pub fn call(method: Method, path: &str) -> Call {
    let stack = stack();
    Call {
        builder: stack.http.request(method, format!("{}{path}", stack.url)),
    }
}

pub fn get(path: &str) -> Call {
    call(Method::GET, path)
}

pub fn post(path: &str) -> Call {
    call(Method::POST, path)
}

pub fn patch(path: &str) -> Call {
    call(Method::PATCH, path)
}

pub fn put(path: &str) -> Call {
    call(Method::PUT, path)
}

impl Call {
    pub fn token(self, token: &str) -> Call {
        Call {
            builder: self.builder.bearer_auth(token),
        }
    }

    pub fn header(self, name: &str, value: &str) -> Call {
        Call {
            builder: self.builder.header(name, value),
        }
    }

    pub fn json(self, body: &Value) -> Call {
        Call {
            builder: self.builder.json(body),
        }
    }

    pub fn raw(self, content_type: &str, body: impl Into<reqwest::Body>) -> Call {
        Call {
            builder: self.builder.header("content-type", content_type).body(body),
        }
    }

    pub async fn send(self) -> Reply {
        let response = self.builder.send().await.expect("the dev host answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        Reply {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }
}

pub const PLATFORM_ADMIN: &str = "platform_admin";
pub const GROUP_ADMIN: &str = "group_admin";
pub const INTEGRATION_ADMIN: &str = "integration_admin";

/// Creates a fresh group and returns its id.
pub async fn new_group() -> String {
    new_group_with(json!({})).await
}

/// Creates a fresh group with these settings (`default_country`, `import_row_limit`) and
/// returns its id.
pub async fn new_group_with(settings: Value) -> String {
    let id = unique_group();
    let mut body = json!({"id": id, "name": "Test Clinic"});
    for (name, value) in settings.as_object().into_iter().flatten() {
        body[name] = value.clone();
    }
    let reply = post("/v1/groups")
        .token(&token(&[], &[PLATFORM_ADMIN]))
        .json(&body)
        .send()
        .await;
    assert_eq!(reply.status, 201, "{reply:?}");
    id
}

/// Creates a patient in `group` as a group admin and returns the reply.
pub async fn create_patient(group: &str, body: Value) -> Reply {
    post(&format!("/v1/groups/{group}/patients"))
        .token(&token(&[group], &[GROUP_ADMIN]))
        .json(&body)
        .send()
        .await
}

pub fn ada() -> Value {
    json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1984-03-07", "email": "ada@example.org"})
}

/// The table the dev host writes to, for checking what was stored.
pub async fn records() -> DynamoRecords {
    let config = store::aws::load_config().await;
    DynamoRecords::new(store::aws::dynamodb(&config), stack().table.clone())
}

/// The uploads bucket the dev host uses, for checking what was stored.
pub async fn uploads() -> store::blobs::S3Blobs {
    let config = store::aws::load_config().await;
    store::blobs::S3Blobs::new(store::aws::s3(&config), stack().bucket.clone())
}

pub const UPLOADER: &str = "importable_files_uploader";
pub const IMPORT_ADMIN: &str = "importable_files_admin";

/// Starts an import in `group` as an uploader, PUTs `csv` to its upload URL and returns the id.
pub async fn upload_participants(group: &str, csv: impl Into<reqwest::Body>) -> String {
    let created = post(&format!("/v1/groups/{group}/imports"))
        .token(&token(&[group], &[UPLOADER]))
        .json(&json!({"filename": "participants.csv"}))
        .send()
        .await;
    assert_status(&created, 201);
    assert_eq!(put_upload(&created.body["upload"], csv).await, 200);
    created.body["id"].as_str().expect("an import id").to_owned()
}

/// Reads the import until its status is no longer `awaiting_upload` or `previewing`.
pub async fn previewed(group: &str, id: &str) -> Reply {
    let path = format!("/v1/groups/{group}/imports/{id}");
    for _ in 0..150 {
        let reply = get(&path).token(&token(&[group], &[UPLOADER])).send().await;
        assert_status(&reply, 200);
        if !matches!(reply.body["status"].as_str(), Some("awaiting_upload" | "previewing")) {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("import {id} was not previewed within 30 s");
}

/// Asks to complete an import as an import admin, with `body` (or none).
pub async fn complete(group: &str, id: &str, body: Option<Value>) -> Reply {
    let request = post(&format!("/v1/groups/{group}/imports/{id}/complete")).token(&token(&[group], &[IMPORT_ADMIN]));
    match body {
        Some(body) => request.json(&body).send().await,
        None => request.send().await,
    }
}

/// Reads the import until it is no longer `completing`.
pub async fn completed(group: &str, id: &str) -> Reply {
    let path = format!("/v1/groups/{group}/imports/{id}");
    for _ in 0..600 {
        let reply = get(&path).token(&token(&[group], &[UPLOADER])).send().await;
        assert_status(&reply, 200);
        if reply.body["status"] != "completing" {
            return reply;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("import {id} was not completed within 120 s");
}

/// Every page of an import's results with `filter`, as JSON rows.
pub async fn all_results(group: &str, id: &str, filter: &str) -> Vec<Value> {
    let path = format!("/v1/groups/{group}/imports/{id}/results?filter={filter}&limit=200");
    all_pages(&path, &token(&[group], &[UPLOADER])).await
}

/// An SQS client for the emulated stack, and the URL of its queue named `name`.
pub async fn queue(name: &str) -> (aws_sdk_sqs::Client, String) {
    let config = store::aws::load_config().await;
    let sqs = store::aws::sqs(&config);
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("queue {name}: {e}"))
        .queue_url
        .unwrap();
    (sqs, url)
}

/// Every patient of `group`, read through the API.
pub async fn all_patients(group: &str) -> Vec<Value> {
    let path = format!("/v1/groups/{group}/patients?limit=200");
    all_pages(&path, &token(&[group], &[GROUP_ADMIN])).await
}

/// The items of every page of a listing, following `next_cursor`.
async fn all_pages(path: &str, token: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page_path = match &cursor {
            Some(cursor) => format!("{path}&cursor={cursor}"),
            None => path.to_owned(),
        };
        let page = get(&page_path).token(token).send().await;
        assert_status(&page, 200);
        items.extend(page.body["items"].as_array().cloned().unwrap_or_default());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// PUTs `body` to an upload URL with the headers the API said to send.
pub async fn put_upload(upload: &Value, body: impl Into<reqwest::Body>) -> u16 {
    let mut request = stack().http.put(upload["url"].as_str().expect("an upload url"));
    for (name, value) in upload["headers"].as_object().into_iter().flatten() {
        request = request.header(name.as_str(), value.as_str().unwrap_or_default());
    }
    request
        .body(body)
        .send()
        .await
        .expect("the upload answers")
        .status()
        .as_u16()
}

pub fn assert_status(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{reply:#?}");
}

pub fn request_method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a method name")
}

/// The header of a generated participant list.
pub const GENERATED_HEADER: &str = "External ID,First Name,Last Name,Date of Birth,Email,City\n";

/// Row `n` of a generated participant list (its own External ID, names, date of birth and
/// e-mail), living in `city`.
pub fn generated_participant(n: usize, city: &str) -> String {
    format!(
        "P-{n},Given{n},Family{n},19{:02}-{:02}-{:02},p{n}@example.org,{city}\n",
        n % 90 + 10,
        n % 12 + 1,
        n % 28 + 1
    )
}

/// Participants `numbers` of the generated list, with its header.
pub fn generated_participants(numbers: impl IntoIterator<Item = usize>, city: &str) -> String {
    let mut csv = GENERATED_HEADER.to_owned();
    for n in numbers {
        csv.push_str(&generated_participant(n, city));
    }
    csv
}
