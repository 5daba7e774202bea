//! Links from carebridge records to the same person in outside systems.

use crate::error::{FieldError, ValidationErrors};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The systems a record can be linked to. `customer` is the care platform's own id for the
/// person (the "external id" column of a participant list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ExternalSystem {
    Customer,
    Elation,
    Cliniko,
    Hint,
    Salesforce,
    Ensora,
}

impl ExternalSystem {
    pub const ALL: [ExternalSystem; 6] = [
        ExternalSystem::Customer,
        ExternalSystem::Elation,
        ExternalSystem::Cliniko,
        ExternalSystem::Hint,
        ExternalSystem::Salesforce,
        ExternalSystem::Ensora,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExternalSystem::Customer => "customer",
            ExternalSystem::Elation => "elation",
            ExternalSystem::Cliniko => "cliniko",
            ExternalSystem::Hint => "hint",
            ExternalSystem::Salesforce => "salesforce",
            ExternalSystem::Ensora => "ensora",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        ExternalSystem::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for ExternalSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record's ids in other systems, at most one per system.
pub type ExternalIds = BTreeMap<ExternalSystem, String>;

/// Longest external id accepted; vendors' ids are far shorter (Salesforce's are 18 characters).
pub const MAX_EXTERNAL_ID_LEN: usize = 128;

/// Checks `external_ids` as sent (`{"elation": "140758510600193"}`): known systems, ids trimmed,
/// non-empty, bounded and free of control characters.
pub fn parse_external_ids<'a>(
    raw: impl IntoIterator<Item = (&'a str, &'a str)>,
    errors: &mut ValidationErrors,
) -> ExternalIds {
    let mut ids = ExternalIds::new();
    parse_external_ids_into(raw, errors, &mut ids);
    ids
}

/// As `parse_external_ids`, replacing what `ids` held and reusing its entries' buffers.
pub fn parse_external_ids_into<'a>(
    raw: impl IntoIterator<Item = (&'a str, &'a str)>,
    errors: &mut ValidationErrors,
    ids: &mut ExternalIds,
) {
    let mut given = [false; ExternalSystem::ALL.len()];
    for (system, id) in raw {
        // Named only when reporting: most rows have a valid id, and this runs once per row.
        let field = || format!("external_ids.{system}");
        let Some(parsed) = ExternalSystem::parse(system) else {
            let known = ExternalSystem::ALL.map(|s| s.as_str()).join(", ");
            errors.push(FieldError::new(
                field(),
                "unknown_system",
                format!("external system must be one of: {known}"),
            ));
            continue;
        };
        let id = crate::normalize::trim(id);
        if id.is_empty()
            || (id.len() > MAX_EXTERNAL_ID_LEN && id.chars().count() > MAX_EXTERNAL_ID_LEN)
            || id.chars().any(char::is_control)
        {
            errors.push(FieldError::new(
                field(),
                "invalid_external_id",
                format!("an external id is 1 to {MAX_EXTERNAL_ID_LEN} printable characters"),
            ));
            continue;
        }
        match ids.get_mut(&parsed) {
            Some(kept) => {
                kept.clear();
                kept.push_str(id);
            }
            None => {
                ids.insert(parsed, id.to_owned());
            }
        }
        given[parsed as usize] = true;
    }
    ids.retain(|system, _| given[*system as usize]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_name_known_systems_and_printable_ids() {
        let mut errors = ValidationErrors::default();
        let raw = BTreeMap::from([
            ("elation".to_string(), " 140758510600193 ".to_string()),
            ("myspace".to_string(), "1".to_string()),
            ("hint".to_string(), "  ".to_string()),
        ]);
        let ids = parse_external_ids(raw.iter().map(|(s, id)| (s.as_str(), id.as_str())), &mut errors);
        assert_eq!(
            ids,
            ExternalIds::from([(ExternalSystem::Elation, "140758510600193".to_string())])
        );
        let codes: Vec<_> = errors.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert_eq!(
            codes,
            [
                ("external_ids.hint", "invalid_external_id"),
                ("external_ids.myspace", "unknown_system")
            ]
        );
    }
}
