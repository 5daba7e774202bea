//! Hint ⇄ Salesforce batch syncs (`model::hint_batch`): every Hint patient brought to
//! Salesforce, or the contacts of a Salesforce report brought to Hint, a page of up to 200
//! records at a time on the sync queue.
//!
//! A page goes in three steps, so a batch that dies anywhere resumes without doing a record
//! twice:
//!
//! 1. **Decide**: read the page's records and their matches, decide each by the guide's rule,
//!    and store the decisions (`Planned`) before any vendor is written.
//! 2. **Carry out**: Hint first (each patient sent only what it lacks, under Hint's rate
//!    budget), then each link, then the contacts in `composite/sobjects` calls of up to 200,
//!    each carrying the batch's id in "Last Batch Sync Id". A page carried out again finds its
//!    links stored and its created contacts by that id, and makes nothing twice.
//! 3. **Commit**: the page's results and the batch's checkpoint and counts in one transaction.
//!
//! One batch runs in a group at a time. An abort is noted beside the batch and takes effect at
//! the next page; a job that has worked five minutes queues its batch's next part and ends, so
//! no batch outgrows a function's time.

use super::links;
use super::pairs::{self, ContactNow, PatientNow, Sides};
use crate::integrations::jobs::enqueue;
use crate::integrations::lifecycle::allowed_kind;
use crate::integrations::logs;
use crate::paging::{Listing, decode_cursor, encode_cursor, list_records, page_size};
use crate::{AppError, Deps};
use connectors::ConnectorError;
use connectors::hint::mapping as hint_mapping;
use connectors::hint::types::Patient;
use connectors::salesforce::mapping as sf_mapping;
use connectors::salesforce::types::{Contact, SaveResult};
use model::access::Caller;
use model::hint_batch::{Batch, Direction, Item, Outcome, PAGE, ResultFilter, Status};
use model::hint_salesforce::{self as rules, Candidate, ContactOutcome, Link, PatientOutcome, SkipReason, Winner};
use model::integration::IntegrationKind;
use model::integration_log::{LogIds, LogLevel};
use model::{GroupId, HintBatchId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use store::{Condition, Record, StoreError, Versioned, Write, keys};

/// How long one job works on a batch before it queues the rest and ends.
const WORK_PER_JOB: std::time::Duration = std::time::Duration::from_secs(300);

/// What was decided for one record of a page, before anything was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Planned {
    position: u32,
    patient_id: Option<String>,
    contact_id: Option<String>,
    decision: Decision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Decision {
    /// Link the two, neither linked yet.
    Link,
    /// The patient's link exists: its contact takes the patient's values.
    Update,
    /// Make a contact for the patient.
    Create,
    Skip(SkipReason),
}

/// One page as stored: its decisions, then (once carried out) its results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PageRecord {
    page: u32,
    /// No page follows this one.
    last: bool,
    planned: Vec<Planned>,
    #[serde(default)]
    items: Option<Vec<Item>>,
}

impl PageRecord {
    fn decided(page: u32, last: bool, planned: Vec<Planned>) -> PageRecord {
        PageRecord {
            page,
            last,
            planned,
            items: None,
        }
    }
}

/// Where a contacts → patients batch keeps the report's contact ids.
fn ids_key(group: &GroupId, batch: &HintBatchId) -> String {
    format!("batches/hint/{group}/{batch}.ids")
}

fn batch_ids(batch: &HintBatchId, patient: Option<&str>, contact: Option<&str>) -> LogIds {
    LogIds {
        batch_id: Some(batch.to_string()),
        patient_id: patient.map(str::to_owned),
        contact_id: contact.map(str::to_owned),
        ..LogIds::default()
    }
}

async fn log(deps: &Deps, group: &GroupId, level: LogLevel, event: &str, message: String, ids: LogIds) {
    logs::write(deps, group, IntegrationKind::Hint, level, event, message, ids).await;
}

// ---------------------------------------------------------------------------------------------
// What an admin calls.

/// Starts a patients → contacts batch: every current Hint patient. Role `integration_admin`.
pub async fn start_patients_to_contacts(deps: &Deps, caller: &Caller, group: &GroupId) -> Result<Batch, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    super::must_be_active(deps, group).await?;
    let batch = Batch::queued(Direction::PatientsToContacts, &caller.subject, deps.clock.now());
    start(deps, group, batch).await
}

