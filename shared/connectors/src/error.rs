//! What can go wrong talking to a vendor. Messages name the vendor and what to do next; they
//! carry field names and statuses, never the values sent (those may be PHI) or credentials.

/// A vendor call that did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// The vendor refused the credentials; `reason` is the vendor's own words.
    #[error("{vendor} refused the credentials: {reason}")]
    BadCredentials { vendor: &'static str, reason: String },
    /// The vendor refused the request itself (a 4xx other than 401 and 429). Retrying the same
    /// request will not help. `fields` lists the fields the vendor named, if any.
    #[error("{vendor} refused the request with {status}: {detail}")]
    Rejected {
        vendor: &'static str,
        status: u16,
        detail: String,
        fields: Vec<String>,
    },
    /// The vendor could not be reached, rate-limited us or failed (5xx) on every try.
    #[error("{vendor} is unavailable ({detail}) after {tries} tries")]
    Unavailable {
        vendor: &'static str,
        status: Option<u16>,
        tries: u32,
        detail: String,
    },
    /// The vendor answered 2xx with a body carebridge cannot read.
    #[error("{vendor} answered with a body carebridge cannot read: {detail}")]
    Malformed { vendor: &'static str, detail: String },
    /// The integration's settings cannot be used as given (for example a base URL that is not
    /// http or https).
    #[error("the {vendor} settings are not usable: {detail}")]
    Settings { vendor: &'static str, detail: String },
}

impl ConnectorError {
    /// True when the same call may succeed later, so a job should be retried (and, after its
    /// last try, dead-lettered) rather than recorded as refused.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConnectorError::Unavailable { .. } | ConnectorError::Malformed { .. }
        )
    }

    /// True when the vendor certainly did not act on the request: it refused it (a 4xx, or the
    /// credentials), rate-limited it (429), or it was never sent. Otherwise a creation may have
    /// happened even though carebridge never heard so.
    pub fn certainly_not_applied(&self) -> bool {
        match self {
            ConnectorError::BadCredentials { .. }
            | ConnectorError::Rejected { .. }
            | ConnectorError::Settings { .. } => true,
            ConnectorError::Unavailable { status, .. } => *status == Some(429),
            ConnectorError::Malformed { .. } => false,
        }
    }

    /// The HTTP status the vendor gave, if it gave one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConnectorError::Rejected { status, .. } => Some(*status),
            ConnectorError::Unavailable { status, .. } => *status,
            _ => None,
        }
    }
}
