//! Hint Health ⇄ Salesforce: the rules of the integration guide, each one function, over one
//! vendor-neutral record of the fields kept in sync. The connectors turn a Hint patient and a
//! Salesforce contact into [`Demographics`] (and back); everything decided here is pure.
//!
//! - [`merge`]: where both records have a value the winner's stays; a blank is filled from the
//!   other.
//! - [`on_new_patient`], [`batch_patient_to_contact`], [`batch_contact_to_patient`],
//!   [`manual_link`]: what linking does, with who wins.
//! - [`reconcile`]: a linked pair changed on both sides since the last sync.
//! - [`as_edit`], [`sync_pair`]: a linked pair ([`Link`]) after either side changed, with what
//!   each side cannot hold never read as an edit.
//! - [`is_echo`], [`is_stale`]: carebridge's own writes coming back, and changes older than one
//!   already applied, are dropped.
//! - [`report_contact_ids`]: the contact ids of a Salesforce report's CSV export.
//! - [`search_words`], [`name_found`]: searching Hint's patients by name as a user types.

use crate::patient::Sex;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The fields kept in sync both ways, as either side holds them (texts trimmed; `None` for
/// blank).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographics {
    pub name_prefix: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub gender: Option<Sex>,
    pub email: Option<String>,
    pub mobile_phone: Option<String>,
    pub home_phone: Option<String>,
    pub office_phone: Option<String>,
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub country: Option<String>,
}

/// What Hint alone keeps and Salesforce shows read-only (Hint → Salesforce only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HintOnly {
    pub practitioner_name: Option<String>,
    pub insurance_payer: Option<String>,
    pub insurance_group_id: Option<String>,
    pub insurance_member_id: Option<String>,
    pub member_contract_accepted: bool,
    pub member_contract_accepted_at: Option<DateTime<Utc>>,
    pub hipaa_authorization_accepted: bool,
    pub hipaa_authorization_accepted_at: Option<DateTime<Utc>>,
}

/// Which side's values stay where both have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Winner {
    Patient,
    Contact,
}

/// Each field's name, for logs and change lists (never its value: these are PHI).
pub const FIELDS: [&str; 16] = [
    "name_prefix",
    "first_name",
    "middle_name",
    "last_name",
    "date_of_birth",
    "gender",
    "email",
    "mobile_phone",
    "home_phone",
    "office_phone",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zip",
    "country",
];

/// Applies `f` to each pair of fields of `a` and `b`, building a new record.
macro_rules! each_field {
    ($a:expr, $b:expr, $f:expr) => {
        Demographics {
            name_prefix: $f(&$a.name_prefix, &$b.name_prefix),
            first_name: $f(&$a.first_name, &$b.first_name),
            middle_name: $f(&$a.middle_name, &$b.middle_name),
            last_name: $f(&$a.last_name, &$b.last_name),
            date_of_birth: $f(&$a.date_of_birth, &$b.date_of_birth),
            gender: $f(&$a.gender, &$b.gender),
            email: $f(&$a.email, &$b.email),
            mobile_phone: $f(&$a.mobile_phone, &$b.mobile_phone),
            home_phone: $f(&$a.home_phone, &$b.home_phone),
            office_phone: $f(&$a.office_phone, &$b.office_phone),
            address_line1: $f(&$a.address_line1, &$b.address_line1),
            address_line2: $f(&$a.address_line2, &$b.address_line2),
            city: $f(&$a.city, &$b.city),
            state: $f(&$a.state, &$b.state),
            zip: $f(&$a.zip, &$b.zip),
            country: $f(&$a.country, &$b.country),
        }
    };
}

fn first_present<T: Clone>(winner: &Option<T>, other: &Option<T>) -> Option<T> {
    winner.clone().or_else(|| other.clone())
}

/// The guide's conflict rule: where both records have a value, `winner`'s stays; a field blank
/// on the winner is filled from the other. Both sides then hold the result.
pub fn merge(patient: &Demographics, contact: &Demographics, winner: Winner) -> Demographics {
    match winner {
        Winner::Patient => each_field!(patient, contact, first_present),
        Winner::Contact => each_field!(contact, patient, first_present),
    }
}

