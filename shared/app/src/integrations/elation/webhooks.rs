//! Elation's webhook deliveries, as the shared receiving flow ([`crate::integrations::webhooks`])
//! needs them.

use super::Job;
use crate::integrations::webhooks::{Delivery, Receiver, Refused};
use crate::{AppError, Deps};
use async_trait::async_trait;
use connectors::elation::types::Event;
use connectors::elation::webhook::{SIGNATURE_HEADER, SignatureError, verify};
use model::GroupId;
use model::integration::{Integration, IntegrationKind};

/// Elation's webhook deliveries: Ed25519 over the raw body, checked with the signing key of the
/// integration's subscriptions (Elation signs all of an app's subscriptions with one key, but
/// each stored key is tried).
pub struct Webhooks;

#[async_trait]
impl Receiver for Webhooks {
    fn kind(&self) -> IntegrationKind {
        IntegrationKind::Elation
    }

    fn signature_header(&self) -> &'static str {
        SIGNATURE_HEADER
    }

    async fn verify(
        &self,
        _deps: &Deps,
        _group: &GroupId,
        integration: &Integration,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), Refused> {
        let mut keys: Vec<&str> = integration
            .subscriptions
            .iter()
            .filter_map(|s| integration.signing_key(&s.resource))
            .collect();
        keys.dedup();
        let mut refusal = Refused::theirs("the integration has no webhook subscriptions");
        for key in keys {
            refusal = match verify(key, body, signature) {
                Ok(()) => return Ok(()),
                Err(SignatureError::BadKey) => Refused::ours(SignatureError::BadKey.to_string()),
                Err(other) => Refused::theirs(other.to_string()),
            };
        }
        Err(refusal)
    }

    fn delivery(&self, group: &GroupId, body: &[u8]) -> Result<Delivery, AppError> {
        let event: Event = serde_json::from_slice(body)
            .map_err(|e| AppError::BadBody(format!("the delivery is not an Elation event: {e}")))?;
        let Some(event_id) = event.dedupe_key() else {
            return Err(AppError::BadBody(
                "the delivery has neither event_uuid nor event_id".into(),
            ));
        };
        Ok(Delivery {
            job: Job::ElationEvent {
                group: group.clone(),
                event: Box::new(event),
            }
            .into(),
            event_id,
        })
    }
}
