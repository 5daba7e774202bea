//! Finding people by what identifies them, so a flow reads the records its work concerns and not
//! the whole group.
//!
//! Every way a flow finds a person is a [`Lookup`]: a patient's or practitioner's id in another
//! system (the care platform's own External ID included), a patient's e-mail, a patient's first
//! name, last name and date of birth (names case-folded), a practitioner's e-mail. Each record
//! keeps one lookup key per way ([`of_patient`], [`of_practitioner`]), written in the same
//! transaction as the record, so a key never disagrees with its record. An id in another system
//! belongs to at most one record; the other keys hold every record that has them, so "two or
//! more candidates" can still be told.
//!
//! E-mails, names and birthdays never appear in a key: they are fingerprinted (SHA-256), since
//! keys show up in logs and error messages. A fingerprint only finds candidates; every flow then
//! compares the records themselves.
//!
//! A flow collects what it wants to know in a [`Search`], reads it in [`Round`]s, and [`choose`]
//! says whether that or reading the whole group costs fewer requests.

use crate::external::ExternalSystem;
use crate::patient::PatientFields;
use crate::practitioner::PractitionerFields;
use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The kinds of people records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PersonKind {
    Patient,
    Practitioner,
}

/// A value that identifies people, fingerprinted so no e-mail, name or birthday is written in a
/// key: the first 16 bytes of a SHA-256, shown as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 16]);

impl Fingerprint {
    fn of(parts: &[&str]) -> Fingerprint {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
            // A separator no name or e-mail holds, so ("ab", "c") and ("a", "bc") differ.
            hasher.update([0x1f]);
        }
        let digest = hasher.finalize();
        let mut bytes = [0; 16];
        bytes.copy_from_slice(&digest[..16]);
        Fingerprint(bytes)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

/// One way of finding people, with the value sought.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lookup {
    /// The one patient linked to this id in another system.
    PatientLink(ExternalSystem, String),
    /// Every patient with this e-mail.
    PatientEmail(Fingerprint),
    /// Every patient with this first name, last name and date of birth.
    PatientIdentity(Fingerprint),
    /// The one practitioner linked to this id in another system.
    PractitionerLink(ExternalSystem, String),
    /// Every practitioner with this e-mail.
    PractitionerEmail(Fingerprint),
}

impl Lookup {
    /// `email` as the model normalises it (lower-cased).
    pub fn patient_email(email: &str) -> Lookup {
        Lookup::PatientEmail(Fingerprint::of(&["email", email]))
    }

    /// Names compared as `import::preview::same_identity` compares them: case-insensitively.
    pub fn patient_identity(first_name: &str, last_name: &str, date_of_birth: NaiveDate) -> Lookup {
        let fold = |text: &str| text.chars().flat_map(char::to_lowercase).collect::<String>();
        let born = date_of_birth.format("%Y-%m-%d").to_string();
        Lookup::PatientIdentity(Fingerprint::of(&[
            "identity",
            &fold(first_name),
            &fold(last_name),
            &born,
        ]))
    }

    pub fn practitioner_email(email: &str) -> Lookup {
        Lookup::PractitionerEmail(Fingerprint::of(&["email", email]))
    }

    pub fn kind(&self) -> PersonKind {
        match self {
            Lookup::PatientLink(..) | Lookup::PatientEmail(_) | Lookup::PatientIdentity(_) => PersonKind::Patient,
            Lookup::PractitionerLink(..) | Lookup::PractitionerEmail(_) => PersonKind::Practitioner,
        }
    }

    /// A link: it belongs to at most one record of its kind in a group.
    pub fn is_link(&self) -> bool {
        matches!(self, Lookup::PatientLink(..) | Lookup::PractitionerLink(..))
    }
}

/// Every lookup key a patient record keeps.
pub fn of_patient(fields: &PatientFields) -> Vec<Lookup> {
    let mut keys: Vec<Lookup> = fields
        .external_ids
        .iter()
        .map(|(system, id)| Lookup::PatientLink(*system, id.clone()))
        .collect();
    keys.extend(fields.email.as_deref().map(Lookup::patient_email));
    keys.push(Lookup::patient_identity(
        &fields.first_name,
        &fields.last_name,
        fields.date_of_birth,
    ));
    keys
}

