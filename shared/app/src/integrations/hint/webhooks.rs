//! Hint's webhook deliveries, as the shared receiving flow ([`crate::integrations::webhooks`])
//! needs them: `X-Hint-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body under the
//! practice's webhook signature key (stored with the group's credentials), and the delivery's
//! own `id`, against which Hint's retries and replays are recognised.

use super::Job;
use crate::integrations::webhooks::{Delivery, Receiver, Refused};
use crate::{AppError, Deps};
use async_trait::async_trait;
use connectors::hint::signature_is_valid;
use connectors::hint::types::Event;
use model::GroupId;
use model::integration::{Integration, IntegrationKind};

pub const SIGNATURE_HEADER: &str = "X-Hint-Signature";

pub struct Webhooks;

#[async_trait]
impl Receiver for Webhooks {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Hint
    }

    fn signature_header(&self) -> &'static str {
        SIGNATURE_HEADER
    }

    async fn verify(
        &self,
        deps: &Deps,
        group: &GroupId,
        _integration: &Integration,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), Refused> {
        let credentials = super::credentials(deps, group)
            .await
            .map_err(|error| Refused::ours(format!("the stored Hint credentials could not be read: {error}")))?;
        if signature.is_none() {
            return Err(Refused::theirs("the delivery has no X-Hint-Signature"));
        }
        if signature_is_valid(&credentials.webhook_signature_key, body, signature) {
            Ok(())
        } else {
            Err(Refused::theirs(
                "X-Hint-Signature is not the HMAC-SHA256 of the body under the practice's webhook signature key",
            ))
        }
    }

    fn delivery(&self, group: &GroupId, body: &[u8]) -> Result<Delivery, AppError> {
        let event: Event = serde_json::from_slice(body)
            .map_err(|e| AppError::BadBody(format!("the delivery is not a Hint event: {e}")))?;
        if event.id.trim().is_empty() {
            return Err(AppError::BadBody("the delivery has no id".into()));
        }
        if event.kind.starts_with("patient.") && event.object_id().is_none() {
            return Err(AppError::BadBody(format!(
                "the {} delivery's object has no patient id",
                event.kind
            )));
        }
        Ok(Delivery {
            event_id: event.id.clone(),
            job: Job::HintEvent {
                group: group.clone(),
                event: Box::new(event),
            }
            .into(),
        })
    }
}
