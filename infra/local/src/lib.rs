//! carebridge's local stack: provisions the emulated AWS resources from `template.yaml` and runs
//! every function of the template in one process, fed the same event shapes AWS sends.
//!
//! `infra/local/up` starts the emulators and then `carebridge-dev serve`; the end-to-end tests
//! start the same [`Stack`] in-process.

pub mod auth;
pub mod observe;
pub mod provision;
pub mod server;
pub mod template;
pub mod triggers;

use provision::{ProvisionError, Provisioned};
use std::path::Path;
use std::sync::Arc;
use template::{Template, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("function {function}: {message}")]
    Function { function: String, message: String },
}

/// The provisioned resources and the functions wired to them.
pub struct Stack {
    pub provisioned: Provisioned,
    pub host: Arc<server::Host>,
    /// Event sources feeding functions; start each with `run`.
    pub s3_triggers: Vec<triggers::S3Trigger>,
    pub sqs_triggers: Vec<triggers::SqsTrigger>,
    /// EventBridge schedules that put a message on a queue.
    pub schedules: Vec<triggers::ScheduleTrigger>,
    /// Functions the template invokes on a schedule.
    pub function_schedules: Vec<triggers::FunctionSchedule>,
    /// The functions' DynamoDB requests, for tests that watch a group.
    pub observations: Arc<observe::Observations>,
    /// Each function the template declares and what invokes it, for people reading the start-up.
    pub functions: Vec<(String, String)>,
}

impl Stack {
    /// Starts every event trigger in the background.
    pub fn start_triggers(&mut self) {
        for trigger in self.s3_triggers.drain(..) {
            tokio::spawn(trigger.run());
        }
        for trigger in self.sqs_triggers.drain(..) {
            tokio::spawn(trigger.run());
        }
        for schedule in self.schedules.drain(..) {
            tokio::spawn(schedule.run());
        }
        for schedule in self.function_schedules.drain(..) {
            tokio::spawn(schedule.run());
        }
    }
}

/// The template beside this crate, at the repository root.
pub fn default_template_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

/// Subscribes a function to the S3 event source a template event declares (bucket, event types,
/// key prefix).
async fn subscribe_s3(
    config: &aws_config::SdkConfig,
    function: &str,
    properties: &serde_json::Value,
    handler: triggers::S3Handler,
) -> Result<triggers::S3Trigger, StackError> {
    let events: Vec<String> = match &properties["Events"] {
        serde_json::Value::Array(items) => items.iter().filter_map(|e| e.as_str().map(str::to_owned)).collect(),
        other => other.as_str().map(str::to_owned).into_iter().collect(),
    };
    let prefix = properties["Filter"]["S3Key"]["Rules"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|rule| rule["Name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("prefix")))
        .and_then(|rule| rule["Value"].as_str());
    let bucket = properties["Bucket"].as_str().unwrap_or_default();
    triggers::subscribe(config, function, bucket, &events, prefix, handler)
        .await
        .map_err(|message| StackError::Function {
            function: function.to_owned(),
            message: format!("subscribing to {bucket} failed: {message}"),
        })
}

/// `Ref` to a queue gives its URL in AWS, which locally depends on the emulator's address: the
/// template resolves it to the queue's name, replaced here by the provisioned queue's URL.
fn with_queue_urls(
    mut env: std::collections::BTreeMap<String, String>,
    provisioned: &Provisioned,
) -> std::collections::BTreeMap<String, String> {
    for value in env.values_mut() {
        if let Some(url) = queue_url(provisioned, value) {
            *value = url.to_owned();
        }
    }
    env
}

/// The URL of the provisioned queue called `name` (a queue URL ends in its name).
fn queue_url<'p>(provisioned: &'p Provisioned, name: &str) -> Option<&'p str> {
    provisioned
        .queues
        .values()
        .find(|url| url.rsplit('/').next() == Some(name))
        .map(String::as_str)
}

