//! An integration's background runs, on the sync queue: the preview (what importing the
//! vendor's practitioners and patients would do, with warnings; it writes no patient or
//! practitioner) and the one-time initial import when the integration is enabled.
//!
//! What every run shares lives here: starting one, its status and progress, its per-record
//! results (JSON Lines beside the uploads), and finishing, failing or giving it up. What a run
//! reads and writes is its vendor's ([`super::Vendor::perform_run`]).

use super::connectable;
use super::jobs::{Job, RunJob, SyncJob, enqueue};
use super::lifecycle::{self, new_run};
use crate::paging::{Listing, all_records, decode_cursor, encode_cursor, list_records, page_size};
use crate::{AppError, Deps, groups};
use async_trait::async_trait;
use model::access::Caller;
use model::integration::IntegrationKind;
use model::sync::{Entity, PlanAction, PlanCounts, PlanItem, Progress, RunKind, SyncRun};
use model::{GroupId, SyncRunId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::{Condition, Record, StoreError, Versioned, Write, keys};

/// Where a run's per-record results are kept (JSON Lines).
pub fn results_key(group: &GroupId, kind: IntegrationKind, run: &SyncRunId) -> String {
    format!("results/integrations/{group}/{kind}/{run}.jsonl")
}

/// Starts a preview of the integration (role `integration_admin`). Its progress and results
/// are read from the run it answers with.
pub async fn start_preview(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
) -> Result<Versioned<SyncRun>, AppError> {
    let kind = lifecycle::allowed_kind(caller, group, kind)?;
    if !connectable(kind)?.previews_then_imports() {
        return Err(AppError::Conflict(format!(
            "{} has no preview: it is enabled once its credentials are verified, and synced on demand",
            kind.title()
        )));
    }
    let current = lifecycle::this_one(&lifecycle::read(deps, group).await?, kind, deps);
    current
        .value
        .can_preview()
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let now = deps.clock.now();
    let run = SyncRun::queued(group.clone(), kind, RunKind::Preview, &caller.subject, now);
    let next = current.value.with_preview(&run.id, now);
    lifecycle::replace(deps, group, current, next, Some(new_run(&run)?)).await?;
    enqueue(deps, &[SyncJob::run(&run)]).await?;
    tracing::info!(%group, integration = %kind, run = %run.id, "preview queued");
    Ok(Versioned { version: 1, value: run })
}

/// Starts a sync of `kind` (a full or an incremental one) on the sync queue (role
/// `integration_admin`); the integration must be active and offer it. Its progress and results
/// are read from the run it answers with.
pub async fn start_sync(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    request: model::sync::SyncRequest,
) -> Result<Versioned<SyncRun>, AppError> {
    let sync = request.mode.run_kind();
    let kind = lifecycle::allowed_kind(caller, group, kind)?;
    let vendor = connectable(kind)?;
    if !vendor.syncs().contains(&sync) {
        return Err(AppError::Conflict(format!(
            "{} offers no {} sync",
            kind.title(),
            if sync == RunKind::IncrementalSync {
                "incremental"
            } else {
                "full"
            }
        )));
    }
    let current = lifecycle::this_one(&lifecycle::read(deps, group).await?, kind, deps);
    if current.value.status != model::integration::IntegrationStatus::Active {
        return Err(AppError::Conflict(format!(
            "{} is {}: enable it before syncing",
            kind.title(),
            current.value.status.as_str()
        )));
    }
    let mut run = SyncRun::queued(group.clone(), kind, sync, &caller.subject, deps.clock.now());
    if sync == RunKind::IncrementalSync {
        let cursor = deps.read::<SyncCursor>(&keys::sync_cursor(group, kind)).await?;
        // With no sync before it, an incremental sync reads everything.
        run.changed_since = cursor.map(|c| c.value.up_to - deps.vendors.sync_overlap);
    }
    deps.records.write(vec![new_run(&run)?]).await?;
    enqueue(deps, &[SyncJob::run(&run)]).await?;
    tracing::info!(%group, integration = %kind, run = %run.id, kind = ?sync, "sync queued");
    Ok(Versioned { version: 1, value: run })
}

/// Where an integration's syncs have come to: the start of the last one that succeeded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SyncCursor {
    pub up_to: chrono::DateTime<chrono::Utc>,
    pub run: SyncRunId,
}

