//! The one flow every kind of record kept in a group (patients, practitioners, agencies,
//! appointments) follows: create, read, update by JSON Merge Patch at a known version, delete,
//! and list a page. Every write of a record carries, in the same transaction, the changes to its
//! lookup keys (`store::lookups`) and index entries and, for a create or delete of a person, the
//! group's count: a key can never disagree with its record, and an external id belongs to at
//! most one record of its kind per group.

use crate::paging::{Listing, all_keys, list_records};
use crate::{AppError, Deps, groups};
use chrono::{DateTime, NaiveDate, Utc};
use model::access::{Action, Caller, authorize};
use model::group::Group;
use model::lookup::{Lookup, PersonKind};
use model::{FieldError, GroupId, ValidationErrors, merge_patch};
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::keys::LinkedKind;
use store::lookups;
use store::{Condition, Key, Record, StoreError, Versioned, Write};

/// What the shared flow needs to know about one kind of record kept in a group (people,
/// agencies, appointments).
pub trait GroupRecord {
    /// What callers send; `From<&Fields>` gives the base a patch is merged onto.
    type Input: Serialize + DeserializeOwned + for<'a> From<&'a Self::Fields>;
    type Fields: Clone + PartialEq;
    type Id: Clone + std::fmt::Display;
    /// The record as stored and returned.
    type Stored: Serialize + DeserializeOwned;

    /// The kind's name in messages ("patient").
    const WHAT: &'static str;
    const SORT_KEY_PREFIX: &'static str;
    /// The group's count this kind is kept in, if it is counted (people are).
    const COUNTED: Option<PersonKind> = None;

    fn new_id() -> Self::Id;
    fn parse_id(raw: &str) -> Option<Self::Id>;
    fn key(group: &GroupId, id: &Self::Id) -> Key;
    fn validate(input: &Self::Input, group: &Group, today: NaiveDate) -> Result<Self::Fields, ValidationErrors>;
    /// Every lookup key a record with these fields keeps (`model::lookup`).
    fn lookups(_fields: &Self::Fields) -> Vec<Lookup> {
        Vec::new()
    }
    /// The index entries a record with these fields keeps beside it (an appointment under its
    /// date), written and removed with it in the same transaction.
    fn index_keys(_group: &GroupId, _id: &Self::Id, _fields: &Self::Fields) -> Vec<Key> {
        Vec::new()
    }
    /// Records these fields point at, which must exist in the group, each with the error to
    /// report when it does not.
    fn references(_group: &GroupId, _fields: &Self::Fields) -> Vec<(Key, FieldError)> {
        Vec::new()
    }
    fn assemble(
        id: Self::Id,
        group: GroupId,
        fields: Self::Fields,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) -> Self::Stored;
    /// What a new version keeps of the one it replaces besides its fields (e.g. a patient's
    /// ended links).
    fn carry_over(_current: &Self::Stored, _next: &mut Self::Stored) {}
    /// Whether a caller may make this edit: a field a vendor keeps is not the caller's to change.
    fn may_edit(_before: &Self::Fields, _after: &Self::Fields) -> Result<(), AppError> {
        Ok(())
    }
    /// What else follows a caller's edit (e.g. telling a vendor that keeps the record). The
    /// edit is already stored; this must not fail it.
    fn edited(_deps: &Deps, _before: &Self::Fields, _after: &Self::Stored) -> impl Future<Output = ()> + Send {
        async {}
    }
    /// The sort-key prefixes of records that belong to one record and go when it is deleted
    /// (a patient's plan notes).
    fn belongings(_id: &Self::Id) -> Vec<String> {
        Vec::new()
    }
    fn id(stored: &Self::Stored) -> &Self::Id;
    fn fields(stored: &Self::Stored) -> &Self::Fields;
    fn created_at(stored: &Self::Stored) -> DateTime<Utc>;
}

/// A person record (patient, practitioner): linked to other systems' records and counted.
pub trait Person: GroupRecord {
    const LINKS: LinkedKind;
    const KIND: PersonKind;
}

