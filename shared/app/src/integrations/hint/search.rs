//! Searching a group's Hint patients by name as a user types (`GET …/hint/patients/search`).
//!
//! Hint filters patients by exact name only, and a Hint call per keystroke would spend the
//! practice's 20 requests a second; so carebridge keeps its own search entries of the
//! practice's patients: one per word of each name, keyed by the word, so any typed start of a
//! word is one prefix query of the table. They are filled by reading every Hint patient (when
//! the integration is enabled, by every patients → contacts batch, when an admin asks, and
//! again once a day by the schedule) and kept current in between by Hint's webhooks. An entry
//! holds what a result shows (names, date of birth, e-mail) and goes when the patient does.

use super::links;
use crate::integrations::lifecycle::allowed_kind;
use crate::paging::all_records;
use crate::{AppError, Deps};
use chrono::{DateTime, NaiveDate, Utc};
use connectors::hint::types::Patient;
use model::GroupId;
use model::access::Caller;
use model::hint_salesforce::{Link, name_found, search_words};
use model::integration::IntegrationKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use store::records::MAX_WRITES_PER_TRANSACTION;
use store::{Condition, PageRequest, Record, Write, keys};

/// Most results one search answers (the default is 10).
pub const MOST_RESULTS: u32 = 25;
/// Most search entries one search reads: a first keystroke matches many names, and a user
/// types on rather than scrolls.
const MOST_READ: u32 = 400;
/// How long typed text may be.
const MOST_TYPED: usize = 100;
/// How old the entries may grow before the schedule reads every patient again, catching any
/// change a webhook did not bring.
pub const REFRESH_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// A patient as the search keeps it: what a result shows, and the words it is filed under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Searchable {
    patient_id: String,
    first_name: Option<String>,
    middle_name: Option<String>,
    last_name: Option<String>,
    date_of_birth: Option<NaiveDate>,
    email: Option<String>,
    words: Vec<String>,
}

impl Searchable {
    fn of(patient: &Patient) -> Searchable {
        let demographics = connectors::hint::mapping::read(patient).demographics;
        let name = full_name([
            &demographics.first_name,
            &demographics.middle_name,
            &demographics.last_name,
        ]);
        let words: BTreeSet<String> = search_words(&name).into_iter().collect();
        Searchable {
            patient_id: patient.id.clone(),
            first_name: demographics.first_name,
            middle_name: demographics.middle_name,
            last_name: demographics.last_name,
            date_of_birth: demographics.date_of_birth,
            email: demographics.email,
            words: words.into_iter().collect(),
        }
    }
}

/// The parts of a name that are there, one space between each.
fn full_name(parts: [&Option<String>; 3]) -> String {
    parts
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// When the search last read every Hint patient of the group and how many it found, and when
/// the schedule last asked for a reading.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct SearchState {
    read_all_at: Option<DateTime<Utc>>,
    patients: usize,
    asked_at: Option<DateTime<Utc>>,
}

async fn save_state(deps: &Deps, group: &GroupId, state: &SearchState) -> Result<(), AppError> {
    let put = Write::Put {
        record: Record::encode(keys::hint_search_state(group), 1, state)?,
        condition: Condition::Always,
    };
    Ok(deps.records.write(vec![put]).await?)
}

/// The writes that file `now` in place of `before`: the words it no longer has removed.
fn filing(group: &GroupId, before: Option<&Searchable>, now: &Searchable) -> Result<Vec<Write>, AppError> {
    if before == Some(now) {
        return Ok(Vec::new());
    }
    let mut writes: Vec<Write> = before
        .into_iter()
        .flat_map(|old| old.words.iter())
        .filter(|word| !now.words.contains(word))
        .map(|word| Write::Delete {
            key: keys::hint_name(group, word, &now.patient_id),
            condition: Condition::Always,
        })
        .collect();
    for word in &now.words {
        writes.push(Write::Put {
            record: Record::encode(keys::hint_name(group, word, &now.patient_id), 1, now)?,
            condition: Condition::Always,
        });
    }
    writes.push(Write::Put {
        record: Record::encode(keys::hint_searchable(group, &now.patient_id), 1, now)?,
        condition: Condition::Always,
    });
    Ok(writes)
}

fn unfiling(group: &GroupId, old: &Searchable) -> Vec<Write> {
    old.words
        .iter()
        .map(|word| keys::hint_name(group, word, &old.patient_id))
        .chain([keys::hint_searchable(group, &old.patient_id)])
        .map(|key| Write::Delete {
            key,
            condition: Condition::Always,
        })
        .collect()
}

