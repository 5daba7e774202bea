//! Agencies: the practices or sites of a group, each with the time zone its appointments'
//! times are in. Patients and practitioners may belong to one.

use crate::checks;
use crate::error::{FieldError, ValidationErrors};
use crate::ids::{AgencyId, GroupId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MAX_AGENCY_NAME: usize = 200;

/// An agency as a caller sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgencyInput {
    /// Required.
    pub name: Option<String>,
    /// Required: an IANA time zone name, e.g. `America/Chicago`.
    pub time_zone: Option<String>,
}

/// An agency's validated details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgencyFields {
    pub name: String,
    pub time_zone: String,
}

/// An agency as carebridge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Agency {
    pub id: AgencyId,
    pub group: GroupId,
    #[serde(flatten)]
    pub fields: AgencyFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The IANA name of `raw` as the time zone database spells it (case aside), if it is one.
pub fn time_zone(raw: &str) -> Option<&'static str> {
    chrono_tz::Tz::from_str_insensitive(raw.trim()).ok().map(|tz| tz.name())
}

impl AgencyInput {
    pub fn validate(&self) -> Result<AgencyFields, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = match checks::present(self.name.as_deref()) {
            None => {
                errors.push(FieldError::required("name"));
                None
            }
            Some(_) => checks::optional_text(&mut errors, "name", self.name.as_deref(), MAX_AGENCY_NAME),
        };
        let time_zone = match checks::present(self.time_zone.as_deref()) {
            None => {
                errors.push(FieldError::required("time_zone"));
                None
            }
            Some(raw) => {
                let zone = time_zone(raw);
                if zone.is_none() {
                    errors.push(FieldError::new(
                        "time_zone",
                        "invalid_time_zone",
                        "time_zone must be an IANA time zone name, such as America/Chicago",
                    ));
                }
                zone
            }
        };
        match (name, time_zone) {
            (Some(name), Some(time_zone)) if errors.is_empty() => Ok(AgencyFields {
                name: name.to_owned(),
                time_zone: time_zone.to_owned(),
            }),
            _ => Err(errors),
        }
    }
}

impl From<&AgencyFields> for AgencyInput {
    fn from(fields: &AgencyFields) -> Self {
        AgencyInput {
            name: Some(fields.name.clone()),
            time_zone: Some(fields.time_zone.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: Option<&str>, time_zone: Option<&str>) -> AgencyInput {
        AgencyInput {
            name: name.map(str::to_owned),
            time_zone: time_zone.map(str::to_owned),
        }
    }

    #[test]
    fn an_agency_needs_a_name_and_a_time_zone_the_database_knows() {
        let fields = input(Some("  North Clinic "), Some("america/chicago"))
            .validate()
            .unwrap();
        assert_eq!(
            (fields.name.as_str(), fields.time_zone.as_str()),
            ("North Clinic", "America/Chicago")
        );
        let codes: Vec<_> = input(None, Some("America/Chicgo"))
            .validate()
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect();
        assert_eq!(
            codes,
            [("name".into(), "required"), ("time_zone".into(), "invalid_time_zone")]
        );
    }
}
