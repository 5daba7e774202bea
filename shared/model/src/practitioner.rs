//! Practitioners: the coaches, physicians and staff that patients are assigned to.

use crate::checks::{self, MAX_PREFIX};
use crate::error::{FieldError, ValidationErrors};
use crate::external::{ExternalIds, parse_external_ids};
use crate::ids::{AgencyId, GroupId, PractitionerId};
use crate::normalize::Country;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PractitionerKind {
    #[default]
    Coach,
    Physician,
    Staff,
}

impl PractitionerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PractitionerKind::Coach => "coach",
            PractitionerKind::Physician => "physician",
            PractitionerKind::Staff => "staff",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            PractitionerKind::Coach,
            PractitionerKind::Physician,
            PractitionerKind::Staff,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw.trim().to_ascii_lowercase())
    }
}

/// A practitioner as a caller sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PractitionerInput {
    pub name_prefix: Option<String>,
    /// Required.
    pub first_name: Option<String>,
    /// Required.
    pub last_name: Option<String>,
    /// Required: participant lists assign patients to their coach by this address.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// coach (the default), physician or staff.
    pub kind: Option<String>,
    /// US National Provider Identifier: 10 digits with a valid check digit.
    pub npi: Option<String>,
    /// The agency (practice or site) this practitioner works at.
    pub agency_id: Option<String>,
    pub external_ids: Option<BTreeMap<String, String>>,
}

/// A practitioner's validated, normalised details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PractitionerFields {
    pub name_prefix: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    pub kind: PractitionerKind,
    pub npi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agency_id: Option<AgencyId>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub external_ids: ExternalIds,
}

/// A practitioner as carebridge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Practitioner {
    pub id: PractitionerId,
    pub group: GroupId,
    #[serde(flatten)]
    pub fields: PractitionerFields,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// True when `npi` is ten digits whose last is the Luhn check digit over `80840` + the first nine,
/// as CMS defines it.
pub fn is_valid_npi(npi: &str) -> bool {
    let digits: Vec<u32> = npi.chars().filter_map(|c| c.to_digit(10)).collect();
    if npi.len() != 10 || digits.len() != 10 {
        return false;
    }
    // 24 is the Luhn contribution of the "80840" health-industry prefix.
    let body: u32 = digits[..9]
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    (10 - (24 + body) % 10) % 10 == digits[9]
}

impl PractitionerInput {
    pub fn validate(&self, default_country: &Country) -> Result<PractitionerFields, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let e = &mut errors;
        let first_name = checks::required_name(e, "first_name", self.first_name.as_deref());
        let last_name = checks::required_name(e, "last_name", self.last_name.as_deref());
        let email = checks::optional_email(e, "email", self.email.as_deref());
        if checks::present(self.email.as_deref()).is_none() {
            e.push(FieldError::required("email"));
        }
        let kind = match checks::present(self.kind.as_deref()) {
            None => Some(PractitionerKind::default()),
            Some(raw) => {
                let kind = PractitionerKind::parse(raw);
                if kind.is_none() {
                    e.push(FieldError::new(
                        "kind",
                        "invalid_kind",
                        "kind must be one of coach, physician, staff",
                    ));
                }
                kind
            }
        };
        let npi = self
            .npi
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|npi| {
                if is_valid_npi(npi) {
                    Some(npi.to_owned())
                } else {
                    e.push(FieldError::new(
                        "npi",
                        "invalid_npi",
                        "npi must be 10 digits with a valid check digit",
                    ));
                    None
                }
            });
        let name_prefix = checks::optional_name(e, "name_prefix", self.name_prefix.as_deref(), MAX_PREFIX);
        let phone = checks::optional_phone(e, "phone", self.phone.as_deref(), default_country);
        let agency_id = checks::optional_agency_id(e, self.agency_id.as_deref());
        let external_ids = parse_external_ids(
            self.external_ids
                .iter()
                .flatten()
                .map(|(s, id)| (s.as_str(), id.as_str())),
            e,
        );
        match (first_name, last_name, email, kind) {
            (Some(first_name), Some(last_name), Some(email), Some(kind)) if errors.is_empty() => {
                Ok(PractitionerFields {
                    name_prefix: name_prefix.map(Cow::into_owned),
                    first_name: first_name.into_owned(),
                    last_name: last_name.into_owned(),
                    email: email.into_owned(),
                    phone: phone.map(|phone| phone.as_str().to_owned()),
                    kind,
                    npi,
                    agency_id,
                    external_ids,
                })
            }
            _ => Err(errors),
        }
    }
}

