//! Bringing a vendor's people into carebridge: what an integration's preview shows and its
//! initial import does. The rules are the vendor's neither: a connector first turns its records
//! into carebridge input, then [`plan`] decides, for each practitioner and patient, whether
//! carebridge would create it, update its linked record, link an existing record, leave it
//! unchanged or skip it, with the warnings an admin should resolve first.
//!
//! Matching, in order: a record already linked to the vendor id; a practitioner with the same
//! e-mail, or a patient with the same first name, last name and date of birth (names compared
//! case-insensitively) and no link to the vendor yet; otherwise a new record.

use crate::error::ValidationErrors;
use crate::external::ExternalSystem;
use crate::ids::{PatientId, PractitionerId};
use crate::import::preview::same_identity;
use crate::lookup::{Lookup, Search};
use crate::patient::{Change, Context, PatientFields, PatientInput, changes_between};
use crate::practitioner::{PractitionerFields, PractitionerInput};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A vendor's practitioner (an Elation physician, a Cliniko practitioner), as carebridge input.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorPractitioner {
    pub vendor_id: String,
    pub input: PractitionerInput,
}

/// A vendor's patient, as carebridge input, with the vendor id of its practitioner.
#[derive(Debug, Clone, PartialEq)]
pub struct VendorPatient {
    pub vendor_id: String,
    pub input: PatientInput,
    pub practitioner_vendor_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Entity {
    Practitioner,
    Patient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlanAction {
    /// A new carebridge record, linked to the vendor's.
    Create,
    /// The linked carebridge record takes the vendor's values.
    Update,
    /// An existing, unlinked carebridge record is linked and takes the vendor's values.
    Link,
    /// Linked, and already the same.
    Unchanged,
    /// Cannot be imported as it is (see its warnings).
    Skip,
    /// The vendor archived or deleted its record: carebridge's patient stays, unlinked and
    /// marked so.
    Unlink,
}

/// Something an admin should look at before enabling: a stable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    pub code: String,
    pub message: String,
}

impl Warning {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Warning {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// What carebridge would do with one vendor record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanItem {
    pub entity: Entity,
    /// The record's id at the vendor.
    pub vendor_id: String,
    /// The person's name as the vendor has it, so the admin can find the record.
    pub name: String,
    pub action: PlanAction,
    /// The carebridge record it updates, links or leaves unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carebridge_id: Option<String>,
    /// Field by field, what an update or link changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

/// How many records take each action, and how many have warnings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActionCounts {
    pub create: u32,
    pub update: u32,
    pub link: u32,
    pub unchanged: u32,
    pub skip: u32,
    #[serde(default)]
    pub unlink: u32,
    /// Records with at least one warning.
    pub with_warnings: u32,
}

impl ActionCounts {
    pub fn count(&mut self, action: PlanAction, warned: bool) {
        *match action {
            PlanAction::Create => &mut self.create,
            PlanAction::Update => &mut self.update,
            PlanAction::Link => &mut self.link,
            PlanAction::Unchanged => &mut self.unchanged,
            PlanAction::Skip => &mut self.skip,
            PlanAction::Unlink => &mut self.unlink,
        } += 1;
        self.with_warnings += u32::from(warned);
    }

    pub fn total(&self) -> u32 {
        self.create + self.update + self.link + self.unchanged + self.skip + self.unlink
    }
}

/// Counts per kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanCounts {
    pub practitioners: ActionCounts,
    pub patients: ActionCounts,
}

impl PlanCounts {
    pub fn of(items: &[PlanItem]) -> PlanCounts {
        let mut counts = PlanCounts::default();
        for item in items {
            counts.count(item.entity, item.action, !item.warnings.is_empty());
        }
        counts
    }

    pub fn count(&mut self, entity: Entity, action: PlanAction, warned: bool) {
        match entity {
            Entity::Practitioner => self.practitioners.count(action, warned),
            Entity::Patient => self.patients.count(action, warned),
        }
    }

    pub fn warnings(&self) -> u32 {
        self.practitioners.with_warnings + self.patients.with_warnings
    }
}

/// One planned practitioner, with the fields to write.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPractitioner {
    pub item: PlanItem,
    /// For create, update and link: the whole record as it would be.
    pub fields: Option<PractitionerFields>,
    /// The record it updates or links.
    pub target: Option<PractitionerId>,
}

