//! Errors as `application/problem+json` (RFC 9457). Each kind of problem has a stable `type`
//! URI that clients can switch on; `detail` says what to do about it. No stack traces, no PHI.

use app::AppError;
use lambda_http::{Body, Response};
use model::FieldError;
use model::access::Denied;
use serde::Serialize;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `urn:carebridge:problem:validation-failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// For `validation-failed`: each invalid field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    #[serde(skip)]
    pub allow: Option<&'static str>,
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: u16, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:carebridge:problem:{slug}"),
            title,
            status,
            detail: detail.into(),
            errors: None,
            allow: None,
            retry_after: None,
        }
    }

    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Problem::new(401, "unauthenticated", "Not authenticated", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(404, "not-found", "Not found", detail)
    }

    pub fn bad_request(slug: &str, detail: impl Into<String>) -> Self {
        Problem::new(400, slug, "Bad request", detail)
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Problem {
            allow: Some(allow),
            ..Problem::new(
                405,
                "method-not-allowed",
                "Method not allowed",
                format!("this resource allows {allow}"),
            )
        }
    }

    pub fn internal() -> Self {
        Problem::new(
            500,
            "internal-error",
            "Internal error",
            "something went wrong on our side; it has been logged. Please try again later",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let mut builder = Response::builder()
            .status(self.status)
            .header("content-type", CONTENT_TYPE);
        if let Some(allow) = self.allow {
            builder = builder.header("allow", allow);
        }
        if let Some(seconds) = self.retry_after {
            builder = builder.header("retry-after", seconds.to_string());
        }
        let body = serde_json::to_string(&self).unwrap_or_else(|_| String::from("{}"));
        builder
            .body(Body::Text(body))
            .unwrap_or_else(|_| Response::new(Body::Empty))
    }
}

impl From<AppError> for Problem {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Denied(denied @ Denied::NotInGroup(_)) => {
                Problem::new(403, "group-forbidden", "Forbidden", denied.to_string())
            }
            AppError::Denied(denied @ (Denied::MissingRole(_) | Denied::MissingRoles(_))) => {
                Problem::new(403, "role-required", "Forbidden", denied.to_string())
            }
            AppError::BadBody(detail) => Problem::bad_request("invalid-body", detail),
            AppError::Invalid(errors) => Problem {
                errors: Some(errors.0),
                ..Problem::new(
                    422,
                    "validation-failed",
                    "Validation failed",
                    "some fields are not valid; see `errors` for each field and how to fix it",
                )
            },
            AppError::NotFound { what } => Problem::not_found(format!("no such {what}")),
            AppError::Conflict(detail) => Problem::new(409, "conflict", "Conflict", detail),
            stale @ AppError::StaleVersion { .. } => {
                Problem::new(412, "stale-version", "Precondition failed", stale.to_string())
            }
            AppError::InProgressElsewhere => Problem {
                retry_after: Some(1),
                ..Problem::new(
                    409,
                    "in-progress",
                    "In progress",
                    "this is being worked on right now; try again shortly",
                )
            },
            AppError::BadSignature(detail) => Problem::new(401, "bad-signature", "Unauthenticated", detail),
            AppError::BadCursor => Problem::bad_request(
                "invalid-cursor",
                "the cursor is not valid for this listing; start again without it",
            ),
            AppError::Store(error) if error.is_retryable() => {
                tracing::warn!(error = %error, "storage busy");
                Problem {
                    retry_after: Some(1),
                    ..Problem::new(
                        503,
                        "unavailable",
                        "Service unavailable",
                        "storage is busy; try again shortly",
                    )
                }
            }
            AppError::Store(error) => {
                tracing::error!(error = %error, "storage failed");
                Problem::internal()
            }
            AppError::Internal(error) => {
                tracing::error!(%error, "internal error");
                Problem::internal()
            }
            AppError::Vendor(error) if error.is_retryable() => {
                tracing::warn!(%error, "vendor unavailable");
                Problem {
                    retry_after: Some(30),
                    ..Problem::new(502, "vendor-unavailable", "Vendor unavailable", error.to_string())
                }
            }
            AppError::Vendor(error) => Problem::new(422, "vendor-refused", "Refused by the vendor", error.to_string()),
        }
    }
}
