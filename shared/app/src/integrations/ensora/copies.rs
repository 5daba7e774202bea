//! carebridge's copy of each Ensora record it has read, with its mapping: one item per record
//! (`ENSORA#{KIND}#{id}` in the group's partition). A poll writes a copy only when what Ensora
//! sent or the mapping changed, so polls with nothing new write nothing.

use crate::paging::all_records;
use crate::{AppError, Deps};
use chrono::{DateTime, Utc};
use connectors::ensora::{Site, SoapNote, Student, User};
use model::GroupId;
use model::ensora::{Mapping, NotRendered};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use store::{Condition, Record, Versioned, Write, keys};

/// The four kinds of Ensora record carebridge maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Kind {
    Site,
    Student,
    User,
    Session,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Site, Kind::Student, Kind::User, Kind::Session];

    pub(crate) fn key_part(self) -> &'static str {
        match self {
            Kind::Site => "SITE",
            Kind::Student => "STUDENT",
            Kind::User => "USER",
            Kind::Session => "SESSION",
        }
    }

    /// As the API's paths name it (`sites`, `students`, `users`, `sessions`).
    pub fn parse_plural(raw: &str) -> Option<Kind> {
        match raw {
            "sites" => Some(Kind::Site),
            "students" => Some(Kind::Student),
            "users" => Some(Kind::User),
            "sessions" => Some(Kind::Session),
            _ => None,
        }
    }

    /// The carebridge record it maps to, in messages.
    pub fn target(self) -> &'static str {
        match self {
            Kind::Site => "agency",
            Kind::Student => "patient",
            Kind::User => "practitioner",
            Kind::Session => "appointment",
        }
    }
}

/// What a session's note did to its appointment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoteOutcome {
    /// The note's revision last written to the appointment (`dateRevisionMade`, or
    /// `original` for a note never revised).
    pub applied_revision: Option<String>,
    pub rendered: bool,
    /// Why the appointment was not rendered, every reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_rendered: Vec<NotRendered>,
}

/// One Ensora record as carebridge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Copy<T> {
    pub ensora_id: String,
    pub record: T,
    pub mapping: Mapping,
    /// For a session: what its note did to the appointment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<NoteOutcome>,
    pub read_at: DateTime<Utc>,
}

/// Copies as read, with the version each was read at (0 for one not stored yet) and whether
/// it changed since.
#[derive(Debug)]
pub struct Kept<T> {
    pub version: u64,
    pub copy: Copy<T>,
    pub changed: bool,
}

/// Every copy of one kind in a group, by Ensora id.
pub type Shelf<T> = BTreeMap<String, Kept<T>>;

/// Every copy a group keeps.
#[derive(Debug, Default)]
pub struct Copies {
    pub sites: Shelf<Site>,
    pub students: Shelf<Student>,
    pub users: Shelf<User>,
    pub sessions: Shelf<SoapNote>,
}

async fn shelf<T: DeserializeOwned>(deps: &Deps, group: &GroupId, kind: Kind) -> Result<Shelf<T>, AppError> {
    let prefix = keys::ensora_records_prefix(kind.key_part());
    Ok(all_records::<Copy<T>>(deps, group, &prefix)
        .await?
        .into_iter()
        .map(|Versioned { version, value }| {
            (
                value.ensora_id.clone(),
                Kept {
                    version,
                    copy: value,
                    changed: false,
                },
            )
        })
        .collect())
}

/// Puts what Ensora sent into the shelf: a new record starts unmapped (`unmapped`), a record
/// that differs from the copy replaces it and is marked changed; the same record changes nothing.
pub fn absorb<T: PartialEq>(
    shelf: &mut Shelf<T>,
    records: Vec<T>,
    id: impl Fn(&T) -> &str,
    now: DateTime<Utc>,
    unmapped: impl Fn() -> Mapping,
) -> Vec<String> {
    let mut changed = Vec::new();
    for record in records {
        let ensora_id = id(&record).to_owned();
        match shelf.get_mut(&ensora_id) {
            Some(kept) if kept.copy.record == record => {}
            Some(kept) => {
                kept.copy.record = record;
                kept.copy.read_at = now;
                kept.changed = true;
                changed.push(ensora_id);
            }
            None => {
                shelf.insert(
                    ensora_id.clone(),
                    Kept {
                        version: 0,
                        copy: Copy {
                            ensora_id: ensora_id.clone(),
                            record,
                            mapping: unmapped(),
                            note: None,
                            read_at: now,
                        },
                        changed: true,
                    },
                );
                changed.push(ensora_id);
            }
        }
    }
    changed
}

impl Copies {
    pub async fn load(deps: &Deps, group: &GroupId) -> Result<Copies, AppError> {
        Ok(Copies {
            sites: shelf(deps, group, Kind::Site).await?,
            students: shelf(deps, group, Kind::Student).await?,
            users: shelf(deps, group, Kind::User).await?,
            sessions: shelf(deps, group, Kind::Session).await?,
        })
    }

    /// Writes every changed copy, a transaction of at most 25 at a time, each over the
    /// version it was read at.
    pub async fn save(&mut self, deps: &Deps, group: &GroupId) -> Result<usize, AppError> {
        let mut writes = Vec::new();
        writes.extend(changed_writes(group, Kind::Site, &mut self.sites)?);
        writes.extend(changed_writes(group, Kind::Student, &mut self.students)?);
        writes.extend(changed_writes(group, Kind::User, &mut self.users)?);
        writes.extend(changed_writes(group, Kind::Session, &mut self.sessions)?);
        let written = writes.len();
        let mut writes = writes.into_iter().peekable();
        while writes.peek().is_some() {
            let chunk: Vec<Write> = writes.by_ref().take(25).collect();
            deps.records.write(chunk).await?;
        }
        Ok(written)
    }
}

/// The writes that store a shelf's changed copies; each is then at its new version, unchanged.
fn changed_writes<T: Serialize>(group: &GroupId, kind: Kind, shelf: &mut Shelf<T>) -> Result<Vec<Write>, AppError> {
    let mut writes = Vec::new();
    for kept in shelf.values_mut().filter(|kept| kept.changed) {
        let key = keys::ensora_record(group, kind.key_part(), &kept.copy.ensora_id);
        let condition = match kept.version {
            0 => Condition::Absent,
            read => Condition::AtVersion(read),
        };
        writes.push(Write::Put {
            record: Record::encode(key, kept.version + 1, &kept.copy)?,
            condition,
        });
        kept.version += 1;
        kept.changed = false;
    }
    Ok(writes)
}

/// One copy, for the mapping API.
pub async fn read<T: DeserializeOwned>(
    deps: &Deps,
    group: &GroupId,
    kind: Kind,
    ensora_id: &str,
) -> Result<Option<Versioned<Copy<T>>>, AppError> {
    deps.read(&keys::ensora_record(group, kind.key_part(), ensora_id)).await
}

/// The sort-key prefix of one kind's copies, for listings.
pub fn prefix(kind: Kind) -> String {
    keys::ensora_records_prefix(kind.key_part())
}
