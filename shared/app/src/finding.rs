//! Finding a group's people for a flow (a participant-list preview, an integration's preview or
//! import): the one place that decides, per kind of person, between reading the whole group and
//! looking the flow's keys up (`model::lookup::choose`), and then reads accordingly.

use crate::keys_state::KeysState;
use crate::paging::all_records;
use crate::{AppError, Deps};
use model::GroupId;
use model::group::Group;
use model::lookup::{Choice, Lookup, PersonKind, Plan, Search, choose, least_lookup_requests};
use model::patient::Patient;
use model::practitioner::Practitioner;

use std::collections::BTreeMap;
use store::{Key, Versioned, keys, lookups};

/// A group, how many people of each kind it holds and whether their keys are complete: read in
/// one request.
pub(crate) struct Census {
    pub group: Versioned<Group>,
    pub patients: u64,
    pub practitioners: u64,
    pub keys: Option<Versioned<KeysState>>,
}

impl Census {
    pub fn keys_complete(&self) -> bool {
        self.keys.as_ref().is_some_and(|state| state.value.complete)
    }

    fn count(&self, kind: PersonKind) -> u64 {
        match kind {
            PersonKind::Patient => self.patients,
            PersonKind::Practitioner => self.practitioners,
        }
    }

    /// Whether looking up could cost less than reading the whole group for `subjects` people of
    /// some kind: if not, a flow need not work out its keys at all.
    pub fn worth_looking_up(&self, subjects: u64) -> bool {
        [PersonKind::Patient, PersonKind::Practitioner].into_iter().any(|kind| {
            let choice = choose(self.count(kind), least_lookup_requests(subjects), self.keys_complete());
            choice.plan == Plan::LookUp
        })
    }

    /// How to find each kind for `search`, or, without one, by reading everything there is.
    pub fn plans(&self, search: Option<&Search>) -> Plans {
        let plan = |kind: PersonKind| {
            let look_up = search.map_or(u64::MAX, |search| search.only(kind).most_requests());
            choose(self.count(kind), look_up, self.keys_complete())
        };
        Plans {
            patients: plan(PersonKind::Patient),
            practitioners: plan(PersonKind::Practitioner),
        }
    }
}

pub(crate) async fn census(deps: &Deps, group: &GroupId) -> Result<Census, AppError> {
    let wanted = [
        keys::group(group),
        lookups::count_key(group, PersonKind::Patient),
        lookups::count_key(group, PersonKind::Practitioner),
        lookups::state_key(group),
    ];
    let found: BTreeMap<Key, store::Record> = deps
        .records
        .get_many(&wanted)
        .await?
        .into_iter()
        .map(|record| (record.key.clone(), record))
        .collect();
    let group = found
        .get(&wanted[0])
        .ok_or(AppError::NotFound { what: "group" })?
        .decode()?;
    Ok(Census {
        group,
        patients: lookups::count_in(found.get(&wanted[1]))?,
        practitioners: lookups::count_in(found.get(&wanted[2]))?,
        keys: found.get(&wanted[3]).map(|record| record.decode()).transpose()?,
    })
}

/// How a flow finds each kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plans {
    pub patients: Choice,
    pub practitioners: Choice,
}

/// The people a flow read.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub patients: Vec<Versioned<Patient>>,
    pub practitioners: Vec<Versioned<Practitioner>>,
}

/// Reads the people `search` is about, each kind by its plan: all of them, only those the
/// search's keys find (in rounds of batch reads, keys and people together), or none.
pub(crate) async fn read(deps: &Deps, group: &GroupId, plans: Plans, search: Search) -> Result<Found, AppError> {
    let mut found = Found::default();
    let mut search = search;
    for (kind, choice) in [
        (PersonKind::Patient, plans.patients),
        (PersonKind::Practitioner, plans.practitioners),
    ] {
        tracing::info!(%group, ?kind, plan = ?choice.plan, why = %choice.why(), "finding people");
        if choice.plan != Plan::LookUp {
            search = search.without(kind);
        }
        if choice.plan == Plan::ReadAll {
            let started = std::time::Instant::now();
            match kind {
                PersonKind::Patient => found.patients = all_records(deps, group, keys::PATIENT_PREFIX).await?,
                PersonKind::Practitioner => {
                    found.practitioners = all_records(deps, group, keys::PRACTITIONER_PREFIX).await?
                }
            }
            tracing::info!(%group, ?kind, ms = started.elapsed().as_millis() as u64, "read all");
        }
    }
    while let Some(round) = search.next_round() {
        let mut wanted: BTreeMap<Key, Wanted> = BTreeMap::new();
        for lookup in round.lookups {
            wanted.insert(lookups::key(group, &lookup), Wanted::Lookup(lookup));
        }
        for (kind, id) in round.people {
            if let Some(key) = lookups::person_key(group, kind, &id) {
                wanted.insert(key, Wanted::Person(kind));
            }
        }
        let keys: Vec<Key> = wanted.keys().cloned().collect();
        for record in deps.records.get_many(&keys).await? {
            match wanted.get(&record.key) {
                Some(Wanted::Lookup(lookup)) => {
                    let ids = lookups::ids(lookup, &record)?;
                    search.found(lookup.clone(), ids);
                }
                Some(Wanted::Person(PersonKind::Patient)) => found.patients.push(record.decode()?),
                Some(Wanted::Person(PersonKind::Practitioner)) => found.practitioners.push(record.decode()?),
                None => {}
            }
        }
    }
    Ok(found)
}

enum Wanted {
    Lookup(Lookup),
    Person(PersonKind),
}

/// The one record of kind `P` that `lookup` (a link) finds, if any: how a vendor's change finds
/// the carebridge record linked to it.
pub(crate) async fn linked<P: crate::people::Person>(
    deps: &Deps,
    group: &GroupId,
    lookup: Lookup,
) -> Result<Option<Versioned<P::Stored>>, AppError> {
    let found = lookups::find(deps.records.as_ref(), group, std::slice::from_ref(&lookup)).await?;
    let Some(id) = found
        .get(&lookup)
        .and_then(|ids| ids.first())
        .and_then(|id| P::parse_id(id))
    else {
        return Ok(None);
    };
    deps.read(&P::key(group, &id)).await
}
