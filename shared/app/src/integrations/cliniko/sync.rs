//! Cliniko → carebridge syncs: every current client is read (progress `fetched / total`),
//! judged ([`super::clients::judge`]), given the coach Cliniko names for it ([`Coaches`]),
//! planned with the same rules as every vendor import (`model::sync::plan`) and written, coaches
//! first, each record in one transaction with the record of having written it, so a run that
//! dies and is delivered again resumes where it was.
//!
//! A client carebridge cannot take is a failed profile: kept with its reasons (listed at
//! `…/integrations/cliniko/failed`), tried again by every later sync, and gone from that list
//! once a sync takes it.

use super::clients::{Client, Judged, Reason, judge};
use super::coaches::Coaches;
use crate::integrations::runs::{Written, as_done, report, written_so_far};
use crate::people::{Person, counted, replacement, replacement_with};
use crate::{AppError, Deps, backfill, finding, groups};
use chrono::{DateTime, Utc};
use connectors::cliniko::types::{Id, Patient as ClinikoPatient};
use connectors::cliniko::{IDS_PER_REQUEST, PatientList};
use model::GroupId;
use model::external::ExternalSystem;
use model::lookup::Lookup;
use model::patient::{Context, Patient, UnlinkReason, Unlinked};
use model::practitioner::Practitioner;
use model::sync::{
    Entity, Existing, PlanAction, PlanItem, RunKind, SyncRun, VendorPatient, VendorPractitioner, Warning, plan,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use store::{Condition, Record, StoreError, Versioned, Write, keys};

/// A Cliniko client carebridge could not sync, as kept and listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailedProfile {
    pub cliniko_id: String,
    pub name: String,
    pub reasons: Vec<Reason>,
    /// When carebridge first could not take it, and the sync that last tried (none when it was
    /// only opened from Cliniko).
    pub failing_since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<model::SyncRunId>,
}

/// How often a sync plans again after patients changed under it.
const ROUNDS: usize = 5;

/// Reads Cliniko and brings its clients into carebridge: every current client (a full sync) or
/// those changed since the run's `changed_since` (an incremental one, which also takes the
/// clients whose appointments changed, since their coach may have), then the clients archived
/// or deleted in that time, whose patients are unlinked and marked so.
pub(super) async fn perform(
    deps: &Deps,
    run: Versioned<SyncRun>,
) -> Result<(Versioned<SyncRun>, Vec<PlanItem>), AppError> {
    let since = match run.value.kind {
        RunKind::FullSync => None,
        RunKind::IncrementalSync => run.value.changed_since,
        other => return Err(AppError::Conflict(format!("Cliniko runs no {other:?} runs"))),
    };
    let group = run.value.group.clone();
    let cliniko = super::client(deps, &group).await?;
    let mut pages = cliniko.patients(PatientList::Current, since);
    let mut clients: Vec<ClinikoPatient> = Vec::new();
    let mut run = run;
    while let Some(page) = pages.next_page().await? {
        clients.extend(page);
        let total = pages.total.map(|t| u32::try_from(t).unwrap_or(u32::MAX));
        run = report(deps, run, clients.len(), total).await?;
    }
    let coaches = match since {
        None => Coaches::of_everyone(&cliniko).await?,
        Some(since) => {
            let (touched, coaches) = Coaches::changed_since(&cliniko, since).await?;
            let read: HashSet<Id> = clients.iter().map(|c| c.id).collect();
            let more: Vec<Id> = touched.into_iter().filter(|id| !read.contains(id)).collect();
            for ids in more.chunks(IDS_PER_REQUEST) {
                clients.extend(cliniko.patients_with_ids(ids).all().await?);
            }
            if !more.is_empty() {
                run = report(
                    deps,
                    run,
                    clients.len(),
                    Some(u32::try_from(clients.len()).unwrap_or(u32::MAX)),
                )
                .await?;
            }
            coaches
        }
    };
    let archived = cliniko.patients(PatientList::Archived, since).all().await?;
    let deleted = cliniko.deleted_patients(since).all().await?;
    let settings = groups::load(deps, &group).await?.value.settings;
    let ctx = Context {
        default_country: settings.default_country,
        today: deps.clock.now().date_naive(),
    };
    let mut items = bring_in(deps, &run.value, &clients, &coaches, &ctx).await?;
    let gone = archived
        .iter()
        .map(|p| (p.id, UnlinkReason::Archived, p.archived_at))
        .chain(
            deleted
                .iter()
                .filter_map(|d| Some((d.id()?, UnlinkReason::Deleted, d.deleted_at))),
        );
    let written = written_so_far(deps, &run.value).await?;
    for (id, reason, at) in gone {
        let at = at.unwrap_or_else(|| deps.clock.now());
        if let Some(item) = unlink(deps, &run.value, &written, &id.to_string(), reason, at).await? {
            items.push(item);
        }
    }
    Ok((run, items))
}