/// Every lookup key a practitioner record keeps.
pub fn of_practitioner(fields: &PractitionerFields) -> Vec<Lookup> {
    let mut keys: Vec<Lookup> = fields
        .external_ids
        .iter()
        .map(|(system, id)| Lookup::PractitionerLink(*system, id.clone()))
        .collect();
    keys.push(Lookup::practitioner_email(&fields.email));
    keys
}

/// Most keys (or records) one batch read takes: DynamoDB's BatchGetItem limit.
pub const KEYS_PER_REQUEST: u64 = 100;
/// How many people one page of reading the whole group brings (the page size the store asks
/// for; a person's record is well under the 1 MB a page may hold at that size).
pub const PEOPLE_PER_PAGE: u64 = 1_000;

/// The room left in the last request of a round that reads `items` (a whole request when none).
fn room_after(items: u64) -> u64 {
    match items % KEYS_PER_REQUEST {
        0 if items > 0 => 0,
        used => KEYS_PER_REQUEST - used,
    }
}

/// Requests to read `items` keys or records in batches.
fn batches(items: u64) -> u64 {
    items.div_ceil(KEYS_PER_REQUEST)
}

/// What a flow wants to know, asked in rounds: keys whose answers are needed in any case, and
/// keys needed only when others found nobody (a participant-list row is matched by its
/// External ID, else its e-mail, and only then by name and date of birth). The people the keys
/// find are read in the round after.
#[derive(Debug, Clone, Default)]
pub struct Search {
    always: BTreeSet<Lookup>,
    fallbacks: Vec<Fallback>,
    /// How many people the flow is about (rows, vendor records): at most that many are found,
    /// one each, for the estimate.
    subjects: u64,
    asked: BTreeSet<Lookup>,
    found: BTreeMap<Lookup, Vec<String>>,
    read: BTreeSet<(PersonKind, String)>,
}

#[derive(Debug, Clone)]
struct Fallback {
    unless_found_by: Vec<Lookup>,
    then: Lookup,
}

/// One round of reads: keys to look up and people to read, in as few batch requests as they fill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    pub lookups: Vec<Lookup>,
    pub people: Vec<(PersonKind, String)>,
}

impl Round {
    pub fn requests(&self) -> u64 {
        batches((self.lookups.len() + self.people.len()) as u64)
    }
}

impl Search {
    /// One more person the flow is about.
    pub fn subject(&mut self) {
        self.subjects += 1;
    }

    /// A key whose answer is needed whatever else is found.
    pub fn always(&mut self, key: Lookup) {
        self.always.insert(key);
    }

    /// `then` is needed only when none of `unless_found_by` (asked in any case) finds anyone.
    pub fn unless_found(&mut self, unless_found_by: Vec<Lookup>, then: Lookup) {
        if unless_found_by.is_empty() {
            return self.always(then);
        }
        self.always.extend(unless_found_by.iter().cloned());
        self.fallbacks.push(Fallback { unless_found_by, then });
    }

    /// Every distinct key the search may ask.
    fn all_keys(&self) -> BTreeSet<&Lookup> {
        self.always
            .iter()
            .chain(self.fallbacks.iter().map(|f| &f.then))
            .collect()
    }

    /// The most requests the search can take: every key asked, and one person found per
    /// subject (or per key, if fewer), plus a round of its own for the fallbacks that do not fit
    /// in the first round's spare room.
    pub fn most_requests(&self) -> u64 {
        let keys = self.all_keys().len() as u64;
        if keys == 0 {
            return 0;
        }
        let people = keys.min(self.subjects.max(1));
        let fallbacks = keys - self.always.len() as u64;
        let extra_round = fallbacks > room_after(self.always.len() as u64);
        batches(keys) + batches(people) + u64::from(extra_round)
    }