/// One planned patient, with the fields to write.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPatient {
    pub item: PlanItem,
    pub fields: Option<PatientFields>,
    pub target: Option<PatientId>,
    /// True when its coach is a practitioner this same plan creates: the fields name no coach
    /// yet, so the initial import plans patients again once practitioners exist.
    pub coach_pending: bool,
}

/// What the group holds now.
#[derive(Debug, Clone, Copy)]
pub struct Existing<'a> {
    pub practitioners: &'a [(PractitionerId, PractitionerFields)],
    pub patients: &'a [(PatientId, PatientFields)],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub practitioners: Vec<PlannedPractitioner>,
    pub patients: Vec<PlannedPatient>,
}

impl Plan {
    /// Every item, practitioners first (the order they are applied in).
    pub fn items(&self) -> Vec<PlanItem> {
        self.practitioners
            .iter()
            .map(|p| p.item.clone())
            .chain(self.patients.iter().map(|p| p.item.clone()))
            .collect()
    }
}

/// Plans bringing `practitioners` and `patients` of `system` into the group.
pub fn plan(
    system: ExternalSystem,
    practitioners: &[VendorPractitioner],
    patients: &[VendorPatient],
    existing: Existing<'_>,
    ctx: &Context,
) -> Plan {
    let index = Index::new(system, existing);
    let practitioners = plan_practitioners(system, practitioners, &index, ctx);
    // Where each vendor practitioner ends up: an existing record, one this plan creates, or
    // nowhere (skipped).
    let coaches: HashMap<&str, Coach> = practitioners
        .iter()
        .map(|p| {
            let coach = match (p.item.action, &p.target) {
                (PlanAction::Skip, _) => Coach::NotImported,
                (_, Some(id)) => Coach::Existing(id.clone()),
                (_, None) => Coach::New,
            };
            (p.item.vendor_id.as_str(), coach)
        })
        .collect();
    let patients = plan_patients(system, patients, &coaches, &index, ctx);
    Plan {
        practitioners,
        patients,
    }
}

/// The lookups a plan of these vendor records consults, for a flow that reads only the people
/// they find instead of the whole group: each record's link to `system`; a physician's e-mail;
/// a patient's e-mail (its own and as a coach's) and, unless its link finds it, its name and
/// date of birth. Records that do not validate consult nothing.
pub fn search(
    system: ExternalSystem,
    practitioners: &[VendorPractitioner],
    patients: &[VendorPatient],
    ctx: &Context,
) -> Search {
    let mut search = Search::default();
    for record in practitioners {
        let Ok(fields) = record.input.validate(&ctx.default_country) else {
            continue;
        };
        search.subject();
        search.always(Lookup::PractitionerLink(system, record.vendor_id.clone()));
        search.always(Lookup::practitioner_email(&fields.email));
    }
    for record in patients {
        let Ok(fields) = record.input.validate(ctx) else {
            continue;
        };
        search.subject();
        let link = Lookup::PatientLink(system, record.vendor_id.clone());
        if let Some(email) = fields.email.as_deref() {
            search.always(Lookup::patient_email(email));
            search.always(Lookup::practitioner_email(email));
        }
        let identity = Lookup::patient_identity(&fields.first_name, &fields.last_name, fields.date_of_birth);
        search.unless_found(vec![link], identity);
    }
    search
}

/// The group's people indexed the ways a plan finds them. Every list is in id order (the order
/// reading the whole group gives), so a plan comes out the same however the group was read.
struct Index<'a> {
    existing: Existing<'a>,
    practitioner_by_link: HashMap<&'a str, usize>,
    practitioners_by_email: HashMap<&'a str, Vec<usize>>,
    patient_by_link: HashMap<&'a str, usize>,
    patients_by_email: HashMap<&'a str, Vec<usize>>,
    patients_by_identity: HashMap<Lookup, Vec<usize>>,
}

