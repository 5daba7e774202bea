//! Elation's preview and initial import: every physician and patient is read from Elation,
//! showing progress as pages arrive, and decided with the same rules (`model::sync::plan`). The
//! initial import then writes each record together with a record of having written it, in one
//! transaction: a run that crashes or is delivered twice starts again from the beginning, finds
//! what it already wrote, and ends with exact counts.

use super::inbound::{self, Applied};
use crate::integrations::runs::{Written, as_done, report, written_so_far};
use crate::people::{Person, counted, replacement};
use crate::{AppError, Deps, backfill, finding, groups};
use chrono::{DateTime, Utc};
use connectors::elation::mapping::{elation_id, vendor_patient, vendor_practitioner};
use connectors::elation::types::{Patient as ElationPatient, Physician};
use connectors::elation::{Elation, Pages};
use model::GroupId;
use model::external::ExternalSystem;
use model::patient::{Context, Patient};
use model::practitioner::Practitioner;
use model::sync::{Entity, Existing, Plan, PlanAction, PlanItem, RunKind, SyncRun, plan};
use std::collections::HashMap;
use store::{StoreError, Versioned};

/// Reads Elation and does what the run is for: a preview plans, an initial import writes.
pub(super) async fn perform(
    deps: &Deps,
    run: Versioned<SyncRun>,
) -> Result<(Versioned<SyncRun>, Vec<PlanItem>), AppError> {
    let group = run.value.group.clone();
    let client = super::client(deps, &group).await?;
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
        // Elation is kept in step by its webhooks: it offers no syncs, so none is started.
        RunKind::FullSync | RunKind::IncrementalSync => {
            return Err(AppError::Conflict("Elation runs no syncs".into()));
        }
    };
    Ok((run, items))
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

/// How often the import plans again after records changed under it (or after it created the
/// practitioners that patients point at).
const IMPORT_ROUNDS: usize = 5;

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
            return Ok(as_done(plan.items(), &written));
        }
    }
    Err(AppError::InProgressElsewhere)
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
    let state_key = inbound::state_key(group, P::LINKS, &item.vendor_id);
    let applied = deps.read::<Applied>(&state_key).await?;
    let (action, carebridge_id, mut writes) = if inbound::is_stale(applied.as_ref(), last_modified) {
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
            writes.push(inbound::state_write(state_key, applied.as_ref(), &now)?);
        }
        (item.action, Some(P::id(&stored).to_string()), writes)
    };
    let done = Written {
        entity: item.entity,
        vendor_id: item.vendor_id.clone(),
        action,
        carebridge_id,
    };
    writes.push(done.write(run)?);
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