/// Wires a function to the SQS event source a template event declares (queue ARN, batch size).
fn sqs_trigger(
    config: &aws_config::SdkConfig,
    function: &str,
    properties: &serde_json::Value,
    provisioned: &Provisioned,
    handler: triggers::SqsHandler,
) -> Result<triggers::SqsTrigger, StackError> {
    let queue_arn = properties["Queue"].as_str().unwrap_or_default().to_owned();
    let name = queue_arn.rsplit(':').next().unwrap_or_default();
    let url = queue_url(provisioned, name).ok_or_else(|| StackError::Function {
        function: function.to_owned(),
        message: format!("its SQS event names {queue_arn}, which the template does not declare"),
    })?;
    Ok(triggers::SqsTrigger {
        function: function.to_owned(),
        queue: store::queue::SqsQueue::new(store::aws::sqs(config), url),
        queue_arn,
        batch_size: properties["BatchSize"].as_u64().unwrap_or(10).clamp(1, 10) as u32,
        handler,
    })
}

/// Where the local stack's Cliniko sandbox answers for a shard, unless told otherwise.
pub const LOCAL_CLINIKO_API: &str = "http://127.0.0.1:4020/{shard}/v1";
/// Where the local stack's Hint sandbox answers, unless told otherwise.
pub const LOCAL_HINT_API: &str = "http://127.0.0.1:4030/api";
/// Where the local stack's Ensora sandbox answers (its API and its token endpoint), unless told
/// otherwise.
pub const LOCAL_ENSORA: &str = "http://127.0.0.1:4050";

/// Where the functions find the vendor sandboxes whose address is not part of an integration's
/// credentials: Cliniko (`{shard}` in `cliniko_api`, and the rate limit the functions share for
/// it), Hint and Ensora (its API at `ensora`, its token endpoint at `{ensora}/connect/token`).
#[derive(Debug, Clone)]
pub struct SandboxesAt {
    pub cliniko_api: String,
    pub cliniko_limit: app::integrations::budget::RateLimit,
    pub hint_api: String,
    pub ensora: String,
}

impl SandboxesAt {
    /// The sandboxes at these addresses, with Cliniko's own limit.
    pub fn new(cliniko_api: impl Into<String>, hint_api: impl Into<String>, ensora: impl Into<String>) -> Self {
        SandboxesAt {
            cliniko_api: cliniko_api.into(),
            cliniko_limit: app::VendorSettings::default().cliniko_limit,
            hint_api: hint_api.into(),
            ensora: ensora.into(),
        }
    }

    /// The local stack's sandboxes on their usual ports.
    pub fn local() -> Self {
        SandboxesAt::new(LOCAL_CLINIKO_API, LOCAL_HINT_API, LOCAL_ENSORA)
    }
}

/// How vendors are called on this machine: the sandboxes answer at once, so retries wait less
/// than in a deployment (where the defaults ride out a vendor's bad minute). `sandboxes` says
/// where the sandboxes answer.
pub fn local_vendor_settings(stage: &str, public_url: &str, sandboxes: &SandboxesAt) -> app::VendorSettings {
    app::VendorSettings {
        stage: stage.to_owned(),
        retry: connectors::http::RetryPolicy {
            tries: 3,
            first_wait: std::time::Duration::from_millis(100),
            longest_wait: std::time::Duration::from_secs(1),
        },
        // The local stack's vendors are the sandboxes on this machine.
        allow_local_urls: true,
        // Vendors' webhooks reach the dev host itself.
        webhook_base_url: Some(public_url.to_owned()),
        cliniko_api: sandboxes.cliniko_api.clone(),
        cliniko_limit: sandboxes.cliniko_limit,
        hint_api: sandboxes.hint_api.clone(),
        ensora_api: sandboxes.ensora.clone(),
        ensora_token_url: format!("{}/connect/token", sandboxes.ensora),
        // The sandboxes share this machine's clock.
        sync_overlap: chrono::Duration::milliseconds(250),
        ..app::VendorSettings::default()
    }
}

/// One trigger per SQS event source the function declares.
fn sqs_triggers_of(
    config: &aws_config::SdkConfig,
    function: &str,
    events: &[&serde_json::Value],
    provisioned: &Provisioned,
    handler: &triggers::SqsHandler,
) -> Result<Vec<triggers::SqsTrigger>, StackError> {
    events
        .iter()
        .filter(|event| event["Type"] == "SQS")
        .map(|event| sqs_trigger(config, function, &event["Properties"], provisioned, handler.clone()))
        .collect()
}