    /// The next round to read, or `None` when everything needed is known. The first round asks
    /// every key needed in any case, and fills the room left in its last request with keys that
    /// may be needed, so a small search is done in one round of keys and one of people.
    pub fn next_round(&mut self) -> Option<Round> {
        let mut lookups: Vec<Lookup> = Vec::new();
        if self.asked.is_empty() {
            lookups.extend(self.always.iter().cloned());
            let room = room_after(lookups.len() as u64);
            let mut maybe: Vec<Lookup> = Vec::new();
            for fallback in &self.fallbacks {
                if maybe.len() as u64 >= room {
                    break;
                }
                if !self.always.contains(&fallback.then) && !maybe.contains(&fallback.then) {
                    maybe.push(fallback.then.clone());
                }
            }
            lookups.extend(maybe);
        } else {
            let needed: BTreeSet<Lookup> = self
                .fallbacks
                .iter()
                .filter(|f| !self.asked.contains(&f.then))
                .filter(|f| f.unless_found_by.iter().all(|key| self.found_nobody(key)))
                .map(|f| f.then.clone())
                .collect();
            lookups.extend(needed);
        }
        let people: Vec<(PersonKind, String)> = self
            .found
            .iter()
            .flat_map(|(key, ids)| ids.iter().map(move |id| (key.kind(), id.clone())))
            .filter(|person| !self.read.contains(person))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if lookups.is_empty() && people.is_empty() {
            return None;
        }
        self.asked.extend(lookups.iter().cloned());
        self.read.extend(people.iter().cloned());
        Some(Round { lookups, people })
    }

    /// What a round's keys found: the ids each holds. A key of the round that is not given held
    /// nobody.
    pub fn found(&mut self, key: Lookup, ids: Vec<String>) {
        if !ids.is_empty() {
            self.found.insert(key, ids);
        }
    }

    /// The search without the keys of `kind` (for a kind the flow reads whole instead).
    pub fn without(mut self, kind: PersonKind) -> Search {
        self.always.retain(|key| key.kind() != kind);
        self.fallbacks.retain(|f| f.then.kind() != kind);
        for fallback in &mut self.fallbacks {
            fallback.unless_found_by.retain(|key| key.kind() != kind);
        }
        self
    }

    /// Only the keys of `kind`.
    pub fn only(&self, kind: PersonKind) -> Search {
        let other = match kind {
            PersonKind::Patient => PersonKind::Practitioner,
            PersonKind::Practitioner => PersonKind::Patient,
        };
        self.clone().without(other)
    }

    fn found_nobody(&self, key: &Lookup) -> bool {
        self.asked.contains(key) && !self.found.contains_key(key)
    }
}

/// Lookup keys held in memory, as the store holds them (each key with the ids of the records
/// that keep it): for checking, without a store, that a search finds what reading everything
/// would.
#[derive(Debug, Clone, Default)]
pub struct KeysInMemory(BTreeMap<Lookup, Vec<String>>);

impl KeysInMemory {
    /// The keys record `id` keeps.
    pub fn add(&mut self, id: String, keys: Vec<Lookup>) {
        for key in keys {
            self.0.entry(key).or_default().push(id.clone());
        }
    }
}

impl Search {
    /// Runs every round against `held` as a flow runs them against the store, and returns each
    /// person it reads.
    pub fn run_against(mut self, held: &KeysInMemory) -> BTreeSet<(PersonKind, String)> {
        let mut read = BTreeSet::new();
        while let Some(round) = self.next_round() {
            read.extend(round.people);
            for key in round.lookups {
                if let Some(ids) = held.0.get(&key) {
                    self.found(key, ids.clone());
                }
            }
        }
        read
    }
}

/// How a flow finds the group's people of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The group has none: there is nothing to read.
    Nobody,
    /// Read every record of the kind, page by page.
    ReadAll,
    /// Look the flow's keys up and read only the people they find.
    LookUp,
}