impl<'a> Index<'a> {
    fn new(system: ExternalSystem, existing: Existing<'a>) -> Index<'a> {
        let mut practitioners: Vec<usize> = (0..existing.practitioners.len()).collect();
        practitioners.sort_by_key(|&i| &existing.practitioners[i].0);
        let mut patients: Vec<usize> = (0..existing.patients.len()).collect();
        patients.sort_by_key(|&i| &existing.patients[i].0);
        let mut index = Index {
            existing,
            practitioner_by_link: HashMap::new(),
            practitioners_by_email: HashMap::new(),
            patient_by_link: HashMap::new(),
            patients_by_email: HashMap::new(),
            patients_by_identity: HashMap::new(),
        };
        for i in practitioners {
            let fields = &existing.practitioners[i].1;
            if let Some(id) = fields.external_ids.get(&system) {
                index.practitioner_by_link.insert(id, i);
            }
            index.practitioners_by_email.entry(&fields.email).or_default().push(i);
        }
        for i in patients {
            let fields = &existing.patients[i].1;
            if let Some(id) = fields.external_ids.get(&system) {
                index.patient_by_link.insert(id, i);
            }
            if let Some(email) = fields.email.as_deref() {
                index.patients_by_email.entry(email).or_default().push(i);
            }
            let identity = Lookup::patient_identity(&fields.first_name, &fields.last_name, fields.date_of_birth);
            index.patients_by_identity.entry(identity).or_default().push(i);
        }
        index
    }

    fn practitioner(&self, i: usize) -> &'a (PractitionerId, PractitionerFields) {
        &self.existing.practitioners[i]
    }

    fn patient(&self, i: usize) -> &'a (PatientId, PatientFields) {
        &self.existing.patients[i]
    }

    /// The practitioners with this e-mail, in id order.
    fn practitioners_with(&self, email: &str) -> impl Iterator<Item = &'a (PractitionerId, PractitionerFields)> + '_ {
        self.practitioners_by_email
            .get(email)
            .into_iter()
            .flatten()
            .map(|&i| self.practitioner(i))
    }

    /// The patients with this e-mail, in id order.
    fn patients_with(&self, email: &str) -> impl Iterator<Item = &'a (PatientId, PatientFields)> + '_ {
        self.patients_by_email
            .get(email)
            .into_iter()
            .flatten()
            .map(|&i| self.patient(i))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Coach {
    Existing(PractitionerId),
    New,
    NotImported,
}

fn full_name(first: Option<&str>, last: Option<&str>) -> String {
    let name = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() { "(no name)".into() } else { name }
}

/// How many times each normalised e-mail appears among the vendor's records.
fn email_counts<'a>(emails: impl Iterator<Item = &'a str>) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    for email in emails {
        *counts.entry(email.to_owned()).or_insert(0) += 1;
    }
    counts
}

fn invalid_warnings(errors: &ValidationErrors, what: &str) -> Vec<Warning> {
    errors
        .0
        .iter()
        .map(|error| match (error.field.as_str(), error.code) {
            ("email", "required") => Warning::new(
                "missing_email",
                format!("This {what} has no e-mail address, which carebridge needs for a coach; it is not imported."),
            ),
            ("date_of_birth", _) => Warning::new(
                "invalid_date_of_birth",
                format!("{} This {what} is not imported.", error.message),
            ),
            (field, _) => Warning::new(
                "invalid_record",
                format!("{field}: {} This {what} is not imported.", error.message),
            ),
        })
        .collect()
}

fn plan_practitioners(
    system: ExternalSystem,
    vendor: &[VendorPractitioner],
    index: &Index<'_>,
    ctx: &Context,
) -> Vec<PlannedPractitioner> {
    let validated: Vec<Result<PractitionerFields, ValidationErrors>> =
        vendor.iter().map(|p| p.input.validate(&ctx.default_country)).collect();
    let emails = email_counts(validated.iter().flatten().map(|f| f.email.as_str()));
    vendor
        .iter()
        .zip(validated)
        .map(|(record, fields)| {
            let name = full_name(record.input.first_name.as_deref(), record.input.last_name.as_deref());
            let mut item = PlanItem {
                entity: Entity::Practitioner,
                vendor_id: record.vendor_id.clone(),
                name,
                action: PlanAction::Skip,
                carebridge_id: None,
                changes: Vec::new(),
                warnings: Vec::new(),
            };
            let incoming = match fields {
                Ok(fields) => fields,
                Err(errors) => {
                    item.warnings = invalid_warnings(&errors, "practitioner");
                    return PlannedPractitioner {
                        item,
                        fields: None,
                        target: None,
                    };
                }
            };
            if emails.get(incoming.email.as_str()) > Some(&1) {
                item.warnings.push(Warning::new(
                    "duplicate_email",
                    "Another of the vendor's practitioners has the same e-mail address; carebridge finds coaches by e-mail.",
                ));
            }
            let linked = index
                .practitioner_by_link
                .get(record.vendor_id.as_str())
                .map(|&i| index.practitioner(i));
            let same_email = || {
                index
                    .practitioners_with(&incoming.email)
                    .find(|(_, f)| !f.external_ids.contains_key(&system))
            };
            let (action, target, fields) = match linked.map(|l| (l, true)).or_else(|| same_email().map(|l| (l, false)))
            {
                Some(((id, current), is_linked)) => {
                    let next = current.synced_from(&incoming);
                    let action = match (is_linked, next == *current) {
                        (true, true) => PlanAction::Unchanged,
                        (true, false) => PlanAction::Update,
                        (false, _) => PlanAction::Link,
                    };
                    item.changes = practitioner_changes(current, &next);
                    (action, Some(id.clone()), next)
                }
                None => (PlanAction::Create, None, incoming),
            };
            if action == PlanAction::Create
                && let Some((id, _)) = index.practitioners_with(&fields.email).next()
            {
                item.warnings.push(Warning::new(
                    "duplicate_email",
                    format!(
                        "carebridge coach {id} already has this e-mail address and is linked to another of the vendor's practitioners."
                    ),
                ));
            }
            item.action = action;
            item.carebridge_id = target.as_ref().map(ToString::to_string);
            PlannedPractitioner {
                item,
                fields: Some(fields),
                target,
            }
        })
        .collect()
}