/// Starts a contacts → patients batch from a Salesforce report's CSV export, whose first column
/// holds the contact ids (the report's text below its data is kept with the batch, not read as
/// contacts). Role `integration_admin`.
pub async fn start_contacts_to_patients(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    report: &[u8],
) -> Result<Batch, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    super::must_be_active(deps, group).await?;
    let text = std::str::from_utf8(report)
        .map_err(|_| AppError::BadBody("the report is not UTF-8 text: export it from Salesforce as CSV".into()))?;
    let rows = rules::report_contact_ids(text);
    if rows.contact_ids.is_empty() {
        return Err(AppError::BadBody(
            "the report holds no contact ids: its first column must be the Contact ID (in Salesforce, add it as the report's first column and export as CSV)".into(),
        ));
    }
    let mut batch = Batch::queued(Direction::ContactsToPatients, &caller.subject, deps.clock.now());
    batch.total = Some(rows.contact_ids.len() as u32);
    batch.report_trailing_text = rows.trailing;
    batch.report_invalid_lines = rows.invalid;
    let ids = rows.contact_ids.join("\n").into_bytes();
    deps.uploads.put(&ids_key(group, &batch.id), ids, "text/plain").await?;
    start(deps, group, batch).await
}

/// Stores `batch` with the group's batch lock and queues its first job.
async fn start(deps: &Deps, group: &GroupId, batch: Batch) -> Result<Batch, AppError> {
    let writes = vec![
        Write::Put {
            record: Record::encode(keys::hint_batch(group, &batch.id), 1, &batch)?,
            condition: Condition::Absent,
        },
        Write::Put {
            record: Record::encode(keys::hint_batch_lock(group), 1, &batch.id)?,
            condition: Condition::Absent,
        },
    ];
    match deps.records.write(writes).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists(_)) => {
            let running = deps
                .read::<HintBatchId>(&keys::hint_batch_lock(group))
                .await?
                .map_or_else(|| "another".to_owned(), |b| b.value.to_string());
            return Err(AppError::Conflict(format!(
                "batch {running} is still running in this group: wait for it or abort it first"
            )));
        }
        Err(other) => return Err(other.into()),
    }
    enqueue(
        deps,
        &[super::Job::RunBatch {
            group: group.clone(),
            batch: batch.id.clone(),
        }
        .into()],
    )
    .await?;
    log(
        deps,
        group,
        LogLevel::Debug,
        "batch_started",
        format!("a {:?} batch was queued by {}", batch.direction, batch.requested_by),
        batch_ids(&batch.id, None, None),
    )
    .await;
    Ok(batch)
}

fn parse_id(raw: &str) -> Result<HintBatchId, AppError> {
    HintBatchId::parse(raw).map_err(|_| AppError::NotFound { what: "batch" })
}

async fn read_batch(deps: &Deps, group: &GroupId, id: &HintBatchId) -> Result<Versioned<Batch>, AppError> {
    deps.read(&keys::hint_batch(group, id))
        .await?
        .ok_or(AppError::NotFound { what: "batch" })
}

/// A batch, with its progress so far. Role `integration_admin`.
pub async fn get(deps: &Deps, caller: &Caller, group: &GroupId, raw: &str) -> Result<Batch, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    let id = parse_id(raw)?;
    let mut batch = read_batch(deps, group, &id).await?.value;
    if batch.abort_requested_by.is_none() {
        batch.abort_requested_by = abort_asked(deps, group, &id).await?;
    }
    Ok(batch)
}

/// The group's batches, newest first. Role `integration_admin`.
pub async fn list(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Batch>, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    let page = list_records::<Batch>(deps, group, &keys::hint_batch_prefix(), cursor, limit, true).await?;
    Ok(page.map(|batch| batch.value))
}

/// Asks a batch to stop: it does at the end of the page it is on. 409 once it has finished.
/// Role `integration_admin`.
pub async fn abort(deps: &Deps, caller: &Caller, group: &GroupId, raw: &str) -> Result<Batch, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    let id = parse_id(raw)?;
    let mut batch = read_batch(deps, group, &id).await?.value;
    if batch.is_finished() {
        return Err(AppError::Conflict(format!(
            "the batch has finished ({:?}): there is nothing to abort",
            batch.status
        )));
    }
    let asked = Write::Put {
        record: Record::encode(keys::hint_batch_abort(group, &id), 1, &caller.subject)?,
        condition: Condition::Always,
    };
    deps.records.write(vec![asked]).await?;
    batch.abort_requested_by = Some(caller.subject.clone());
    Ok(batch)
}

async fn abort_asked(deps: &Deps, group: &GroupId, id: &HintBatchId) -> Result<Option<String>, AppError> {
    Ok(deps
        .read::<String>(&keys::hint_batch_abort(group, id))
        .await?
        .map(|v| v.value))
}