pub async fn create<P: GroupRecord>(
    deps: &Deps,
    caller: &Caller,
    group_id: &GroupId,
    input: P::Input,
) -> Result<Versioned<P::Stored>, AppError> {
    authorize(caller, Some(group_id), Action::WriteRecords)?;
    let group = groups::load(deps, group_id).await?;
    let now = deps.clock.now();
    let fields = P::validate(&input, &group.value, now.date_naive())?;
    check_references::<P>(deps, group_id, &fields).await?;
    let id = P::new_id();
    let stored = P::assemble(id, group_id.clone(), fields, now, now);
    let writes = record_writes::<P>(group_id, &stored, 1, None)?;
    apply::<P>(deps, writes, 0).await?;
    counted::<P>(deps, group_id, 1).await;
    Ok(Versioned {
        version: 1,
        value: stored,
    })
}

pub async fn get<P: GroupRecord>(
    deps: &Deps,
    caller: &Caller,
    group_id: &GroupId,
    raw_id: &str,
) -> Result<Versioned<P::Stored>, AppError> {
    authorize(caller, Some(group_id), Action::ReadRecords)?;
    groups::load(deps, group_id).await?;
    load::<P>(deps, group_id, raw_id).await
}

/// Applies a JSON Merge Patch to the record if it is still at `expected_version`. A patch that
/// changes nothing writes nothing.
pub async fn update<P: GroupRecord>(
    deps: &Deps,
    caller: &Caller,
    group_id: &GroupId,
    raw_id: &str,
    expected_version: u64,
    patch: &serde_json::Value,
) -> Result<Versioned<P::Stored>, AppError> {
    authorize(caller, Some(group_id), Action::WriteRecords)?;
    if !patch.is_object() {
        return Err(AppError::BadBody("a patch must be a JSON object".into()));
    }
    let group = groups::load(deps, group_id).await?;
    let current = load_at::<P>(deps, group_id, raw_id, expected_version).await?;
    let old_fields = P::fields(&current.value);
    let mut merged = serde_json::to_value(P::Input::from(old_fields)).map_err(|e| AppError::BadBody(e.to_string()))?;
    merge_patch::apply(&mut merged, patch);
    let input: P::Input = serde_json::from_value(merged).map_err(|e| AppError::BadBody(e.to_string()))?;
    let now = deps.clock.now();
    let fields = P::validate(&input, &group.value, now.date_naive())?;
    if &fields == old_fields {
        return Ok(current);
    }
    P::may_edit(old_fields, &fields)?;
    check_references::<P>(deps, group_id, &fields).await?;
    let id = P::id(&current.value).clone();
    let mut stored = P::assemble(id, group_id.clone(), fields, P::created_at(&current.value), now);
    P::carry_over(&current.value, &mut stored);
    let version = expected_version + 1;
    let writes = record_writes::<P>(group_id, &stored, version, Some(old_fields))?;
    apply::<P>(deps, writes, expected_version).await?;
    P::edited(deps, old_fields, &stored).await;
    Ok(Versioned { version, value: stored })
}

/// Deletes the record if it is still at `expected_version`, with what belongs to it, its lookup
/// keys and its place in the group's count. What belongs to it goes first, so a delete that
/// fails halfway leaves the record to be deleted again, never a record's remains without it.
pub async fn delete<P: GroupRecord>(
    deps: &Deps,
    caller: &Caller,
    group_id: &GroupId,
    raw_id: &str,
    expected_version: u64,
) -> Result<(), AppError> {
    authorize(caller, Some(group_id), Action::WriteRecords)?;
    groups::load(deps, group_id).await?;
    let current = load_at::<P>(deps, group_id, raw_id, expected_version).await?;
    let id = P::id(&current.value);
    for prefix in P::belongings(id) {
        for key in all_keys(deps, group_id, &prefix).await? {
            deps.records
                .write(vec![Write::Delete {
                    key,
                    condition: Condition::Always,
                }])
                .await?;
        }
    }
    let writes = deletion_writes::<P>(group_id, &current)?;
    apply::<P>(deps, writes, expected_version).await?;
    counted::<P>(deps, group_id, -1).await;
    tracing::info!(group = %group_id, id = %id, what = P::WHAT, "deleted");
    Ok(())
}

