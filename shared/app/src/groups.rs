//! Customer groups: created by platform admins, read by their members.

use crate::{AppError, Deps};
use model::GroupId;
use model::access::{Action, Caller, authorize};
use model::group::{Group, GroupInput};
use store::{Condition, Record, StoreError, Versioned, Write, keys};

pub async fn create(deps: &Deps, caller: &Caller, input: GroupInput) -> Result<Versioned<Group>, AppError> {
    authorize(caller, None, Action::CreateGroup)?;
    let (id, settings) = input.validate()?;
    let now = deps.clock.now();
    let group = Group {
        id,
        settings,
        created_at: now,
        updated_at: now,
    };
    let record = Record::encode(keys::group(&group.id), 1, &group)?;
    // A new group's people get their lookup keys as they are written: nothing to fill in.
    let created = deps.records.write(vec![
        Write::Put {
            record,
            condition: Condition::Absent,
        },
        crate::keys_state::complete_from_the_start(&group.id)?,
    ]);
    match created.await {
        Ok(()) => Ok(Versioned {
            version: 1,
            value: group,
        }),
        Err(StoreError::AlreadyExists(key)) if key == keys::group(&group.id) => Err(AppError::Conflict(format!(
            "a group with id `{}` already exists",
            group.id
        ))),
        Err(other) => Err(other.into()),
    }
}

pub async fn get(deps: &Deps, caller: &Caller, id: &GroupId) -> Result<Versioned<Group>, AppError> {
    authorize(caller, Some(id), Action::ReadGroup)?;
    load(deps, id).await
}

/// The groups named in the caller's token that exist, in id order.
pub async fn list_mine(deps: &Deps, caller: &Caller) -> Result<Vec<Versioned<Group>>, AppError> {
    let keys: Vec<_> = caller.groups.iter().map(keys::group).collect();
    let mut groups = deps
        .records
        .get_many(&keys)
        .await?
        .iter()
        .map(Record::decode::<Group>)
        .collect::<Result<Vec<_>, _>>()?;
    groups.sort_by(|a, b| a.value.id.cmp(&b.value.id));
    Ok(groups)
}

/// Reads a group for a use case that has already checked access.
pub(crate) async fn load(deps: &Deps, id: &GroupId) -> Result<Versioned<Group>, AppError> {
    deps.read(&keys::group(id))
        .await?
        .ok_or(AppError::NotFound { what: "group" })
}
