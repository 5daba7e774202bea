//! Receiving vendors' webhooks: prove the sender, drop repeats, hand the change to the sync
//! queue and answer at once (Elation retries anything but a 200 for up to 72 hours, so the work
//! itself happens in the sync-worker).

use crate::sync_jobs::{SyncJob, enqueue};
use crate::{AppError, Deps};
use connectors::elation::types::Event;
use connectors::elation::webhook::{SignatureError, verify};
use model::GroupId;
use model::integration::{Integration, IntegrationKind};
use store::idempotency::{Idempotency, Outcome, Windows};
use store::keys;

/// What became of a delivery that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// New: queued for the worker.
    Queued,
    /// Seen before (Elation retried or replayed it): nothing queued again.
    Repeated,
}

/// The idempotency scope of Elation deliveries.
const SCOPE: &str = "webhook-elation";

/// An Elation delivery for `group`: `body` exactly as received and the signature header.
pub async fn receive_elation(
    deps: &Deps,
    raw_group: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Result<Received, AppError> {
    let not_here = || AppError::NotFound {
        what: "active Elation integration",
    };
    let group = GroupId::parse(raw_group).map_err(|_| not_here())?;
    let integration: Integration = deps
        .read(&keys::integration(&group, IntegrationKind::Elation))
        .await?
        .map(|i| i.value)
        .ok_or_else(not_here)?;
    // The body is checked before anything reads it. Elation signs every subscription of an
    // app with the app's one key, but each subscription's stored key is tried.
    let mut keys: Vec<&str> = integration
        .subscriptions
        .iter()
        .filter_map(|s| integration.signing_key(&s.resource))
        .collect();
    keys.dedup();
    if keys.is_empty() {
        return Err(not_here());
    }
    let mut refusal = SignatureError::Mismatch;
    let proven = keys.iter().any(|key| match verify(key, body, signature) {
        Ok(()) => true,
        Err(error) => {
            refusal = error;
            false
        }
    });
    if !proven {
        if refusal == SignatureError::BadKey {
            return Err(AppError::Internal(format!("group {group}: {refusal}")));
        }
        tracing::warn!(%group, reason = %refusal, "an Elation webhook was refused");
        return Err(AppError::BadSignature(refusal.to_string()));
    }
    let event: Event = serde_json::from_slice(body)
        .map_err(|e| AppError::BadBody(format!("the delivery is not an Elation event: {e}")))?;
    let Some(event_key) = event.dedupe_key() else {
        return Err(AppError::BadBody(
            "the delivery has neither event_uuid nor event_id".into(),
        ));
    };
    let idempotency = Idempotency::new(deps.records.as_ref(), Windows::default());
    let ticket = match idempotency
        .begin(&group, SCOPE, &event_key, body, deps.clock.now())
        .await?
    {
        Outcome::AlreadyDone(_) => {
            tracing::info!(%group, event = %event_key, "a repeated Elation event was dropped");
            return Ok(Received::Repeated);
        }
        Outcome::InProgressElsewhere => return Err(AppError::InProgressElsewhere),
        Outcome::Proceed(ticket) => ticket,
    };
    let job = SyncJob::ElationEvent {
        group: group.clone(),
        event: Box::new(event),
    };
    if let Err(error) = enqueue(deps, &[job]).await {
        // Not queued: let Elation's retry claim it again.
        idempotency.release(ticket).await?;
        return Err(error);
    }
    idempotency
        .complete(ticket, serde_json::json!({"queued": true}))
        .await?;
    tracing::info!(%group, event = %event_key, "an Elation event was queued");
    Ok(Received::Queued)
}