/// The names of the fields where `a` and `b` differ.
pub fn differences(a: &Demographics, b: &Demographics) -> Vec<&'static str> {
    let (a, b) = (
        serde_json::to_value(a).unwrap_or_default(),
        serde_json::to_value(b).unwrap_or_default(),
    );
    FIELDS.into_iter().filter(|f| a.get(*f) != b.get(*f)).collect()
}

/// The exact match the guide asks for: first name, last name and date of birth, all present,
/// names compared without regard to case or surrounding space.
pub fn identity(record: &Demographics) -> Option<(String, String, NaiveDate)> {
    let name = |n: &Option<String>| {
        n.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase)
    };
    Some((
        name(&record.first_name)?,
        name(&record.last_name)?,
        record.date_of_birth?,
    ))
}

/// Whether `a` and `b` are the same person by [`identity`].
pub fn same_identity(a: &Demographics, b: &Demographics) -> bool {
    identity(a).is_some_and(|id| Some(id) == identity(b))
}

/// A contact a rule may link to: its id, and whether it is linked to a Hint patient already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub contact_id: String,
    pub linked_to: Option<String>,
}

/// Why a record was left alone, as per-record results say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SkipReason {
    AlreadyLinked,
    MultipleMatches,
    NoMatch,
    UnknownContact,
}

/// What linking a Hint patient to Salesforce does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientOutcome {
    /// The patient is linked already: its contact takes the patient's values.
    Update {
        contact_id: String,
    },
    /// Link this unlinked contact; the patient wins conflicts, blanks filled from the contact.
    Link {
        contact_id: String,
    },
    /// Create a contact under the default account, "Synced to Hint" checked.
    Create,
    Skip(SkipReason),
    /// The setting is off: a new patient is not brought to Salesforce.
    Nothing,
}

/// The unlinked contacts among `matches` (the contacts whose identity equals the patient's).
fn unlinked(matches: &[Candidate]) -> Vec<&Candidate> {
    matches.iter().filter(|c| c.linked_to.is_none()).collect()
}

/// A new Hint patient (its webhook): with "create a new contact for patients without a
/// demographics match" on, an unlinked contact of the same identity is linked and none is
/// created; several are not guessed between. With the setting off, nothing happens.
pub fn on_new_patient(create_when_unmatched: bool, matches: &[Candidate]) -> PatientOutcome {
    if !create_when_unmatched {
        return PatientOutcome::Nothing;
    }
    match unlinked(matches).as_slice() {
        [] => PatientOutcome::Create,
        [one] => PatientOutcome::Link {
            contact_id: one.contact_id.clone(),
        },
        _ => PatientOutcome::Skip(SkipReason::MultipleMatches),
    }
}

/// A Hint patient in a patients → contacts batch: one linked already is updated; an exact match
/// not linked is linked (patient wins, blanks filled from the contact); no match creates a
/// contact when the setting is on, else is skipped as `no_match`.
pub fn batch_patient_to_contact(
    linked_contact: Option<&str>,
    create_when_unmatched: bool,
    matches: &[Candidate],
) -> PatientOutcome {
    if let Some(contact_id) = linked_contact {
        return PatientOutcome::Update {
            contact_id: contact_id.to_owned(),
        };
    }
    match (unlinked(matches).as_slice(), create_when_unmatched) {
        ([one], _) => PatientOutcome::Link {
            contact_id: one.contact_id.clone(),
        },
        ([], true) => PatientOutcome::Create,
        ([], false) => PatientOutcome::Skip(SkipReason::NoMatch),
        (_, _) => PatientOutcome::Skip(SkipReason::MultipleMatches),
    }
}

/// What a contact of a contacts → patients batch does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactOutcome {
    /// Link the contact to this patient: the contact's data overwrites the patient's, blank
    /// contact fields filled from the patient.
    Link {
        patient_id: String,
    },
    Skip(SkipReason),
}