impl PractitionerFields {
    /// A vendor's copy laid over ours: the names, e-mail and NPI it keeps replace ours; the kind,
    /// phone and prefix carebridge keeps stay, and external ids merge.
    pub fn synced_from(&self, vendor: &PractitionerFields) -> PractitionerFields {
        let mut external_ids = self.external_ids.clone();
        external_ids.extend(vendor.external_ids.iter().map(|(s, id)| (*s, id.clone())));
        PractitionerFields {
            first_name: vendor.first_name.clone(),
            last_name: vendor.last_name.clone(),
            email: vendor.email.clone(),
            npi: vendor.npi.clone().or_else(|| self.npi.clone()),
            external_ids,
            ..self.clone()
        }
    }
}

impl From<&PractitionerFields> for PractitionerInput {
    fn from(f: &PractitionerFields) -> Self {
        PractitionerInput {
            name_prefix: f.name_prefix.clone(),
            first_name: Some(f.first_name.clone()),
            last_name: Some(f.last_name.clone()),
            email: Some(f.email.clone()),
            phone: f.phone.clone(),
            kind: Some(f.kind.as_str().to_owned()),
            npi: f.npi.clone(),
            agency_id: f.agency_id.clone().map(String::from),
            external_ids: (!f.external_ids.is_empty()).then(|| {
                f.external_ids
                    .iter()
                    .map(|(s, id)| (s.as_str().to_owned(), id.clone()))
                    .collect()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coach() -> PractitionerInput {
        PractitionerInput {
            first_name: Some("Grace".into()),
            last_name: Some("Hopper".into()),
            email: Some("Grace@Clinic.example".into()),
            ..Default::default()
        }
    }

    #[test]
    fn npi_check_digit_follows_cms() {
        assert!(is_valid_npi("1234567893"));
        assert!(!is_valid_npi("1234567890"));
        assert!(!is_valid_npi("123456789"));
        assert!(!is_valid_npi("12345678a3"));
    }

    #[test]
    fn a_coach_needs_names_and_email_and_defaults_to_coach() {
        let fields = coach().validate(&Country::us()).unwrap();
        assert_eq!(fields.email, "grace@clinic.example");
        assert_eq!(fields.kind, PractitionerKind::Coach);
        let errors = PractitionerInput::default().validate(&Country::us()).unwrap_err();
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["first_name", "last_name", "email"]);
    }

    #[test]
    fn bad_kind_npi_and_phone_are_reported() {
        let input = PractitionerInput {
            kind: Some("wizard".into()),
            npi: Some("1234567890".into()),
            phone: Some("12".into()),
            ..coach()
        };
        let errors = input.validate(&Country::us()).unwrap_err();
        let codes: Vec<_> = errors.0.iter().map(|e| e.code).collect();
        assert_eq!(codes, ["invalid_kind", "invalid_npi", "invalid_phone"]);
    }

    #[test]
    fn validated_fields_round_trip_through_input() {
        let fields = PractitionerInput {
            kind: Some("Physician".into()),
            npi: Some("1234567893".into()),
            ..coach()
        }
        .validate(&Country::us())
        .unwrap();
        assert_eq!(PractitionerInput::from(&fields).validate(&Country::us()), Ok(fields));
    }
}
