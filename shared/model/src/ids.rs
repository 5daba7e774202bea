//! Identifiers. Group ids are chosen by people (they appear in JWT claims and URLs); record ids
//! are generated, prefixed by their kind so a misplaced id is obvious in a log line.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error(
        "a group id is 2 to 64 characters of lower-case letters, digits and '-', starting and ending with a letter or digit"
    )]
    InvalidGroupId,
    #[error("not a valid {kind} id")]
    InvalidRecordId { kind: &'static str },
}

/// A customer group (tenant). Every stored key starts with it, so no query can cross tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct GroupId(String);

impl GroupId {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let bytes = raw.as_bytes();
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
        let ok = (2..=64).contains(&bytes.len())
            && bytes.iter().all(allowed)
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-';
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(IdError::InvalidGroupId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GroupId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<GroupId> for String {
    fn from(value: GroupId) -> Self {
        value.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares a generated record id: `<prefix>_<32 hex digits of a UUIDv7>`, so ids sort by
/// creation time and carry no PHI.
macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, uuid::Uuid::now_v7().simple()))
            }

            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let valid = raw
                    .strip_prefix(concat!($prefix, "_"))
                    .is_some_and(|rest| {
                        rest.len() == 32
                            && rest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    });
                if valid {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(IdError::InvalidRecordId { kind: $kind })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

record_id!(
    /// A patient (participant) in carebridge's system of record.
    PatientId, "pat", "patient"
);
record_id!(
    /// A practitioner: the coach, physician or staff person patients are assigned to.
    PractitionerId, "prc", "practitioner"
);
record_id!(
    /// One participant-list import: an uploaded file, its preview and its completion.
    ImportId, "imp", "import"
);

record_id!(
    /// One run of an integration's job: a preview or the initial import.
    SyncRunId, "run", "sync run"
);

record_id!(
    /// One entry of an integration's log (ids sort by the time they were made).
    LogEntryId, "log", "log entry"
);

record_id!(
    /// One Hint ⇄ Salesforce batch sync (ids sort by the time they were made).
    HintBatchId, "bat", "batch"
);

record_id!(
    /// An agency: one of a group's practices or sites, with its own time zone.
    AgencyId, "agy", "agency"
);

record_id!(
    /// An appointment of a patient with a practitioner at an agency.
    AppointmentId, "apt", "appointment"
);

record_id!(
    /// A plan note written in carebridge for a patient.
    PlanNoteId, "note", "plan note"
);

impl PatientId {
    /// The id of the patient that row `row` of `import` creates: the same on every attempt, so a
    /// redelivered or resumed completion finds the patient it already created instead of making
    /// a second one. It keeps the import's timestamp prefix, so the patients still list in
    /// creation order; the rest is a hash of the import and row.
    pub fn for_import_row(import: &ImportId, row: u32) -> PatientId {
        let import_hex = &import.as_str()[ImportId::PREFIX.len() + 1..];
        let digest = Sha256::digest(format!("{import}#{row}").as_bytes());
        let mut hex = String::with_capacity(32);
        hex.push_str(&import_hex[..12]);
        for byte in &digest[..10] {
            hex.push_str(&format!("{byte:02x}"));
        }
        PatientId(format!("{}_{hex}", PatientId::PREFIX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_ids_are_lowercase_slugs() {
        assert!(GroupId::parse("acme-health").is_ok());
        assert!(GroupId::parse("g1").is_ok());
        for bad in [
            "",
            "a",
            "Acme",
            "acme_health",
            "-acme",
            "acme-",
            "acme health",
            &"a".repeat(65),
        ] {
            assert_eq!(GroupId::parse(bad), Err(IdError::InvalidGroupId), "{bad:?}");
        }
    }

    #[test]
    fn generated_record_ids_parse_back_and_keep_their_kind() {
        let id = PatientId::generate();
        assert!(id.as_str().starts_with("pat_"));
        assert_eq!(PatientId::parse(id.as_str()), Ok(id.clone()));
        assert!(PractitionerId::parse(id.as_str()).is_err());
    }

    #[test]
    fn an_import_rows_patient_id_is_stable_and_distinct_per_row_and_import() {
        let import = ImportId::generate();
        let first = PatientId::for_import_row(&import, 1);
        assert_eq!(PatientId::parse(first.as_str()), Ok(first.clone()));
        assert_eq!(first, PatientId::for_import_row(&import, 1));
        assert_ne!(first, PatientId::for_import_row(&import, 2));
        assert_ne!(first, PatientId::for_import_row(&ImportId::generate(), 1));
        // Sorts with the import's creation time, like a generated id.
        assert_eq!(first.as_str()[4..16], import.as_str()[4..16]);
    }

    #[test]
    fn generated_record_ids_sort_by_creation() {
        let first = PractitionerId::generate();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = PractitionerId::generate();
        assert!(first < second);
    }

    #[test]
    fn malformed_record_ids_are_refused() {
        for bad in [
            "pat_",
            "pat_XYZ",
            "prc_0123456789abcdef0123456789abcdef",
            "pat_0123456789ABCDEF0123456789ABCDEF",
        ] {
            assert!(PatientId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
