//! An integration's background runs, on the sync queue: the preview (what importing the
//! vendor's practitioners and patients would do, with warnings; it writes no patient or
//! practitioner) and the one-time initial import when the integration is enabled.
//!
//! Both read every physician and patient from the vendor, showing progress as pages arrive, and
//! decide with the same rules (`model::sync::plan`). The initial import then writes each record
//! together with a record of having written it, in one transaction: a run that crashes or is
//! delivered twice starts again from the beginning, finds what it already wrote, and ends with
//! exact counts.

use crate::elation_inbound::{self, Applied};
use crate::integrations::{self, elation_client};
use crate::paging::{Listing, all_records, decode_cursor, encode_cursor, list_records, page_size};
use crate::people::{Person, counted, replacement};
use crate::sync_jobs::{SyncJob, enqueue};
use crate::{AppError, Deps, backfill, finding, groups};
use chrono::{DateTime, Utc};
use connectors::elation::mapping::{elation_id, vendor_patient, vendor_practitioner};
use connectors::elation::types::{Patient as ElationPatient, Physician};
use connectors::elation::{Elation, Pages};
use model::access::Caller;
use model::external::ExternalSystem;
use model::integration::IntegrationKind;
use model::patient::{Context, Patient};
use model::practitioner::Practitioner;
use model::sync::{Entity, Existing, Plan, PlanAction, PlanCounts, PlanItem, Progress, RunKind, SyncRun, plan};
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
    let kind = integrations::allowed_kind(caller, group, kind)?;
    integrations::connectable(kind)?;
    let current = integrations::this_one(&integrations::read(deps, group).await?, kind, deps);
    current
        .value
        .can_preview()
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let now = deps.clock.now();
    let run = SyncRun::queued(group.clone(), kind, RunKind::Preview, &caller.subject, now);
    let next = current.value.with_preview(&run.id, now);
    integrations::replace(deps, group, current, next, Some(new_run(&run)?)).await?;
    enqueue(
        deps,
        &[SyncJob::Run {
            group: group.clone(),
            integration: kind,
            run: run.id.clone(),
        }],
    )
    .await?;
    tracing::info!(%group, integration = %kind, run = %run.id, "preview queued");
    Ok(Versioned { version: 1, value: run })
}

/// The write that stores a new run (in the same transaction as the integration that names it).
pub(crate) fn new_run(run: &SyncRun) -> Result<Write, AppError> {
    Ok(Write::Put {
        record: Record::encode(keys::sync_run(&run.group, run.integration, &run.id), 1, run)?,
        condition: Condition::Absent,
    })
}

