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
}

/// A group's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupSettings {
    pub name: String,
    pub default_country: Country,
    pub import_row_limit: u32,
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
        match (id, name, default_country) {
            (Some(id), Some(name), Some(default_country)) if errors.is_empty() => Ok((
                id,
                GroupSettings {
                    name,
                    default_country,
                    import_row_limit,
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
    fn bad_group_input_names_each_field() {
        let input = GroupInput {
            id: Some("Acme Health".into()),
            name: None,
            default_country: Some("Atlantis".into()),
            import_row_limit: Some(100_001),
        };
        let errors = input.validate().unwrap_err();
        let codes: Vec<_> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("id", "invalid_group_id"),
                ("name", "required"),
                ("default_country", "invalid_country"),
                ("import_row_limit", "out_of_range")
            ]
        );
    }
}
