//! carebridge's use cases. Handlers call exactly one of these; each checks access with the
//! model's rules, validates with the model, and reads and writes through the store's ports.

pub mod error;
pub mod groups;
pub mod import_complete;
pub mod import_preview;
pub mod imports;
pub mod paging;
pub mod patients;
pub mod people;
pub mod practitioners;

use chrono::{DateTime, Utc};
use std::sync::Arc;
use store::Records;
use store::blobs::Blobs;
use store::queue::Queue;

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
    pub clock: Clock,
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

/// What every function does as it starts, in Lambda's init phase: logging, the phone metadata,
/// and the ports its environment names (`TABLE_NAME`, `UPLOADS_BUCKET`, and the import queue
/// when `IMPORT_QUEUE_URL` is set).
pub async fn start_function() -> Result<Deps, String> {
    init_lambda_logging();
    model::normalize::load_phone_metadata();
    let config = store::aws::load_config().await;
    let env = |name: &str| std::env::var(name).ok();
    let (records, uploads) = store::aws::table_and_uploads(&config, env)?;
    let deps = Deps::new(Arc::new(records), Arc::new(uploads));
    Ok(match env("IMPORT_QUEUE_URL") {
        Some(_) => deps.with_import_queue(Arc::new(store::aws::queue(&config, env, "IMPORT_QUEUE_URL")?)),
        None => deps,
    })
}

impl Deps {
    pub fn new(records: Arc<dyn Records>, uploads: Arc<dyn Blobs>) -> Self {
        Deps {
            records,
            uploads,
            import_queue: None,
            clock: Clock::system(),
        }
    }

    pub fn with_import_queue(self, queue: Arc<dyn Queue>) -> Self {
        Deps {
            import_queue: Some(queue),
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

    pub(crate) fn import_queue(&self) -> Result<&dyn Queue, AppError> {
        self.import_queue
            .as_deref()
            .ok_or_else(|| AppError::Internal("this function has no import queue (IMPORT_QUEUE_URL)".into()))
    }
}
