//! Filling in lookup keys (and the group's counts) for people written before lookup keys existed.
//!
//! A group created since has complete keys from its first record. An older group has none, so
//! every flow reads it whole (always right, only slower) until this has run once: the first flow
//! that finds a group's keys incomplete queues it on the sync queue ([`start_if_needed`]), and
//! the sync-worker works through the group a batch at a time ([`run`]):
//!
//! 1. Patients, then practitioners, in sort-key order. Each record's keys are added in one
//!    transaction that also checks the record is still at the version read, so a record changed
//!    meanwhile (whose change already moved its keys) is read again, never given stale keys.
//!    Adding a key twice leaves it as once, so a batch done twice, or the whole fill run twice,
//!    leaves exactly one key per record.
//! 2. After each batch the progress is saved and the next batch queued: a job that dies is
//!    picked up from the last saved point, by the retry or by the next flow that needs the keys.
//! 3. Then each count is set to the number of records, conditioned on no create or delete
//!    having counted in between (otherwise counted again), and the keys are marked complete.

use crate::finding::Census;
use crate::integrations::jobs::{FillLookupKeys, Job, SyncJob, enqueue};
use crate::keys_state::{BackfillProgress, KeysState};
use crate::people::Person;
use crate::{AppError, Deps};
use async_trait::async_trait;
use futures_util::{StreamExt, stream};
use model::GroupId;
use model::lookup::PersonKind;
use model::patient::Patient;
use model::practitioner::Practitioner;
use store::{Condition, PageRequest, Record, StoreError, Versioned, Write, keys, lookups};

/// Records read and given their keys per batch, and batches per job.
const BATCH: u32 = 200;
const BATCHES_PER_JOB: usize = 5;
/// How many records' transactions are in flight at once.
const IN_FLIGHT: usize = 8;
/// A fill whose progress has not moved for this long is taken as stopped and started again
/// from where it got to.
const STALLED_AFTER: chrono::Duration = chrono::Duration::minutes(15);

/// Queues the fill for a group whose keys are incomplete, unless one is under way. Never fails
/// the flow that asks: the flow reads the group whole meanwhile, and a fill that could not be
/// queued is asked for again by the next flow.
pub(crate) async fn start_if_needed(deps: &Deps, census: &Census) {
    if census.keys_complete() {
        return;
    }
    let group = &census.group.value.id;
    if let Err(error) = start(deps, group, census.keys.as_ref()).await {
        tracing::warn!(%group, %error, "filling in the group's lookup keys could not be started");
    }
}

async fn start(deps: &Deps, group: &GroupId, state: Option<&Versioned<KeysState>>) -> Result<(), AppError> {
    let now = deps.clock.now();
    let progress = state.and_then(|s| s.value.progress.clone());
    if progress.as_ref().is_some_and(|p| now - p.updated_at < STALLED_AFTER) {
        return Ok(()); // under way
    }
    let Some(queue) = deps.sync_queue.as_deref() else {
        return Err(AppError::Internal(
            "this function has no sync queue (SYNC_QUEUE_URL)".into(),
        ));
    };
    let next = KeysState {
        complete: false,
        progress: Some(BackfillProgress {
            started_at: progress.as_ref().map_or(now, |p| p.started_at),
            updated_at: now,
            records_done: progress.as_ref().map_or(0, |p| p.records_done),
            after: progress.and_then(|p| p.after),
        }),
    };
    match save(deps, group, state, &next).await {
        Ok(_) => {}
        // Another flow started it at the same moment.
        Err(AppError::InProgressElsewhere) => return Ok(()),
        Err(other) => return Err(other),
    }
    let job = serde_json::to_string(&SyncJob::FillLookupKeys(FillLookupKeys { group: group.clone() }))
        .map_err(|e| AppError::Internal(e.to_string()))?;
    queue.send(vec![job]).await?;
    tracing::info!(%group, "filling in the group's lookup keys");
    Ok(())
}

/// Stores `next` over `current` (or as new); `InProgressElsewhere` when another job moved it.
async fn save(
    deps: &Deps,
    group: &GroupId,
    current: Option<&Versioned<KeysState>>,
    next: &KeysState,
) -> Result<Versioned<KeysState>, AppError> {
    let key = lookups::state_key(group);
    let (version, condition) = match current {
        Some(current) => (current.version + 1, Condition::AtVersion(current.version)),
        None => (1, Condition::Absent),
    };
    match deps
        .records
        .write(vec![Write::Put {
            record: Record::encode(key, version, next)?,
            condition,
        }])
        .await
    {
        Ok(()) => Ok(Versioned {
            version,
            value: next.clone(),
        }),
        Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => {
            Err(AppError::InProgressElsewhere)
        }
        Err(other) => Err(other.into()),
    }
}

#[async_trait]
impl Job for FillLookupKeys {
    fn group(&self) -> Option<&GroupId> {
        Some(&self.group)
    }

    fn record(&self) -> String {
        format!("lookup keys of group {}", self.group)
    }

    /// A fill given up on is started again, from its last saved point, by the next flow that
    /// needs the keys.
    async fn perform(&self, deps: &Deps) -> Result<(), AppError> {
        run(deps, &self.group).await
    }
}

