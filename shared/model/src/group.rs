//! Customer groups (tenants) and their settings.

use crate::error::{FieldError, ValidationErrors};
use crate::ids::GroupId;
use crate::normalize::{self, Country};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The participant-list row limit a group starts with (the import guide's recommendation).
pub const DEFAULT_IMPORT_ROW_LIMIT: u32 = 5_000;
/// The most rows one participant list may have, whatever a group is configured to.
pub const MAX_IMPORT_ROW_LIMIT: u32 = 100_000;
const MAX_GROUP_NAME: usize = 200;

/// A new group as a platform admin sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupInput {
    /// Required: the id that tokens name in their `groups` claim (lower-case letters, digits, '-').
    pub id: Option<String>,
    /// Required: a display name.
    pub name: Option<String>,
    /// ISO country code for phone numbers without `+country`, and for address rules. Default US.
    pub default_country: Option<String>,
    /// Most rows one participant list may have. Default 5,000; at most 100,000.
    pub import_row_limit: Option<u32>,
    /// The care platform's own page for a patient (https): a client opened from a vendor
    /// (Cliniko's connected patient app) is redirected there with `?patient_id=<carebridge id>`.
    pub app_url: Option<String>,
}

/// A group's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupSettings {
    pub name: String,
    pub default_country: Country,
    pub import_row_limit: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
}

impl GroupSettings {
    /// Where a patient opened from a vendor is sent: the group's app with the patient's id.
    pub fn app_page(&self, patient: &crate::PatientId) -> Option<String> {
        let base = self.app_url.as_deref()?;
        let joiner = if base.contains('?') { '&' } else { '?' };
        Some(format!("{base}{joiner}patient_id={patient}"))
    }
}

/// An app URL: https, a host, no user, no fragment, no blanks, at most 2,000 characters.
fn app_url(raw: &str) -> Result<String, FieldError> {
    let url = raw.trim();
    let invalid = |why: &str| FieldError::new("app_url", "invalid_app_url", format!("app_url {why}"));
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| invalid("must be an https URL"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    if url.len() > 2_000 {
        return Err(invalid("is longer than 2,000 characters"));
    }
    if host.is_empty()
        || host.contains('@')
        || url.contains('#')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid("must name a host, without a user, a fragment or blanks"));
    }
    Ok(url.to_owned())
}

/// A customer group as carebridge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    pub id: GroupId,
    #[serde(flatten)]
    pub settings: GroupSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl GroupInput {
    pub fn validate(&self) -> Result<(GroupId, GroupSettings), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let id = match self.id.as_deref() {
            None => {
                errors.push(FieldError::required("id"));
                None
            }
            Some(raw) => errors
                .check(GroupId::parse(raw).map_err(|why| FieldError::new("id", "invalid_group_id", why.to_string()))),
        };
        let name = match self.name.as_deref().and_then(normalize::name) {
            None => {
                errors.push(FieldError::required("name"));
                None
            }
            Some(name) if name.chars().count() > MAX_GROUP_NAME => {
                errors.push(FieldError::new(
                    "name",
                    "too_long",
                    format!("name is longer than {MAX_GROUP_NAME} characters"),
                ));
                None
            }
            Some(name) => Some(name.into_owned()),
        };
        let default_country = match self.default_country.as_deref() {
            None => Some(Country::us()),
            Some(raw) => {
                errors.check(Country::parse(raw).map_err(|why| crate::checks::invalid("default_country", why)))
            }
        };
        let import_row_limit = self.import_row_limit.unwrap_or(DEFAULT_IMPORT_ROW_LIMIT);
        if !(1..=MAX_IMPORT_ROW_LIMIT).contains(&import_row_limit) {
            errors.push(FieldError::new(
                "import_row_limit",
                "out_of_range",
                format!("import_row_limit must be between 1 and {MAX_IMPORT_ROW_LIMIT}"),
            ));
        }
        let app_url = match self.app_url.as_deref() {
            None => None,
            Some(raw) => errors.check(app_url(raw)),
        };
        match (id, name, default_country) {
            (Some(id), Some(name), Some(default_country)) if errors.is_empty() => Ok((
                id,
                GroupSettings {
                    name,
                    default_country,
                    import_row_limit,
                    app_url,
                },
            )),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_needs_an_id_and_a_name_and_gets_sensible_defaults() {
        let input = GroupInput {
            id: Some("acme-health".into()),
            name: Some(" Acme  Health ".into()),
            ..Default::default()
        };
        let (id, settings) = input.validate().unwrap();
        assert_eq!(id.as_str(), "acme-health");
        assert_eq!(settings.name, "Acme Health");
        assert_eq!(settings.default_country, Country::us());
        assert_eq!(settings.import_row_limit, DEFAULT_IMPORT_ROW_LIMIT);
    }

    #[test]
    fn an_app_url_takes_the_patient_id_of_a_patient_opened_from_a_vendor() {
        let input = GroupInput {
            id: Some("acme".into()),
            name: Some("Acme".into()),
            app_url: Some(" https://care.acme.example/patients ".into()),
            ..Default::default()
        };
        let (_, settings) = input.validate().unwrap();
        let patient = crate::PatientId::generate();
        assert_eq!(
            settings.app_page(&patient).unwrap(),
            format!("https://care.acme.example/patients?patient_id={patient}")
        );
        for bad in [
            "https://",
            "https://user@host/",
            "https://host/#x",
            "https://ho st/",
            "ftp://host/",
        ] {
            assert!(app_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_group_input_names_each_field() {
        let input = GroupInput {
            id: Some("Acme Health".into()),
            name: None,
            default_country: Some("Atlantis".into()),
            import_row_limit: Some(100_001),
            app_url: Some("http://app.example.com".into()),
        };
        let errors = input.validate().unwrap_err();
        let codes: Vec<_> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("id", "invalid_group_id"),
                ("name", "required"),
                ("default_country", "invalid_country"),
                ("import_row_limit", "out_of_range"),
                ("app_url", "invalid_app_url")
            ]
        );
    }
}