/// Moves the cursor to a sync that has just succeeded (never back: an older sync finishing
/// late leaves a newer cursor alone).
async fn advance_cursor(deps: &Deps, run: &SyncRun) -> Result<(), AppError> {
    let key = keys::sync_cursor(&run.group, run.integration);
    for _ in 0..3 {
        let before = deps.read::<SyncCursor>(&key).await?;
        if before.as_ref().is_some_and(|c| c.value.up_to >= run.requested_at) {
            return Ok(());
        }
        let next = SyncCursor {
            up_to: run.requested_at,
            run: run.id.clone(),
        };
        let (version, condition) = match &before {
            Some(before) => (before.version + 1, Condition::AtVersion(before.version)),
            None => (1, Condition::Absent),
        };
        let put = Write::Put {
            record: Record::encode(key.clone(), version, &next)?,
            condition,
        };
        match deps.records.write(vec![put]).await {
            Ok(()) => return Ok(()),
            Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. }) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(AppError::InProgressElsewhere)
}

/// What a run wrote for one vendor record, stored in the same transaction as the write, so a
/// run that is resumed knows exactly what it already did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Written {
    pub entity: Entity,
    pub vendor_id: String,
    pub action: PlanAction,
    /// None when nothing was written (the vendor's record was deleted meanwhile, say).
    pub carebridge_id: Option<String>,
}

impl Written {
    /// The write recording it, for the transaction that writes the record.
    pub fn write(&self, run: &SyncRun) -> Result<Write, AppError> {
        let entity = match self.entity {
            Entity::Practitioner => "practitioner",
            Entity::Patient => "patient",
        };
        Ok(Write::Put {
            record: Record::encode(keys::sync_item(&run.group, &run.id, entity, &self.vendor_id), 1, self)?,
            condition: Condition::Absent,
        })
    }
}

/// A plan's items as the run has carried them out: each record it wrote shows what it did and
/// the carebridge record (a create planned again after the write reads as done, not as new).
pub(crate) fn as_done(items: Vec<PlanItem>, written: &HashMap<(Entity, String), Written>) -> Vec<PlanItem> {
    items
        .into_iter()
        .map(|mut item| {
            if let Some(done) = written.get(&(item.entity, item.vendor_id.clone())) {
                if done.action != item.action {
                    item.changes.clear();
                }
                item.action = done.action;
                item.carebridge_id = done.carebridge_id.clone();
            }
            item
        })
        .collect()
}

/// What `run` has written so far, by entity and vendor id.
pub(crate) async fn written_so_far(deps: &Deps, run: &SyncRun) -> Result<HashMap<(Entity, String), Written>, AppError> {
    let records: Vec<Versioned<Written>> = all_records(deps, &run.group, &keys::sync_item_prefix(&run.id)).await?;
    Ok(records
        .into_iter()
        .map(|record| ((record.value.entity, record.value.vendor_id.clone()), record.value))
        .collect())
}

/// One run, with its progress while it runs and its counts once finished.
pub async fn get_run(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    raw_run: &str,
) -> Result<Versioned<SyncRun>, AppError> {
    let kind = lifecycle::allowed_kind(caller, group, kind)?;
    groups::load(deps, group).await?;
    read_run(deps, group, kind, raw_run).await
}