/// A contact id of a report export: unknown to Salesforce → `unknown_contact`; linked already →
/// `already_linked`; then by the Hint patients of its identity not linked to another contact:
/// one → link, several → `multiple_matches`, none → `no_match`.
pub fn batch_contact_to_patient(
    contact_exists: bool,
    contact_linked: bool,
    unlinked_patients: &[String],
) -> ContactOutcome {
    if !contact_exists {
        return ContactOutcome::Skip(SkipReason::UnknownContact);
    }
    if contact_linked {
        return ContactOutcome::Skip(SkipReason::AlreadyLinked);
    }
    match unlinked_patients {
        [one] => ContactOutcome::Link {
            patient_id: one.clone(),
        },
        [] => ContactOutcome::Skip(SkipReason::NoMatch),
        _ => ContactOutcome::Skip(SkipReason::MultipleMatches),
    }
}

/// What a user's manual link of one contact to a chosen Hint patient does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualLink {
    /// Both records hold this after linking: the contact's values where both have one, blanks
    /// filled from the patient.
    pub merged: Demographics,
    /// The patient the contact was linked to before, now unlinked (it stays in Hint).
    pub unlinks: Option<String>,
}

pub fn manual_link(
    contact: &Demographics,
    patient: &Demographics,
    chosen_patient: &str,
    previously_linked: Option<&str>,
) -> ManualLink {
    ManualLink {
        merged: merge(patient, contact, Winner::Contact),
        unlinks: previously_linked.filter(|p| *p != chosen_patient).map(str::to_owned),
    }
}

/// A linked pair that changed on both sides since `base` (what both held after the last sync):
/// a field changed on one side only takes that side's value; a field changed on both takes the
/// later change's; unchanged fields stay.
pub fn reconcile(
    base: &Demographics,
    patient: &Demographics,
    patient_changed_at: DateTime<Utc>,
    contact: &Demographics,
    contact_changed_at: DateTime<Utc>,
) -> Demographics {
    let patient_later = patient_changed_at >= contact_changed_at;
    macro_rules! pick {
        ($($field:ident),*) => {
            Demographics {
                $($field: {
                    let (b, p, c) = (&base.$field, &patient.$field, &contact.$field);
                    match (p != b, c != b) {
                        (true, false) => p.clone(),
                        (false, true) => c.clone(),
                        (true, true) if patient_later => p.clone(),
                        (true, true) => c.clone(),
                        (false, false) => b.clone(),
                    }
                },)*
            }
        };
    }
    pick!(
        name_prefix,
        first_name,
        middle_name,
        last_name,
        date_of_birth,
        gender,
        email,
        mobile_phone,
        home_phone,
        office_phone,
        address_line1,
        address_line2,
        city,
        state,
        zip,
        country
    )
}

/// A side's record read as an edit of a linked pair: a field it still holds as carebridge last
/// left it there (`seen`) counts as unchanged (`base`, what the pair agreed on), so what one side
/// cannot hold (a gender Salesforce has no value for) never reads as an edit on that side.
pub fn as_edit(base: &Demographics, seen: &Demographics, incoming: &Demographics) -> Demographics {
    fn unless_seen<T: Clone + PartialEq>(base: &Option<T>, seen: &Option<T>, incoming: &Option<T>) -> Option<T> {
        if incoming == seen {
            base.clone()
        } else {
            incoming.clone()
        }
    }
    macro_rules! edit {
        ($($field:ident),*) => {
            Demographics { $($field: unless_seen(&base.$field, &seen.$field, &incoming.$field),)* }
        };
    }
    edit!(
        name_prefix,
        first_name,
        middle_name,
        last_name,
        date_of_birth,
        gender,
        email,
        mobile_phone,
        home_phone,
        office_phone,
        address_line1,
        address_line2,
        city,
        state,
        zip,
        country
    )
}

/// A change that only repeats what carebridge itself last left on that side (`seen`): dropped,
/// so nothing loops between the two.
pub fn is_echo(seen: &Demographics, incoming: &Demographics) -> bool {
    seen == incoming
}