fn practitioner_changes(before: &PractitionerFields, after: &PractitionerFields) -> Vec<Change> {
    changes_between(&PractitionerInput::from(before), &PractitionerInput::from(after))
}

fn plan_patients(
    system: ExternalSystem,
    vendor: &[VendorPatient],
    coaches: &HashMap<&str, Coach>,
    index: &Index<'_>,
    ctx: &Context,
) -> Vec<PlannedPatient> {
    let validated: Vec<Result<PatientFields, ValidationErrors>> =
        vendor.iter().map(|p| p.input.validate(ctx)).collect();
    let emails = email_counts(validated.iter().flatten().filter_map(|f| f.email.as_deref()));
    vendor
        .iter()
        .zip(validated)
        .map(|(record, fields)| {
            let mut item = PlanItem {
                entity: Entity::Patient,
                vendor_id: record.vendor_id.clone(),
                name: full_name(record.input.first_name.as_deref(), record.input.last_name.as_deref()),
                action: PlanAction::Skip,
                carebridge_id: None,
                changes: Vec::new(),
                warnings: Vec::new(),
            };
            let mut incoming = match fields {
                Ok(fields) => fields,
                Err(errors) => {
                    item.warnings = invalid_warnings(&errors, "patient");
                    return PlannedPatient {
                        item,
                        fields: None,
                        target: None,
                        coach_pending: false,
                    };
                }
            };
            let coach = record
                .practitioner_vendor_id
                .as_deref()
                .map(|id| coaches.get(id).cloned().unwrap_or(Coach::NotImported));
            if coach == Some(Coach::NotImported) {
                item.warnings.push(Warning::new(
                    "physician_not_imported",
                    "The patient's practitioner at the vendor (their primary physician in Elation) is not imported (see that practitioner's warnings), so the patient would have no coach.",
                ));
            }
            if let Some(Coach::Existing(id)) = &coach {
                incoming.practitioner_id = Some(id.clone());
            }
            let coach_pending = coach == Some(Coach::New);
            match incoming.email.as_deref() {
                None => item.warnings.push(Warning::new(
                    "missing_email",
                    "The patient has no e-mail address.",
                )),
                Some(email) if emails.get(email) > Some(&1) => item.warnings.push(Warning::new(
                    "duplicate_email",
                    "Another patient has the same e-mail address.",
                )),
                Some(_) => {}
            }
            let linked = index
                .patient_by_link
                .get(record.vendor_id.as_str())
                .map(|&i| index.patient(i));
            let same_person = || {
                let identity = Lookup::patient_identity(&incoming.first_name, &incoming.last_name, incoming.date_of_birth);
                let mut candidates = index
                    .patients_by_identity
                    .get(&identity)
                    .into_iter()
                    .flatten()
                    .map(|&i| index.patient(i))
                    .filter(|(_, f)| !f.external_ids.contains_key(&system) && same_identity(f, &incoming));
                match (candidates.next(), candidates.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                }
            };
            let (action, target, fields) = match linked.map(|l| (l, true)).or_else(|| same_person().map(|l| (l, false))) {
                Some(((id, current), is_linked)) => {
                    let next = current.synced_from(&incoming);
                    let action = match (is_linked, next == *current && !coach_pending) {
                        (true, true) => PlanAction::Unchanged,
                        (true, false) => PlanAction::Update,
                        (false, _) => PlanAction::Link,
                    };
                    item.changes = next.changes_from(current);
                    (action, Some(id.clone()), next)
                }
                None => (PlanAction::Create, None, incoming),
            };
            if let Some(email) = fields.email.as_deref() {
                if let Some((id, _)) = index.patients_with(email).find(|(id, _)| Some(id) != target.as_ref()) {
                    item.warnings.push(Warning::new(
                        "duplicate_email",
                        format!("carebridge patient {id} already has this e-mail address."),
                    ));
                }
                if let Some((id, _)) = index.practitioners_with(email).next() {
                    item.warnings.push(Warning::new(
                        "duplicate_email",
                        format!("carebridge coach {id} has this e-mail address."),
                    ));
                }
            }
            item.action = action;
            item.carebridge_id = target.as_ref().map(ToString::to_string);
            PlannedPatient {
                item,
                fields: Some(fields),
                target,
                coach_pending,
            }
        })
        .collect()
}