/// The integration's runs, newest first.
pub async fn list_runs(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Versioned<SyncRun>>, AppError> {
    let kind = lifecycle::allowed_kind(caller, group, kind)?;
    list_records(deps, group, &keys::sync_run_prefix(kind), cursor, limit, true).await
}

async fn read_run(
    deps: &Deps,
    group: &GroupId,
    kind: IntegrationKind,
    raw_run: &str,
) -> Result<Versioned<SyncRun>, AppError> {
    let not_found = || AppError::NotFound { what: "run" };
    let id = SyncRunId::parse(raw_run).map_err(|_| not_found())?;
    deps.read(&keys::sync_run(group, kind, &id))
        .await?
        .ok_or_else(not_found)
}

/// Which results a page shows.
pub const FILTERS: [&str; 10] = [
    "all",
    "warnings",
    "practitioners",
    "patients",
    "create",
    "update",
    "link",
    "unchanged",
    "skip",
    "unlink",
];

fn matches(filter: &str, item: &PlanItem) -> bool {
    match filter {
        "warnings" => !item.warnings.is_empty(),
        "practitioners" => item.entity == Entity::Practitioner,
        "patients" => item.entity == Entity::Patient,
        "create" => item.action == PlanAction::Create,
        "update" => item.action == PlanAction::Update,
        "link" => item.action == PlanAction::Link,
        "unchanged" => item.action == PlanAction::Unchanged,
        "skip" => item.action == PlanAction::Skip,
        "unlink" => item.action == PlanAction::Unlink,
        _ => true,
    }
}

/// Which page of a run's results to show.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResultsPage<'a> {
    /// One of [`FILTERS`]; all when left out.
    pub filter: Option<&'a str>,
    pub cursor: Option<&'a str>,
    pub limit: Option<u32>,
}

/// A page of a finished run's results: per practitioner and patient, the action and warnings
/// (practitioners first).
pub async fn results(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    raw_run: &str,
    wanted: ResultsPage<'_>,
) -> Result<Listing<PlanItem>, AppError> {
    let kind = lifecycle::allowed_kind(caller, group, kind)?;
    groups::load(deps, group).await?;
    let run = read_run(deps, group, kind, raw_run).await?;
    let ResultsPage { filter, cursor, limit } = wanted;
    let filter = filter.unwrap_or("all");
    if !FILTERS.contains(&filter) {
        return Err(AppError::BadBody(format!(
            "filter must be one of {}",
            FILTERS.join(", ")
        )));
    }
    if run.value.counts.is_none() {
        return Err(AppError::Conflict(format!(
            "the run has no results yet (it is {}); read the run for its progress",
            serde_json::to_value(run.value.status)
                .ok()
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_default()
        )));
    }
    let limit = page_size(limit)? as usize;
    let after: usize = match cursor {
        None => 0,
        Some(cursor) => decode_cursor(cursor)?.parse().map_err(|_| AppError::BadCursor)?,
    };
    let items = read_results(deps, group, kind, &run.value.id).await?;
    let mut page = Vec::new();
    let mut position = after;
    while position < items.len() && page.len() < limit {
        if matches(filter, &items[position]) {
            page.push(items[position].clone());
        }
        position += 1;
    }
    let more = items[position.min(items.len())..]
        .iter()
        .any(|item| matches(filter, item));
    Ok(Listing {
        items: page,
        next_cursor: more.then(|| encode_cursor(&position.to_string())),
    })
}

async fn read_results(
    deps: &Deps,
    group: &GroupId,
    kind: IntegrationKind,
    run: &SyncRunId,
) -> Result<Vec<PlanItem>, AppError> {
    let Some(bytes) = deps.uploads.get(&results_key(group, kind, run)).await? else {
        return Err(AppError::Internal(format!("the results of run {run} are missing")));
    };
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line)
                .map_err(|e| AppError::Internal(format!("a result line of run {run} is unreadable: {e}")))
        })
        .collect()
}

async fn write_results(deps: &Deps, run: &SyncRun, items: &[PlanItem]) -> Result<(), AppError> {
    let mut body = Vec::new();
    for item in items {
        serde_json::to_writer(&mut body, item).map_err(|e| AppError::Internal(e.to_string()))?;
        body.push(b'\n');
    }
    let key = results_key(&run.group, run.integration, &run.id);
    deps.uploads.put(&key, body, "application/x-ndjson").await?;
    Ok(())
}

#[async_trait]
impl Job for RunJob {
    fn group(&self) -> Option<&GroupId> {
        Some(&self.group)
    }

    fn record(&self) -> String {
        format!("{} run {}", self.integration, self.run)
    }

    async fn perform(&self, deps: &Deps) -> Result<(), AppError> {
        execute(deps, &self.group, self.integration, &self.run).await
    }

    async fn abandon(&self, deps: &Deps, reason: &str) -> Result<(), AppError> {
        abandon(deps, &self.group, self.integration, &self.run, reason).await
    }
}