/// A page of a batch's results, in the order the records were worked on, filtered. Results
/// appear a page at a time as the batch goes. Role `integration_admin`.
pub async fn results(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw: &str,
    filter: ResultFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Item>, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    let id = parse_id(raw)?;
    read_batch(deps, group, &id).await?;
    let limit = page_size(limit)? as usize;
    let after: u32 = match cursor {
        None => 0,
        Some(cursor) => decode_cursor(cursor)?.parse().map_err(|_| AppError::BadCursor)?,
    };
    // Position p (from 1) is on page (p - 1) / PAGE: start at the page after's first.
    let first_page = after / PAGE as u32;
    let mut items = Vec::new();
    let mut more = false;
    let mut page_no = first_page;
    'pages: loop {
        let Some(page) = deps
            .read::<PageRecord>(&keys::hint_batch_page(group, &id, page_no))
            .await?
        else {
            break;
        };
        let Some(done) = page.value.items else {
            break;
        };
        for item in done.into_iter().filter(|i| i.position > after && filter.keeps(i)) {
            if items.len() == limit {
                more = true;
                break 'pages;
            }
            items.push(item);
        }
        page_no += 1;
    }
    let next_cursor = more
        .then(|| items.last().map(|i: &Item| encode_cursor(&i.position.to_string())))
        .flatten();
    Ok(Listing { items, next_cursor })
}

/// Every result of a batch that `filter` keeps, as CSV. Role `integration_admin`.
pub async fn results_csv(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw: &str,
    filter: ResultFilter,
) -> Result<String, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    let id = parse_id(raw)?;
    read_batch(deps, group, &id).await?;
    let pages: Vec<Versioned<PageRecord>> =
        crate::paging::all_records(deps, group, &keys::hint_batch_page_prefix(&id)).await?;
    let items: Vec<Item> = pages
        .into_iter()
        .filter_map(|p| p.value.items)
        .flatten()
        .filter(|i| filter.keeps(i))
        .collect();
    Ok(model::hint_batch::results_csv(&items))
}

// ---------------------------------------------------------------------------------------------
// The batch's job.

/// Works on the batch from its checkpoint until it ends, is aborted, or has worked
/// [`WORK_PER_JOB`] (then its next part is queued).
pub async fn run(deps: &Deps, group: &GroupId, id: &HintBatchId) -> Result<(), AppError> {
    let began = std::time::Instant::now();
    let mut sides: Option<Sides> = None;
    loop {
        let Some(mut batch) = deps.read::<Batch>(&keys::hint_batch(group, id)).await? else {
            tracing::warn!(%group, batch = %id, "a batch job names a batch that does not exist; dropped");
            return Ok(());
        };
        if batch.value.is_finished() {
            return Ok(());
        }
        if let Some(by) = abort_asked(deps, group, id).await? {
            let mut stopped = batch.value.stopped(Status::Aborted, None, deps.clock.now());
            stopped.abort_requested_by = Some(by.clone());
            finish(deps, group, &batch, &stopped).await?;
            log(
                deps,
                group,
                LogLevel::Debug,
                "batch_aborted",
                format!(
                    "the batch was aborted by {by} after {} records",
                    stopped.counts.processed
                ),
                batch_ids(id, None, None),
            )
            .await;
            return Ok(());
        }
        if !super::is_active(deps, group).await? {
            let stopped = batch.value.stopped(
                Status::Failed,
                Some("Hint ⇄ Salesforce is no longer active in this group".into()),
                deps.clock.now(),
            );
            return finish(deps, group, &batch, &stopped).await;
        }
        if began.elapsed() > WORK_PER_JOB {
            let next = super::Job::RunBatch {
                group: group.clone(),
                batch: id.clone(),
            };
            return enqueue(deps, &[next.into()]).await;
        }
        if batch.value.status == Status::Queued {
            let mut started = batch.value.clone();
            started.status = Status::Running;
            started.started_at = Some(deps.clock.now());
            let version = deps
                .write_next(keys::hint_batch(group, id), batch.version, &started)
                .await?;
            batch = Versioned {
                version,
                value: started,
            };
        }
        // Both vendors' clients once per job, not once per page: each reads the group's secret.
        let sides = match &sides {
            Some(sides) => sides,
            None => sides.insert(Sides::of(deps, group).await?),
        };
        let work = Work {
            deps,
            group,
            sides,
            batch: &batch.value,
        };
        let page_no = batch.value.pages_done;
        let page_key = keys::hint_batch_page(group, id, page_no);
        let (page, version, read) = match deps.read::<PageRecord>(&page_key).await? {
            Some(stored) => (stored.value, stored.version, None),
            None => {
                let (page, read) = work.decide(page_no).await?;
                let put = Write::Put {
                    record: Record::encode(page_key.clone(), 1, &page)?,
                    condition: Condition::Absent,
                };
                deps.records.write(vec![put]).await?;
                (page, 1, Some(read))
            }
        };
        let redo = read.is_none();
        let read = match read {
            Some(read) => read,
            None => {
                log(
                    deps,
                    group,
                    LogLevel::Debug,
                    "batch_page_resumed",
                    format!(
                        "page {} of the batch is carried out again from its stored decisions",
                        page.page + 1
                    ),
                    batch_ids(id, None, None),
                )
                .await;
                work.reread(&page).await?
            }
        };
        let items = work.carry_out(&page, read, redo).await?;
        let next = batch.value.page_done(&items, page.last, deps.clock.now());
        let mut writes = vec![
            Write::Put {
                record: Record::encode(
                    page_key,
                    version + 1,
                    &PageRecord {
                        items: Some(items),
                        ..page
                    },
                )?,
                condition: Condition::AtVersion(version),
            },
            Write::Put {
                record: Record::encode(keys::hint_batch(group, id), batch.version + 1, &next)?,
                condition: Condition::AtVersion(batch.version),
            },
        ];
        if next.is_finished() {
            writes.push(Write::Delete {
                key: keys::hint_batch_lock(group),
                condition: Condition::Always,
            });
        }
        deps.records.write(writes).await?;
        if next.is_finished() {
            let c = next.counts;
            log(
                deps,
                group,
                LogLevel::Debug,
                "batch_finished",
                format!(
                    "the batch finished: {} records, {} linked, {} created, {} updated, {} failed, {} skipped",
                    c.processed,
                    c.linked,
                    c.created,
                    c.updated,
                    c.failed,
                    c.skipped.already_linked
                        + c.skipped.multiple_matches
                        + c.skipped.no_match
                        + c.skipped.unknown_contact
                ),
                batch_ids(id, None, None),
            )
            .await;
            return Ok(());
        }
    }
}

