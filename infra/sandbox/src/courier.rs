//! Webhook delivery as the vendors do it: a JSON POST with the vendor's signature header,
//! retried with backoff until the receiver answers as the vendor requires, every attempt logged.

use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How often a delivery is tried again. Vendors keep trying for hours or days; the sandbox keeps
/// trying while it runs, quickly by default so tests need not wait.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub first: Duration,
    pub longest: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            first: Duration::from_millis(100),
            longest: Duration::from_secs(2),
        }
    }
}

/// One event on its way to one subscription, and every attempt so far.
#[derive(Debug, Clone, Serialize)]
pub struct Delivery {
    /// The event's own id (Elation's `event_uuid`, Hint's `evt-…`).
    pub event: String,
    pub resource: String,
    pub action: String,
    pub target: String,
    /// The HTTP status of each attempt, or 0 when the receiver could not be reached.
    pub attempts: Vec<u16>,
    pub delivered: bool,
    /// What was sent, kept so the control plane can send it again (as vendors' retries and
    /// replays do).
    #[serde(skip)]
    pub body: Vec<u8>,
    #[serde(skip)]
    pub signature: String,
}

pub type Log = Arc<Mutex<Vec<Delivery>>>;

/// Sends events and keeps the log of every attempt.
pub struct Courier {
    /// The header the signature travels in (`El8-Ed25519-Signature`, `X-Hint-Signature`).
    pub signature_header: &'static str,
    /// Whether an answer with this status ends the retries (Elation: 200; Hint: any 2xx).
    pub delivered: fn(u16) -> bool,
    pub http: reqwest::Client,
    pub log: Log,
    pub retry: Retry,
    /// Becomes true when the sandbox stops; deliveries in progress then give up.
    pub stopped: watch::Receiver<bool>,
}

impl Courier {
    /// Logs `delivery` (not yet tried) and sends its `body`, in the background, until it is
    /// answered as delivered or the sandbox stops.
    pub fn send(&self, mut delivery: Delivery, body: Vec<u8>, signature: String) {
        let target = delivery.target.clone();
        delivery.body = body.clone();
        delivery.signature = signature.clone();
        let index = {
            let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
            log.push(delivery);
            log.len() - 1
        };
        let (http, log, retry, mut stopped) = (self.http.clone(), self.log.clone(), self.retry, self.stopped.clone());
        let (header, accepted) = (self.signature_header, self.delivered);
        tokio::spawn(async move {
            let mut wait = retry.first;
            loop {
                let status = http
                    .post(&target)
                    .header("content-type", "application/json")
                    .header(header, &signature)
                    .body(body.clone())
                    .send()
                    .await
                    .map_or(0, |response| response.status().as_u16());
                let delivered = accepted(status);
                if let Ok(mut log) = log.lock()
                    && let Some(delivery) = log.get_mut(index)
                {
                    delivery.attempts.push(status);
                    delivery.delivered = delivered;
                }
                if delivered {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return,
                }
                wait = (wait * 2).min(retry.longest);
            }
        });
    }
}

impl Courier {
    /// A courier whose deliveries stop trying when `stopped` turns true.
    pub fn new(
        signature_header: &'static str,
        delivered: fn(u16) -> bool,
        retry: Retry,
        stopped: watch::Receiver<bool>,
    ) -> Courier {
        Courier {
            signature_header,
            delivered,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            log: Arc::default(),
            retry,
            stopped,
        }
    }

    /// The log entry of event `event`, if it was sent.
    pub fn find(&self, event: &str) -> Option<Delivery> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().find(|d| d.event == event).cloned()
    }

    /// Every delivery so far, oldest first.
    pub fn all(&self) -> Vec<Delivery> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