/// Which plan, and the costs it was chosen by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub plan: Plan,
    /// Requests to read the whole group's records of the kind.
    pub read_all: u64,
    /// Requests the lookups take at most.
    pub look_up: u64,
    /// Whether every record of the kind has its lookup keys.
    pub keys_complete: bool,
}

impl Choice {
    /// Why, in a sentence for the log.
    pub fn why(&self) -> String {
        match self.plan {
            Plan::Nobody => "the group has none".into(),
            Plan::ReadAll if !self.keys_complete => "the group's lookup keys are still being filled in".into(),
            Plan::ReadAll => format!(
                "reading all takes {} request(s), looking up as many as {}",
                self.read_all, self.look_up
            ),
            Plan::LookUp => format!(
                "looking up takes at most {} request(s), reading all {}",
                self.look_up, self.read_all
            ),
        }
    }
}

/// The cheaper way to find people of a kind the group holds `people` of, when looking the
/// flow's keys up takes at most `look_up` requests. Equal costs look up: a key read brings a
/// record, a page brings a thousand. While the group's keys are not complete (records from
/// before lookup keys, not yet filled in), only reading everything is sure to find everyone.
pub fn choose(people: u64, look_up: u64, keys_complete: bool) -> Choice {
    let read_all = people.div_ceil(PEOPLE_PER_PAGE);
    let plan = if !keys_complete {
        Plan::ReadAll
    } else if people == 0 {
        Plan::Nobody
    } else if look_up <= read_all {
        Plan::LookUp
    } else {
        Plan::ReadAll
    };
    Choice {
        plan,
        read_all,
        look_up,
        keys_complete,
    }
}