/// The jobs an integration runs in the background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunKind {
    /// Reads everything and shows what an import would do; writes no patient or practitioner.
    Preview,
    /// The one-time import when the integration is enabled.
    InitialImport,
    /// On demand: every record the vendor holds, brought into carebridge (Cliniko).
    FullSync,
    /// On demand: only what the vendor changed since the last sync that succeeded.
    IncrementalSync,
}

impl RunKind {
    /// True for the runs an admin asks for again and again (`…/syncs`), whose result is how
    /// many records were synced and how many failed.
    pub fn is_sync(self) -> bool {
        matches!(self, RunKind::FullSync | RunKind::IncrementalSync)
    }
}

/// What `POST …/syncs` asks for; the body may be left out (a full sync).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncRequest {
    #[serde(default)]
    pub mode: SyncMode,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SyncMode {
    /// Every record the vendor holds.
    #[default]
    Full,
    /// Only what changed since the last sync that succeeded.
    Incremental,
}

impl SyncMode {
    pub fn run_kind(self) -> RunKind {
        match self {
            SyncMode::Full => RunKind::FullSync,
            SyncMode::Incremental => RunKind::IncrementalSync,
        }
    }
}

/// What a sync did: the vendor's records now in step with carebridge, and those that could not
/// be (kept, with their reasons, until fixed at the vendor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncOutcome {
    pub synced: u32,
    pub failed: u32,
    /// Records the vendor archived or deleted, unlinked in carebridge.
    pub unlinked: u32,
}