/// Ends a batch that will not finish (aborted, failed) and frees the group for the next.
async fn finish(deps: &Deps, group: &GroupId, batch: &Versioned<Batch>, stopped: &Batch) -> Result<(), AppError> {
    deps.records
        .write(vec![
            Write::Put {
                record: Record::encode(keys::hint_batch(group, &stopped.id), batch.version + 1, stopped)?,
                condition: Condition::AtVersion(batch.version),
            },
            Write::Delete {
                key: keys::hint_batch_lock(group),
                condition: Condition::Always,
            },
        ])
        .await?;
    Ok(())
}

/// A batch job that gave up after its last try: the batch fails with the reason.
pub async fn abandon(deps: &Deps, group: &GroupId, id: &HintBatchId, reason: &str) -> Result<(), AppError> {
    let Some(batch) = deps.read::<Batch>(&keys::hint_batch(group, id)).await? else {
        return Ok(());
    };
    if batch.value.is_finished() {
        return Ok(());
    }
    let stopped = batch.value.stopped(
        Status::Failed,
        Some(format!("gave up after the last try: {reason}")),
        deps.clock.now(),
    );
    finish(deps, group, &batch, &stopped).await?;
    log(
        deps,
        group,
        LogLevel::Exception,
        "batch_failed",
        format!("the batch failed: {reason}"),
        batch_ids(id, None, None),
    )
    .await;
    Ok(())
}

/// What a page's records read as: the patients and contacts it works on, by id.
#[derive(Default)]
struct Read {
    patients: HashMap<String, Patient>,
    contacts: HashMap<String, Contact>,
}

struct Work<'a> {
    deps: &'a Deps,
    group: &'a GroupId,
    sides: &'a Sides,
    batch: &'a Batch,
}

