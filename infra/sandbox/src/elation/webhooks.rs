//! Webhook delivery as Elation does it: a JSON POST signed with Ed25519 over the raw body
//! (base64 in `El8-Ed25519-Signature`), retried until the receiver answers 200.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How often a delivery is tried again. Elation keeps trying for up to 72 hours; the sandbox
/// keeps trying while it runs, quickly by default so tests need not wait.
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
    pub event_uuid: String,
    pub resource: String,
    pub action: String,
    pub target: String,
    /// The HTTP status of each attempt, or 0 when the receiver could not be reached.
    pub attempts: Vec<u16>,
    pub delivered: bool,
    /// What was sent, kept so the control plane can send it again (as Elation's retries and
    /// its published-events replay do).
    #[serde(skip)]
    pub body: Vec<u8>,
    #[serde(skip)]
    pub signature: String,
}

pub type Log = Arc<Mutex<Vec<Delivery>>>;

/// The signature Elation sends with `body`.
pub fn sign(key: &SigningKey, body: &[u8]) -> String {
    STANDARD.encode(key.sign(body).to_bytes())
}

/// Sends events and keeps the log of every attempt.
pub struct Courier {
    pub http: reqwest::Client,
    pub log: Log,
    pub retry: Retry,
    /// Becomes true when the sandbox stops; deliveries in progress then give up.
    pub stopped: watch::Receiver<bool>,
}

impl Courier {
    /// Logs `delivery` (not yet tried) and sends its `body`, in the background, until it is
    /// answered 200 or the sandbox stops.
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
        tokio::spawn(async move {
            let mut wait = retry.first;
            loop {
                let status = http
                    .post(&target)
                    .header("content-type", "application/json")
                    .header("El8-Ed25519-Signature", &signature)
                    .body(body.clone())
                    .send()
                    .await
                    .map_or(0, |response| response.status().as_u16());
                let delivered = status == 200;
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
