//! Where each lookup key lives in the table and how it changes with its record: the one way to
//! find people by what identifies them (see `model::lookup`).
//!
//! - A link (a record's id in another system) is one record per id, `{id}`, created only where
//!   none exists: the same id can never be linked to two records of a kind in a group.
//! - Every other key is a set record holding the id of every person who has it, changed in
//!   place ([`Write::AddMember`]) in the same transaction as the person's own record, so two
//!   people changing at once never conflict over a key they share, and a refused write leaves
//!   no key behind.
//! - The group keeps a count of each kind of person ([`Write::Count`]), changed just after each
//!   create and delete (not in its transaction: every create would touch that one item, and
//!   DynamoDB refuses transactions touching one item at once), from which a flow works out what
//!   reading the whole group would cost.

use crate::error::StoreError;
use crate::keys::{self, LinkedKind};
use crate::records::{Condition, Key, Record, Records, Write};
use model::GroupId;
use model::lookup::{Lookup, PersonKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The sort-key prefix of the set records.
pub const SET_PREFIX: &str = "LOOKUP#";

/// The partition the group's set records live in: beside the group's own, so a group's writes
/// spread over two partitions (each takes at most 1,000 writes a second) and reading the group's
/// people never pages past its keys.
pub fn set_partition(group: &GroupId) -> String {
    format!("{}#KEYS", keys::group_partition(group))
}

/// Where `lookup` is kept.
pub fn key(group: &GroupId, lookup: &Lookup) -> Key {
    let set = |kind: &str, way: &str, fingerprint: &dyn std::fmt::Display| {
        Key::new(set_partition(group), format!("{SET_PREFIX}{kind}#{way}#{fingerprint}"))
    };
    match lookup {
        Lookup::PatientLink(system, id) => keys::external_link(group, LinkedKind::Patient, *system, id),
        Lookup::PractitionerLink(system, id) => keys::external_link(group, LinkedKind::Practitioner, *system, id),
        Lookup::PatientEmail(fingerprint) => set("PATIENT", "email", fingerprint),
        Lookup::PatientIdentity(fingerprint) => set("PATIENT", "identity", fingerprint),
        Lookup::PractitionerEmail(fingerprint) => set("PRACTITIONER", "email", fingerprint),
    }
}

/// A link record's body.
#[derive(Serialize, Deserialize)]
struct Link {
    id: String,
}

/// A set record's body.
#[derive(Deserialize)]
struct Members {
    #[serde(default)]
    members: Vec<String>,
}

/// The ids a lookup key's record holds.
pub fn ids(lookup: &Lookup, record: &Record) -> Result<Vec<String>, StoreError> {
    if lookup.is_link() {
        Ok(vec![record.decode::<Link>()?.value.id])
    } else {
        Ok(record.decode::<Members>()?.value.members)
    }
}

/// The writes that move person `id`'s keys from `before` to `after` (one of them empty for a
/// create or a delete), for the same transaction as the person's record. Keys held both before
/// and after are not touched.
pub fn changes(group: &GroupId, id: &str, before: &[Lookup], after: &[Lookup]) -> Result<Vec<Write>, StoreError> {
    let mut writes = Vec::new();
    for gone in before.iter().filter(|key| !after.contains(key)) {
        let key = key(group, gone);
        writes.push(if gone.is_link() {
            // Links are written once and never changed.
            Write::Delete {
                key,
                condition: Condition::AtVersion(1),
            }
        } else {
            Write::RemoveMember {
                key,
                member: id.to_owned(),
            }
        });
    }
    for new in after.iter().filter(|key| !before.contains(key)) {
        let key = key(group, new);
        writes.push(if new.is_link() {
            Write::Put {
                record: Record::encode(key, 1, &Link { id: id.to_owned() })?,
                condition: Condition::Absent,
            }
        } else {
            Write::AddMember {
                key,
                member: id.to_owned(),
            }
        });
    }
    Ok(writes)
}

/// Where the group says whether its people's lookup keys are complete (every record written
/// before lookup keys existed has been given its keys), and how far filling them in has come.
pub fn state_key(group: &GroupId) -> Key {
    Key::new(keys::group_partition(group), "LOOKUPSTATE")
}

/// Where the group's count of a kind of person is kept.
pub fn count_key(group: &GroupId, kind: PersonKind) -> Key {
    let kind = match kind {
        PersonKind::Patient => "PATIENT",
        PersonKind::Practitioner => "PRACTITIONER",
    };
    Key::new(keys::group_partition(group), format!("COUNT#{kind}"))
}

/// The change to a kind's count after one create (`+1`) or delete (`-1`).
pub fn count_change(group: &GroupId, kind: PersonKind, by: i64) -> Write {
    Write::Count {
        key: count_key(group, kind),
        by,
        condition: Condition::Always,
        expires_at: None,
    }
}

/// A count record's body.
#[derive(Deserialize)]
struct Count {
    #[serde(default)]
    count: i64,
}

/// The count a count record holds (none is 0).
pub fn count_in(record: Option<&Record>) -> Result<u64, StoreError> {
    match record {
        None => Ok(0),
        Some(record) => Ok(record.decode::<Count>()?.value.count.max(0) as u64),
    }
}

/// The ids each of `lookups` holds, in batch reads (keys holding nobody are left out).
pub async fn find(
    records: &dyn Records,
    group: &GroupId,
    lookups: &[Lookup],
) -> Result<BTreeMap<Lookup, Vec<String>>, StoreError> {
    let by_key: BTreeMap<Key, &Lookup> = lookups.iter().map(|lookup| (key(group, lookup), lookup)).collect();
    let keys: Vec<Key> = by_key.keys().cloned().collect();
    let mut found = BTreeMap::new();
    for record in records.get_many(&keys).await? {
        if let Some(lookup) = by_key.get(&record.key) {
            let ids = ids(lookup, &record)?;
            if !ids.is_empty() {
                found.insert((*lookup).clone(), ids);
            }
        }
    }
    Ok(found)
}

/// The store's key of person `id` of `kind`.
pub fn person_key(group: &GroupId, kind: PersonKind, id: &str) -> Option<Key> {
    Some(match kind {
        PersonKind::Patient => keys::patient(group, &model::PatientId::parse(id).ok()?),
        PersonKind::Practitioner => keys::practitioner(group, &model::PractitionerId::parse(id).ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::external::ExternalSystem;

    #[test]
    fn keys_sit_in_the_group_and_name_no_personal_data() {
        let acme = GroupId::parse("acme").unwrap();
        let email = Lookup::patient_email("ada@example.org");
        let key = key(&acme, &email);
        assert_eq!(key.pk, "G#acme#KEYS");
        assert!(key.sk.starts_with("LOOKUP#PATIENT#email#"), "{key}");
        assert!(!key.sk.contains("ada"), "{key}");
        let link = Lookup::PatientLink(ExternalSystem::Elation, "42".into());
        assert_eq!(super::key(&acme, &link).sk, "LINK#PATIENT#elation#42");
    }

    #[test]
    fn a_change_touches_only_the_keys_that_moved() {
        let acme = GroupId::parse("acme").unwrap();
        let old_email = Lookup::patient_email("old@example.org");
        let new_email = Lookup::patient_email("new@example.org");
        let link = Lookup::PatientLink(ExternalSystem::Customer, "A-1".into());
        let writes = changes(
            &acme,
            "pat_1",
            &[link.clone(), old_email],
            std::slice::from_ref(&new_email),
        )
        .unwrap();
        assert_eq!(writes.len(), 3);
        assert!(matches!(
            &writes[0],
            Write::Delete {
                condition: Condition::AtVersion(1),
                ..
            }
        ));
        assert!(matches!(&writes[1], Write::RemoveMember { member, .. } if member == "pat_1"));
        assert!(matches!(&writes[2], Write::AddMember { key, .. } if *key == super::key(&acme, &new_email)));
        assert!(
            changes(&acme, "pat_1", std::slice::from_ref(&link), std::slice::from_ref(&link))
                .unwrap()
                .is_empty()
        );
    }
}