/// Stores `writes` a transaction at a time, never splitting one patient's between two (each
/// patient's are at most a name's words and one more).
async fn apply(deps: &Deps, per_patient: Vec<Vec<Write>>) -> Result<(), AppError> {
    let mut pending: Vec<Write> = Vec::new();
    for writes in per_patient {
        if pending.len() + writes.len() > MAX_WRITES_PER_TRANSACTION {
            deps.records.write(std::mem::take(&mut pending)).await?;
        }
        pending.extend(writes);
    }
    if !pending.is_empty() {
        deps.records.write(pending).await?;
    }
    Ok(())
}

/// What the search holds of these patients, by id.
async fn filed(deps: &Deps, group: &GroupId, ids: &[&str]) -> Result<HashMap<String, Searchable>, AppError> {
    let keys: Vec<store::Key> = ids.iter().map(|id| keys::hint_searchable(group, id)).collect();
    let mut found = HashMap::new();
    for record in deps.records.get_many(&keys).await? {
        let searchable: Searchable = record.decode()?.value;
        found.insert(searchable.patient_id.clone(), searchable);
    }
    Ok(found)
}

/// Files `patients` as Hint holds them now (an archived patient is taken out: Hint lists
/// only current ones, and so does the search).
pub async fn remember(deps: &Deps, group: &GroupId, patients: &[Patient]) -> Result<(), AppError> {
    let ids: Vec<&str> = patients.iter().map(|p| p.id.as_str()).collect();
    let before = filed(deps, group, &ids).await?;
    let mut writes = Vec::with_capacity(patients.len());
    for patient in patients {
        let old = before.get(&patient.id);
        if patient.membership_status.as_deref() == Some("archived") {
            writes.extend(old.map(|old| unfiling(group, old)));
        } else {
            writes.push(filing(group, old, &Searchable::of(patient))?);
        }
    }
    apply(deps, writes).await
}

/// Takes a patient Hint deleted out of the search.
pub async fn forget(deps: &Deps, group: &GroupId, patient_id: &str) -> Result<(), AppError> {
    let before = filed(deps, group, &[patient_id]).await?;
    apply(deps, before.values().map(|old| unfiling(group, old)).collect()).await
}

/// Removes every search entry of the group and when they were read: the integration ended, and
/// carebridge keeps no copy of the practice's patients it no longer keeps current.
pub async fn forget_all(deps: &Deps, group: &GroupId) -> Result<usize, AppError> {
    let kept: Vec<store::Versioned<Searchable>> = all_records(deps, group, &keys::hint_searchable_prefix()).await?;
    apply(deps, kept.iter().map(|record| unfiling(group, &record.value)).collect()).await?;
    deps.records
        .write(vec![Write::Delete {
            key: keys::hint_search_state(group),
            condition: Condition::Always,
        }])
        .await?;
    tracing::info!(%group, patients = kept.len(), "the Hint patient search's entries were removed");
    Ok(kept.len())
}

/// Reads every current Hint patient of the group into the search and takes out those Hint no
/// longer has. Answers how many it holds.
pub async fn read_all(deps: &Deps, group: &GroupId) -> Result<usize, AppError> {
    let hint = super::hint_client(deps, group).await?;
    let started = deps.clock.now();
    let mut seen = BTreeSet::new();
    let mut pages = hint.patients(None);
    while let Some(page) = pages.next_page().await? {
        remember(deps, group, &page).await?;
        seen.extend(page.into_iter().map(|p| p.id));
    }
    let kept: Vec<store::Versioned<Searchable>> = all_records(deps, group, &keys::hint_searchable_prefix()).await?;
    let gone: Vec<Vec<Write>> = kept
        .iter()
        .filter(|record| !seen.contains(&record.value.patient_id))
        .map(|record| unfiling(group, &record.value))
        .collect();
    apply(deps, gone).await?;
    let state = SearchState {
        read_all_at: Some(started),
        patients: seen.len(),
        asked_at: None,
    };
    save_state(deps, group, &state).await?;
    tracing::info!(%group, patients = seen.len(), "the Hint patient search read every patient");
    Ok(seen.len())
}

/// For the schedule: whether the search's entries are older than [`REFRESH_AFTER`] (or were
/// never made) and no reading was asked for within the hour; if so, the asking is noted.
pub async fn ask_if_due(deps: &Deps, group: &GroupId) -> Result<bool, AppError> {
    let now = deps.clock.now();
    let state = deps
        .read::<SearchState>(&keys::hint_search_state(group))
        .await?
        .map(|s| s.value)
        .unwrap_or_default();
    let old = state.read_all_at.is_none_or(|at| now - at > REFRESH_AFTER);
    let waiting = state.asked_at.is_some_and(|at| now - at < chrono::Duration::hours(1));
    if !old || waiting {
        return Ok(false);
    }
    save_state(
        deps,
        group,
        &SearchState {
            asked_at: Some(now),
            ..state
        },
    )
    .await?;
    Ok(true)
}

