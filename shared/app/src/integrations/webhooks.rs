//! Receiving vendors' webhooks: prove the sender, drop repeats, hand the change to the sync
//! queue and answer at once (vendors retry anything but a 2xx for hours, so the work itself
//! happens in the sync-worker).
//!
//! What every vendor's receiver shares lives here once; a vendor says only how its deliveries
//! are signed and what job a proven one becomes ([`Receiver`]). Until a delivery's signature is
//! proven, every refusal looks the same to the sender (401 `bad-signature`, one detail): an
//! unknown group, a group without the integration, an integration that is not active and a
//! wrong signature are told apart only in carebridge's own log, so the endpoint tells a
//! stranger nothing about which groups use which vendor.

use super::jobs::{SyncJob, enqueue};
use crate::{AppError, Deps};
use async_trait::async_trait;
use model::GroupId;
use model::integration::{Integration, IntegrationKind, IntegrationStatus};
use store::idempotency::{Idempotency, Outcome, Windows};
use store::keys;

/// What became of a delivery that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// New: queued for the worker.
    Queued,
    /// Seen before (the vendor retried or replayed it): nothing queued again.
    Repeated,
}

/// The one answer to a delivery whose sender is not proven, whatever the reason.
pub const UNPROVEN: &str = "the delivery's signature could not be verified for this group; nothing was accepted";

/// Why a delivery is refused before its sender is proven: for carebridge's log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: String,
    /// True when the fault is carebridge's own (a stored key it cannot use), logged as an error.
    pub ours: bool,
}

impl Refused {
    pub fn theirs(reason: impl Into<String>) -> Self {
        Refused {
            reason: reason.into(),
            ours: false,
        }
    }

    pub fn ours(reason: impl Into<String>) -> Self {
        Refused {
            reason: reason.into(),
            ours: true,
        }
    }
}

/// A proven delivery's change: the job that applies it and the delivery's own id, against
/// which repeats are recognised.
pub struct Delivery {
    pub job: SyncJob,
    pub event_id: String,
}

/// One vendor's webhook deliveries, as the shared receiving flow needs them.
#[async_trait]
pub trait Receiver: Sync {
    /// The integration the deliveries belong to.
    fn kind(&self) -> IntegrationKind;

    /// The request header that carries the vendor's signature.
    fn signature_header(&self) -> &'static str;

    /// Proves that `body`, exactly as received, was signed by the vendor for this integration.
    async fn verify(
        &self,
        deps: &Deps,
        group: &GroupId,
        integration: &Integration,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), Refused>;

    /// The change a proven delivery carries; a body that is not one of the vendor's events is
    /// the caller's error (400).
    fn delivery(&self, group: &GroupId, body: &[u8]) -> Result<Delivery, AppError>;
}

/// The receiver of each vendor that sends webhooks, by the name in `/webhooks/<vendor>/…`.
pub fn receiver(vendor: &str) -> Option<&'static dyn Receiver> {
    IntegrationKind::parse(vendor)
        .and_then(super::vendor)
        .and_then(|vendor| vendor.webhooks())
}

/// A delivery for the group named `raw_group`: `body` exactly as received, and the value of the
/// vendor's signature header.
pub async fn receive(
    deps: &Deps,
    receiver: &dyn Receiver,
    raw_group: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Result<Received, AppError> {
    let kind = receiver.kind();
    let refuse = |refused: Refused| {
        if refused.ours {
            tracing::error!(group = raw_group, vendor = %kind, reason = %refused.reason, "a webhook could not be checked");
        } else {
            tracing::warn!(group = raw_group, vendor = %kind, reason = %refused.reason, "a webhook was refused");
        }
        AppError::BadSignature(UNPROVEN.into())
    };
    let Ok(group) = GroupId::parse(raw_group) else {
        return Err(refuse(Refused::theirs("the path names no valid group")));
    };
    let integration = deps
        .read::<Integration>(&keys::integration(&group, kind))
        .await?
        .map(|i| i.value);
    let integration = match integration {
        Some(integration) if integration.status == IntegrationStatus::Active => integration,
        Some(integration) => {
            return Err(refuse(Refused::theirs(format!(
                "the integration is {}, not active",
                integration.status.as_str()
            ))));
        }
        None => return Err(refuse(Refused::theirs("no such group or integration"))),
    };
    receiver
        .verify(deps, &group, &integration, body, signature)
        .await
        .map_err(refuse)?;

    let Delivery { job, event_id } = receiver.delivery(&group, body)?;
    let idempotency = Idempotency::new(deps.records.as_ref(), Windows::default());
    let scope = format!("webhook-{kind}");
    let ticket = match idempotency
        .begin(&group, &scope, &event_id, body, deps.clock.now())
        .await?
    {
        Outcome::AlreadyDone(_) => {
            tracing::info!(%group, vendor = %kind, event = %event_id, "a repeated event was dropped");
            return Ok(Received::Repeated);
        }
        Outcome::InProgressElsewhere => return Err(AppError::InProgressElsewhere),
        Outcome::Proceed(ticket) => ticket,
    };
    if let Err(error) = enqueue(deps, &[job]).await {
        // Not queued: let the vendor's retry claim it again.
        idempotency.release(ticket).await?;
        return Err(error);
    }
    idempotency
        .complete(ticket, serde_json::json!({"queued": true}))
        .await?;
    tracing::info!(%group, vendor = %kind, event = %event_id, "an event was queued");
    Ok(Received::Queued)
}
