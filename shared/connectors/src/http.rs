//! Sending a request to a vendor with retries: what every connector shares.
//!
//! A call is retried when the vendor rate-limits (429), fails (5xx), cannot be reached, or
//! answers 2xx with a body that is not JSON; it waits longer before each try (doubling, capped,
//! with jitter so many functions do not retry in step) and never less than the vendor's
//! `Retry-After`. Any other answer is returned at once for the connector to read.

use crate::error::ConnectorError;
use reqwest::{RequestBuilder, StatusCode};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included.
    pub tries: u32,
    /// The wait before the second try; it doubles before each further try.
    pub first_wait: Duration,
    /// The longest single wait, `Retry-After` included, so a job stays inside its time limit.
    pub longest_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            tries: 4,
            first_wait: Duration::from_millis(500),
            longest_wait: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// The wait before try `next_try` (2 for the first retry), before jitter, at least what the
    /// vendor asked for.
    pub fn wait_before(&self, next_try: u32, retry_after: Option<Duration>) -> Duration {
        let doublings = next_try.saturating_sub(2).min(16);
        let backoff = self.first_wait.saturating_mul(1 << doublings);
        backoff.max(retry_after.unwrap_or_default()).min(self.longest_wait)
    }
}

/// Whether a request may be sent again after it may have reached the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Reads and idempotent writes (GET, PUT, PATCH, DELETE): retried on every transient failure.
    Safe,
    /// Creations without an idempotency key (POST): retried only when the vendor cannot have
    /// acted on it, that is a 429 or a connection never made.
    OnlyUnsent,
}

/// A vendor's answer, read in full.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    /// The body as JSON of type `T`, or `Malformed` naming what did not fit.
    pub fn json<T: serde::de::DeserializeOwned>(&self, vendor: &'static str) -> Result<T, ConnectorError> {
        serde_json::from_slice(&self.body).map_err(|e| ConnectorError::Malformed {
            vendor,
            detail: format!("{} (status {})", e, self.status.as_u16()),
        })
    }
}

impl Answer {
    /// A 2xx answer as JSON of type `T`; otherwise the refusal in the vendor's own words: the
    /// first of `message_keys` the body holds, and the fields it names under `errors` (401 is
    /// the credentials refused, any other status the request).
    pub fn read<T: serde::de::DeserializeOwned>(
        &self,
        vendor: &'static str,
        message_keys: &[&str],
    ) -> Result<T, ConnectorError> {
        if self.is_success() {
            return self.json(vendor);
        }
        let body: Option<serde_json::Value> = serde_json::from_slice(&self.body).ok();
        let message = body
            .as_ref()
            .and_then(|b| message_keys.iter().find_map(|k| b.get(*k)))
            .and_then(serde_json::Value::as_str)
            .map_or_else(|| format!("status {}", self.status.as_u16()), str::to_owned);
        let fields: Vec<String> = body
            .as_ref()
            .and_then(|b| b.get("errors"))
            .and_then(serde_json::Value::as_object)
            .map(|errors| errors.keys().cloned().collect())
            .unwrap_or_default();
        Err(match self.status {
            StatusCode::UNAUTHORIZED => ConnectorError::BadCredentials {
                vendor,
                reason: message,
            },
            status => ConnectorError::Rejected {
                vendor,
                status: status.as_u16(),
                detail: if fields.is_empty() {
                    message
                } else {
                    format!("{message}: {}", fields.join(", "))
                },
                fields,
            },
        })
    }
}

/// What an OAuth token endpoint's refusal means: 400 or 401 is the credentials refused, in the
/// endpoint's words (`error_description`, else `error`, else `fallback`); any other failure is
/// the request refused, described by `detail`. `None` for a granted token.
pub fn token_refusal(
    vendor: &'static str,
    answer: &Answer,
    fallback: &str,
    detail: impl FnOnce(u16) -> String,
) -> Option<ConnectorError> {
    if matches!(answer.status, StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED) {
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let reason = ["error_description", "error"]
            .iter()
            .find_map(|k| body.get(*k).and_then(serde_json::Value::as_str))
            .unwrap_or(fallback)
            .to_owned();
        return Some(ConnectorError::BadCredentials { vendor, reason });
    }
    (!answer.is_success()).then(|| ConnectorError::Rejected {
        vendor,
        status: answer.status.as_u16(),
        detail: detail(answer.status.as_u16()),
        fields: Vec::new(),
    })
}