/// One patient a search found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FoundPatient {
    /// Hint's id (`pat-…`): what `PUT …/hint/links/{contact_id}` takes.
    pub patient_id: String,
    /// First, middle and last name, as Hint holds them.
    pub name: String,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub email: Option<String>,
    /// The Salesforce contact the patient is linked with already, if it is.
    pub linked_contact_id: Option<String>,
}

/// What a search answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchAnswer {
    /// By last name, then first name.
    pub items: Vec<FoundPatient>,
    /// True when more patients match than were answered: type more of the name.
    pub more: bool,
    /// When the search last read every Hint patient (webhooks keep it current in between);
    /// absent until the first reading, which starts when the integration is enabled.
    pub patients_read_at: Option<DateTime<Utc>>,
}

/// The group's Hint patients whose names hold every typed word at the start of one of their
/// words. Role `integration_admin`.
pub async fn search(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    typed: Option<&str>,
    limit: Option<u32>,
) -> Result<SearchAnswer, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    let typed = typed.map(str::trim).unwrap_or_default();
    if typed.chars().count() > MOST_TYPED {
        return Err(AppError::BadBody(format!(
            "q is at most {MOST_TYPED} characters: a name, or its start"
        )));
    }
    let words = search_words(typed);
    // The longest word typed has the fewest entries to read.
    let Some(longest) = words.iter().max_by_key(|w| w.len()) else {
        return Err(AppError::BadBody(
            "q must hold a name or the start of one (letters or digits)".into(),
        ));
    };
    let limit = match limit {
        None => 10,
        Some(n @ 1..=MOST_RESULTS) => n,
        Some(_) => {
            return Err(AppError::BadBody(format!("limit is 1 to {MOST_RESULTS}")));
        }
    } as usize;
    crate::groups::load(deps, group).await?;
    super::must_be_active(deps, group).await?;
    let partition = keys::group_partition(group);
    let prefix = keys::hint_name_prefix(longest);
    let mut found: BTreeMap<(String, String, String), Searchable> = BTreeMap::new();
    let mut after = None;
    let mut read = 0;
    loop {
        let page = deps
            .records
            .query(
                &partition,
                &prefix,
                PageRequest {
                    limit: MOST_READ - read,
                    after,
                    newest_first: false,
                },
            )
            .await?;
        read += page.records.len() as u32;
        for record in &page.records {
            let entry: Searchable = record.decode()?.value;
            if name_found(&words, &entry.words) {
                let order = (
                    entry.last_name.clone().unwrap_or_default().to_lowercase(),
                    entry.first_name.clone().unwrap_or_default().to_lowercase(),
                    entry.patient_id.clone(),
                );
                found.insert(order, entry);
            }
        }
        after = page.next;
        if after.is_none() || read >= MOST_READ {
            break;
        }
    }
    // Read to the end, or as far as one search reads: more when the reading stopped short.
    let more = found.len() > limit || after.is_some();
    let chosen: Vec<Searchable> = found.into_values().take(limit).collect();
    let link_keys: Vec<store::Key> = chosen
        .iter()
        .map(|p| links::patient_key(group, &p.patient_id))
        .collect();
    let mut linked: HashMap<String, String> = HashMap::new();
    for record in deps.records.get_many(&link_keys).await? {
        let link: Link = record.decode()?.value;
        linked.insert(link.patient_id, link.contact_id);
    }
    let state = deps.read::<SearchState>(&keys::hint_search_state(group)).await?;
    Ok(SearchAnswer {
        items: chosen
            .into_iter()
            .map(|p| FoundPatient {
                name: full_name([&p.first_name, &p.middle_name, &p.last_name]),
                linked_contact_id: linked.remove(&p.patient_id),
                patient_id: p.patient_id,
                first_name: p.first_name,
                middle_name: p.middle_name,
                last_name: p.last_name,
                date_of_birth: p.date_of_birth,
                email: p.email,
            })
            .collect(),
        more,
        patients_read_at: state.and_then(|s| s.value.read_all_at),
    })
}

/// Asks for every Hint patient to be read into the search again now (one job on the sync
/// queue). Role `integration_admin`; the integration must be active.
pub async fn read_all_now(deps: &Deps, caller: &Caller, group: &GroupId) -> Result<(), AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    super::must_be_active(deps, group).await?;
    crate::integrations::jobs::enqueue(deps, &[super::Job::ReadPatients { group: group.clone() }.into()]).await
}
