//! Checking that a webhook delivery came from Elation: an Ed25519 signature, base64 in the
//! `El8-Ed25519-Signature` header, over the raw body, checked with the subscription's
//! `signing_pub_key`. The body must be checked exactly as received, before any parsing.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};

/// The header Elation signs deliveries in.
pub const SIGNATURE_HEADER: &str = "El8-Ed25519-Signature";

/// Why a delivery is not accepted as Elation's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the delivery has no El8-Ed25519-Signature header")]
    Missing,
    #[error("the El8-Ed25519-Signature header is not a base64 Ed25519 signature")]
    Unreadable,
    #[error("the signature does not match the body and the subscription's key")]
    Mismatch,
    /// carebridge's stored key is unusable: a fault on our side, not the caller's.
    #[error("the stored signing key is not a base64 32-byte Ed25519 public key")]
    BadKey,
}

/// Checks `signature` (the header's value, if any) over `body` with the base64 `signing_pub_key`.
pub fn verify(signing_pub_key: &str, body: &[u8], signature: Option<&str>) -> Result<(), SignatureError> {
    let key: [u8; 32] = STANDARD
        .decode(signing_pub_key.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SignatureError::BadKey)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| SignatureError::BadKey)?;
    let signature = signature.ok_or(SignatureError::Missing)?;
    let signature: [u8; 64] = STANDARD
        .decode(signature.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(SignatureError::Unreadable)?;
    key.verify(body, &Signature::from_bytes(&signature))
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn public(key: &SigningKey) -> String {
        STANDARD.encode(key.verifying_key().as_bytes())
    }

    fn sign(key: &SigningKey, body: &[u8]) -> String {
        STANDARD.encode(key.sign(body).to_bytes())
    }

    #[test]
    fn a_delivery_signed_with_the_subscriptions_key_is_accepted() {
        let body = br#"{"action":"saved","resource":"patients"}"#;
        assert_eq!(verify(&public(&key()), body, Some(&sign(&key(), body))), Ok(()));
    }

    #[test]
    fn a_changed_body_or_another_key_is_refused() {
        let body = br#"{"action":"saved"}"#;
        let signature = sign(&key(), body);
        assert_eq!(
            verify(&public(&key()), br#"{"action":"deleted"}"#, Some(&signature)),
            Err(SignatureError::Mismatch)
        );
        let stranger = SigningKey::from_bytes(&[9; 32]);
        assert_eq!(
            verify(&public(&key()), body, Some(&sign(&stranger, body))),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_missing_or_garbled_header_is_named() {
        let body = b"{}";
        assert_eq!(verify(&public(&key()), body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(&public(&key()), body, Some("not base64!")),
            Err(SignatureError::Unreadable)
        );
        assert_eq!(
            verify(&public(&key()), body, Some("c2hvcnQ=")),
            Err(SignatureError::Unreadable)
        );
    }

    #[test]
    fn an_unusable_stored_key_is_carebridges_fault() {
        assert_eq!(verify("c2hvcnQ=", b"{}", Some("x")), Err(SignatureError::BadKey));
    }
}