/// Provisions `stage` from the template and builds every function the template declares;
/// `public_url` is where the dev host will answer HTTP (vendor webhooks are sent there);
/// `sandboxes` where the vendor sandboxes answer (see [`SandboxesAt::local`]).
pub async fn build(
    template_path: &Path,
    stage: &str,
    config: &aws_config::SdkConfig,
    auth: auth::DevAuth,
    public_url: &str,
    sandboxes: &SandboxesAt,
) -> Result<Stack, StackError> {
    let template = Template::load(
        template_path,
        &[
            ("Stage", stage),
            ("JwtIssuer", auth::ISSUER),
            ("JwtAudience", auth::AUDIENCE),
        ],
    )?;
    let provisioned = provision::provision(&template, config).await?;
    let mut api = None;
    let mut webhook_receiver = None;
    let mut public_routes = Vec::new();
    let mut s3_triggers = Vec::new();
    let mut sqs_triggers = Vec::new();
    let mut function_schedules = Vec::new();
    let mut scheduled = std::collections::HashMap::new();
    let observations = Arc::new(observe::Observations::default());
    let mut functions = Vec::new();
    for function in template.resources("AWS::Serverless::Function")? {
        let env = with_queue_urls(template.function_environment(&function)?, &provisioned);
        let events: Vec<&serde_json::Value> = function.properties["Events"]
            .as_object()
            .into_iter()
            .flat_map(|events| events.values())
            .collect();
        let binary = function.metadata["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default();
        let queue = |name: &str| {
            store::aws::queue(config, |setting| env.get(setting).cloned(), name).map_err(|message| {
                StackError::Function {
                    function: function.logical_id.clone(),
                    message,
                }
            })
        };
        // Every function works with the table and the uploads bucket, and with the queues its
        // environment names, as `app::start_function` builds them in Lambda.
        let deps = || -> Result<app::Deps, StackError> {
            let failed = |message: String| StackError::Function {
                function: function.logical_id.clone(),
                message,
            };
            let setting = |name: &str| {
                env.get(name)
                    .cloned()
                    .ok_or_else(|| failed(format!("{name} is not set")))
            };
            let uploads = store::blobs::S3Blobs::new(store::aws::s3(config), setting("UPLOADS_BUCKET")?);
            // The function's own DynamoDB client, so its requests can be told apart from the others'.
            let dynamodb = aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .interceptor(observations.interceptor(&function.logical_id))
                    .build(),
            );
            let records = store::dynamo::DynamoRecords::new(dynamodb, setting("TABLE_NAME")?);
            let secrets = store::secrets::CachedSecrets::new(
                store::secrets::SecretsManager::new(store::aws::secrets_manager(config)),
                app::SECRETS_CACHED_FOR,
            );
            let vendors = local_vendor_settings(&setting("STAGE")?, public_url, sandboxes);
            let mut deps =
                app::Deps::new(Arc::new(records), Arc::new(uploads)).with_secrets(Arc::new(secrets), vendors);
            if env.contains_key("IMPORT_QUEUE_URL") {
                deps = deps.with_import_queue(Arc::new(queue("IMPORT_QUEUE_URL")?));
            }
            if env.contains_key("SYNC_QUEUE_URL") {
                deps = deps.with_sync_queue(Arc::new(queue("SYNC_QUEUE_URL")?));
            }
            Ok(deps)
        };
        match binary {
            "api" => api = Some(deps()?),
            "webhooks" => webhook_receiver = Some(deps()?),
            "sync-worker" => {
                let tries = env
                    .get("SYNC_MAX_RECEIVES")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(sync_worker::DEFAULT_TRIES);
                let handler = triggers::SqsHandler::SyncWorker(deps()?, tries);
                sqs_triggers.extend(sqs_triggers_of(
                    config,
                    &function.logical_id,
                    &events,
                    &provisioned,
                    &handler,
                )?);
            }
            "import-complete" => {
                let handler = triggers::SqsHandler::ImportComplete(deps()?);
                sqs_triggers.extend(sqs_triggers_of(
                    config,
                    &function.logical_id,
                    &events,
                    &provisioned,
                    &handler,
                )?);
            }
            "ensora-poller" => {
                let handler = triggers::ScheduledHandler::EnsoraPoller(deps()?);
                for event in events.iter().filter(|event| event["Type"] == "Schedule") {
                    let expression = event["Properties"]["Schedule"].as_str().unwrap_or_default();
                    let every = triggers::rate(expression).ok_or_else(|| StackError::Function {
                        function: function.logical_id.clone(),
                        message: format!("the dev host runs rate() schedules, not `{expression}`"),
                    })?;
                    function_schedules.push(triggers::FunctionSchedule {
                        function: function.logical_id.clone(),
                        every,
                        handler: handler.clone(),
                    });
                }
                scheduled.insert(function.logical_id.clone(), handler);
            }
            "csv-preview" => {
                let handler = triggers::S3Handler::CsvPreview(deps()?);
                for event in &events {
                    if event["Type"] != "S3" {
                        continue;
                    }
                    let trigger =
                        subscribe_s3(config, &function.logical_id, &event["Properties"], handler.clone()).await?;
                    s3_triggers.push(trigger);
                }
            }
            other => {
                return Err(StackError::Function {
                    function: function.logical_id,
                    message: format!("the dev host does not know how to run binary `{other}`"),
                });
            }
        }
        let triggers: Vec<String> = events
            .iter()
            .map(|event| {
                let properties = &event["Properties"];
                match event["Type"].as_str().unwrap_or_default() {
                    "HttpApi" => format!(
                        "HTTP {} {}",
                        properties["Method"].as_str().unwrap_or("ANY").to_ascii_uppercase(),
                        properties["Path"].as_str().unwrap_or_default()
                    ),
                    "S3" => format!("S3 {}", properties["Bucket"].as_str().unwrap_or_default()),
                    "Schedule" => format!(
                        "schedule {} (now: POST /_dev/functions/{}/invoke)",
                        properties["Schedule"].as_str().unwrap_or_default(),
                        function.logical_id
                    ),
                    "SQS" => format!(
                        "SQS {}",
                        properties["Queue"]
                            .as_str()
                            .unwrap_or_default()
                            .rsplit(':')
                            .next()
                            .unwrap_or_default()
                    ),
                    other => other.to_owned(),
                }
            })
            .collect();
        functions.push((function.logical_id.clone(), triggers.join(", ")));
        for event in &events {
            let properties = &event["Properties"];
            if event["Type"] == "HttpApi" && properties["Auth"]["Authorizer"] == "NONE" {
                let method = properties["Method"].as_str().unwrap_or("ANY").to_ascii_uppercase();
                public_routes.push((method, properties["Path"].as_str().unwrap_or_default().to_owned()));
            }
        }
    }
    let mut schedules = Vec::new();
    for rule in template.resources("AWS::Events::Rule")? {
        let Some(every) = rule.properties["ScheduleExpression"].as_str().and_then(triggers::rate) else {
            continue;
        };
        for target in rule.properties["Targets"].as_array().into_iter().flatten() {
            // A queue's ARN ends in its name; the provisioned queue of that name is the target.
            let name = target["Arn"]
                .as_str()
                .unwrap_or_default()
                .rsplit(':')
                .next()
                .unwrap_or_default();
            let Some(url) = provisioned
                .queues
                .values()
                .find(|url| url.rsplit('/').next() == Some(name))
            else {
                continue;
            };
            schedules.push(triggers::ScheduleTrigger {
                rule: rule.logical_id.clone(),
                every,
                queue: store::queue::SqsQueue::new(store::aws::sqs(config), url.clone()),
                input: target["Input"].as_str().unwrap_or("{}").to_owned(),
            });
            functions.push((
                rule.logical_id.clone(),
                format!("schedule every {}s to {name}", every.as_secs()),
            ));
        }
    }
    let api = api.ok_or_else(|| StackError::Function {
        function: "ApiFunction".into(),
        message: "template.yaml declares no function with Binary: api".into(),
    })?;
    Ok(Stack {
        provisioned,
        host: Arc::new(server::Host {
            api,
            webhooks: webhook_receiver,
            auth,
            public_routes,
            scheduled,
        }),
        s3_triggers,
        sqs_triggers,
        schedules,
        function_schedules,
        observations,
        functions,
    })
}
