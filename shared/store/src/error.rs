//! One error type for every port. Each error knows whether trying again can help.

use crate::records::Key;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    #[error("a record already exists at {0}")]
    AlreadyExists(Key),
    #[error("no record at {0}")]
    NotFound(Key),
    #[error("the record at {key} is at version {current}, not the version this write expected")]
    VersionConflict { key: Key, current: u64 },
    #[error("another transaction touched the same records; try again")]
    TransactionConflict,
    #[error("{0} is throttling requests; try again shortly")]
    Throttled(&'static str),
    #[error("the paging cursor does not belong to this listing")]
    InvalidCursor,
    #[error("the idempotency key `{0}` was already used for a different request")]
    IdempotencyKeyReused(String),
    #[error("the record at {key} cannot be read: {reason}")]
    Corrupt { key: Key, reason: String },
    #[error("{limit}")]
    Limit { limit: String },
    #[error("{service} request failed: {message}")]
    Service {
        service: &'static str,
        message: String,
        retryable: bool,
    },
}

impl StoreError {
    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::TransactionConflict | StoreError::Throttled(_) => true,
            StoreError::Service { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Builds a service error from an AWS SDK error (of any AWS service: they share these types),
    /// keeping its code and whether it is transient. SDK messages never carry item contents, so
    /// they are safe to log.
    pub(crate) fn from_sdk<E>(service: &'static str, error: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let transport = matches!(
            error,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let status = error.raw_response().map(|r| r.status().as_u16()).unwrap_or_default();
        let code = error.code().unwrap_or_default().to_owned();
        if code.contains("Throttl")
            || code == "ProvisionedThroughputExceededException"
            || code == "RequestLimitExceeded"
        {
            return StoreError::Throttled(service);
        }
        let message = match error.message() {
            Some(message) => format!("{code}: {message}"),
            None => format!("{code} {}", DisplayErrorContext(&error)),
        };
        StoreError::Service {
            service,
            message,
            retryable: transport || status >= 500 || status == 429,
        }
    }
}
