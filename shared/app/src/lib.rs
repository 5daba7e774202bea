//! carebridge's use cases. Handlers call exactly one of these; each checks access with the
//! model's rules, validates with the model, and reads and writes through the store's ports.

pub mod agencies;
pub mod appointments;
pub mod backfill;
pub mod error;
pub mod finding;
pub mod groups;
pub mod import_complete;
pub mod import_preview;
pub mod imports;
pub mod integrations;
pub mod keys_state;
pub mod paging;
pub mod patients;
pub mod people;
pub mod practitioners;

use chrono::{DateTime, Utc};
use std::sync::Arc;
use store::Records;
use store::blobs::Blobs;
use store::queue::Queue;
use store::secrets::Secrets;

pub use error::AppError;

/// The ports and settings every use case may need; built once per function instance.
#[derive(Clone)]
pub struct Deps {
    pub records: Arc<dyn Records>,
    /// The uploads bucket: raw participant lists, previews, results.
    pub uploads: Arc<dyn Blobs>,
    /// Where completing an import sends its parts; only the functions that complete imports
    /// have it.
    pub import_queue: Option<Arc<dyn Queue>>,
    /// Where integration jobs go (previews, initial imports, webhook changes, pushes to
    /// vendors); only the functions that start such jobs have it.
    pub sync_queue: Option<Arc<dyn Queue>>,
    /// Vendor credentials; only the functions that talk to vendors have it.
    pub secrets: Option<Arc<dyn Secrets>>,
    /// How vendor calls are made.
    pub vendors: VendorSettings,
    pub clock: Clock,
}

/// How functions call vendors' APIs.
#[derive(Debug, Clone)]
pub struct VendorSettings {
    /// The deployment stage (`STAGE`), part of every secret's name.
    pub stage: String,
    pub retry: connectors::http::RetryPolicy,
    /// The longest one vendor call may take.
    pub timeout: std::time::Duration,
    /// Whether an admin may point an integration at http on this machine: only the local
    /// stack allows it (its vendor sandboxes), never a deployed function.
    pub allow_local_urls: bool,
    /// Where vendors send webhooks (`WEBHOOK_BASE_URL`, e.g. a custom domain), to which
    /// `/webhooks/<vendor>/<group>` is appended. When unset, the address a request reached the
    /// API at is used.
    pub webhook_base_url: Option<String>,
    /// Cliniko's API for a shard, `{shard}` standing for the key's (Cliniko's own hosts, or the
    /// local sandbox).
    pub cliniko_api: String,
    /// Cliniko's rate limit, which every function calling one group's Cliniko shares.
    pub cliniko_limit: integrations::budget::RateLimit,
    /// Hint's provider API root (`https://api.hint.com/api`, or the local sandbox's).
    pub hint_api: String,
    /// Ensora's customer API root and its identity server's token endpoint (Ensora's own
    /// hosts, or the local sandbox's).
    pub ensora_api: String,
    pub ensora_token_url: String,
    /// How far back an incremental sync reads before the last successful sync's start: the
    /// vendor's clock and carebridge's may disagree a little, and a change made while that
    /// sync read the vendor may have been missed.
    pub sync_overlap: chrono::Duration,
    /// How carebridge names itself to vendors that ask (Cliniko refuses requests whose
    /// `User-Agent` lacks an app name and a contact e-mail): `VENDOR_USER_AGENT`.
    pub user_agent: String,
}

/// carebridge's `User-Agent` for vendor calls when `VENDOR_USER_AGENT` is not set.
pub const DEFAULT_USER_AGENT: &str = "carebridge (integrations@carebridge.health)";