/// An HTTPS client for vendor calls: the system's root certificates, a timeout per call.
pub fn client(timeout: Duration) -> Result<reqwest::Client, ConnectorError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConnectorError::Settings {
            vendor: "HTTP",
            detail: e.without_url().to_string(),
        })
}

/// Something every try waits for before it is sent: a share of a rate limit that several
/// functions spend together, say.
#[async_trait::async_trait]
pub trait Gate: Send + Sync {
    /// Waits until one more request may be sent; an error ends the call unsent.
    async fn wait_turn(&self) -> Result<(), ConnectorError>;
}

/// The gate of a vendor without a shared limit: every try goes at once.
pub struct Open;

#[async_trait::async_trait]
impl Gate for Open {
    async fn wait_turn(&self) -> Result<(), ConnectorError> {
        Ok(())
    }
}

/// Sends the request `build` makes, retrying as the module describes, and returns the first
/// answer that is not worth retrying. When every try failed, the error says why the last did.
pub async fn send(
    vendor: &'static str,
    policy: &RetryPolicy,
    repeat: Repeat,
    build: impl Fn() -> RequestBuilder,
) -> Result<Answer, ConnectorError> {
    send_through(vendor, policy, repeat, &Open, build).await
}

/// As [`send`], with every try waiting for `gate` first.
pub async fn send_through(
    vendor: &'static str,
    policy: &RetryPolicy,
    repeat: Repeat,
    gate: &dyn Gate,
    build: impl Fn() -> RequestBuilder,
) -> Result<Answer, ConnectorError> {
    let tries = policy.tries.max(1);
    let mut last_failure = String::new();
    let mut last_status = None;
    let mut last_was_unreadable = false;
    for attempt in 1..=tries {
        let mut retry_after = None;
        gate.wait_turn().await?;
        match build().send().await {
            Ok(response) => {
                let status = response.status();
                retry_after = asked_to_wait(response.headers(), std::time::SystemTime::now());
                match response.bytes().await {
                    Ok(body) => {
                        let answer = Answer {
                            status,
                            body: body.to_vec(),
                        };
                        match worth_retrying(&answer) {
                            None => return Ok(answer),
                            // The vendor may have acted on it: the caller decides what next.
                            Some(detail) if repeat == Repeat::OnlyUnsent && status != StatusCode::TOO_MANY_REQUESTS => {
                                return Err(if status.is_success() {
                                    ConnectorError::Malformed { vendor, detail }
                                } else {
                                    ConnectorError::Unavailable {
                                        vendor,
                                        status: Some(status.as_u16()),
                                        tries: attempt,
                                        detail,
                                    }
                                });
                            }
                            Some(why) => {
                                last_failure = why;
                                last_status = Some(status.as_u16());
                                last_was_unreadable = status.is_success();
                            }
                        }
                    }
                    Err(error) => {
                        last_failure = format!("the answer broke off: {}", error.without_url());
                        last_status = Some(status.as_u16());
                        last_was_unreadable = false;
                    }
                }
            }
            Err(error) if error.is_builder() => {
                return Err(ConnectorError::Settings {
                    vendor,
                    detail: error.without_url().to_string(),
                });
            }
            Err(error) if repeat == Repeat::OnlyUnsent && !error.is_connect() => {
                return Err(ConnectorError::Unavailable {
                    vendor,
                    status: None,
                    tries: attempt,
                    detail: describe_transport(error),
                });
            }
            Err(error) => {
                last_failure = describe_transport(error);
                last_status = None;
                last_was_unreadable = false;
            }
        }
        if attempt < tries {
            // Jitter spreads retries out, but never below what the vendor asked for.
            let wait = match retry_after {
                Some(asked) => policy.wait_before(attempt + 1, Some(asked)),
                None => jitter(policy.wait_before(attempt + 1, None)),
            };
            tracing::warn!(
                vendor,
                attempt,
                status = last_status,
                wait_ms = wait.as_millis() as u64,
                "vendor call will be retried: {last_failure}"
            );
            tokio::time::sleep(wait).await;
        }
    }
    if last_was_unreadable {
        return Err(ConnectorError::Malformed {
            vendor,
            detail: last_failure,
        });
    }
    Err(ConnectorError::Unavailable {
        vendor,
        status: last_status,
        tries,
        detail: last_failure,
    })
}

