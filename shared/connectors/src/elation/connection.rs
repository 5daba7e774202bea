//! What an admin sends to connect a group to Elation, and what carebridge keeps of it in
//! Secrets Manager.

use super::client::{Credentials, PRODUCTION_BASE_URL, SANDBOX_BASE_URL, parse_base_url};
use model::{FieldError, ValidationErrors};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The credentials form: the app's client id and secret, a user for the legacy password grant
/// if the app still uses it, and where Elation is (`environment` sandbox or production, or a
/// `base_url`).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialsInput {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `sandbox` or `production`; or give `base_url` instead.
    pub environment: Option<String>,
    /// e.g. `https://app.elationemr.com/api/2.0`.
    pub base_url: Option<String>,
}

impl fmt::Debug for CredentialsInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsInput").finish_non_exhaustive()
    }
}

/// A checked connection: the secret carebridge stores for the group's Elation integration.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub base_url: String,
    #[serde(flatten)]
    pub credentials: Credentials,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl CredentialsInput {
    /// Checks the form, reporting every problem at once. `allow_local` lets `base_url` be http
    /// on this machine (the local stack's sandbox).
    pub fn validate(&self, allow_local: bool) -> Result<Connection, ValidationErrors> {
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let mut errors = ValidationErrors::default();
        let client_id = given(&self.client_id);
        let client_secret = given(&self.client_secret);
        for (field, value) in [("client_id", client_id), ("client_secret", client_secret)] {
            if value.is_none() {
                errors.push(FieldError::required(field));
            }
        }
        let username = given(&self.username);
        let password = given(&self.password);
        if username.is_some() != password.is_some() {
            let missing = if username.is_none() { "username" } else { "password" };
            errors.push(FieldError::new(
                missing,
                "incomplete_user",
                "the legacy password grant needs both username and password; leave both out to use client credentials",
            ));
        }
        let base_url = match (given(&self.environment), given(&self.base_url)) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "base_url",
                    "conflicting_location",
                    "give either environment or base_url, not both",
                ));
                None
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "environment",
                    "required",
                    "environment (sandbox or production) or base_url is required",
                ));
                None
            }
            (Some("sandbox"), None) => Some(SANDBOX_BASE_URL.to_owned()),
            (Some("production"), None) => Some(PRODUCTION_BASE_URL.to_owned()),
            (Some(_), None) => {
                errors.push(FieldError::new(
                    "environment",
                    "invalid_environment",
                    "environment must be sandbox or production",
                ));
                None
            }
            (None, Some(raw)) => match parse_base_url(raw, allow_local) {
                Ok(url) => Some(url.as_str().trim_end_matches('/').to_owned()),
                Err(error) => {
                    errors.push(FieldError::new("base_url", "invalid_base_url", error.to_string()));
                    None
                }
            },
        };
        match (client_id, client_secret, base_url) {
            (Some(client_id), Some(client_secret), Some(base_url)) if errors.is_empty() => Ok(Connection {
                base_url,
                credentials: Credentials {
                    client_id: client_id.to_owned(),
                    client_secret: client_secret.to_owned(),
                    username: username.map(str::to_owned),
                    password: password.map(str::to_owned),
                },
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> CredentialsInput {
        serde_json::from_value(json).unwrap()
    }

    fn codes(errors: ValidationErrors) -> Vec<(String, &'static str)> {
        errors.0.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn an_environment_names_elations_own_host() {
        let connection = input(serde_json::json!({"client_id": "a", "client_secret": "b", "environment": "sandbox"}))
            .validate(false)
            .unwrap();
        assert_eq!(connection.base_url, SANDBOX_BASE_URL);
        assert_eq!(connection.credentials.username, None);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = input(serde_json::json!({"username": "u", "environment": "staging"}))
            .validate(false)
            .unwrap_err();
        assert_eq!(
            codes(errors),
            [
                ("client_id".into(), "required"),
                ("client_secret".into(), "required"),
                ("password".into(), "incomplete_user"),
                ("environment".into(), "invalid_environment"),
            ]
        );
    }

    #[test]
    fn a_base_url_must_be_https_unless_local_ones_are_allowed() {
        let local =
            serde_json::json!({"client_id": "a", "client_secret": "b", "base_url": "http://127.0.0.1:4010/api/2.0/"});
        assert_eq!(
            input(local.clone()).validate(true).unwrap().base_url,
            "http://127.0.0.1:4010/api/2.0"
        );
        assert_eq!(
            codes(input(local).validate(false).unwrap_err()),
            [("base_url".into(), "invalid_base_url")]
        );
        let both = serde_json::json!({"client_id": "a", "client_secret": "b", "base_url": "https://x.example", "environment": "sandbox"});
        assert_eq!(
            codes(input(both).validate(true).unwrap_err()),
            [("base_url".into(), "conflicting_location")]
        );
    }

    #[test]
    fn unknown_members_are_refused_and_secrets_never_show() {
        assert!(serde_json::from_value::<CredentialsInput>(serde_json::json!({"clientid": "a"})).is_err());
        let connection =
            input(serde_json::json!({"client_id": "a", "client_secret": "s3cret", "environment": "production"}))
                .validate(false)
                .unwrap();
        assert!(!format!("{connection:?}").contains("s3cret"));
    }
}