/// Unlinks the patient linked to Cliniko client `cliniko_id`, which Cliniko archived or
/// deleted, and marks it so; the patient itself stays. None when no patient is linked to it.
async fn unlink(
    deps: &Deps,
    run: &SyncRun,
    written: &HashMap<(Entity, String), Written>,
    cliniko_id: &str,
    reason: UnlinkReason,
    at: DateTime<Utc>,
) -> Result<Option<PlanItem>, AppError> {
    let group = &run.group;
    forget_failed(deps, group, cliniko_id).await?;
    let warning = match reason {
        UnlinkReason::Archived => Warning {
            code: "archived_in_cliniko".into(),
            message: "the client was archived in Cliniko: the patient stays, unlinked".into(),
        },
        UnlinkReason::Deleted => Warning {
            code: "deleted_in_cliniko".into(),
            message: "the client was deleted in Cliniko: the patient stays, unlinked".into(),
        },
    };
    let item = |carebridge_id: Option<String>, name: String| PlanItem {
        entity: Entity::Patient,
        vendor_id: cliniko_id.to_owned(),
        name,
        action: PlanAction::Unlink,
        carebridge_id,
        changes: Vec::new(),
        warnings: vec![warning.clone()],
    };
    // Unlinked by this run before it was resumed.
    if let Some(done) = written.get(&(Entity::Patient, cliniko_id.to_owned())) {
        return Ok((done.action == PlanAction::Unlink).then(|| item(done.carebridge_id.clone(), String::new())));
    }
    for _ in 0..ROUNDS {
        let lookup = Lookup::PatientLink(ExternalSystem::Cliniko, cliniko_id.to_owned());
        let Some(current) = finding::linked::<Patient>(deps, group, lookup).await? else {
            return Ok(None);
        };
        let mut fields = current.value.fields.clone();
        fields.external_ids.remove(&ExternalSystem::Cliniko);
        let mark = Unlinked {
            system: ExternalSystem::Cliniko,
            external_id: cliniko_id.to_owned(),
            reason,
            at,
        };
        let (stored, mut writes) = replacement_with::<Patient>(group, Some(&current), fields, deps.clock.now(), |p| {
            p.unlinked.push(mark)
        })?;
        let done = Written {
            entity: Entity::Patient,
            vendor_id: cliniko_id.to_owned(),
            action: PlanAction::Unlink,
            carebridge_id: Some(stored.id.to_string()),
        };
        writes.push(done.write(run)?);
        match deps.records.write(writes).await {
            Ok(()) => {
                let name = format!("{} {}", stored.fields.first_name, stored.fields.last_name);
                tracing::info!(%group, cliniko_client = cliniko_id, patient = %stored.id, ?reason, "a patient was unlinked from Cliniko");
                return Ok(Some(item(Some(stored.id.to_string()), name)));
            }
            Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => {
                continue;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(AppError::InProgressElsewhere)
}

/// A client no longer current in Cliniko, or taken now, is no longer a failed profile.
async fn forget_failed(deps: &Deps, group: &GroupId, cliniko_id: &str) -> Result<(), AppError> {
    deps.records.write(vec![forget_write(group, cliniko_id)]).await?;
    Ok(())
}

/// Writes every client carebridge can take, with their coaches, records the rest as failed, and
/// answers with every record's outcome.
async fn bring_in(
    deps: &Deps,
    run: &SyncRun,
    clients: &[ClinikoPatient],
    coaches: &Coaches,
    ctx: &Context,
) -> Result<Vec<PlanItem>, AppError> {
    let judged: Vec<Judged> = clients.iter().map(|c| judge(c, ctx)).collect();
    let (failing, takeable): (Vec<Judged>, Vec<Judged>) = judged.into_iter().partition(|j| !j.problems.is_empty());
    let vendor_patients: Vec<VendorPatient> = takeable
        .iter()
        .map(|j| VendorPatient {
            vendor_id: j.client.cliniko_id.clone(),
            input: j.input.clone(),
            practitioner_vendor_id: coaches.of(&j.client.cliniko_id),
        })
        .collect();
    let mut items = write_patients(
        deps,
        &run.group,
        Some(run),
        &coaches.practitioners,
        &vendor_patients,
        ctx,
    )
    .await?;
    // Warnings the mapping raised (a sex kept as other, say) go with each client's result.
    let warnings: HashMap<&str, &Vec<Reason>> = takeable
        .iter()
        .map(|j| (j.client.cliniko_id.as_str(), &j.client.warnings))
        .collect();
    for item in items.iter_mut().filter(|i| i.entity == Entity::Patient) {
        for reason in warnings.get(item.vendor_id.as_str()).copied().into_iter().flatten() {
            item.warnings.push(warning(reason));
        }
    }
    // Failed: what Cliniko's data lacks, and what the plan could not take (its warnings say why).
    let failed: Vec<Client> = failing
        .iter()
        .map(|j| j.client.clone())
        .chain(
            items
                .iter()
                .filter(|i| i.entity == Entity::Patient && i.action == PlanAction::Skip)
                .map(|i| Client {
                    cliniko_id: i.vendor_id.clone(),
                    name: i.name.clone(),
                    errors: i
                        .warnings
                        .iter()
                        .map(|w| Reason {
                            code: w.code.clone(),
                            field: String::new(),
                            message: w.message.clone(),
                        })
                        .collect(),
                    warnings: Vec::new(),
                }),
        )
        .collect();
    let synced: HashSet<&str> = items
        .iter()
        .filter(|i| i.entity == Entity::Patient && i.action != PlanAction::Skip)
        .map(|i| i.vendor_id.as_str())
        .collect();
    keep_failed(deps, run, &failed, &synced).await?;
    items.extend(failing.iter().map(|j| PlanItem {
        entity: Entity::Patient,
        vendor_id: j.client.cliniko_id.clone(),
        name: j.client.name.clone(),
        action: PlanAction::Skip,
        carebridge_id: None,
        changes: Vec::new(),
        warnings: j.client.errors.iter().chain(&j.client.warnings).map(warning).collect(),
    }));
    Ok(items)
}

fn warning(reason: &Reason) -> Warning {
    Warning {
        code: reason.code.clone(),
        message: reason.message.clone(),
    }
}

/// Plans the clients and their coaches against the group's people and writes each create,
/// update and link once (within `run`, when one does it), coaches first; answers with each
/// record's outcome (what was done, or found already done).
pub(super) async fn write_patients(
    deps: &Deps,
    group: &GroupId,
    run: Option<&SyncRun>,
    coaches: &[VendorPractitioner],
    clients: &[VendorPatient],
    ctx: &Context,
) -> Result<Vec<PlanItem>, AppError> {
    // One more round than the patients need: the first may only create their coaches.
    for _ in 0..=ROUNDS {
        let written = match run {
            Some(run) => written_so_far(deps, run).await?,
            None => HashMap::new(),
        };
        let census = finding::census(deps, group).await?;
        backfill::start_if_needed(deps, &census).await;
        let search = model::sync::search(ExternalSystem::Cliniko, coaches, clients, ctx);
        let found = finding::read(deps, group, census.plans(Some(&search)), search).await?;
        let practitioners: Vec<_> = found
            .practitioners
            .iter()
            .map(|p| (p.value.id.clone(), p.value.fields.clone()))
            .collect();
        let patients: Vec<_> = found
            .patients
            .iter()
            .map(|p| (p.value.id.clone(), p.value.fields.clone()))
            .collect();
        let existing = Existing {
            practitioners: &practitioners,
            patients: &patients,
        };
        let plan = plan(ExternalSystem::Cliniko, coaches, clients, existing, ctx);
        let to_write = |item: &PlanItem| {
            matches!(item.action, PlanAction::Create | PlanAction::Update | PlanAction::Link)
                && !written.contains_key(&(item.entity, item.vendor_id.clone()))
        };
        // Coaches first: a patient names its coach by carebridge id, so the coach must exist.
        let coaches_by_id: HashMap<_, _> = found.practitioners.iter().map(|p| (&p.value.id, p)).collect();
        let new_coaches: Vec<_> = plan.practitioners.iter().filter(|p| to_write(&p.item)).collect();
        if !new_coaches.is_empty() {
            for planned in new_coaches {
                let Some(fields) = planned.fields.clone() else { continue };
                let target = planned.target.as_ref().and_then(|id| coaches_by_id.get(id).copied());
                // One that changed under us is planned again in the next round.
                write_one::<Practitioner>(deps, group, run, &planned.item, fields, target).await?;
            }
            continue; // plan the patients again, now that their coaches exist
        }
        let by_id: HashMap<_, _> = found.patients.iter().map(|p| (&p.value.id, p)).collect();
        let mut changed_under_us = false;
        for planned in &plan.patients {
            let item = &planned.item;
            let Some(fields) = planned.fields.clone().filter(|_| to_write(item)) else {
                continue;
            };
            let target = planned.target.as_ref().and_then(|id| by_id.get(id).copied());
            changed_under_us |= !write_one::<Patient>(deps, group, run, item, fields, target).await?;
        }
        if !changed_under_us {
            let written = match run {
                Some(run) => written_so_far(deps, run).await?,
                None => HashMap::new(),
            };
            return Ok(as_done(plan.items(), &written));
        }
    }
    Err(AppError::InProgressElsewhere)
}

/// Writes one patient or coach, with the record of having written it when a run does it; false
/// when something changed under us (the sync plans again).
async fn write_one<P: Person>(
    deps: &Deps,
    group: &GroupId,
    run: Option<&SyncRun>,
    item: &PlanItem,
    fields: P::Fields,
    target: Option<&Versioned<P::Stored>>,
) -> Result<bool, AppError> {
    let (stored, mut writes) = replacement::<P>(group, target, fields, deps.clock.now())?;
    if let Some(run) = run {
        let done = Written {
            entity: item.entity,
            vendor_id: item.vendor_id.clone(),
            action: item.action,
            carebridge_id: Some(P::id(&stored).to_string()),
        };
        writes.push(done.write(run)?);
    }
    match deps.records.write(writes).await {
        Ok(()) => {
            if target.is_none() {
                counted::<P>(deps, group, 1).await;
            }
            Ok(true)
        }
        Err(StoreError::AlreadyExists(_) | StoreError::VersionConflict { .. } | StoreError::NotFound(_)) => Ok(false),
        Err(other) => Err(other.into()),
    }
}

/// Keeps every failed profile with its reasons (since when it fails, and this run), and drops
/// those this run synced.
async fn keep_failed(deps: &Deps, run: &SyncRun, failed: &[Client], synced: &HashSet<&str>) -> Result<(), AppError> {
    let group = &run.group;
    let before: Vec<Versioned<FailedProfile>> = listed(deps, group).await?;
    let since: HashMap<&str, DateTime<Utc>> = before
        .iter()
        .map(|f| (f.value.cliniko_id.as_str(), f.value.failing_since))
        .collect();
    let now = deps.clock.now();
    let mut writes: Vec<Write> = Vec::new();
    for client in failed {
        let failing_since = since.get(client.cliniko_id.as_str()).copied().unwrap_or(now);
        writes.push(failed_write(group, client, failing_since, Some(run.id.clone()))?);
    }
    for fixed in before.iter().filter(|f| synced.contains(f.value.cliniko_id.as_str())) {
        writes.push(forget_write(group, &fixed.value.cliniko_id));
    }
    // Not one transaction: each record stands alone, and a sync run again rewrites them all.
    for write in writes {
        deps.records.write(vec![write]).await?;
    }
    Ok(())
}

/// Keeps one client as failed, outside any run (opened from Cliniko), or drops it once taken.
pub(super) async fn keep_one(deps: &Deps, group: &GroupId, client: &Client) -> Result<(), AppError> {
    if client.errors.is_empty() {
        return forget_failed(deps, group, &client.cliniko_id).await;
    }
    let key = keys::failed_profile(group, ExternalSystem::Cliniko, &client.cliniko_id);
    let before = deps.read::<FailedProfile>(&key).await?;
    let failing_since = before.as_ref().map_or(deps.clock.now(), |b| b.value.failing_since);
    let last_run = before.and_then(|b| b.value.last_run);
    deps.records
        .write(vec![failed_write(group, client, failing_since, last_run)?])
        .await?;
    Ok(())
}

/// The write that keeps `client` as a failed profile. Only syncs and opens write these, and each
/// writes what it found last.
fn failed_write(
    group: &GroupId,
    client: &Client,
    failing_since: DateTime<Utc>,
    last_run: Option<model::SyncRunId>,
) -> Result<Write, AppError> {
    let profile = FailedProfile {
        cliniko_id: client.cliniko_id.clone(),
        name: client.name.clone(),
        reasons: client.errors.clone(),
        failing_since,
        last_run,
    };
    Ok(Write::Put {
        record: Record::encode(
            keys::failed_profile(group, ExternalSystem::Cliniko, &client.cliniko_id),
            1,
            &profile,
        )?,
        condition: Condition::Always,
    })
}

/// The write that drops a client's failed profile (nothing, if it has none).
fn forget_write(group: &GroupId, cliniko_id: &str) -> Write {
    Write::Delete {
        key: keys::failed_profile(group, ExternalSystem::Cliniko, cliniko_id),
        condition: Condition::Always,
    }
}

/// Every failed profile of the group, in Cliniko id order.
pub(crate) async fn listed(deps: &Deps, group: &GroupId) -> Result<Vec<Versioned<FailedProfile>>, AppError> {
    crate::paging::all_records(deps, group, &keys::failed_profile_prefix(ExternalSystem::Cliniko)).await
}