impl SyncOutcome {
    /// Every patient created, updated, linked or already the same is synced; a skipped one
    /// failed.
    pub fn of(counts: &PlanCounts) -> SyncOutcome {
        let p = &counts.patients;
        SyncOutcome {
            synced: p.create + p.update + p.link + p.unchanged,
            failed: p.skip,
            unlinked: p.unlink,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    /// Stopped for a reason that retrying will not fix (see `error`).
    Failed,
}

/// How far a run has read: records fetched from the vendor, of how many it reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    pub fetched: u32,
    pub total: Option<u32>,
}

/// One run of a preview or initial import, as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncRun {
    pub id: crate::SyncRunId,
    pub group: crate::GroupId,
    pub integration: crate::integration::IntegrationKind,
    pub kind: RunKind,
    pub status: RunStatus,
    pub requested_by: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub progress: Progress,
    /// Per kind of record and action; for an initial import, what it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<PlanCounts>,
    /// For an incremental sync: the changes it reads are those after this time (the last
    /// successful sync's start, less an overlap). None reads everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_since: Option<chrono::DateTime<chrono::Utc>>,
    /// For a sync, once it has succeeded: how many records were synced and how many failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<SyncOutcome>,
    /// Why a failed run stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SyncRun {
    pub fn queued(
        group: crate::GroupId,
        integration: crate::integration::IntegrationKind,
        kind: RunKind,
        by: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> SyncRun {
        SyncRun {
            id: crate::SyncRunId::generate(),
            group,
            integration,
            kind,
            status: RunStatus::Queued,
            requested_by: by.to_owned(),
            requested_at: now,
            started_at: None,
            finished_at: None,
            progress: Progress::default(),
            counts: None,
            changed_since: None,
            outcome: None,
            error: None,
        }
    }

    /// True once it can change no more.
    pub fn is_finished(&self) -> bool {
        matches!(self.status, RunStatus::Succeeded | RunStatus::Failed)
    }

    /// Started (or, after a crash, started again from the beginning).
    pub fn started(&self, now: chrono::DateTime<chrono::Utc>) -> SyncRun {
        SyncRun {
            status: RunStatus::Running,
            started_at: Some(now),
            progress: Progress::default(),
            ..self.clone()
        }
    }

    pub fn succeeded(&self, counts: PlanCounts, now: chrono::DateTime<chrono::Utc>) -> SyncRun {
        SyncRun {
            status: RunStatus::Succeeded,
            finished_at: Some(now),
            counts: Some(counts),
            outcome: self.kind.is_sync().then(|| SyncOutcome::of(&counts)),
            error: None,
            ..self.clone()
        }
    }

    pub fn failed(&self, reason: String, now: chrono::DateTime<chrono::Utc>) -> SyncRun {
        SyncRun {
            status: RunStatus::Failed,
            finished_at: Some(now),
            error: Some(reason),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::Country;
    use chrono::NaiveDate;
    use std::collections::BTreeMap;

    const ELATION: ExternalSystem = ExternalSystem::Elation;

    fn ctx() -> Context {
        Context {
            default_country: Country::us(),
            today: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        }
    }

    fn physician(id: &str, first: &str, email: Option<&str>) -> VendorPractitioner {
        VendorPractitioner {
            vendor_id: id.into(),
            input: PractitionerInput {
                first_name: Some(first.into()),
                last_name: Some("Hopper".into()),
                email: email.map(Into::into),
                kind: Some("coach".into()),
                external_ids: Some(BTreeMap::from([("elation".into(), id.into())])),
                ..PractitionerInput::default()
            },
        }
    }

    fn patient(id: &str, first: &str, dob: &str, email: Option<&str>, physician: Option<&str>) -> VendorPatient {
        VendorPatient {
            vendor_id: id.into(),
            input: PatientInput {
                first_name: Some(first.into()),
                last_name: Some("Lovelace".into()),
                date_of_birth: Some(dob.into()),
                email: email.map(Into::into),
                external_ids: Some(BTreeMap::from([("elation".into(), id.into())])),
                ..PatientInput::default()
            },
            practitioner_vendor_id: physician.map(Into::into),
        }
    }

    fn stored_patient(
        first: &str,
        dob: &str,
        email: Option<&str>,
        elation: Option<&str>,
    ) -> (PatientId, PatientFields) {
        let mut input = patient(elation.unwrap_or("0"), first, dob, email, None).input;
        if elation.is_none() {
            input.external_ids = None;
        }
        (PatientId::generate(), input.validate(&ctx()).unwrap())
    }

    fn codes(item: &PlanItem) -> Vec<&str> {
        item.warnings.iter().map(|w| w.code.as_str()).collect()
    }

    #[test]
    fn a_plan_from_what_its_lookups_find_equals_one_from_the_whole_group() {
        use crate::lookup::{KeysInMemory, PersonKind};
        let firsts = ["Ada", "ADA", "Bea"];
        let births = ["1980-02-29", "1990-01-01"];
        let emails = [
            None,
            Some("a@example.org"),
            Some("b@example.org"),
            Some("grace@clinic.example"),
        ];
        let links = [None, Some("100"), Some("101"), Some("102")];
        let mut seed = 5u64;
        let mut pick = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for round in 0..300 {
            let mut linked = Vec::new();
            let patients: Vec<(PatientId, PatientFields)> = (0..pick(8))
                .map(|_| {
                    let link = links[pick(4)].filter(|l| !linked.contains(l));
                    linked.extend(link);
                    stored_patient(firsts[pick(3)], births[pick(2)], emails[pick(4)], link)
                })
                .collect();
            let practitioners: Vec<(PractitionerId, PractitionerFields)> = (0..pick(3))
                .map(|n| {
                    let input = physician(
                        &format!("{}", 7 + n),
                        "Grace",
                        [
                            Some("grace@clinic.example"),
                            Some("g2@clinic.example"),
                            Some("a@example.org"),
                        ][pick(3)],
                    )
                    .input;
                    let mut input = input;
                    if pick(2) == 0 {
                        input.external_ids = None;
                    }
                    (PractitionerId::generate(), input.validate(&Country::us()).unwrap())
                })
                .collect();
            let vendor_physicians = [
                physician("7", "Grace", Some("grace@clinic.example")),
                physician("8", "Gia", Some("g2@clinic.example")),
            ];
            let vendor_patients: Vec<VendorPatient> = (0..1 + pick(6))
                .map(|n| {
                    let id = format!("{}", 100 + n);
                    patient(
                        &id,
                        firsts[pick(3)],
                        births[pick(2)],
                        emails[pick(4)],
                        Some(["7", "8"][pick(2)]),
                    )
                })
                .collect();
            let whole = plan(
                ELATION,
                &vendor_physicians,
                &vendor_patients,
                Existing {
                    practitioners: &practitioners,
                    patients: &patients,
                },
                &ctx(),
            );
            // The keys every stored record keeps, and the people the plan's search reads.
            let mut held = KeysInMemory::default();
            for (id, fields) in &patients {
                held.add(id.to_string(), crate::lookup::of_patient(fields));
            }
            for (id, fields) in &practitioners {
                held.add(id.to_string(), crate::lookup::of_practitioner(fields));
            }
            let read = search(ELATION, &vendor_physicians, &vendor_patients, &ctx()).run_against(&held);
            let mut found_patients: Vec<_> = patients
                .iter()
                .filter(|p| read.contains(&(PersonKind::Patient, p.0.to_string())))
                .cloned()
                .collect();
            let found_practitioners: Vec<_> = practitioners
                .iter()
                .filter(|p| read.contains(&(PersonKind::Practitioner, p.0.to_string())))
                .cloned()
                .collect();
            // Read in another order than the group's, too.
            found_patients.reverse();
            let looked_up = plan(
                ELATION,
                &vendor_physicians,
                &vendor_patients,
                Existing {
                    practitioners: &found_practitioners,
                    patients: &found_patients,
                },
                &ctx(),
            );
            assert_eq!(looked_up, whole, "round {round}");
        }
    }

    #[test]
    fn new_people_are_created_with_their_coach_to_follow() {
        let plan = plan(
            ELATION,
            &[physician("7", "Grace", Some("grace@clinic.example"))],
            &[patient("100", "Ada", "1980-02-29", Some("ada@example.org"), Some("7"))],
            Existing {
                practitioners: &[],
                patients: &[],
            },
            &ctx(),
        );
        assert_eq!(plan.practitioners[0].item.action, PlanAction::Create);
        let ada = &plan.patients[0];
        assert_eq!(ada.item.action, PlanAction::Create);
        assert!(ada.coach_pending);
        assert!(ada.item.warnings.is_empty(), "{:?}", ada.item.warnings);
        let counts = PlanCounts::of(&plan.items());
        assert_eq!(
            (counts.practitioners.create, counts.patients.create, counts.warnings()),
            (1, 1, 0)
        );
    }

    #[test]
    fn duplicate_and_missing_emails_and_bad_dates_are_warned() {
        let plan = plan(
            ELATION,
            &[],
            &[
                patient("1", "Ada", "1980-02-29", Some("same@example.org"), None),
                patient("2", "Bea", "1981-03-01", Some("SAME@example.org"), None),
                patient("3", "Cy", "1982-04-02", None, None),
                patient("4", "Di", "2031-01-01", Some("di@example.org"), None),
            ],
            Existing {
                practitioners: &[],
                patients: &[],
            },
            &ctx(),
        );
        let warned: Vec<(PlanAction, Vec<&str>)> =
            plan.patients.iter().map(|p| (p.item.action, codes(&p.item))).collect();
        assert_eq!(
            warned,
            [
                (PlanAction::Create, vec!["duplicate_email"]),
                (PlanAction::Create, vec!["duplicate_email"]),
                (PlanAction::Create, vec!["missing_email"]),
                (PlanAction::Skip, vec!["invalid_date_of_birth"]),
            ]
        );
    }

    #[test]
    fn an_email_already_used_in_carebridge_is_warned_until_it_is_changed() {
        let other = stored_patient("Zed", "1970-01-01", Some("ada@example.org"), None);
        let coach = (
            PractitionerId::generate(),
            physician("99", "Coach", Some("bea@example.org"))
                .input
                .validate(&Country::us())
                .unwrap(),
        );
        let incoming = [
            patient("1", "Ada", "1980-02-29", Some("ada@example.org"), None),
            patient("2", "Bea", "1981-03-01", Some("bea@example.org"), None),
        ];
        let existing_patients = [other.clone()];
        let practitioners = [coach];
        let existing = Existing {
            practitioners: &practitioners,
            patients: &existing_patients,
        };
        let warned = plan(ELATION, &[], &incoming, existing, &ctx());
        assert_eq!(codes(&warned.patients[0].item), ["duplicate_email"]);
        assert!(warned.patients[0].item.warnings[0].message.contains(other.0.as_str()));
        assert_eq!(codes(&warned.patients[1].item), ["duplicate_email"]);

        let mut resolved = other;
        resolved.1.email = Some("zed@example.org".into());
        let existing_patients = [resolved];
        let clean = plan(
            ELATION,
            &[],
            &incoming[..1],
            Existing {
                practitioners: &[],
                patients: &existing_patients,
            },
            &ctx(),
        );
        assert!(clean.patients[0].item.warnings.is_empty());
    }

    #[test]
    fn linked_records_update_or_stay_and_unlinked_matches_are_linked() {
        let linked = stored_patient("Ada", "1980-02-29", Some("ada@example.org"), Some("1"));
        let unlinked = stored_patient("bea", "1981-03-01", None, None);
        let existing_patients = [linked.clone(), unlinked.clone()];
        let existing = Existing {
            practitioners: &[],
            patients: &existing_patients,
        };
        let incoming = [
            patient("1", "Ada", "1980-02-29", Some("ada@example.org"), None),
            patient("2", "Bea", "1981-03-01", Some("bea@example.org"), None),
        ];
        let same = plan(ELATION, &[], &incoming, existing, &ctx());
        assert_eq!(same.patients[0].item.action, PlanAction::Unchanged);
        assert_eq!(same.patients[0].target.as_ref(), Some(&linked.0));
        assert_eq!(same.patients[1].item.action, PlanAction::Link);
        assert_eq!(same.patients[1].target.as_ref(), Some(&unlinked.0));
        let linked_fields = same.patients[1].fields.as_ref().unwrap();
        assert_eq!(linked_fields.external_ids.get(&ELATION).map(String::as_str), Some("2"));

        let mut renamed = incoming[0].clone();
        renamed.input.first_name = Some("Augusta".into());
        let changed = plan(ELATION, &[], &[renamed], existing, &ctx());
        assert_eq!(changed.patients[0].item.action, PlanAction::Update);
        assert_eq!(changed.patients[0].item.changes[0].field, "first_name");
    }

    #[test]
    fn a_physician_that_cannot_be_imported_leaves_its_patients_warned() {
        let plan = plan(
            ELATION,
            &[physician("7", "Grace", None)],
            &[patient("1", "Ada", "1980-02-29", Some("ada@example.org"), Some("7"))],
            Existing {
                practitioners: &[],
                patients: &[],
            },
            &ctx(),
        );
        assert_eq!(plan.practitioners[0].item.action, PlanAction::Skip);
        assert_eq!(codes(&plan.practitioners[0].item), ["missing_email"]);
        assert_eq!(codes(&plan.patients[0].item), ["physician_not_imported"]);
        assert_eq!(plan.patients[0].item.action, PlanAction::Create);
    }

    #[test]
    fn a_physician_with_a_coachs_email_links_to_that_coach() {
        let coach = (
            PractitionerId::generate(),
            PractitionerInput {
                first_name: Some("Grace".into()),
                last_name: Some("Hopper".into()),
                email: Some("grace@clinic.example".into()),
                phone: Some("+14155552671".into()),
                ..PractitionerInput::default()
            }
            .validate(&Country::us())
            .unwrap(),
        );
        let practitioners = [coach.clone()];
        let plan = plan(
            ELATION,
            &[physician("7", "Grace", Some("Grace@Clinic.example"))],
            &[patient("1", "Ada", "1980-02-29", Some("ada@example.org"), Some("7"))],
            Existing {
                practitioners: &practitioners,
                patients: &[],
            },
            &ctx(),
        );
        let grace = &plan.practitioners[0];
        assert_eq!(grace.item.action, PlanAction::Link);
        assert_eq!(grace.target.as_ref(), Some(&coach.0));
        assert_eq!(grace.fields.as_ref().unwrap().phone.as_deref(), Some("+14155552671"));
        let ada = &plan.patients[0];
        assert!(!ada.coach_pending);
        assert_eq!(ada.fields.as_ref().unwrap().practitioner_id.as_ref(), Some(&coach.0));
    }
}
