//! Elation's webhook signature: Ed25519 over the raw body, base64 in `El8-Ed25519-Signature`;
//! Elation retries a delivery until it is answered 200.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};

pub const SIGNATURE_HEADER: &str = "El8-Ed25519-Signature";

/// Elation counts a delivery done only when it is answered 200.
pub fn delivered(status: u16) -> bool {
    status == 200
}

/// The signature Elation sends with `body`.
pub fn sign(key: &SigningKey, body: &[u8]) -> String {
    STANDARD.encode(key.sign(body).to_bytes())
}