/// A linked pair as carebridge keeps it: what both sides agreed on after the last sync (`base`),
/// how each side holds that (`in_hint`, `in_salesforce`: a side may hold less, such as a gender
/// Salesforce has no value for), the Hint-only fields last written to the contact, and the
/// vendor's own modified time of the last change applied from each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub patient_id: String,
    pub contact_id: String,
    pub base: Demographics,
    pub in_hint: Demographics,
    pub in_salesforce: Demographics,
    #[serde(default)]
    pub hint_only: HintOnly,
    #[serde(default)]
    pub patient_changed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub contact_changed_at: Option<DateTime<Utc>>,
    pub linked_at: DateTime<Utc>,
}

/// What a linked pair becomes when either side changed: each side's record read as an edit
/// ([`as_edit`]), then [`reconcile`]d; and which sides must be written to hold the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSync {
    pub result: Demographics,
    pub write_hint: bool,
    pub write_salesforce: bool,
}

/// Both sides are read as edits of `link.base`, so a pair where only one side changed copies
/// that side's change to the other, and one where both changed keeps each side's own fields and
/// the later change where both touched the same field.
pub fn sync_pair(
    link: &Link,
    patient: &Demographics,
    patient_changed_at: DateTime<Utc>,
    contact: &Demographics,
    contact_changed_at: DateTime<Utc>,
) -> PairSync {
    let patient = as_edit(&link.base, &link.in_hint, patient);
    let contact = as_edit(&link.base, &link.in_salesforce, contact);
    let result = reconcile(&link.base, &patient, patient_changed_at, &contact, contact_changed_at);
    PairSync {
        write_hint: patient != result,
        write_salesforce: contact != result,
        result,
    }
}

/// A change no newer than one already applied from the same side: dropped, so a late or
/// replayed delivery never overwrites a newer value.
pub fn is_stale(last_applied: Option<DateTime<Utc>>, incoming: DateTime<Utc>) -> bool {
    last_applied.is_some_and(|applied| incoming <= applied)
}

/// The contact ids of a Salesforce report's CSV export: the first column of every data row.
/// The header row is skipped; the text a report prints below its data (totals, "Confidential
/// Information - Do Not Distribute", the generated-by lines) ends the data and is returned as
/// `trailing`; an id that is not 15 or 18 letters and digits is named in `invalid` with its line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportRows {
    pub contact_ids: Vec<String>,
    pub trailing: Vec<String>,
    pub invalid: Vec<(usize, String)>,
}

pub fn report_contact_ids(text: &str) -> ReportRows {
    let mut rows = ReportRows::default();
    // Past the header (the first line that is not blank), each line with its number and first cell.
    let lines: Vec<(usize, &str, String)> = text
        .lines()
        .enumerate()
        .skip_while(|(_, line)| line.trim().is_empty())
        .skip(1)
        .map(|(index, line)| (index + 1, line, first_cell(line)))
        .collect();
    // The data ends with the last line that starts with an id; what follows is the report's.
    let end = lines
        .iter()
        .rposition(|(_, _, first)| is_record_id(first))
        .map_or(0, |last| last + 1);
    for (line_no, line, first) in &lines[..end] {
        if is_record_id(first) {
            rows.contact_ids.push(first.clone());
        } else if !line.trim().is_empty() {
            rows.invalid.push((*line_no, first.clone()));
        }
    }
    rows.trailing = lines[end..]
        .iter()
        .filter(|(_, line, _)| !line.trim().is_empty())
        .map(|(_, line, _)| line.trim().to_owned())
        .collect();
    rows
}

/// The first CSV cell of `line`, unquoted.
fn first_cell(line: &str) -> String {
    let line = line.trim_start_matches('\u{feff}').trim();
    match line.strip_prefix('"') {
        Some(rest) => {
            let mut out = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        out.push('"');
                        chars.next();
                    }
                    '"' => break,
                    other => out.push(other),
                }
            }
            out.trim().to_owned()
        }
        None => line.split(',').next().unwrap_or("").trim().to_owned(),
    }
}