/// How long the vendor asked to be left alone: `Retry-After` in seconds, or `X-RateLimit-Reset`,
/// the UNIX time (in seconds) at which its rate limit resets.
fn asked_to_wait(headers: &reqwest::header::HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(seconds) = number("retry-after") {
        return Some(Duration::from_secs(seconds));
    }
    let reset = std::time::UNIX_EPOCH + Duration::from_secs(number("x-ratelimit-reset")?);
    Some(reset.duration_since(now).unwrap_or_default())
}

/// Why an answer should be tried again, or `None` to hand it to the connector.
fn worth_retrying(answer: &Answer) -> Option<String> {
    let status = answer.status;
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Some("rate limited (429)".into());
    }
    if status.is_server_error() {
        return Some(format!("server error ({})", status.as_u16()));
    }
    let empty = answer.body.iter().all(u8::is_ascii_whitespace);
    if status.is_success() && !empty && serde_json::from_slice::<serde::de::IgnoredAny>(&answer.body).is_err() {
        return Some(format!("a body that is not JSON with status {}", status.as_u16()));
    }
    None
}

fn describe_transport(error: reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    format!("{kind}: {}", error.without_url())
}

/// Between half and all of `wait`, at random.
fn jitter(wait: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let fraction = 0.5 + (random % 1_000) as f64 / 2_000.0;
    wait.mul_f64(fraction)
}

/// A vendor address an admin entered: https, or http on this machine when `allow_local` (the
/// local stack's sandboxes); no query, fragment or user in it. Deployed functions do not allow
/// local URLs, so an admin cannot point carebridge at services inside its own runtime.
pub fn parse_base_url(vendor: &'static str, raw: &str, allow_local: bool) -> Result<reqwest::Url, ConnectorError> {
    let settings = |detail: String| ConnectorError::Settings { vendor, detail };
    let url = reqwest::Url::parse(raw.trim().trim_end_matches('/'))
        .map_err(|e| settings(format!("the address is not a URL ({e})")))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if local && allow_local => {}
        _ => return Err(settings("the address must be an https URL".into())),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(settings(
            "the address must not carry a query, a fragment or a user".into(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_longest_and_respect_retry_after() {
        let policy = RetryPolicy {
            tries: 6,
            first_wait: Duration::from_millis(100),
            longest_wait: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (2..=6).map(|t| policy.wait_before(t, None).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        assert_eq!(policy.wait_before(2, Some(Duration::from_millis(300))).as_millis(), 300);
        assert_eq!(policy.wait_before(2, Some(Duration::from_secs(60))).as_millis(), 500);
    }

    #[test]
    fn a_rate_limit_reset_is_waited_for_until_it_comes() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(asked_to_wait(&headers, now), None);
        headers.insert("x-ratelimit-reset", "1042".parse().unwrap());
        assert_eq!(asked_to_wait(&headers, now), Some(Duration::from_secs(42)));
        headers.insert("x-ratelimit-reset", "990".parse().unwrap());
        assert_eq!(
            asked_to_wait(&headers, now),
            Some(Duration::ZERO),
            "a reset already past"
        );
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(asked_to_wait(&headers, now), Some(Duration::from_secs(3)));
    }

    #[test]
    fn jitter_keeps_between_half_and_all_of_the_wait() {
        for _ in 0..200 {
            let waited = jitter(Duration::from_millis(1000)).as_millis();
            assert!((500..=1000).contains(&waited), "{waited}");
        }
    }

    #[test]
    fn only_rate_limits_server_errors_and_unreadable_successes_are_retried() {
        let answer = |status: u16, body: &str| Answer {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
        };
        assert!(worth_retrying(&answer(429, "")).is_some());
        assert!(worth_retrying(&answer(503, "{}")).is_some());
        assert!(worth_retrying(&answer(200, "{\"results\": [")).is_some());
        assert!(worth_retrying(&answer(200, "{}")).is_none());
        assert!(worth_retrying(&answer(204, "")).is_none());
        assert!(worth_retrying(&answer(400, "not json")).is_none());
        assert!(worth_retrying(&answer(404, "{}")).is_none());
    }
}