/// One run, with its progress while it runs and its counts once finished.
pub async fn get_run(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    raw_run: &str,
) -> Result<Versioned<SyncRun>, AppError> {
    let kind = integrations::allowed_kind(caller, group, kind)?;
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
    let kind = integrations::allowed_kind(caller, group, kind)?;
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
pub const FILTERS: [&str; 9] = [
    "all",
    "warnings",
    "practitioners",
    "patients",
    "create",
    "update",
    "link",
    "unchanged",
    "skip",
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
    let kind = integrations::allowed_kind(caller, group, kind)?;
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

/// Runs a started run to its counts.
async fn perform(deps: &Deps, run: Versioned<SyncRun>) -> Result<(Versioned<SyncRun>, PlanCounts), AppError> {
    let group = run.value.group.clone();
    let integration = integrations::read(deps, &group).await?;
    let current = integrations::this_one(&integration, run.value.integration, deps);
    if !current.value.status.in_use() {
        return Err(AppError::Conflict(format!(
            "{} is no longer in use in this group",
            run.value.integration.title()
        )));
    }
    let client = elation_client(deps, &group).await?;
    let (run, vendor) = fetch(deps, &client, run).await?;
    let settings = groups::load(deps, &group).await?.value.settings;
    let ctx = Context {
        default_country: settings.default_country,
        today: deps.clock.now().date_naive(),
    };
    let items = match run.value.kind {
        RunKind::Preview => {
            let existing = Loaded::read(deps, &group, &vendor, &ctx).await?;
            existing.plan(&vendor, &ctx).items()
        }
        RunKind::InitialImport => import(deps, &run.value, &vendor, &ctx).await?,
    };
    write_results(deps, &run.value, &items).await?;
    Ok((run, PlanCounts::of(&items)))
}

/// Everything read from the vendor.
struct Vendor {
    physicians: Vec<Physician>,
    patients: Vec<ElationPatient>,
}

impl Vendor {
    /// When Elation last changed each record, by entity and vendor id.
    fn last_modified(&self) -> HashMap<(Entity, String), Option<DateTime<Utc>>> {
        let physicians = self
            .physicians
            .iter()
            .map(|p| ((Entity::Practitioner, p.id.to_string()), p.last_modified));
        let patients = self
            .patients
            .iter()
            .map(|p| ((Entity::Patient, p.id.to_string()), p.last_modified));
        physicians.chain(patients).collect()
    }
}

/// Reads every physician and patient, recording progress after each page.
async fn fetch(
    deps: &Deps,
    client: &Elation,
    mut run: Versioned<SyncRun>,
) -> Result<(Versioned<SyncRun>, Vendor), AppError> {
    let mut physician_pages = client.physicians();
    let mut patient_pages = client.patients(None);
    // The first page of each says how many there are, so the total shows from the start.
    let mut physicians = physician_pages.next_page().await?.unwrap_or_default();
    let mut patients = patient_pages.next_page().await?.unwrap_or_default();
    let total = match (physician_pages.total, patient_pages.total) {
        (Some(a), Some(b)) => Some(u32::try_from(a + b).unwrap_or(u32::MAX)),
        _ => None,
    };
    run = report(deps, run, physicians.len() + patients.len(), total).await?;
    run = drain(deps, run, &mut physician_pages, &mut physicians, patients.len(), total).await?;
    run = drain(deps, run, &mut patient_pages, &mut patients, physicians.len(), total).await?;
    Ok((run, Vendor { physicians, patients }))
}

async fn drain<T: serde::de::DeserializeOwned>(
    deps: &Deps,
    mut run: Versioned<SyncRun>,
    pages: &mut Pages<'_, T>,
    into: &mut Vec<T>,
    others: usize,
    total: Option<u32>,
) -> Result<Versioned<SyncRun>, AppError> {
    while let Some(page) = pages.next_page().await? {
        into.extend(page);
        run = report(deps, run, into.len() + others, total).await?;
    }
    Ok(run)
}

async fn report(
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

/// The group's practitioners and patients as they are now.
struct Loaded {
    practitioners: Vec<Versioned<Practitioner>>,
    patients: Vec<Versioned<Patient>>,
}

impl Loaded {
    /// The people the vendor's records could match: those their lookups find, or the whole
    /// group where reading it costs fewer requests ([`finding`]).
    async fn read(deps: &Deps, group: &GroupId, vendor: &Vendor, ctx: &Context) -> Result<Loaded, AppError> {
        let census = finding::census(deps, group).await?;
        backfill::start_if_needed(deps, &census).await;
        let physicians: Vec<_> = vendor.physicians.iter().map(vendor_practitioner).collect();
        let patients: Vec<_> = vendor.patients.iter().map(|p| vendor_patient(p, None)).collect();
        let search = model::sync::search(ExternalSystem::Elation, &physicians, &patients, ctx);
        let plans = census.plans(Some(&search));
        let found = finding::read(deps, group, plans, search).await?;
        Ok(Loaded {
            practitioners: found.practitioners,
            patients: found.patients,
        })
    }

    fn plan(&self, vendor: &Vendor, ctx: &Context) -> Plan {
        let practitioners: Vec<_> = self
            .practitioners
            .iter()
            .map(|p| (p.value.id.clone(), p.value.fields.clone()))
            .collect();
        let patients: Vec<_> = self
            .patients
            .iter()
            .map(|p| (p.value.id.clone(), p.value.fields.clone()))
            .collect();
        // A linked patient's own copy is passed along, so values Elation cannot hold (intersex)
        // are kept when Elation's copy says the same.
        let linked: HashMap<i64, &model::patient::PatientFields> = self
            .patients
            .iter()
            .filter_map(|p| Some((elation_id(&p.value.fields.external_ids)?, &p.value.fields)))
            .collect();
        let vendor_practitioners: Vec<_> = vendor.physicians.iter().map(vendor_practitioner).collect();
        let vendor_patients: Vec<_> = vendor
            .patients
            .iter()
            .map(|p| vendor_patient(p, linked.get(&p.id).copied()))
            .collect();
        plan(
            ExternalSystem::Elation,
            &vendor_practitioners,
            &vendor_patients,
            Existing {
                practitioners: &practitioners,
                patients: &patients,
            },
            ctx,
        )
    }
}

/// What a run wrote for one vendor record, stored with the write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Written {
    entity: Entity,
    vendor_id: String,
    action: PlanAction,
    /// None when nothing was written because Elation's record was deleted meanwhile.
    carebridge_id: Option<String>,
}

/// How often the import plans again after records changed under it (or after it created the
/// practitioners that patients point at).
const IMPORT_ROUNDS: usize = 5;

fn entity_name(entity: Entity) -> &'static str {
    match entity {
        Entity::Practitioner => "practitioner",
        Entity::Patient => "patient",
    }
}

/// Writes every practitioner, then every patient, each once; returns every record's outcome.
async fn import(deps: &Deps, run: &SyncRun, vendor: &Vendor, ctx: &Context) -> Result<Vec<PlanItem>, AppError> {
    let group = &run.group;
    let modified = vendor.last_modified();
    let last_modified = |item: &PlanItem| modified.get(&(item.entity, item.vendor_id.clone())).copied().flatten();
    for _ in 0..IMPORT_ROUNDS {
        let written = written_so_far(deps, run).await?;
        let loaded = Loaded::read(deps, group, vendor, ctx).await?;
        let plan = loaded.plan(vendor, ctx);
        let practitioners_by_id: HashMap<_, _> = loaded.practitioners.iter().map(|p| (&p.value.id, p)).collect();
        let patients_by_id: HashMap<_, _> = loaded.patients.iter().map(|p| (&p.value.id, p)).collect();
        let to_write = |item: &PlanItem| {
            matches!(item.action, PlanAction::Create | PlanAction::Update | PlanAction::Link)
                && !written.contains_key(&(item.entity, item.vendor_id.clone()))
        };
        // Practitioners first: a patient's coach must exist before the patient names it.
        let practitioners: Vec<_> = plan.practitioners.iter().filter(|p| to_write(&p.item)).collect();
        if !practitioners.is_empty() {
            for planned in practitioners {
                let target = planned
                    .target
                    .as_ref()
                    .and_then(|id| practitioners_by_id.get(id).copied());
                let Some(fields) = planned.fields.clone() else { continue };
                // One that changed under us is planned again in the next round.
                let item = &planned.item;
                write_one::<Practitioner>(deps, run, item, fields, target, last_modified(item)).await?;
            }
            continue; // plan the patients again, now that their coaches exist
        }
        let mut changed_under_us = false;
        for planned in plan.patients.iter().filter(|p| to_write(&p.item)) {
            let target = planned.target.as_ref().and_then(|id| patients_by_id.get(id).copied());
            let Some(fields) = planned.fields.clone() else { continue };
            let item = &planned.item;
            changed_under_us |= !write_one::<Patient>(deps, run, item, fields, target, last_modified(item)).await?;
        }
        if !changed_under_us {
            let written = written_so_far(deps, run).await?;
            return Ok(plan
                .items()
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
                .collect());
        }
    }
    Err(AppError::InProgressElsewhere)
}

async fn written_so_far(deps: &Deps, run: &SyncRun) -> Result<HashMap<(Entity, String), Written>, AppError> {
    let records: Vec<Versioned<Written>> = all_records(deps, &run.group, &keys::sync_item_prefix(&run.id)).await?;
    Ok(records
        .into_iter()
        .map(|record| ((record.value.entity, record.value.vendor_id.clone()), record.value))
        .collect())
}

/// Writes one record with the record of having written it and, like every change applied from
/// Elation, Elation's `last_modified` for it (so an older webhook replayed later is dropped);
/// false when something changed under us (or an id it links was taken), so the import plans
/// again. A record Elation has changed since the import read it (a webhook already applied the
/// newer copy) is not written over: it is recorded as unchanged, or skipped if deleted.
async fn write_one<P: Person>(
    deps: &Deps,
    run: &SyncRun,
    item: &PlanItem,
    fields: P::Fields,
    target: Option<&Versioned<P::Stored>>,
    last_modified: Option<DateTime<Utc>>,
) -> Result<bool, AppError> {
    let group = &run.group;
    let state_key = elation_inbound::state_key(group, P::LINKS, &item.vendor_id);
    let applied = deps.read::<Applied>(&state_key).await?;
    let (action, carebridge_id, mut writes) = if elation_inbound::is_stale(applied.as_ref(), last_modified) {
        if applied.as_ref().is_some_and(|a| a.value.deleted) {
            (PlanAction::Skip, None, Vec::new())
        } else {
            let linked = target.map(|t| P::id(&t.value).to_string());
            (PlanAction::Unchanged, linked, Vec::new())
        }
    } else {
        let (stored, mut writes) = replacement::<P>(group, target, fields, deps.clock.now())?;
        if last_modified.is_some() {
            let now = Applied {
                last_modified,
                deleted: false,
            };
            writes.push(elation_inbound::state_write(state_key, applied.as_ref(), &now)?);
        }
        (item.action, Some(P::id(&stored).to_string()), writes)
    };
    let done = Written {
        entity: item.entity,
        vendor_id: item.vendor_id.clone(),
        action,
        carebridge_id,
    };
    writes.push(Write::Put {
        record: Record::encode(
            keys::sync_item(group, &run.id, entity_name(item.entity), &item.vendor_id),
            1,
            &done,
        )?,
        condition: Condition::Absent,
    });
    match deps.records.write(writes).await {
        Ok(()) => {
            if target.is_none() && action == PlanAction::Create {
                counted::<P>(deps, group, 1).await;
            }
            Ok(true)
        }
        Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}