/// Runs (or resumes) a run, from the sync queue. Errors worth retrying (the vendor unreachable,
/// a store error) are returned; a run that cannot succeed is marked failed with the reason.
pub async fn execute(deps: &Deps, group: &GroupId, kind: IntegrationKind, id: &SyncRunId) -> Result<(), AppError> {
    let Some(run) = deps.read::<SyncRun>(&keys::sync_run(group, kind, id)).await? else {
        tracing::warn!(%group, integration = %kind, run = %id, "a sync job names a run that does not exist; dropped");
        return Ok(());
    };
    if run.value.is_finished() {
        return Ok(());
    }
    let run = save_run(deps, &run, run.value.started(deps.clock.now())).await?;
    match perform(deps, run.clone()).await {
        Ok((run, counts)) => {
            let finished = run.value.succeeded(counts, deps.clock.now());
            save_run(deps, &run, finished).await?;
            if run.value.kind.is_sync() {
                // Only a sync that succeeded moves the cursor; one that dies is run again.
                advance_cursor(deps, &run.value).await?;
            }
            tracing::info!(%group, integration = %kind, run = %id, ?counts, "run finished");
            Ok(())
        }
        Err(AppError::Vendor(error)) if !error.is_retryable() => fail(deps, group, kind, id, &error.to_string()).await,
        Err(AppError::Conflict(reason)) => fail(deps, group, kind, id, &reason).await,
        Err(other) => Err(other),
    }
}

/// Marks a run failed after its job's last try.
pub async fn abandon(
    deps: &Deps,
    group: &GroupId,
    kind: IntegrationKind,
    id: &SyncRunId,
    reason: &str,
) -> Result<(), AppError> {
    fail(deps, group, kind, id, &format!("gave up after the last try: {reason}")).await
}

async fn fail(
    deps: &Deps,
    group: &GroupId,
    kind: IntegrationKind,
    id: &SyncRunId,
    reason: &str,
) -> Result<(), AppError> {
    let Some(run) = deps.read::<SyncRun>(&keys::sync_run(group, kind, id)).await? else {
        return Ok(());
    };
    if run.value.is_finished() {
        return Ok(());
    }
    tracing::error!(%group, integration = %kind, run = %id, reason, "run failed");
    let failed = run.value.failed(reason.to_owned(), deps.clock.now());
    save_run(deps, &run, failed).await.map(drop)
}

/// Stores `next` over `current`; only the worker running it writes a started run.
async fn save_run(deps: &Deps, current: &Versioned<SyncRun>, next: SyncRun) -> Result<Versioned<SyncRun>, AppError> {
    let key = keys::sync_run(&next.group, next.integration, &next.id);
    match deps.write_next(key, current.version, &next).await {
        Ok(version) => Ok(Versioned { version, value: next }),
        // Another delivery of the same job is running it: let this one be retried later.
        Err(StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Err(AppError::InProgressElsewhere),
        Err(other) => Err(other.into()),
    }
}

/// Runs a started run to its counts: the vendor's folder reads, plans and writes.
async fn perform(deps: &Deps, run: Versioned<SyncRun>) -> Result<(Versioned<SyncRun>, PlanCounts), AppError> {
    let group = run.value.group.clone();
    let integration = lifecycle::read(deps, &group).await?;
    let current = lifecycle::this_one(&integration, run.value.integration, deps);
    if !current.value.status.in_use() {
        return Err(AppError::Conflict(format!(
            "{} is no longer in use in this group",
            run.value.integration.title()
        )));
    }
    let (run, items) = connectable(run.value.integration)?.perform_run(deps, run).await?;
    write_results(deps, &run.value, &items).await?;
    Ok((run, PlanCounts::of(&items)))
}

/// Records how many of the vendor's records a run has read so far (of `total`, once known).
pub(crate) async fn report(
    deps: &Deps,
    run: Versioned<SyncRun>,
    fetched: usize,
    total: Option<u32>,
) -> Result<Versioned<SyncRun>, AppError> {
    let progress = Progress {
        fetched: u32::try_from(fetched).unwrap_or(u32::MAX),
        total,
    };
    let next = SyncRun {
        progress,
        ..run.value.clone()
    };
    save_run(deps, &run, next).await
}