impl Default for VendorSettings {
    fn default() -> Self {
        VendorSettings {
            stage: "dev".into(),
            retry: connectors::http::RetryPolicy::default(),
            timeout: std::time::Duration::from_secs(10),
            allow_local_urls: false,
            webhook_base_url: None,
            cliniko_api: connectors::cliniko::key::BASE_URL_TEMPLATE.to_owned(),
            // 200 requests a minute per user, as Cliniko documents.
            cliniko_limit: integrations::budget::RateLimit {
                requests: 200,
                per: std::time::Duration::from_secs(60),
            },
            hint_api: connectors::hint::client::BASE_URL.to_owned(),
            ensora_api: connectors::ensora::API_URL.to_owned(),
            ensora_token_url: connectors::ensora::TOKEN_URL.to_owned(),
            sync_overlap: chrono::Duration::minutes(5),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

/// Where use cases get the time from, so tests can fix it.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    pub fn fixed(at: DateTime<Utc>) -> Self {
        Clock(Arc::new(move || at))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

/// Logs as every function writes them in Lambda: JSON lines without timestamps (CloudWatch adds
/// them) or span and target noise. Call once at start-up.
pub fn init_lambda_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();
}

/// How long a warm function trusts a secret it read: a rotated credential is picked up soon.
pub const SECRETS_CACHED_FOR: std::time::Duration = std::time::Duration::from_secs(300);

/// What every function does as it starts, in Lambda's init phase: logging, the phone metadata,
/// and the ports its environment names (`TABLE_NAME`, `UPLOADS_BUCKET`, the import queue when
/// `IMPORT_QUEUE_URL` is set, the sync queue when `SYNC_QUEUE_URL` is, vendor credentials under
/// the `STAGE`).
pub async fn start_function() -> Result<Deps, String> {
    init_lambda_logging();
    model::normalize::load_phone_metadata();
    let config = store::aws::load_config().await;
    let env = |name: &str| std::env::var(name).ok();
    let (records, uploads) = store::aws::table_and_uploads(&config, env)?;
    let mut deps = Deps::new(Arc::new(records), Arc::new(uploads));
    if env("IMPORT_QUEUE_URL").is_some() {
        deps = deps.with_import_queue(Arc::new(store::aws::queue(&config, env, "IMPORT_QUEUE_URL")?));
    }
    if env("SYNC_QUEUE_URL").is_some() {
        deps = deps.with_sync_queue(Arc::new(store::aws::queue(&config, env, "SYNC_QUEUE_URL")?));
    }
    if let Some(stage) = env("STAGE") {
        let secrets = store::secrets::CachedSecrets::new(
            store::secrets::SecretsManager::new(store::aws::secrets_manager(&config)),
            SECRETS_CACHED_FOR,
        );
        deps = deps.with_secrets(
            Arc::new(secrets),
            VendorSettings {
                stage,
                webhook_base_url: env("WEBHOOK_BASE_URL").filter(|url| !url.is_empty()),
                user_agent: env("VENDOR_USER_AGENT")
                    .filter(|agent| !agent.is_empty())
                    .unwrap_or_else(|| DEFAULT_USER_AGENT.to_owned()),
                ..VendorSettings::default()
            },
        );
    }
    Ok(deps)
}

impl Deps {
    pub fn new(records: Arc<dyn Records>, uploads: Arc<dyn Blobs>) -> Self {
        Deps {
            records,
            uploads,
            import_queue: None,
            sync_queue: None,
            secrets: None,
            vendors: VendorSettings::default(),
            clock: Clock::system(),
        }
    }

    pub fn with_secrets(self, secrets: Arc<dyn Secrets>, vendors: VendorSettings) -> Self {
        Deps {
            secrets: Some(secrets),
            vendors,
            ..self
        }
    }

    pub fn with_import_queue(self, queue: Arc<dyn Queue>) -> Self {
        Deps {
            import_queue: Some(queue),
            ..self
        }
    }

    pub fn with_sync_queue(self, queue: Arc<dyn Queue>) -> Self {
        Deps {
            sync_queue: Some(queue),
            ..self
        }
    }

    /// The record at `key`, decoded, if there is one.
    pub(crate) async fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &store::Key,
    ) -> Result<Option<store::Versioned<T>>, AppError> {
        Ok(self.records.get(key).await?.map(|record| record.decode()).transpose()?)
    }

    /// Writes `value` at `key` as the version after `version`, and returns the new version;
    /// `VersionConflict` if the record has moved on meanwhile (each caller says what that means).
    pub(crate) async fn write_next<T: serde::Serialize>(
        &self,
        key: store::Key,
        version: u64,
        value: &T,
    ) -> Result<u64, store::StoreError> {
        let next = version + 1;
        self.records
            .write(vec![store::Write::Put {
                record: store::Record::encode(key, next, value)?,
                condition: store::Condition::AtVersion(version),
            }])
            .await?;
        Ok(next)
    }

    pub(crate) fn secrets(&self) -> Result<&dyn Secrets, AppError> {
        self.secrets
            .as_deref()
            .ok_or_else(|| AppError::Internal("this function has no access to vendor credentials (STAGE)".into()))
    }

    pub(crate) fn sync_queue(&self) -> Result<&dyn Queue, AppError> {
        self.sync_queue
            .as_deref()
            .ok_or_else(|| AppError::Internal("this function has no sync queue (SYNC_QUEUE_URL)".into()))
    }

    pub(crate) fn import_queue(&self) -> Result<&dyn Queue, AppError> {
        self.import_queue
            .as_deref()
            .ok_or_else(|| AppError::Internal("this function has no import queue (IMPORT_QUEUE_URL)".into()))
    }
}