/// Works through a batch of the group's records (from the sync queue), then queues the rest or
/// finishes.
pub async fn run(deps: &Deps, group: &GroupId) -> Result<(), AppError> {
    let Some(mut state) = deps.read::<KeysState>(&lookups::state_key(group)).await? else {
        // Not asked for (a message from a dropped group, say): start it properly.
        return start(deps, group, None).await;
    };
    if state.value.complete {
        return Ok(());
    }
    let mut progress = state.value.progress.clone().unwrap_or(BackfillProgress {
        started_at: deps.clock.now(),
        updated_at: deps.clock.now(),
        after: None,
        records_done: 0,
    });
    for _ in 0..BATCHES_PER_JOB {
        let after = progress.after.clone();
        let (done, next) = if after.as_deref().is_none_or(|a| a.starts_with(keys::PATIENT_PREFIX)) {
            match batch::<Patient>(deps, group, after).await? {
                (done, Some(next)) => (done, Some(next)),
                // Patients done: practitioners next, from their first.
                (done, None) => (done, Some(keys::PRACTITIONER_PREFIX.to_owned())),
            }
        } else {
            let from = after.filter(|a| a != keys::PRACTITIONER_PREFIX);
            batch::<Practitioner>(deps, group, from).await?
        };
        progress.records_done += done;
        progress.updated_at = deps.clock.now();
        progress.after = next;
        if progress.after.is_none() {
            return finish(deps, group, state, progress).await;
        }
        let next = KeysState {
            complete: false,
            progress: Some(progress.clone()),
        };
        state = match save(deps, group, Some(&state), &next).await {
            Ok(saved) => saved,
            // Another delivery of this job is filling in the same group: leave it to that one.
            Err(AppError::InProgressElsewhere) => return Ok(()),
            Err(other) => return Err(other),
        };
    }
    enqueue(
        deps,
        &[SyncJob::FillLookupKeys(FillLookupKeys { group: group.clone() })],
    )
    .await
}

/// Gives one batch of records of kind `P`, after sort key `after`, their keys; returns how many
/// and the sort key to continue after (`None` when the kind is done).
async fn batch<P: Person>(
    deps: &Deps,
    group: &GroupId,
    after: Option<String>,
) -> Result<(u64, Option<String>), AppError> {
    let page = deps
        .records
        .query(
            &keys::group_partition(group),
            P::SORT_KEY_PREFIX,
            PageRequest {
                limit: BATCH,
                after,
                newest_first: false,
            },
        )
        .await?;
    let records: Vec<Versioned<P::Stored>> = page.records.iter().map(Record::decode).collect::<Result<_, _>>()?;
    let done = records.len() as u64;
    let results: Vec<Result<(), AppError>> =
        stream::iter(records.into_iter().map(|record| give_keys::<P>(deps, group, record)))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok((done, page.next))
}

/// How often a record that keeps changing under the fill is read again.
const ATTEMPTS: usize = 5;

/// Adds one record's keys, checking in the same transaction that it is still as read.
async fn give_keys<P: Person>(deps: &Deps, group: &GroupId, mut record: Versioned<P::Stored>) -> Result<(), AppError> {
    for _ in 0..ATTEMPTS {
        let id = P::id(&record.value);
        // Links were always written with their records; the other keys are what is missing.
        let keys: Vec<_> = P::lookups(P::fields(&record.value))
            .into_iter()
            .filter(|key| !key.is_link())
            .collect();
        let mut writes = vec![Write::Check {
            key: P::key(group, id),
            condition: Condition::AtVersion(record.version),
        }];
        writes.extend(lookups::changes(group, &id.to_string(), &[], &keys)?);
        match deps.records.write(writes).await {
            Ok(()) => return Ok(()),
            Err(StoreError::VersionConflict { .. }) => {}
            // Deleted meanwhile: its delete removed whatever keys it had.
            Err(StoreError::NotFound(_)) => return Ok(()),
            Err(other) => return Err(other.into()),
        }
        match deps.read(&P::key(group, id)).await? {
            Some(now) => record = now,
            None => return Ok(()),
        }
    }
    Err(AppError::InProgressElsewhere)
}

/// Sets each count to what the group holds and marks the keys complete.
async fn finish(
    deps: &Deps,
    group: &GroupId,
    state: Versioned<KeysState>,
    progress: BackfillProgress,
) -> Result<(), AppError> {
    recount(deps, group, PersonKind::Patient, keys::PATIENT_PREFIX).await?;
    recount(deps, group, PersonKind::Practitioner, keys::PRACTITIONER_PREFIX).await?;
    let done = KeysState {
        complete: true,
        progress: None,
    };
    match save(deps, group, Some(&state), &done).await {
        Ok(_) | Err(AppError::InProgressElsewhere) => {}
        Err(other) => return Err(other),
    }
    let took = deps.clock.now() - progress.started_at;
    tracing::info!(%group, records = progress.records_done, seconds = took.num_seconds(), "the group's lookup keys are complete");
    Ok(())
}

/// How often a count is taken again because a create or delete counted while it was taken.
const RECOUNTS: usize = 5;

async fn recount(deps: &Deps, group: &GroupId, kind: PersonKind, prefix: &str) -> Result<(), AppError> {
    let key = lookups::count_key(group, kind);
    for _ in 0..RECOUNTS {
        let before = deps.records.get(&key).await?;
        let counted = crate::paging::all_keys(deps, group, prefix).await?.len() as i64;
        let held = lookups::count_in(before.as_ref())? as i64;
        let condition = match &before {
            Some(record) => Condition::AtVersion(record.version),
            None => Condition::Absent,
        };
        match deps
            .records
            .write(vec![Write::Count {
                key: key.clone(),
                by: counted - held,
                condition,
                expires_at: None,
            }])
            .await
        {
            Ok(()) => return Ok(()),
            Err(StoreError::VersionConflict { .. } | StoreError::AlreadyExists(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(AppError::InProgressElsewhere)
}
