//! The links between a group's Hint patients and Salesforce contacts (`model::hint_salesforce::
//! Link`). Each link is stored twice, under the patient's id and under the contact's, always
//! written together at one version: either side finds its partner in one read, and a patient
//! or a contact can never be linked twice (the second link's create finds its key taken).

use crate::{AppError, Deps};
use model::GroupId;
use model::hint_salesforce::Link;
use store::{Condition, Record, StoreError, Versioned, Write, keys};

const PATIENT: &str = "PATIENT";
const CONTACT: &str = "CONTACT";

/// The sort-key prefix of the links, by contact.
pub fn contact_prefix() -> String {
    keys::hint_link_prefix(CONTACT)
}

fn keys_of(group: &GroupId, link: &Link) -> [store::Key; 2] {
    [
        keys::hint_link(group, PATIENT, &link.patient_id),
        keys::hint_link(group, CONTACT, &link.contact_id),
    ]
}

/// Where the link of a Hint patient is kept (to read many at once).
pub fn patient_key(group: &GroupId, patient_id: &str) -> store::Key {
    keys::hint_link(group, PATIENT, patient_id)
}

pub async fn by_patient(deps: &Deps, group: &GroupId, patient_id: &str) -> Result<Option<Versioned<Link>>, AppError> {
    deps.read(&patient_key(group, patient_id)).await
}

/// Where the link of a Salesforce contact is kept (to read many at once).
pub fn contact_key(group: &GroupId, contact_id: &str) -> store::Key {
    keys::hint_link(group, CONTACT, contact_id)
}

pub async fn by_contact(deps: &Deps, group: &GroupId, contact_id: &str) -> Result<Option<Versioned<Link>>, AppError> {
    deps.read(&contact_key(group, contact_id)).await
}

/// The writes that store `link`: a new one (`version` 0) only where neither side is linked yet,
/// an existing one only at the version it was read at.
pub fn save(group: &GroupId, link: &Link, version: u64) -> Result<Vec<Write>, AppError> {
    let condition = match version {
        0 => Condition::Absent,
        v => Condition::AtVersion(v),
    };
    keys_of(group, link)
        .into_iter()
        .map(|key| {
            Ok(Write::Put {
                record: Record::encode(key, version + 1, link)?,
                condition,
            })
        })
        .collect()
}

/// The writes that remove `link`, read at `version`.
pub fn remove(group: &GroupId, link: &Link, version: u64) -> Vec<Write> {
    keys_of(group, link)
        .into_iter()
        .map(|key| Write::Delete {
            key,
            condition: Condition::AtVersion(version),
        })
        .collect()
}

/// Stores `writes`; a link that changed meanwhile (another change of the same pair was applied
/// first) is a conflict the job is retried for, reading the pair again.
pub async fn commit(deps: &Deps, writes: Vec<Write>) -> Result<(), AppError> {
    deps.records.write(writes).await.map_err(|error| match error {
        StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_) => {
            tracing::warn!(%error, "a link changed while a change of it was applied");
            AppError::Conflict("the link changed while this change was applied; it is applied again".into())
        }
        other => other.into(),
    })
}