/// A Salesforce record id: 15 or 18 letters and digits.
pub fn is_record_id(text: &str) -> bool {
    matches!(text.len(), 15 | 18) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The words a name is searched by: each run of letters and digits, lowercased, with accents
/// and other marks dropped ("José Ángel O'Neil" → `jose`, `angel`, `o`, `neil`), so what a user
/// types on a plain keyboard finds it.
pub fn search_words(text: &str) -> Vec<String> {
    deunicode::deunicode(text)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether a name (its [`search_words`]) is one a search for `typed` (its words) finds: each
/// typed word starts a different word of the name, in any order, so "sum gor" finds Gordon
/// Sumner while typing, and "ann ann" needs two words that start with "ann".
pub fn name_found(typed: &[String], name: &[String]) -> bool {
    let mut typed: Vec<&String> = typed.iter().collect();
    // Longest first: a long word has the fewest places to go, so it takes its place first.
    typed.sort_by_key(|word| std::cmp::Reverse(word.len()));
    let mut free: Vec<&String> = name.iter().collect();
    typed
        .into_iter()
        .all(|word| match free.iter().position(|n| n.starts_with(word.as_str())) {
            Some(at) => {
                free.remove(at);
                true
            }
            None => false,
        })
}

/// How a group's Hint ⇄ Salesforce behaves where the guide leaves it to the practice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    /// The Salesforce account contacts created by sync belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_account_id: Option<String>,
    /// "Create a new contact for patients without a demographics match".
    #[serde(default)]
    pub create_contacts_for_unmatched: bool,
}

/// The settings as an admin sends them; a field left out keeps its value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsInput {
    /// An Account id (15 or 18 characters, `001…`); `null` clears it.
    #[serde(default, with = "serde_with_null")]
    pub default_account_id: Option<Option<String>>,
    pub create_contacts_for_unmatched: Option<bool>,
}

/// Tells a field left out (`None`) from one sent as `null` (`Some(None)`).
mod serde_with_null {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::deserialize(deserializer)?))
    }
}

