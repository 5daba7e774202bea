//! Dev tokens: HS256 JWTs the dev host checks itself, standing in for API Gateway's JWT
//! authorizer. It hands the function the same claims the authorizer would, list claims in the
//! authorizer's own bracketed form (`[a b]`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const ISSUER: &str = "carebridge-dev";
pub const AUDIENCE: &str = "carebridge-api";
/// The local stack's signing secret, unless `CAREBRIDGE_DEV_JWT_SECRET` says otherwise. It signs
/// tokens for emulated data only; deployed stacks use a real identity provider.
pub const DEFAULT_SECRET: &str = "carebridge-local-development-secret";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DevClaims {
    pub sub: String,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a bearer token is required: send Authorization: Bearer <token>")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token has expired; mint a new one")]
    Expired,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token was issued for another issuer or audience")]
    WrongIssuerOrAudience,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

#[derive(Clone)]
pub struct DevAuth {
    secret: Vec<u8>,
}

impl DevAuth {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        DevAuth { secret: secret.into() }
    }

    pub fn from_env() -> Self {
        DevAuth::new(std::env::var("CAREBRIDGE_DEV_JWT_SECRET").unwrap_or_else(|_| DEFAULT_SECRET.to_owned()))
    }

    /// Signs a token for `sub` with these groups and roles, valid for `ttl_seconds`.
    pub fn mint(&self, sub: &str, groups: &[&str], roles: &[&str], ttl_seconds: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = DevClaims {
            sub: sub.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + ttl_seconds,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&self.secret),
        )
        .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// Checks the `Authorization` header and returns the claims as API Gateway passes them on.
    pub fn verify(&self, authorization: Option<&str>) -> Result<HashMap<String, String>, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?.trim();
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::NotBearer)?
            .trim();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<DevClaims>(token, &DecodingKey::from_secret(&self.secret), &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidIssuer | ErrorKind::InvalidAudience => AuthError::WrongIssuerOrAudience,
                ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
                    AuthError::Malformed
                }
                other => AuthError::Invalid(format!("{other:?}")),
            })?;
        let claims = data.claims;
        Ok(HashMap::from([
            ("sub".to_owned(), claims.sub),
            ("groups".to_owned(), format!("[{}]", claims.groups.join(" "))),
            ("roles".to_owned(), format!("[{}]", claims.roles.join(" "))),
            ("iss".to_owned(), claims.iss),
            ("aud".to_owned(), claims.aud),
            ("iat".to_owned(), claims.iat.to_string()),
            ("exp".to_owned(), claims.exp.to_string()),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> DevAuth {
        DevAuth::new("test-secret")
    }

    #[test]
    fn a_minted_token_verifies_to_authorizer_style_claims() {
        let token = auth().mint("alice", &["acme", "beta"], &["group_admin"], 60);
        let claims = auth().verify(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["groups"], "[acme beta]");
        assert_eq!(claims["roles"], "[group_admin]");
    }

    #[test]
    fn each_bad_token_is_refused_for_its_own_reason() {
        let good = auth().mint("alice", &["acme"], &[], 60);
        assert_eq!(auth().verify(None), Err(AuthError::Missing));
        assert_eq!(auth().verify(Some(&format!("Basic {good}"))), Err(AuthError::NotBearer));
        assert_eq!(auth().verify(Some("Bearer not.a.jwt")), Err(AuthError::Malformed));
        let expired = auth().mint("alice", &["acme"], &[], -10);
        assert_eq!(
            auth().verify(Some(&format!("Bearer {expired}"))),
            Err(AuthError::Expired)
        );
        let forged = DevAuth::new("another-secret").mint("alice", &["acme"], &[], 60);
        assert_eq!(
            auth().verify(Some(&format!("Bearer {forged}"))),
            Err(AuthError::BadSignature)
        );
    }
}