pub async fn list<P: GroupRecord>(
    deps: &Deps,
    caller: &Caller,
    group_id: &GroupId,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Versioned<P::Stored>>, AppError> {
    authorize(caller, Some(group_id), Action::ReadRecords)?;
    list_records(deps, group_id, P::SORT_KEY_PREFIX, cursor, limit, false).await
}

async fn load<P: GroupRecord>(deps: &Deps, group_id: &GroupId, raw_id: &str) -> Result<Versioned<P::Stored>, AppError> {
    let not_found = || AppError::NotFound { what: P::WHAT };
    let id = P::parse_id(raw_id).ok_or_else(not_found)?;
    deps.read(&P::key(group_id, &id)).await?.ok_or_else(not_found)
}

/// The record, if it is still at the version the caller read.
async fn load_at<P: GroupRecord>(
    deps: &Deps,
    group_id: &GroupId,
    raw_id: &str,
    expected_version: u64,
) -> Result<Versioned<P::Stored>, AppError> {
    let current = load::<P>(deps, group_id, raw_id).await?;
    if current.version != expected_version {
        return Err(AppError::StaleVersion {
            what: P::WHAT,
            expected: expected_version,
            current: current.version,
        });
    }
    Ok(current)
}

async fn check_references<P: GroupRecord>(deps: &Deps, group_id: &GroupId, fields: &P::Fields) -> Result<(), AppError> {
    let references = P::references(group_id, fields);
    if references.is_empty() {
        return Ok(());
    }
    let keys: Vec<Key> = references.iter().map(|(key, _)| key.clone()).collect();
    let found = deps.records.get_many(&keys).await?;
    let mut errors = ValidationErrors::default();
    for (key, error) in references {
        if !found.iter().any(|record| record.key == key) {
            errors.push(error);
        }
    }
    errors.into_result(()).map_err(AppError::from)
}

/// Everything that stores `stored` as `version` in one transaction: the record itself (created
/// if `version` is 1, otherwise only over `version - 1`) and the changes to its lookup keys from
/// those of `before` (its fields until now; `None` for a create). A create is then [`counted`].
pub(crate) fn record_writes<P: GroupRecord>(
    group: &GroupId,
    stored: &P::Stored,
    version: u64,
    before: Option<&P::Fields>,
) -> Result<Vec<Write>, AppError> {
    let id = P::id(stored);
    let condition = match version {
        1 => Condition::Absent,
        later => Condition::AtVersion(later - 1),
    };
    let mut writes = vec![Write::Put {
        record: Record::encode(P::key(group, id), version, stored)?,
        condition,
    }];
    let keys_before = before.map(P::lookups).unwrap_or_default();
    let keys_after = P::lookups(P::fields(stored));
    writes.extend(lookups::changes(group, &id.to_string(), &keys_before, &keys_after)?);
    let index_before = before
        .map(|fields| P::index_keys(group, id, fields))
        .unwrap_or_default();
    let index_after = P::index_keys(group, id, P::fields(stored));
    writes.extend(index_changes(&index_before, &index_after)?);
    Ok(writes)
}

/// The writes that take a record's index entries from `before` to `after`.
fn index_changes(before: &[Key], after: &[Key]) -> Result<Vec<Write>, AppError> {
    let mut writes: Vec<Write> = before
        .iter()
        .filter(|key| !after.contains(key))
        .map(|key| Write::Delete {
            key: key.clone(),
            condition: Condition::Always,
        })
        .collect();
    for key in after.iter().filter(|key| !before.contains(key)) {
        writes.push(Write::Put {
            record: Record::encode(key.clone(), 1, &serde_json::json!({}))?,
            condition: Condition::Always,
        });
    }
    Ok(writes)
}

/// Adds a record just created (`by` 1) or deleted (-1) to the group's count of its kind. The
/// count is kept beside the records' transactions, not in them: every create would touch the
/// one count record, and DynamoDB refuses transactions that touch one item at the same time,
/// so a busy import would fail itself. A function stopped between a write and its count leaves
/// the count one off, which only shifts where reading the whole group starts to pay; filling in
/// lookup keys sets it exact. Never fails the write it follows.
pub(crate) async fn counted<P: GroupRecord>(deps: &Deps, group: &GroupId, by: i64) {
    let Some(kind) = P::COUNTED else {
        return;
    };
    if let Err(error) = deps.records.write(vec![lookups::count_change(group, kind, by)]).await {
        tracing::warn!(%group, what = P::WHAT, %error, "the group's count could not be changed");
    }
}

/// Everything that deletes `current` in one transaction: the record (only at the version read)
/// and its lookup keys; then it is [`counted`] out.
pub(crate) fn deletion_writes<P: GroupRecord>(
    group: &GroupId,
    current: &Versioned<P::Stored>,
) -> Result<Vec<Write>, AppError> {
    let id = P::id(&current.value);
    let mut writes = vec![Write::Delete {
        key: P::key(group, id),
        condition: Condition::AtVersion(current.version),
    }];
    let keys = P::lookups(P::fields(&current.value));
    writes.extend(lookups::changes(group, &id.to_string(), &keys, &[])?);
    writes.extend(index_changes(
        &P::index_keys(group, id, P::fields(&current.value)),
        &[],
    )?);
    Ok(writes)
}

/// The record `fields` make in place of `current` (or as a new record when there is none),
/// and the writes that store it with its links, for flows that write what another system holds.
pub(crate) fn replacement<P: GroupRecord>(
    group: &GroupId,
    current: Option<&Versioned<P::Stored>>,
    fields: P::Fields,
    now: DateTime<Utc>,
) -> Result<(P::Stored, Vec<Write>), AppError> {
    replacement_with::<P>(group, current, fields, now, |_| {})
}

/// As [`replacement`], with `adjust` making the new version's last changes (a patient marked
/// as unlinked, say) before it is encoded.
pub(crate) fn replacement_with<P: GroupRecord>(
    group: &GroupId,
    current: Option<&Versioned<P::Stored>>,
    fields: P::Fields,
    now: DateTime<Utc>,
    adjust: impl FnOnce(&mut P::Stored),
) -> Result<(P::Stored, Vec<Write>), AppError> {
    let (mut stored, version) = match current {
        Some(current) => {
            let mut next = P::assemble(
                P::id(&current.value).clone(),
                group.clone(),
                fields,
                P::created_at(&current.value),
                now,
            );
            P::carry_over(&current.value, &mut next);
            (next, current.version + 1)
        }
        None => (P::assemble(P::new_id(), group.clone(), fields, now, now), 1),
    };
    adjust(&mut stored);
    let before = current.map(|current| P::fields(&current.value));
    let writes = record_writes::<P>(group, &stored, version, before)?;
    Ok((stored, writes))
}

/// Writes atomically, explaining a refused condition in the caller's terms.
async fn apply<P: GroupRecord>(deps: &Deps, writes: Vec<Write>, expected_version: u64) -> Result<(), AppError> {
    let record_key = writes[0].key().clone();
    match deps.records.write(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::VersionConflict { key, current }) if key == record_key => Err(AppError::StaleVersion {
            what: P::WHAT,
            expected: expected_version,
            current,
        }),
        Err(StoreError::NotFound(key)) if key == record_key => Err(AppError::NotFound { what: P::WHAT }),
        Err(StoreError::AlreadyExists(key)) if key != record_key => {
            let system = key.sk.split('#').nth(2).unwrap_or("external");
            Err(AppError::Conflict(format!(
                "this {system} id is already linked to another {} in the group",
                P::WHAT
            )))
        }
        Err(StoreError::NotFound(_) | StoreError::VersionConflict { .. }) => Err(AppError::Conflict(format!(
            "the {}'s external links changed at the same time; read it again and reapply your change",
            P::WHAT
        ))),
        Err(other) => Err(other.into()),
    }
}
