//! What an admin enters to connect an org, checked before anything is sent: the org's My
//! Domain, and either the connected app's consumer key and secret (client credentials) or its
//! consumer key, the integration user and the private key whose certificate the app holds (the
//! JWT bearer flow).

use super::client::Grant;
use model::{FieldError, ValidationErrors};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The audiences Salesforce's JWT bearer flow takes besides the org's own My Domain.
pub const AUDIENCES: [&str; 2] = ["https://login.salesforce.com", "https://test.salesforce.com"];

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceInput {
    pub my_domain: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub username: Option<String>,
    pub private_key_pem: Option<String>,
    pub audience: Option<String>,
}

impl fmt::Debug for SalesforceInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalesforceInput").finish_non_exhaustive()
    }
}

/// A checked connection: where the org is, and how carebridge gets its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub my_domain: String,
    pub grant: Grant,
}

impl SalesforceInput {
    /// Every problem at once, each under `prefix.field`.
    pub fn validate(&self, prefix: &str, allow_local: bool) -> Result<Connection, ValidationErrors> {
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let field = |name: &str| format!("{prefix}.{name}");
        let mut errors = ValidationErrors::default();
        let my_domain = match given(&self.my_domain) {
            None => {
                errors.push(FieldError::required(&field("my_domain")));
                None
            }
            Some(raw) => match crate::http::parse_base_url("Salesforce", raw, allow_local) {
                Ok(url) => Some(url.as_str().trim_end_matches('/').to_owned()),
                Err(error) => {
                    errors.push(FieldError::new(
                        field("my_domain"),
                        "invalid_my_domain",
                        error.to_string(),
                    ));
                    None
                }
            },
        };
        let client_id = given(&self.client_id);
        if client_id.is_none() {
            errors.push(FieldError::required(&field("client_id")));
        }
        let (secret, username, key) = (
            given(&self.client_secret),
            given(&self.username),
            given(&self.private_key_pem),
        );
        let grant = match (secret, username, key) {
            (Some(secret), None, None) => Some(Grant::ClientCredentials {
                client_id: client_id.unwrap_or_default().to_owned(),
                client_secret: secret.to_owned(),
            }),
            (None, Some(username), Some(key)) => {
                if jsonwebtoken::EncodingKey::from_rsa_pem(key.as_bytes()).is_err() {
                    errors.push(FieldError::new(
                        field("private_key_pem"),
                        "invalid_private_key",
                        "the private key must be an RSA key in PEM, the one whose certificate the connected app holds",
                    ));
                }
                let audience = given(&self.audience)
                    .unwrap_or(AUDIENCES[0])
                    .trim_end_matches('/')
                    .to_owned();
                let own_domain = my_domain.as_deref() == Some(audience.as_str());
                if !AUDIENCES.contains(&audience.as_str()) && !own_domain {
                    errors.push(FieldError::new(
                        field("audience"),
                        "invalid_audience",
                        "audience is https://login.salesforce.com, https://test.salesforce.com or the org's My Domain",
                    ));
                }
                Some(Grant::JwtBearer {
                    client_id: client_id.unwrap_or_default().to_owned(),
                    username: username.to_owned(),
                    private_key_pem: key.to_owned(),
                    audience,
                })
            }
            (None, None, None) => {
                errors.push(FieldError::new(
                    field("client_secret"),
                    "required",
                    "give client_secret (client credentials) or username and private_key_pem (JWT bearer)",
                ));
                None
            }
            (Some(_), _, _) => {
                errors.push(FieldError::new(
                    field("client_secret"),
                    "conflicting_flow",
                    "give client_secret, or username and private_key_pem, not both",
                ));
                None
            }
            (None, username, _) => {
                let missing = if username.is_none() {
                    "username"
                } else {
                    "private_key_pem"
                };
                errors.push(FieldError::new(
                    field(missing),
                    "incomplete_jwt",
                    "the JWT bearer flow needs both username and private_key_pem",
                ));
                None
            }
        };
        match (my_domain, grant) {
            (Some(my_domain), Some(grant)) if errors.is_empty() => Ok(Connection { my_domain, grant }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> SalesforceInput {
        serde_json::from_value(json).unwrap()
    }

    fn codes(errors: ValidationErrors) -> Vec<(String, &'static str)> {
        errors.0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn client_credentials_need_the_domain_the_key_and_the_secret() {
        let connection = input(serde_json::json!({"my_domain": "https://acme.my.salesforce.com/", "client_id": "3MVG9", "client_secret": "s"}))
            .validate("salesforce", false)
            .unwrap();
        assert_eq!(connection.my_domain, "https://acme.my.salesforce.com");
        assert!(matches!(connection.grant, Grant::ClientCredentials { .. }));
        let errors = input(serde_json::json!({"my_domain": "http://acme.example"}))
            .validate("salesforce", false)
            .unwrap_err();
        assert_eq!(
            codes(errors),
            [
                ("salesforce.my_domain".into(), "invalid_my_domain"),
                ("salesforce.client_id".into(), "required"),
                ("salesforce.client_secret".into(), "required"),
            ]
        );
    }

    #[test]
    fn the_jwt_flow_needs_a_user_and_a_readable_rsa_key_for_a_salesforce_audience() {
        let key = include_str!("../../../../infra/sandbox/tests/fixtures/salesforce-jwt-test-key.pem");
        let ok = input(
            serde_json::json!({"my_domain": "https://acme.my.salesforce.com", "client_id": "3MVG9",
            "username": "int@acme.example", "private_key_pem": key}),
        )
        .validate("salesforce", false)
        .unwrap();
        assert!(
            matches!(ok.grant, Grant::JwtBearer { ref audience, .. } if audience == "https://login.salesforce.com")
        );
        let errors = input(
            serde_json::json!({"my_domain": "https://acme.my.salesforce.com", "client_id": "3MVG9",
            "username": "int@acme.example", "private_key_pem": "not a key", "audience": "https://evil.example"}),
        )
        .validate("salesforce", false)
        .unwrap_err();
        assert_eq!(
            codes(errors),
            [
                ("salesforce.private_key_pem".into(), "invalid_private_key"),
                ("salesforce.audience".into(), "invalid_audience"),
            ]
        );
        let half = input(
            serde_json::json!({"my_domain": "https://acme.my.salesforce.com", "client_id": "3MVG9", "username": "u"}),
        )
        .validate("salesforce", false)
        .unwrap_err();
        assert_eq!(codes(half), [("salesforce.private_key_pem".into(), "incomplete_jwt")]);
    }
}