impl SettingsInput {
    /// `current` with this input applied, or every reason it cannot be.
    pub fn apply(&self, current: &Settings) -> Result<Settings, crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        let mut next = current.clone();
        if let Some(account) = &self.default_account_id {
            next.default_account_id = account
                .as_deref()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned);
            if let Some(id) = &next.default_account_id
                && !(is_record_id(id) && id.starts_with("001"))
            {
                errors.push(crate::FieldError::new(
                    "default_account_id",
                    "invalid_account_id",
                    "an Account id is 15 or 18 letters and digits starting 001, as Salesforce shows it",
                ));
            }
        }
        if let Some(create) = self.create_contacts_for_unmatched {
            next.create_contacts_for_unmatched = create;
        }
        if next.create_contacts_for_unmatched && next.default_account_id.is_none() && errors.is_empty() {
            errors.push(crate::FieldError::new(
                "default_account_id",
                "account_required",
                "contacts created for patients without a match go to the default account: name one first",
            ));
        }
        if errors.is_empty() { Ok(next) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_change_only_what_is_sent_and_creating_contacts_needs_an_account() {
        let input = |json: serde_json::Value| serde_json::from_value::<SettingsInput>(json).unwrap();
        let on = input(
            serde_json::json!({"default_account_id": "0015g00000AbCdEAAZ", "create_contacts_for_unmatched": true}),
        )
        .apply(&Settings::default())
        .unwrap();
        assert!(on.create_contacts_for_unmatched);
        let kept = input(serde_json::json!({"create_contacts_for_unmatched": false}))
            .apply(&on)
            .unwrap();
        assert_eq!(
            kept.default_account_id, on.default_account_id,
            "a field left out keeps its value"
        );
        let cleared = input(serde_json::json!({"default_account_id": null}))
            .apply(&on)
            .unwrap_err();
        assert_eq!(
            cleared.0[0].code, "account_required",
            "clearing the account while creating is on"
        );
        let wrong = input(serde_json::json!({"default_account_id": "0035g00000AbCdEAAZ"}))
            .apply(&Settings::default())
            .unwrap_err();
        assert_eq!(
            wrong.0[0].code, "invalid_account_id",
            "a contact id is not an account id"
        );
        assert!(serde_json::from_value::<SettingsInput>(serde_json::json!({"create": true})).is_err());
    }

    fn person(first: &str, last: &str, dob: &str) -> Demographics {
        Demographics {
            first_name: Some(first.into()),
            last_name: Some(last.into()),
            date_of_birth: NaiveDate::parse_from_str(dob, "%Y-%m-%d").ok(),
            ..Demographics::default()
        }
    }

    fn candidate(id: &str, linked_to: Option<&str>) -> Candidate {
        Candidate {
            contact_id: id.into(),
            linked_to: linked_to.map(Into::into),
        }
    }

    #[test]
    fn merge_keeps_the_winners_values_and_fills_its_blanks_from_the_other() {
        let mut patient = person("Ann", "Lee", "1980-02-03");
        patient.email = Some("ann@hint.example".into());
        let mut contact = person("Annie", "Lee", "1980-02-03");
        contact.email = Some("ann@sf.example".into());
        contact.mobile_phone = Some("5551234567".into());
        let patient_wins = merge(&patient, &contact, Winner::Patient);
        assert_eq!(patient_wins.first_name.as_deref(), Some("Ann"));
        assert_eq!(patient_wins.email.as_deref(), Some("ann@hint.example"));
        assert_eq!(
            patient_wins.mobile_phone.as_deref(),
            Some("5551234567"),
            "a blank is filled"
        );
        let contact_wins = merge(&patient, &contact, Winner::Contact);
        assert_eq!(contact_wins.first_name.as_deref(), Some("Annie"));
        assert_eq!(differences(&patient_wins, &contact_wins), ["first_name", "email"]);
    }

    #[test]
    fn a_new_patient_links_its_one_unlinked_match_creates_without_one_and_does_nothing_when_off() {
        assert_eq!(
            on_new_patient(false, &[candidate("003A", None)]),
            PatientOutcome::Nothing
        );
        assert_eq!(on_new_patient(true, &[]), PatientOutcome::Create);
        assert_eq!(
            on_new_patient(true, &[candidate("003A", Some("pat-1")), candidate("003B", None)]),
            PatientOutcome::Link {
                contact_id: "003B".into()
            },
            "a contact linked to another patient is not taken"
        );
        assert_eq!(
            on_new_patient(true, &[candidate("003A", None), candidate("003B", None)]),
            PatientOutcome::Skip(SkipReason::MultipleMatches)
        );
    }

    #[test]
    fn batch_patients_to_contacts_updates_links_creates_or_skips_as_the_setting_says() {
        assert_eq!(
            batch_patient_to_contact(Some("003L"), false, &[]),
            PatientOutcome::Update {
                contact_id: "003L".into()
            }
        );
        assert_eq!(
            batch_patient_to_contact(None, false, &[candidate("003A", None)]),
            PatientOutcome::Link {
                contact_id: "003A".into()
            }
        );
        assert_eq!(batch_patient_to_contact(None, true, &[]), PatientOutcome::Create);
        assert_eq!(
            batch_patient_to_contact(None, false, &[]),
            PatientOutcome::Skip(SkipReason::NoMatch)
        );
        assert_eq!(
            batch_patient_to_contact(None, true, &[candidate("003A", Some("pat-2"))]),
            PatientOutcome::Create,
            "only a linked contact matches: a new one is made"
        );
    }

    #[test]
    fn batch_contacts_to_patients_skips_unknown_linked_and_ambiguous_contacts_for_a_reason() {
        assert_eq!(
            batch_contact_to_patient(false, false, &["pat-1".into()]),
            ContactOutcome::Skip(SkipReason::UnknownContact)
        );
        assert_eq!(
            batch_contact_to_patient(true, true, &["pat-1".into()]),
            ContactOutcome::Skip(SkipReason::AlreadyLinked)
        );
        assert_eq!(
            batch_contact_to_patient(true, false, &[]),
            ContactOutcome::Skip(SkipReason::NoMatch)
        );
        assert_eq!(
            batch_contact_to_patient(true, false, &["pat-1".into(), "pat-2".into()]),
            ContactOutcome::Skip(SkipReason::MultipleMatches)
        );
        assert_eq!(
            batch_contact_to_patient(true, false, &["pat-1".into()]),
            ContactOutcome::Link {
                patient_id: "pat-1".into()
            }
        );
    }

    #[test]
    fn a_manual_link_lets_the_contact_win_and_unlinks_the_patient_it_had() {
        let mut contact = person("Ann", "Lee", "1980-02-03");
        contact.city = None;
        let mut patient = person("Anne", "Lee", "1980-02-03");
        patient.city = Some("Austin".into());
        let link = manual_link(&contact, &patient, "pat-new", Some("pat-old"));
        assert_eq!(link.merged.first_name.as_deref(), Some("Ann"));
        assert_eq!(link.merged.city.as_deref(), Some("Austin"));
        assert_eq!(link.unlinks.as_deref(), Some("pat-old"));
        assert_eq!(
            manual_link(&contact, &patient, "pat-new", Some("pat-new")).unlinks,
            None
        );
    }

    #[test]
    fn conflicting_edits_on_both_sides_keep_each_sides_own_changes_and_the_later_one_where_both_changed() {
        let base = person("Ann", "Lee", "1980-02-03");
        let mut patient = base.clone();
        patient.email = Some("hint@example.org".into());
        patient.first_name = Some("Anna".into());
        let mut contact = base.clone();
        contact.city = Some("Austin".into());
        contact.first_name = Some("Annie".into());
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let merged = reconcile(&base, &patient, t(10), &contact, t(20));
        assert_eq!(merged.email.as_deref(), Some("hint@example.org"));
        assert_eq!(merged.city.as_deref(), Some("Austin"));
        assert_eq!(
            merged.first_name.as_deref(),
            Some("Annie"),
            "the contact's edit was later"
        );
        let merged = reconcile(&base, &patient, t(30), &contact, t(20));
        assert_eq!(merged.first_name.as_deref(), Some("Anna"));
    }

    #[test]
    fn an_echo_of_carebridges_own_write_and_a_stale_change_are_dropped() {
        let written = person("Ann", "Lee", "1980-02-03");
        assert!(is_echo(&written, &written.clone()));
        let mut edited = written.clone();
        edited.email = Some("new@example.org".into());
        assert!(!is_echo(&written, &edited));
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap();
        assert!(is_stale(Some(t(10)), t(10)));
        assert!(is_stale(Some(t(10)), t(5)));
        assert!(!is_stale(Some(t(10)), t(11)));
        assert!(!is_stale(None, t(1)));
    }

    #[test]
    fn a_value_a_side_cannot_hold_is_not_read_as_an_edit_of_that_side() {
        let mut base = person("Ann", "Lee", "1980-02-03");
        base.gender = Some(Sex::Other);
        // Salesforce holds no gender for "other": the contact as carebridge left it.
        let mut in_salesforce = base.clone();
        in_salesforce.gender = None;
        let mut contact = in_salesforce.clone();
        contact.city = Some("Portland".into());
        let edit = as_edit(&base, &in_salesforce, &contact);
        assert_eq!(edit.gender, Some(Sex::Other), "the unheld gender is not an edit");
        assert_eq!(edit.city.as_deref(), Some("Portland"), "the city is an edit");
        // A field changed away from what carebridge left is an edit, even to blank.
        let mut cleared = in_salesforce.clone();
        cleared.first_name = None;
        assert_eq!(as_edit(&base, &in_salesforce, &cleared).first_name, None);
    }

    #[test]
    fn a_linked_pair_copies_a_change_on_one_side_to_the_other_and_writes_only_what_differs() {
        let t = |s: i64| DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).unwrap();
        let base = person("Ann", "Lee", "1980-02-03");
        let link = Link {
            patient_id: "pat-1".into(),
            contact_id: "003000000000001AAA".into(),
            base: base.clone(),
            in_hint: base.clone(),
            in_salesforce: base.clone(),
            hint_only: HintOnly::default(),
            patient_changed_at: None,
            contact_changed_at: None,
            linked_at: t(0),
        };
        let mut patient = base.clone();
        patient.email = Some("ann@example.org".into());
        let hint_changed = sync_pair(&link, &patient, t(20), &base, t(10));
        assert_eq!(hint_changed.result, patient);
        assert!(hint_changed.write_salesforce && !hint_changed.write_hint);

        let mut contact = base.clone();
        contact.city = Some("Salem".into());
        let both = sync_pair(&link, &patient, t(20), &contact, t(30));
        assert_eq!(both.result.email.as_deref(), Some("ann@example.org"));
        assert_eq!(both.result.city.as_deref(), Some("Salem"));
        assert!(both.write_hint && both.write_salesforce);

        let nothing = sync_pair(&link, &base, t(20), &base, t(30));
        assert_eq!(nothing.result, base);
        assert!(!nothing.write_hint && !nothing.write_salesforce);
    }

    #[test]
    fn a_report_export_gives_its_first_column_and_tolerates_the_text_below_the_data() {
        let export = "\u{feff}\"Contact ID\",\"First Name\",\"Last Name\"\n\
            \"0035g00000AbCdEAAZ\",\"Ann\",\"Lee\"\n\
            0035g00000AbCdF,\"Bo\",\"Ray\"\n\
            \n\
            \"Total\"\n\
            \"Confidential Information - Do Not Distribute\"\n\
            \"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.\"\n";
        let rows = report_contact_ids(export);
        assert_eq!(rows.contact_ids, ["0035g00000AbCdEAAZ", "0035g00000AbCdF"]);
        assert_eq!(rows.trailing.len(), 3);
        assert_eq!(rows.trailing[1], "\"Confidential Information - Do Not Distribute\"");
        assert!(rows.invalid.is_empty());
        let wrong = report_contact_ids("Name,Id\nAnn Lee,0035g00000AbCdEAAZ\n");
        assert_eq!(
            wrong.contact_ids,
            Vec::<String>::new(),
            "the first column must hold the ids"
        );
        assert_eq!(wrong.trailing, ["Ann Lee,0035g00000AbCdEAAZ"]);
        let typo = report_contact_ids("Id\n0035g00000AbCdEAAZ\n0035g-typo\n0035g00000AbCdF\nTotal\n");
        assert_eq!(
            typo.contact_ids.len(),
            2,
            "a bad id in the middle does not end the data"
        );
        assert_eq!(typo.invalid, [(3, "0035g-typo".to_owned())]);
        assert_eq!(typo.trailing, ["Total"]);
    }

    #[test]
    fn a_name_search_finds_each_typed_word_at_the_start_of_a_different_word_of_the_name() {
        let name = search_words("Gordon Thomas Sumner-Ávila");
        assert_eq!(name, ["gordon", "thomas", "sumner", "avila"]);
        let finds = |typed: &str| name_found(&search_words(typed), &name);
        assert!(finds("g"), "from the first keystroke");
        assert!(finds("gor sum"));
        assert!(finds("SUM gor"), "in any order, case aside");
        assert!(finds("avila"), "accents need not be typed");
        assert!(finds("Ávila"), "nor be left out");
        assert!(!finds("ordon"), "a word is found by its start only");
        assert!(!finds("gordon gordon"), "each typed word needs a word of its own");
        assert!(!finds("gor smith"), "every typed word must be found");
        assert!(
            name_found(&search_words("t thom"), &search_words("Tom Thomas")),
            "the longer word takes its place first"
        );
        assert_eq!(search_words(" ,-'"), Vec::<String>::new());
    }

    #[test]
    fn identity_is_first_last_and_birthday_ignoring_case_and_space() {
        assert!(same_identity(
            &person(" ann", "LEE", "1980-02-03"),
            &person("Ann", "Lee ", "1980-02-03")
        ));
        assert!(!same_identity(
            &person("Ann", "Lee", "1980-02-03"),
            &person("Ann", "Lee", "1980-02-04")
        ));
        assert_eq!(identity(&Demographics::default()), None, "no identity, no match");
    }
}