impl Work<'_> {
    /// Reads page `page_no`'s records and decides each.
    async fn decide(&self, page_no: u32) -> Result<(PageRecord, Read), AppError> {
        match self.batch.direction {
            Direction::PatientsToContacts => self.decide_patients(page_no).await,
            Direction::ContactsToPatients => self.decide_contacts(page_no).await,
        }
    }

    /// The Hint patients of page `page_no`, in Hint's order of creation, and whether it is the
    /// last page.
    async fn patient_page(&self, page_no: u32) -> Result<(Vec<Patient>, bool), AppError> {
        let mut pages = self.sides.hint.patients(None).from(page_no as usize * PAGE);
        let mut patients = Vec::new();
        let mut last = false;
        while patients.len() < PAGE {
            match pages.next_page().await? {
                Some(page) => {
                    let short = page.len() < connectors::hint::client::PAGE_SIZE;
                    patients.extend(page);
                    if short {
                        last = true;
                        break;
                    }
                }
                None => {
                    last = true;
                    break;
                }
            }
        }
        Ok((patients, last))
    }

    async fn decide_patients(&self, page_no: u32) -> Result<(PageRecord, Read), AppError> {
        let (patients, last) = self.patient_page(page_no).await?;
        // The batch reads every patient: the name search takes them as they are now.
        super::search::remember(self.deps, self.group, &patients).await?;
        let settings = super::settings::current(self.deps, self.group).await?;
        let linked = links_of(
            self.deps,
            patients.iter().map(|p| links::patient_key(self.group, &p.id)),
            |l| &l.patient_id,
        )
        .await?;
        let read: Vec<PatientNow> = patients
            .iter()
            .map(|p| PatientNow::of(p, self.deps.clock.now()))
            .collect();
        // Every contact that may be one of the unlinked patients, in as few queries as can be.
        let people: Vec<(String, chrono::NaiveDate)> = read
            .iter()
            .filter(|p| !linked.contains_key(&p.id))
            .filter_map(|p| rules::identity(&p.demographics).map(|(_, last, born)| (last, born)))
            .collect();
        let found = if people.is_empty() {
            Vec::new()
        } else {
            self.sides.salesforce.contacts_named_and_born(&people).await?
        };
        let contact_links = links_of(
            self.deps,
            found.iter().map(|c| links::contact_key(self.group, &c.id)),
            |l| &l.contact_id,
        )
        .await?;
        let mut claimed: HashSet<String> = HashSet::new();
        let mut planned = Vec::with_capacity(read.len());
        let first = page_no * PAGE as u32;
        for (at, patient) in read.iter().enumerate() {
            let linked_contact = linked.get(&patient.id).map(|l| l.contact_id.as_str());
            let candidates: Vec<Candidate> = found
                .iter()
                .filter(|c| rules::same_identity(&patient.demographics, &sf_mapping::read(c).demographics))
                .map(|c| Candidate {
                    contact_id: c.id.clone(),
                    linked_to: contact_links
                        .get(&c.id)
                        .map(|l| l.patient_id.clone())
                        .or_else(|| claimed.contains(&c.id).then(|| "this batch".to_owned())),
                })
                .collect();
            let outcome =
                rules::batch_patient_to_contact(linked_contact, settings.create_contacts_for_unmatched, &candidates);
            let (decision, contact_id) = match outcome {
                PatientOutcome::Update { contact_id } => (Decision::Update, Some(contact_id)),
                PatientOutcome::Link { contact_id } => {
                    claimed.insert(contact_id.clone());
                    (Decision::Link, Some(contact_id))
                }
                PatientOutcome::Create if settings.default_account_id.is_some() => (Decision::Create, None),
                PatientOutcome::Create | PatientOutcome::Nothing => (Decision::Skip(SkipReason::NoMatch), None),
                PatientOutcome::Skip(reason) => (Decision::Skip(reason), None),
            };
            planned.push(Planned {
                position: first + at as u32 + 1,
                patient_id: Some(patient.id.clone()),
                contact_id,
                decision,
            });
        }
        let wanted: HashSet<&String> = planned.iter().filter_map(|p| p.contact_id.as_ref()).collect();
        let mut read = Read {
            patients: patients.into_iter().map(|p| (p.id.clone(), p)).collect(),
            contacts: found
                .into_iter()
                .filter(|c| wanted.contains(&c.id))
                .map(|c| (c.id.clone(), c))
                .collect(),
        };
        // Linked patients' contacts were not among those matched: read them too.
        let missing: Vec<String> = wanted
            .into_iter()
            .filter(|id| !read.contacts.contains_key(*id))
            .cloned()
            .collect();
        if !missing.is_empty() {
            for contact in self.sides.salesforce.contacts(&missing).await? {
                read.contacts.insert(contact.id.clone(), contact);
            }
        }
        Ok((PageRecord::decided(page_no, last, planned), read))
    }

    /// The report's contact ids on page `page_no`, and whether it is the last page.
    async fn contact_page(&self, page_no: u32) -> Result<(Vec<String>, bool), AppError> {
        let stored = self
            .deps
            .uploads
            .get(&ids_key(self.group, &self.batch.id))
            .await?
            .ok_or_else(|| AppError::Internal("the batch's contact ids are missing".into()))?;
        let text = String::from_utf8_lossy(&stored);
        let all: Vec<&str> = text.lines().collect();
        let start = (page_no as usize * PAGE).min(all.len());
        let end = (start + PAGE).min(all.len());
        Ok((
            all[start..end].iter().map(|s| (*s).to_owned()).collect(),
            end == all.len(),
        ))
    }

    async fn decide_contacts(&self, page_no: u32) -> Result<(PageRecord, Read), AppError> {
        let (ids, last) = self.contact_page(page_no).await?;
        let unique: Vec<String> = {
            let mut seen = HashSet::new();
            ids.iter()
                .filter(|id| seen.insert(id.to_ascii_lowercase()))
                .cloned()
                .collect()
        };
        let contacts: HashMap<String, Contact> = self
            .sides
            .salesforce
            .contacts(&unique)
            .await?
            .into_iter()
            .map(|c| (c.id.clone(), c))
            .collect();
        let contact_links = links_of(
            self.deps,
            contacts.keys().map(|id| links::contact_key(self.group, id)),
            |l| &l.contact_id,
        )
        .await?;
        let mut read = Read::default();
        let mut claimed: HashSet<String> = HashSet::new();
        let mut planned = Vec::with_capacity(ids.len());
        let first = page_no * PAGE as u32;
        for (at, raw) in ids.iter().enumerate() {
            // A report's 15-character id names the same contact as its 18-character form.
            let contact = contacts
                .values()
                .find(|c| c.id == *raw || (raw.len() == 15 && c.id.starts_with(raw.as_str())));
            let linked = contact.is_some_and(|c| contact_links.contains_key(&c.id) || claimed.contains(&c.id));
            let mut unlinked_patients = Vec::new();
            if let Some(contact) = contact
                && !linked
            {
                let demographics = sf_mapping::read(contact).demographics;
                if let Some((first_name, last_name, born)) = rules::identity(&demographics) {
                    let born = born.format("%Y-%m-%d").to_string();
                    let matching = self.sides.hint.matching(&first_name, &last_name, Some(&born)).await?;
                    let exact: Vec<Patient> = matching
                        .into_iter()
                        .filter(|p| rules::same_identity(&demographics, &hint_mapping::read(p).demographics))
                        .collect();
                    let patient_links = links_of(
                        self.deps,
                        exact.iter().map(|p| links::patient_key(self.group, &p.id)),
                        |l| &l.patient_id,
                    )
                    .await?;
                    for patient in exact {
                        if !patient_links.contains_key(&patient.id) && !claimed.contains(&patient.id) {
                            unlinked_patients.push(patient.id.clone());
                            read.patients.insert(patient.id.clone(), patient);
                        }
                    }
                }
            }
            let outcome = rules::batch_contact_to_patient(contact.is_some(), linked, &unlinked_patients);
            let contact_id = contact.map(|c| c.id.clone()).or_else(|| Some(raw.clone()));
            let (decision, patient_id) = match outcome {
                ContactOutcome::Link { patient_id } => {
                    claimed.insert(patient_id.clone());
                    if let Some(id) = &contact_id {
                        claimed.insert(id.clone());
                    }
                    (Decision::Link, Some(patient_id))
                }
                ContactOutcome::Skip(reason) => (Decision::Skip(reason), None),
            };
            planned.push(Planned {
                position: first + at as u32 + 1,
                patient_id,
                contact_id,
                decision,
            });
        }
        read.contacts = contacts;
        Ok((PageRecord::decided(page_no, last, planned), read))
    }

    /// A stored page's records read again (its batch died while carrying it out).
    async fn reread(&self, page: &PageRecord) -> Result<Read, AppError> {
        let acting = || page.planned.iter().filter(|p| !matches!(p.decision, Decision::Skip(_)));
        let mut read = Read::default();
        let contact_ids: Vec<String> = acting().filter_map(|p| p.contact_id.clone()).collect();
        for contact in self.sides.salesforce.contacts(&contact_ids).await? {
            read.contacts.insert(contact.id.clone(), contact);
        }
        match self.batch.direction {
            Direction::PatientsToContacts => {
                let (patients, _) = self.patient_page(page.page).await?;
                read.patients = patients.into_iter().map(|p| (p.id.clone(), p)).collect();
            }
            Direction::ContactsToPatients => {
                for id in acting().filter_map(|p| p.patient_id.clone()) {
                    if let Some(patient) = self.sides.hint.patient(&id).await? {
                        read.patients.insert(id, patient);
                    }
                }
            }
        }
        Ok(read)
    }

    /// Carries out a page's decisions; `redo` when an earlier try may have done part of it.
    async fn carry_out(&self, page: &PageRecord, read: Read, redo: bool) -> Result<Vec<Item>, AppError> {
        let now = self.deps.clock.now();
        let batch_id = self.batch.id.to_string();
        let winner = match self.batch.direction {
            Direction::PatientsToContacts => Winner::Patient,
            Direction::ContactsToPatients => Winner::Contact,
        };
        let settings = super::settings::current(self.deps, self.group).await?;
        let mut items: Vec<Item> = Vec::with_capacity(page.planned.len());
        // The contacts to write, each with the item it answers for.
        let mut updates: Vec<(usize, Map<String, Value>)> = Vec::new();
        let mut creates: Vec<(usize, PatientNow, Map<String, Value>)> = Vec::new();
        let made_before: HashMap<String, Contact> = if redo {
            let creating: Vec<String> = page
                .planned
                .iter()
                .filter(|p| p.decision == Decision::Create)
                .filter_map(|p| p.patient_id.clone())
                .collect();
            if creating.is_empty() {
                HashMap::new()
            } else {
                self.sides
                    .salesforce
                    .contacts_of_batch(&batch_id, &creating)
                    .await?
                    .into_iter()
                    .filter_map(|c| c.hint_patient_id.clone().map(|p| (p, c)))
                    .collect()
            }
        } else {
            HashMap::new()
        };
        for planned in &page.planned {
            let mut item = Item {
                position: planned.position,
                patient_id: planned.patient_id.clone(),
                contact_id: planned.contact_id.clone(),
                outcome: Outcome::Skipped,
                reason: None,
                error: None,
            };
            let at = items.len();
            let patient = planned.patient_id.as_ref().and_then(|id| read.patients.get(id));
            let contact = planned.contact_id.as_ref().and_then(|id| read.contacts.get(id));
            match (planned.decision, patient, contact) {
                (Decision::Skip(reason), _, _) => item.reason = Some(reason),
                (Decision::Create, Some(patient), _) => {
                    let patient = PatientNow::of(patient, now);
                    if let Some(contact) = made_before.get(&patient.id) {
                        // Made by the try that died: linked now, not made again.
                        item.contact_id = Some(contact.id.clone());
                        item.outcome = Outcome::Created;
                        let contact = ContactNow::of(contact, now);
                        self.store_link(&patient, &contact, &patient.demographics, &mut item)
                            .await?;
                    } else {
                        let mut fields = sf_mapping::fields(&patient.demographics);
                        fields.extend(sf_mapping::hint_fields(&patient.hint_only));
                        fields.extend(sf_mapping::link_fields(Some(&patient.id), Some(&batch_id)));
                        if let Some(account) = &settings.default_account_id {
                            fields.insert("AccountId".into(), Value::String(account.clone()));
                        }
                        item.outcome = Outcome::Created;
                        creates.push((at, patient, fields));
                    }
                }
                (Decision::Link | Decision::Update, Some(patient), Some(contact)) => {
                    let mut patient = PatientNow::of(patient, now);
                    let contact = ContactNow::of(contact, now);
                    let merged = rules::merge(&patient.demographics, &contact.demographics, winner);
                    let to_patient = pairs::hint_changes(&patient, &merged);
                    if !to_patient.is_empty() {
                        match self.sides.hint.update(&patient.id, &Value::Object(to_patient)).await {
                            Ok(answer) => patient = PatientNow::of(&answer, now),
                            Err(error) => {
                                self.refused(error, "update the patient", &mut item).await?;
                                items.push(item);
                                continue;
                            }
                        }
                    }
                    item.outcome = if planned.decision == Decision::Link {
                        Outcome::Linked
                    } else {
                        Outcome::Updated
                    };
                    if self.store_link(&patient, &contact, &merged, &mut item).await? {
                        let mut fields = pairs::contact_changes(&contact, &merged, &patient.hint_only);
                        fields.extend(sf_mapping::link_fields(Some(&patient.id), Some(&batch_id)));
                        fields.insert("Id".into(), Value::String(contact.id.clone()));
                        updates.push((at, fields));
                    }
                }
                // The record went from its vendor between the decision and now.
                (_, _, _) => {
                    item.outcome = Outcome::Failed;
                    item.error = Some("the record no longer exists at its vendor".into());
                }
            }
            items.push(item);
        }
        // The contacts, 200 to a call: each answered in order, one's refusal not stopping the rest.
        if !updates.is_empty() {
            let records: Vec<Map<String, Value>> = updates.iter().map(|(_, f)| f.clone()).collect();
            let saved = self.sides.salesforce.save_contacts(false, &records).await?;
            for ((at, _), result) in updates.iter().zip(saved) {
                self.refused_record(&result, &mut items[*at]).await;
            }
        }
        if !creates.is_empty() {
            let records: Vec<Map<String, Value>> = creates.iter().map(|(_, _, f)| f.clone()).collect();
            let saved = self.sides.salesforce.save_contacts(true, &records).await?;
            for ((at, patient, _), result) in creates.iter().zip(saved) {
                let item = &mut items[*at];
                match (&result.id, result.success) {
                    (Some(id), true) => {
                        item.contact_id = Some(id.clone());
                        let link = new_link(patient, id, &patient.demographics, None, now);
                        self.commit_link(&link, item).await?;
                    }
                    _ => self.refused_record(&result, item).await,
                }
            }
        }
        Ok(items)
    }

    /// Stores the pair's link (a new one, or the patient's existing one moved on to `merged`);
    /// false when it could not be (the item says why).
    async fn store_link(
        &self,
        patient: &PatientNow,
        contact: &ContactNow,
        merged: &model::hint_salesforce::Demographics,
        item: &mut Item,
    ) -> Result<bool, AppError> {
        let existing = links::by_patient(self.deps, self.group, &patient.id).await?;
        let link = new_link(patient, &contact.id, merged, Some(contact), self.deps.clock.now());
        match existing {
            // Linked by the try that died, or the pair being updated.
            Some(found) if found.value.contact_id == contact.id => {
                let next = Link {
                    linked_at: found.value.linked_at,
                    ..link
                };
                links::commit(self.deps, links::save(self.group, &next, found.version)?).await?;
                Ok(true)
            }
            Some(_) => {
                item.outcome = Outcome::Failed;
                item.error = Some("the patient was linked to another contact meanwhile".into());
                Ok(false)
            }
            None => self.commit_link(&link, item).await,
        }
    }

    /// Stores a new link; false (the item says why) when either side was linked meanwhile.
    async fn commit_link(&self, link: &Link, item: &mut Item) -> Result<bool, AppError> {
        match links::commit(self.deps, links::save(self.group, link, 0)?).await {
            Ok(()) => Ok(true),
            Err(AppError::Conflict(_)) => {
                item.outcome = Outcome::Failed;
                item.error = Some("the patient or the contact was linked elsewhere meanwhile".into());
                Ok(false)
            }
            Err(other) => Err(other),
        }
    }

    /// A vendor's refusal of one record becomes its failed result (logged); anything else
    /// stops the page, to be carried out again.
    async fn refused(&self, error: ConnectorError, what: &str, item: &mut Item) -> Result<(), AppError> {
        match error {
            ConnectorError::Rejected {
                vendor, status, fields, ..
            } => {
                let named = if fields.is_empty() {
                    String::new()
                } else {
                    format!(" (fields: {})", fields.join(", "))
                };
                item.outcome = Outcome::Failed;
                item.error = Some(format!("{vendor} refused to {what} with status {status}{named}"));
                self.log_failure(item).await;
                Ok(())
            }
            other => Err(other.into()),
        }
    }

    async fn refused_record(&self, result: &SaveResult, item: &mut Item) {
        if result.success {
            return;
        }
        let said: Vec<String> = result
            .errors
            .iter()
            .map(|e| {
                if e.fields.is_empty() {
                    e.status_code.clone()
                } else {
                    format!("{} ({})", e.status_code, e.fields.join(", "))
                }
            })
            .collect();
        item.outcome = Outcome::Failed;
        item.error = Some(format!("Salesforce refused the contact: {}", said.join("; ")));
        self.log_failure(item).await;
    }

    async fn log_failure(&self, item: &Item) {
        log(
            self.deps,
            self.group,
            LogLevel::Error,
            "batch_record_failed",
            format!(
                "record {} of the batch failed: {}",
                item.position,
                item.error.as_deref().unwrap_or("")
            ),
            batch_ids(&self.batch.id, item.patient_id.as_deref(), item.contact_id.as_deref()),
        )
        .await;
    }
}