/// The fewest requests looking up can take for `subjects` people: one key each, nobody found.
/// When even that costs more than reading the whole group, the flow need not work out its keys.
pub fn least_lookup_requests(subjects: u64) -> u64 {
    batches(subjects)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(n: u32) -> Lookup {
        Lookup::patient_email(&format!("p{n}@example.org"))
    }

    fn identity(n: u32) -> Lookup {
        Lookup::patient_identity(
            &format!("Given{n}"),
            "Family",
            NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
        )
    }

    #[test]
    fn keys_hold_no_personal_data_and_fold_names_as_matching_does() {
        let key = Lookup::patient_identity("Ada", "Lovelace", NaiveDate::from_ymd_opt(1984, 3, 7).unwrap());
        let shouted = Lookup::patient_identity("ADA", "LOVELACE", NaiveDate::from_ymd_opt(1984, 3, 7).unwrap());
        assert_eq!(key, shouted);
        let Lookup::PatientIdentity(fingerprint) = key else {
            unreachable!()
        };
        let shown = fingerprint.to_string();
        assert_eq!(shown.len(), 32);
        assert!(!shown.to_lowercase().contains("ada"));
        // The parts are kept apart: moving a letter from one name to the other is another person.
        assert_ne!(
            Lookup::patient_identity("Ad", "aLovelace", NaiveDate::from_ymd_opt(1984, 3, 7).unwrap()),
            shouted
        );
        assert_ne!(Lookup::patient_email("a@b.c"), Lookup::practitioner_email("a@b.c"));
    }

    #[test]
    fn a_patient_keeps_a_key_for_each_way_it_is_found() {
        let fields = crate::patient::PatientInput {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            date_of_birth: Some("1984-03-07".into()),
            email: Some("Ada@Example.org".into()),
            external_ids: Some([("customer".to_owned(), "A-1".to_owned())].into()),
            ..Default::default()
        }
        .validate(&crate::patient::tests::ctx())
        .unwrap();
        assert_eq!(
            of_patient(&fields),
            [
                Lookup::PatientLink(ExternalSystem::Customer, "A-1".into()),
                Lookup::patient_email("ada@example.org"),
                Lookup::patient_identity("Ada", "Lovelace", fields.date_of_birth),
            ]
        );
    }

    #[test]
    fn a_small_search_takes_one_round_of_keys_and_one_of_people() {
        let mut search = Search::default();
        for n in 0..3 {
            search.subject();
            search.unless_found(vec![email(n)], identity(n));
        }
        assert_eq!(search.most_requests(), 2);
        let first = search.next_round().unwrap();
        assert_eq!(first.lookups.len(), 6, "e-mails, and the identities in the spare room");
        assert_eq!(first.requests(), 1);
        search.found(email(0), vec!["pat_0".into()]);
        search.found(identity(1), vec!["pat_1".into()]);
        let second = search.next_round().unwrap();
        assert_eq!(second.lookups, [], "every identity was asked already");
        assert_eq!(
            second.people,
            [
                (PersonKind::Patient, "pat_0".to_owned()),
                (PersonKind::Patient, "pat_1".to_owned())
            ]
        );
        assert_eq!(search.next_round(), None);
    }

    #[test]
    fn a_fallback_is_asked_only_when_its_keys_found_nobody() {
        let mut search = Search::default();
        // 150 rows: their e-mails fill two requests, leaving room for 50 identities.
        for n in 0..150 {
            search.subject();
            search.unless_found(vec![email(n)], identity(n));
        }
        let first = search.next_round().unwrap();
        assert_eq!((first.lookups.len(), first.requests()), (200, 2));
        // Rows 0..100 were found by e-mail (the identities asked in the spare room were theirs):
        // the other 50 rows' identities are asked now, and nothing else.
        for n in 0..100 {
            search.found(email(n), vec![format!("pat_{n}")]);
        }
        let second = search.next_round().unwrap();
        let asked: BTreeSet<Lookup> = second.lookups.iter().cloned().collect();
        assert_eq!(asked, (100..150).map(identity).collect());
        assert_eq!(second.people.len(), 100);
        assert_eq!(search.next_round(), None);
    }

    #[test]
    fn the_cheaper_plan_wins_and_says_why() {
        assert_eq!(choose(0, 5, true).plan, Plan::Nobody);
        // A 3-row file against 100,000 patients: two requests against a hundred pages.
        let small = choose(100_000, 2, true);
        assert_eq!((small.plan, small.read_all), (Plan::LookUp, 100));
        assert!(small.why().contains("at most 2"), "{}", small.why());
        // A 100,000-row file against 2,000 patients: reading them is two pages.
        let large = choose(2_000, 3_000, true);
        assert_eq!((large.plan, large.read_all), (Plan::ReadAll, 2));
        assert!(large.why().contains("reading all takes 2"), "{}", large.why());
        assert_eq!(choose(1_000, 1, true).plan, Plan::LookUp, "equal costs look up");
        assert_eq!(least_lookup_requests(250), 3);
        // Keys not yet filled in for older records: read everything, even an empty-looking group.
        let filling = choose(0, 1, false);
        assert_eq!(filling.plan, Plan::ReadAll);
        assert!(filling.why().contains("being filled in"));
    }

    #[test]
    fn the_estimate_bounds_what_the_rounds_take() {
        let mut search = Search::default();
        let mut person_of = BTreeMap::new();
        for n in 0..1_000 {
            let link = Lookup::PatientLink(ExternalSystem::Customer, format!("P-{n}"));
            search.subject();
            search.unless_found(vec![link.clone(), email(n)], identity(n));
            // Half the rows are known by their External ID, the others by name and birthday.
            if n % 2 == 0 {
                person_of.insert(link, n);
            } else {
                person_of.insert(identity(n), n);
            }
        }
        let estimate = search.most_requests();
        assert_eq!(estimate, 30 + 10 + 1, "the identities do not fit in the first round");
        let mut taken = 0;
        while let Some(round) = search.next_round() {
            taken += round.requests();
            for key in round.lookups {
                if let Some(n) = person_of.get(&key) {
                    search.found(key, vec![format!("pat_{n}")]);
                }
            }
        }
        assert!(taken <= estimate, "taken {taken}, estimated {estimate}");
        assert_eq!(
            taken,
            20 + 10 + 5,
            "links and e-mails, then identities and people, then people"
        );
    }
}
