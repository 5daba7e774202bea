//! What a use case can refuse, in terms a handler maps straight onto an HTTP status.

use connectors::ConnectorError;
use model::ValidationErrors;
use model::access::Denied;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("the request body is not valid: {0}")]
    BadBody(String),
    #[error(transparent)]
    Invalid(ValidationErrors),
    #[error("{what} not found")]
    NotFound { what: &'static str },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "the {what} has changed since version {expected} was read (it is now at version {current}); read it again and reapply your change"
    )]
    StaleVersion {
        what: &'static str,
        expected: u64,
        current: u64,
    },
    #[error("the paging cursor is not valid for this listing")]
    BadCursor,
    /// A webhook whose signature does not prove it came from the vendor.
    #[error("{0}")]
    BadSignature(String),
    #[error("another attempt is handling this event right now; try again later")]
    InProgressElsewhere,
    #[error(transparent)]
    Store(StoreError),
    /// A vendor refused or could not answer a call made for the request.
    #[error(transparent)]
    Vendor(#[from] ConnectorError),
    /// Something carebridge itself got wrong (a bug, not the caller's input); logged, and shown
    /// to callers only as an internal error.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidCursor => AppError::BadCursor,
            other => AppError::Store(other),
        }
    }
}

impl From<ValidationErrors> for AppError {
    fn from(errors: ValidationErrors) -> Self {
        AppError::Invalid(errors)
    }
}

impl AppError {
    pub fn is_retryable(&self) -> bool {
        match self {
            AppError::Store(error) => error.is_retryable(),
            AppError::InProgressElsewhere => true,
            AppError::Vendor(error) => error.is_retryable(),
            _ => false,
        }
    }
}