/// The link of a pair that both hold `merged` now (the contact as written by this batch).
fn new_link(
    patient: &PatientNow,
    contact_id: &str,
    merged: &model::hint_salesforce::Demographics,
    contact: Option<&ContactNow>,
    now: chrono::DateTime<chrono::Utc>,
) -> Link {
    Link {
        patient_id: patient.id.clone(),
        contact_id: contact_id.to_owned(),
        base: merged.clone(),
        in_hint: patient.demographics.clone(),
        in_salesforce: sf_mapping::written(merged),
        hint_only: patient.hint_only.clone(),
        patient_changed_at: Some(patient.changed_at),
        contact_changed_at: contact.map(|c| c.changed_at),
        linked_at: now,
    }
}

/// The links stored at `keys`, each by the id `by` names (the side the keys are of).
async fn links_of(
    deps: &Deps,
    keys: impl Iterator<Item = store::Key>,
    by: fn(&Link) -> &String,
) -> Result<HashMap<String, Link>, AppError> {
    let keys: Vec<store::Key> = keys.collect();
    let mut found = HashMap::new();
    for chunk in keys.chunks(100) {
        for record in deps.records.get_many(chunk).await? {
            let link: Link = record.decode()?.value;
            found.insert(by(&link).clone(), link);
        }
    }
    Ok(found)
}
