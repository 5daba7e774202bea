//! Ensora data collection: the synchronization guide's Auto mapping rules, one function each,
//! over light views of Ensora's records (sites, students, users, SOAP session notes) and of
//! carebridge's (agencies, patients, practitioners, appointments).
//!
//! - [`map_site`]: a site's name is an agency's name.
//! - [`map_student`]: first name, last name and date of birth of a patient in the site's agency.
//! - [`map_user`]: first name, last name and e-mail of a practitioner in one of the user's sites'
//!   agencies.
//! - [`map_session`]: an appointment on the session's date whose start and end are each within
//!   the grace of the session's, whose patient is the session's student and whose practitioner
//!   has the session's user's name.
//!
//! - [`read_note`], [`render`]: a SOAP note's answers by question, and whether its appointment
//!   is rendered (completed) from them, with every reason it is not.
//!
//! Texts are compared trimmed, with runs of space folded to one and case folded ([`fold`]). Two
//! or more candidates map to nothing: the reason names them. With none, the reason says which
//! field differed from the nearest candidate, found by looking the record up again with that
//! one field left out. Every lookup is a hash of normalised keys ([`Index`]), so mapping
//! thousands of records against thousands never compares every pair.

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The guide's default grace for a session's start and end against an appointment's.
pub const DEFAULT_GRACE: TimeDelta = TimeDelta::minutes(5);

/// A text as the rules compare it: trimmed, each run of white space one space, case folded.
pub fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Why an Ensora record is not mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Unmapped {
    /// Nothing in carebridge comes near.
    NoCandidate,
    /// Several records match every rule; none is guessed.
    SeveralCandidates { candidates: Vec<String> },
    /// The nearest record matches every rule but this field's.
    Differs { field: String, nearest: String },
    /// What the record depends on is not mapped yet (a student's site, a session's student).
    Unresolved { what: String },
    /// Ensora says the session note was deleted.
    Deleted,
}

/// The longest grace a group may set: past an hour, sessions would map to the wrong visit.
pub const MAX_GRACE_MINUTES: u32 = 60;

/// A group's Ensora settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Settings {
    /// How far a session's start and end may each be from its appointment's, in minutes.
    pub session_grace_minutes: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_grace_minutes: DEFAULT_GRACE.num_minutes() as u32,
        }
    }
}

impl Settings {
    pub fn grace(&self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.session_grace_minutes))
    }
}

/// What `PUT …/integrations/ensora/settings` takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsInput {
    /// 0 to 60.
    pub session_grace_minutes: Option<u32>,
}

impl SettingsInput {
    pub fn apply(&self, current: &Settings) -> Result<Settings, crate::ValidationErrors> {
        let mut next = current.clone();
        if let Some(minutes) = self.session_grace_minutes {
            if minutes > MAX_GRACE_MINUTES {
                return Err(crate::ValidationErrors(vec![crate::FieldError::new(
                    "session_grace_minutes",
                    "out_of_range",
                    format!("session_grace_minutes is 0 to {MAX_GRACE_MINUTES}"),
                )]));
            }
            next.session_grace_minutes = minutes;
        }
        Ok(next)
    }
}

impl Unmapped {
    /// The reason's code, as the API names it.
    pub fn code(&self) -> &'static str {
        match self {
            Unmapped::NoCandidate => "no_candidate",
            Unmapped::SeveralCandidates { .. } => "several_candidates",
            Unmapped::Differs { .. } => "differs",
            Unmapped::Unresolved { .. } => "unresolved",
            Unmapped::Deleted => "deleted",
        }
    }

    /// What a person reads beside the code: the candidates, the field that differed and from
    /// which record, or what is not mapped yet.
    pub fn detail(&self) -> Option<String> {
        match self {
            Unmapped::NoCandidate | Unmapped::Deleted => None,
            Unmapped::SeveralCandidates { candidates } => Some(format!("candidates {}", candidates.join(" "))),
            Unmapped::Differs { field, nearest } => Some(format!("{field} differs from {nearest}")),
            Unmapped::Unresolved { what } => Some(what.clone()),
        }
    }
}

/// How a mapped Ensora record came to be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Source {
    /// By the guide's rule, at a poll.
    Auto,
    /// By a person, through the mapping API.
    User,
}

/// Where an Ensora record maps in carebridge, or why it does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Mapping {
    Mapped {
        /// The carebridge record's id (an agency, patient, practitioner or appointment).
        target_id: String,
        source: Source,
        /// The agency it is mapped within (a site's own; a student's or user's site's; a
        /// session's appointment's), so a site's mapping knows what depends on it.
        agency_id: Option<String>,
        at: chrono::DateTime<chrono::Utc>,
    },
    Unmapped {
        #[serde(flatten)]
        reason: Unmapped,
    },
}

impl Mapping {
    pub fn target(&self) -> Option<&str> {
        match self {
            Mapping::Mapped { target_id, .. } => Some(target_id),
            Mapping::Unmapped { .. } => None,
        }
    }

    pub fn is_user(&self) -> bool {
        matches!(
            self,
            Mapping::Mapped {
                source: Source::User,
                ..
            }
        )
    }
}

/// What a rule decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auto {
    Mapped(String),
    Unmapped(Unmapped),
}

/// Records by a normalised key: the one structure every rule looks up in.
#[derive(Debug, Clone)]
pub struct Index<K> {
    by_key: HashMap<K, Vec<String>>,
}

impl<K: std::hash::Hash + Eq> Index<K> {
    pub fn build(entries: impl IntoIterator<Item = (K, String)>) -> Index<K> {
        let mut by_key: HashMap<K, Vec<String>> = HashMap::new();
        for (key, id) in entries {
            by_key.entry(key).or_default().push(id);
        }
        Index { by_key }
    }

    pub fn get(&self, key: &K) -> &[String] {
        self.by_key.get(key).map_or(&[], Vec::as_slice)
    }
}

/// One candidate maps; several are named; none asks `nearest` which field differed.
fn decide(found: &[String], nearest: impl FnOnce() -> Option<(&'static str, String)>) -> Auto {
    match found {
        [one] => Auto::Mapped(one.clone()),
        [] => Auto::Unmapped(match nearest() {
            Some((field, id)) => Unmapped::Differs {
                field: field.to_owned(),
                nearest: id,
            },
            None => Unmapped::NoCandidate,
        }),
        several => {
            let mut candidates = several.to_vec();
            candidates.sort();
            Auto::Unmapped(Unmapped::SeveralCandidates { candidates })
        }
    }
}

/// The first of `tries` (a field left out, and what matches without it) that finds a record.
fn nearest_of<'a>(tries: impl IntoIterator<Item = (&'static str, &'a [String])>) -> Option<(&'static str, String)> {
    tries
        .into_iter()
        .find_map(|(field, found)| found.iter().min().map(|id| (field, id.clone())))
}

// ---------------------------------------------------------------------------------------------
// Sites → agencies.

pub struct Agency<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

/// Agencies by folded name.
pub fn agency_index<'a>(agencies: impl IntoIterator<Item = Agency<'a>>) -> Index<String> {
    Index::build(agencies.into_iter().map(|a| (fold(a.name), a.id.to_owned())))
}

/// A site maps to the one agency of its name.
pub fn map_site(site_name: &str, agencies: &Index<String>) -> Auto {
    decide(agencies.get(&fold(site_name)), || None)
}

// ---------------------------------------------------------------------------------------------
// Students → patients.

pub struct Person<'a> {
    pub id: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub date_of_birth: Option<NaiveDate>,
    pub agency_id: Option<&'a str>,
}

/// Patients by (first, last, date of birth, agency), and by each of those with one left out,
/// for the reason a student matched none.
pub struct PatientIndex {
    exact: Index<(String, String, Option<NaiveDate>, String)>,
    no_first: Index<(String, Option<NaiveDate>, String)>,
    no_last: Index<(String, Option<NaiveDate>, String)>,
    no_birth: Index<(String, String, String)>,
    no_agency: Index<(String, String, Option<NaiveDate>)>,
}

pub fn patient_index<'a>(patients: impl IntoIterator<Item = Person<'a>>) -> PatientIndex {
    let rows: Vec<(String, String, Option<NaiveDate>, String, String)> = patients
        .into_iter()
        .map(|p| {
            (
                fold(p.first_name),
                fold(p.last_name),
                p.date_of_birth,
                p.agency_id.unwrap_or_default().to_owned(),
                p.id.to_owned(),
            )
        })
        .collect();
    PatientIndex {
        exact: Index::build(
            rows.iter()
                .map(|(f, l, b, a, id)| ((f.clone(), l.clone(), *b, a.clone()), id.clone())),
        ),
        no_first: Index::build(
            rows.iter()
                .map(|(_, l, b, a, id)| ((l.clone(), *b, a.clone()), id.clone())),
        ),
        no_last: Index::build(
            rows.iter()
                .map(|(f, _, b, a, id)| ((f.clone(), *b, a.clone()), id.clone())),
        ),
        no_birth: Index::build(
            rows.iter()
                .map(|(f, l, _, a, id)| ((f.clone(), l.clone(), a.clone()), id.clone())),
        ),
        no_agency: Index::build(
            rows.iter()
                .map(|(f, l, b, _, id)| ((f.clone(), l.clone(), *b), id.clone())),
        ),
    }
}

/// A student maps to the one patient of its first name, last name and date of birth in the
/// agency its site maps to (`None` until the site is mapped).
pub fn map_student(student: &Person<'_>, site_agency: Option<&str>, patients: &PatientIndex) -> Auto {
    let Some(agency) = site_agency else {
        return Auto::Unmapped(Unmapped::Unresolved {
            what: "the student's site is not mapped to an agency".into(),
        });
    };
    let (first, last, born, agency) = (
        fold(student.first_name),
        fold(student.last_name),
        student.date_of_birth,
        agency.to_owned(),
    );
    let found = patients.exact.get(&(first.clone(), last.clone(), born, agency.clone()));
    decide(found, || {
        nearest_of([
            (
                "date_of_birth",
                patients.no_birth.get(&(first.clone(), last.clone(), agency.clone())),
            ),
            (
                "first_name",
                patients.no_first.get(&(last.clone(), born, agency.clone())),
            ),
            (
                "last_name",
                patients.no_last.get(&(first.clone(), born, agency.clone())),
            ),
            ("agency", patients.no_agency.get(&(first.clone(), last.clone(), born))),
        ])
    })
}

// ---------------------------------------------------------------------------------------------
// Users → practitioners.

pub struct Staff<'a> {
    pub id: &'a str,
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub email: &'a str,
    pub agency_id: Option<&'a str>,
}

/// A practitioner's folded first name, last name, e-mail and agency, and its id.
type StaffRow = (String, String, String, String, String);

pub struct PractitionerIndex {
    exact: Index<(String, String, String, String)>,
    no_first: Index<(String, String, String)>,
    no_last: Index<(String, String, String)>,
    no_email: Index<(String, String, String)>,
    no_agency: Index<(String, String, String)>,
}

pub fn practitioner_index<'a>(practitioners: impl IntoIterator<Item = Staff<'a>>) -> PractitionerIndex {
    let rows: Vec<StaffRow> = practitioners
        .into_iter()
        .map(|p| {
            (
                fold(p.first_name),
                fold(p.last_name),
                fold(p.email),
                p.agency_id.unwrap_or_default().to_owned(),
                p.id.to_owned(),
            )
        })
        .collect();
    let by = |pick: fn(&StaffRow) -> (String, String, String)| {
        Index::build(rows.iter().map(|row| (pick(row), row.4.clone())))
    };
    PractitionerIndex {
        exact: Index::build(
            rows.iter()
                .map(|(f, l, e, a, id)| ((f.clone(), l.clone(), e.clone(), a.clone()), id.clone())),
        ),
        no_first: by(|(_, l, e, a, _)| (l.clone(), e.clone(), a.clone())),
        no_last: by(|(f, _, e, a, _)| (f.clone(), e.clone(), a.clone())),
        no_email: by(|(f, l, _, a, _)| (f.clone(), l.clone(), a.clone())),
        no_agency: by(|(f, l, e, _, _)| (f.clone(), l.clone(), e.clone())),
    }
}

/// A user maps to the one practitioner of its first name, last name and e-mail in an agency
/// one of its sites maps to (the sites not mapped yet are passed over; none mapped is
/// unresolved).
pub fn map_user(user: &Staff<'_>, site_agencies: &[&str], practitioners: &PractitionerIndex) -> Auto {
    if site_agencies.is_empty() {
        return Auto::Unmapped(Unmapped::Unresolved {
            what: "none of the user's sites is mapped to an agency".into(),
        });
    }
    let (first, last, email) = (fold(user.first_name), fold(user.last_name), fold(user.email));
    let mut found: Vec<String> = site_agencies
        .iter()
        .flat_map(|agency| {
            practitioners
                .exact
                .get(&(first.clone(), last.clone(), email.clone(), (*agency).to_owned()))
                .iter()
                .cloned()
        })
        .collect();
    found.sort();
    found.dedup();
    decide(&found, || {
        let within = |index: &Index<(String, String, String)>, key: &dyn Fn(&str) -> (String, String, String)| {
            site_agencies
                .iter()
                .flat_map(|agency| index.get(&key(agency)).iter().cloned())
                .min()
        };
        [
            (
                "email",
                within(&practitioners.no_email, &|a| {
                    (first.clone(), last.clone(), a.to_owned())
                }),
            ),
            (
                "first_name",
                within(&practitioners.no_first, &|a| {
                    (last.clone(), email.clone(), a.to_owned())
                }),
            ),
            (
                "last_name",
                within(&practitioners.no_last, &|a| {
                    (first.clone(), email.clone(), a.to_owned())
                }),
            ),
            (
                "agency",
                practitioners
                    .no_agency
                    .get(&(first.clone(), last.clone(), email.clone()))
                    .iter()
                    .min()
                    .cloned(),
            ),
        ]
        .into_iter()
        .find_map(|(field, id)| id.map(|id| (field, id)))
    })
}

// ---------------------------------------------------------------------------------------------
// Sessions → appointments.

/// An appointment as the session rule reads it: its times, and who its patient and
/// practitioner are (their names and the patient's birthday, folded by the caller's views).
pub struct Slot<'a> {
    pub id: &'a str,
    pub date: NaiveDate,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub patient: PersonKey,
    pub practitioner: NameKey,
}

/// A patient or student as the session rule compares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonKey {
    pub first_name: String,
    pub last_name: String,
    pub date_of_birth: Option<NaiveDate>,
}

impl PersonKey {
    pub fn new(first_name: &str, last_name: &str, date_of_birth: Option<NaiveDate>) -> PersonKey {
        PersonKey {
            first_name: fold(first_name),
            last_name: fold(last_name),
            date_of_birth,
        }
    }
}

/// A practitioner or user as the session rule compares them: first and last name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NameKey(pub String, pub String);

impl NameKey {
    pub fn new(first_name: &str, last_name: &str) -> NameKey {
        NameKey(fold(first_name), fold(last_name))
    }
}

/// Appointments by date and both people, with their times; and by date with one of the people
/// left out, for the reason a session matched none.
/// Appointments on one date with the same two people, each with its start and end.
type SameDayPeople = HashMap<(NaiveDate, PersonKey, NameKey), Vec<(String, NaiveTime, NaiveTime)>>;

pub struct AppointmentIndex {
    exact: SameDayPeople,
    no_practitioner: Index<(NaiveDate, PersonKey)>,
    no_patient: Index<(NaiveDate, NameKey)>,
}

pub fn appointment_index<'a>(slots: impl IntoIterator<Item = Slot<'a>>) -> AppointmentIndex {
    let mut exact: SameDayPeople = HashMap::new();
    let mut no_practitioner = Vec::new();
    let mut no_patient = Vec::new();
    for slot in slots {
        exact
            .entry((slot.date, slot.patient.clone(), slot.practitioner.clone()))
            .or_default()
            .push((slot.id.to_owned(), slot.start, slot.end));
        no_practitioner.push(((slot.date, slot.patient), slot.id.to_owned()));
        no_patient.push(((slot.date, slot.practitioner), slot.id.to_owned()));
    }
    AppointmentIndex {
        exact,
        no_practitioner: Index::build(no_practitioner),
        no_patient: Index::build(no_patient),
    }
}

/// A session as the rule reads it: its date and times, and its student and user as resolved
/// from Ensora's records (`None` when Ensora sent no such student or user).
pub struct Session {
    pub date: NaiveDate,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub student: Option<PersonKey>,
    pub user: Option<NameKey>,
}

/// Whether `a` and `b` are at most `grace` apart.
pub fn within_grace(a: NaiveTime, b: NaiveTime, grace: TimeDelta) -> bool {
    (a - b).abs() <= grace
}

/// A session maps to the one appointment on its date whose start and end are each within
/// `grace` of the session's, whose patient is the session's student (first name, last name,
/// date of birth) and whose practitioner has the session's user's first and last name.
pub fn map_session(session: &Session, grace: TimeDelta, appointments: &AppointmentIndex) -> Auto {
    let (Some(student), Some(user)) = (&session.student, &session.user) else {
        return Auto::Unmapped(Unmapped::Unresolved {
            what: "Ensora sent no student or no user for the session".into(),
        });
    };
    let same_people = appointments
        .exact
        .get(&(session.date, student.clone(), user.clone()))
        .map_or(&[][..], Vec::as_slice);
    let found: Vec<String> = same_people
        .iter()
        .filter(|(_, start, end)| within_grace(*start, session.start, grace) && within_grace(*end, session.end, grace))
        .map(|(id, _, _)| id.clone())
        .collect();
    decide(&found, || {
        // The people match but a time does not: name the time that is off.
        if let Some((id, start, _)) = same_people.iter().min_by(|a, b| a.0.cmp(&b.0)) {
            let field = if within_grace(*start, session.start, grace) {
                "end_time"
            } else {
                "start_time"
            };
            return Some((field, id.clone()));
        }
        nearest_of([
            (
                "practitioner",
                appointments.no_practitioner.get(&(session.date, student.clone())),
            ),
            ("patient", appointments.no_patient.get(&(session.date, user.clone()))),
        ])
    })
}

// ---------------------------------------------------------------------------------------------
// SOAP session notes.

/// A note's answers, read by question text (case and spacing folded; the guide's alternative
/// questions are one field).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NoteFields {
    pub date: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub notes: Option<String>,
    /// "Signature" or "Therapist Signature": a signature not named is the therapist's.
    pub therapist_signature: Option<String>,
    pub location: Option<String>,
    /// "Guardian Name", "Caregiver Name" or "Parent Name".
    pub guardian_name: Option<String>,
    pub relationship: Option<String>,
    pub guardian_signature: Option<String>,
}

/// A question's field, if it is one the guide names.
fn field_of(question: &str) -> Option<&'static str> {
    // "Guardian / Caregiver / Parent Name" is one question in some templates, three in others.
    let folded = fold(question).replace(" /", "/").replace("/ ", "/");
    let folded = folded.trim_end_matches(':').trim_end();
    let guardian = |rest: &str| {
        folded == format!("guardian/caregiver/parent {rest}")
            || ["guardian", "caregiver", "parent"]
                .iter()
                .any(|who| folded == format!("{who} {rest}"))
    };
    Some(match folded {
        "date" => "date",
        "start time" => "start_time",
        "end time" => "end_time",
        "notes" => "notes",
        "signature" | "therapist signature" => "therapist_signature",
        "location" => "location",
        "relationship" => "relationship",
        _ if guardian("name") => "guardian_name",
        _ if guardian("signature") => "guardian_signature",
        _ => return None,
    })
}

/// Reads a note's `(question text, answer)` responses; blank answers count as absent, and the
/// first answer of a field is the one kept.
pub fn read_note<'a>(responses: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> NoteFields {
    let mut note = NoteFields::default();
    for (question, answer) in responses {
        let Some(answer) = answer.map(str::trim).filter(|a| !a.is_empty()) else {
            continue;
        };
        let slot = match field_of(question) {
            Some("date") => &mut note.date,
            Some("start_time") => &mut note.start_time,
            Some("end_time") => &mut note.end_time,
            Some("notes") => &mut note.notes,
            Some("therapist_signature") => &mut note.therapist_signature,
            Some("location") => &mut note.location,
            Some("guardian_name") => &mut note.guardian_name,
            Some("relationship") => &mut note.relationship,
            Some("guardian_signature") => &mut note.guardian_signature,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(answer.to_owned());
        }
    }
    note
}

/// A time as a note's template writes it: `14:05`, `14:05:30`, `2:05 PM`, `2:05pm`.
pub fn note_time(text: &str) -> Option<NaiveTime> {
    let compact = text.trim().to_uppercase().replace(' ', "");
    ["%H:%M:%S", "%H:%M", "%I:%M%p", "%I:%M:%S%p"]
        .iter()
        .find_map(|format| NaiveTime::parse_from_str(&compact, format).ok())
}

/// A date as a note writes it: `2026-11-02` or `11/02/2026`.
pub fn note_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%m/%d/%Y"))
        .ok()
}

/// What a rendered appointment keeps of the note beside its results notes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignatureData {
    pub guardian_name: Option<String>,
    pub relationship: Option<String>,
    pub session_date: Option<NaiveDate>,
    pub start_time: Option<NaiveTime>,
    pub end_time: Option<NaiveTime>,
    pub therapist_signature: Option<String>,
    pub therapist_signature_location: Option<String>,
    pub guardian_signature: Option<String>,
    pub guardian_signature_location: Option<String>,
    /// Where the session was rendered: the note's Location.
    pub render_location: Option<String>,
}

/// Why a mapped note does not render its appointment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotRendered {
    /// A field the guide requires has no answer (its name, as in [`NoteFields`]).
    Missing {
        field: String,
    },
    /// The answer is not a date or a time.
    Invalid {
        field: String,
    },
    /// The note ends before it starts.
    EndsBeforeItStarts,
    /// The note's times fall outside the appointment's (with the grace the mapping allows).
    OutsideAppointment,
    PatientNotMapped,
    PractitionerNotMapped,
    AlreadyRendered,
}

/// The appointment as the render rule reads it.
pub struct RenderTarget {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub rendered: bool,
    pub patient_mapped: bool,
    pub practitioner_mapped: bool,
}

/// A mapped note renders its appointment when every validation passes: the note's date, start
/// time, end time, notes and therapist's signature present and readable, its times inside the
/// appointment's (each within `grace`, as mapping allows), the patient and practitioner mapped,
/// and the appointment not rendered yet. Otherwise every reason is listed.
pub fn render(note: &NoteFields, target: &RenderTarget, grace: TimeDelta) -> Result<SignatureData, Vec<NotRendered>> {
    let mut reasons = Vec::new();
    for (field, value) in [
        ("date", &note.date),
        ("start_time", &note.start_time),
        ("end_time", &note.end_time),
        ("notes", &note.notes),
        ("therapist_signature", &note.therapist_signature),
    ] {
        if value.is_none() {
            reasons.push(NotRendered::Missing { field: field.into() });
        }
    }
    let mut read = |field: &str, text: &Option<String>, parse: fn(&str) -> Option<NaiveTime>| {
        let parsed = text.as_deref().map(parse);
        if parsed == Some(None) {
            reasons.push(NotRendered::Invalid { field: field.into() });
        }
        parsed.flatten()
    };
    let start = read("start_time", &note.start_time, note_time);
    let end = read("end_time", &note.end_time, note_time);
    let date = note.date.as_deref().map(note_date);
    if date == Some(None) {
        reasons.push(NotRendered::Invalid { field: "date".into() });
    }
    if let (Some(start), Some(end)) = (start, end) {
        if end <= start {
            reasons.push(NotRendered::EndsBeforeItStarts);
        } else if start < target.start - grace || end > target.end + grace {
            reasons.push(NotRendered::OutsideAppointment);
        }
    }
    if !target.patient_mapped {
        reasons.push(NotRendered::PatientNotMapped);
    }
    if !target.practitioner_mapped {
        reasons.push(NotRendered::PractitionerNotMapped);
    }
    if target.rendered {
        reasons.push(NotRendered::AlreadyRendered);
    }
    if !reasons.is_empty() {
        return Err(reasons);
    }
    Ok(signature_data(note))
}

/// The signature data a note gives its appointment (rendered or not).
pub fn signature_data(note: &NoteFields) -> SignatureData {
    SignatureData {
        guardian_name: note.guardian_name.clone(),
        relationship: note.relationship.clone(),
        session_date: note.date.as_deref().and_then(note_date),
        start_time: note.start_time.as_deref().and_then(note_time),
        end_time: note.end_time.as_deref().and_then(note_time),
        therapist_signature: note.therapist_signature.clone(),
        therapist_signature_location: note.therapist_signature.as_ref().and(note.location.clone()),
        guardian_signature: note.guardian_signature.clone(),
        guardian_signature_location: note.guardian_signature.as_ref().and(note.location.clone()),
        render_location: note.location.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn at(text: &str) -> NaiveTime {
        NaiveTime::parse_from_str(text, "%H:%M:%S").unwrap()
    }

    #[test]
    fn a_site_maps_to_the_one_agency_of_its_name_case_and_spacing_aside() {
        let agencies = agency_index([
            Agency {
                id: "agy_1",
                name: "North  Clinic",
            },
            Agency {
                id: "agy_2",
                name: "Twin",
            },
            Agency {
                id: "agy_3",
                name: "twin ",
            },
        ]);
        assert_eq!(map_site(" north clinic", &agencies), Auto::Mapped("agy_1".into()));
        assert_eq!(
            map_site("Twin", &agencies),
            Auto::Unmapped(Unmapped::SeveralCandidates {
                candidates: vec!["agy_2".into(), "agy_3".into()]
            })
        );
        assert_eq!(map_site("South", &agencies), Auto::Unmapped(Unmapped::NoCandidate));
    }

    fn person<'a>(id: &'a str, first: &'a str, last: &'a str, born: &str, agency: &'a str) -> Person<'a> {
        Person {
            id,
            first_name: first,
            last_name: last,
            date_of_birth: Some(day(born)),
            agency_id: Some(agency),
        }
    }

    #[test]
    fn a_student_maps_to_the_one_patient_of_its_name_and_birthday_in_its_sites_agency() {
        let patients = patient_index([
            person("pat_1", "Ann", "Lee", "2015-02-03", "agy_1"),
            person("pat_2", "Bo", "Kim", "2014-01-01", "agy_1"),
            person("pat_3", "Bo", "Kim", "2014-01-01", "agy_1"),
            person("pat_4", "Cy", "Roe", "2013-05-05", "agy_2"),
        ]);
        let student = |first, last, born| person("s", first, last, born, "");
        assert_eq!(
            map_student(&student(" ANN", "lee", "2015-02-03"), Some("agy_1"), &patients),
            Auto::Mapped("pat_1".into())
        );
        assert!(matches!(
            map_student(&student("Bo", "Kim", "2014-01-01"), Some("agy_1"), &patients),
            Auto::Unmapped(Unmapped::SeveralCandidates { .. })
        ));
        let differs = |field: &str, nearest: &str| {
            Auto::Unmapped(Unmapped::Differs {
                field: field.into(),
                nearest: nearest.into(),
            })
        };
        assert_eq!(
            map_student(&student("Ann", "Lee", "2015-02-04"), Some("agy_1"), &patients),
            differs("date_of_birth", "pat_1")
        );
        assert_eq!(
            map_student(&student("Anne", "Lee", "2015-02-03"), Some("agy_1"), &patients),
            differs("first_name", "pat_1")
        );
        assert_eq!(
            map_student(&student("Cy", "Roe", "2013-05-05"), Some("agy_1"), &patients),
            differs("agency", "pat_4"),
            "the same person in another agency is not mapped"
        );
        assert!(matches!(
            map_student(&student("Ann", "Lee", "2015-02-03"), None, &patients),
            Auto::Unmapped(Unmapped::Unresolved { .. })
        ));
        assert_eq!(
            map_student(&student("Zed", "Zulu", "2000-01-01"), Some("agy_1"), &patients),
            Auto::Unmapped(Unmapped::NoCandidate)
        );
    }

    #[test]
    fn a_user_maps_to_the_one_practitioner_of_its_name_and_email_in_one_of_its_sites_agencies() {
        let staff = |id, first, last, email, agency| Staff {
            id,
            first_name: first,
            last_name: last,
            email,
            agency_id: Some(agency),
        };
        let practitioners = practitioner_index([
            staff("prc_1", "Tia", "Ng", "tia@agency.example.org", "agy_2"),
            staff("prc_2", "Ray", "Ode", "ray@agency.example.org", "agy_1"),
        ]);
        let user = |first, last, email| staff("u", first, last, email, "");
        assert_eq!(
            map_user(
                &user("tia", "NG", " Tia@Agency.example.org"),
                &["agy_1", "agy_2"],
                &practitioners
            ),
            Auto::Mapped("prc_1".into()),
            "in any of the user's sites' agencies"
        );
        assert_eq!(
            map_user(&user("Ray", "Ode", "ray@other.example.org"), &["agy_1"], &practitioners),
            Auto::Unmapped(Unmapped::Differs {
                field: "email".into(),
                nearest: "prc_2".into()
            })
        );
        assert_eq!(
            map_user(&user("Tia", "Ng", "tia@agency.example.org"), &["agy_1"], &practitioners),
            Auto::Unmapped(Unmapped::Differs {
                field: "agency".into(),
                nearest: "prc_1".into()
            })
        );
        assert!(matches!(
            map_user(&user("Tia", "Ng", "tia@agency.example.org"), &[], &practitioners),
            Auto::Unmapped(Unmapped::Unresolved { .. })
        ));
    }

    #[test]
    fn a_session_maps_to_the_appointment_of_its_people_whose_times_are_within_the_grace() {
        let ann = PersonKey::new("Ann", "Lee", Some(day("2015-02-03")));
        let tia = NameKey::new("Tia", "Ng");
        let appointments = appointment_index([
            Slot {
                id: "apt_1",
                date: day("2026-11-02"),
                start: at("09:00:00"),
                end: at("10:00:00"),
                patient: ann.clone(),
                practitioner: tia.clone(),
            },
            Slot {
                id: "apt_2",
                date: day("2026-11-02"),
                start: at("14:00:00"),
                end: at("15:00:00"),
                patient: ann.clone(),
                practitioner: NameKey::new("Ray", "Ode"),
            },
        ]);
        let session = |start: &str, end: &str, user: &NameKey| Session {
            date: day("2026-11-02"),
            start: at(start),
            end: at(end),
            student: Some(PersonKey::new(" ann", "LEE", Some(day("2015-02-03")))),
            user: Some(user.clone()),
        };
        let grace = DEFAULT_GRACE;
        assert_eq!(
            map_session(&session("09:05:00", "09:55:00", &tia), grace, &appointments),
            Auto::Mapped("apt_1".into()),
            "exactly five minutes either way maps"
        );
        assert_eq!(
            map_session(&session("09:05:01", "10:00:00", &tia), grace, &appointments),
            Auto::Unmapped(Unmapped::Differs {
                field: "start_time".into(),
                nearest: "apt_1".into()
            }),
            "five minutes and a second does not"
        );
        assert_eq!(
            map_session(&session("09:00:00", "09:54:59", &tia), grace, &appointments),
            Auto::Unmapped(Unmapped::Differs {
                field: "end_time".into(),
                nearest: "apt_1".into()
            })
        );
        assert_eq!(
            map_session(
                &session("09:00:00", "10:00:00", &NameKey::new("Uma", "Vo")),
                grace,
                &appointments
            ),
            Auto::Unmapped(Unmapped::Differs {
                field: "practitioner".into(),
                nearest: "apt_1".into()
            })
        );
        assert_eq!(
            map_session(&session("09:00:00", "10:00:00", &tia), TimeDelta::zero(), &appointments),
            Auto::Mapped("apt_1".into()),
            "the grace is the group's setting"
        );
    }

    #[test]
    fn a_notes_answers_are_read_by_question_case_and_spacing_aside_with_the_guides_alternatives() {
        let note = read_note([
            (" DATE ", Some("2026-11-02")),
            ("Start  Time", Some("9:00 AM")),
            ("end time:", Some("10:00")),
            ("Notes", Some("Worked on turn-taking.")),
            ("Signature", Some("data:image/png;base64,AAA")),
            ("Location", Some("Home")),
            ("Guardian / Caregiver / Parent Name", Some("Mia Lee")),
            ("Relationship", Some("Mother")),
            ("Parent Signature", Some("data:image/png;base64,BBB")),
            ("Mileage", Some("12")),
            ("Notes", Some("a second answer is not kept")),
        ]);
        assert_eq!(note.date.as_deref(), Some("2026-11-02"));
        assert_eq!(
            note.therapist_signature.as_deref(),
            Some("data:image/png;base64,AAA"),
            "an unnamed signature is the therapist's"
        );
        assert_eq!(note.guardian_name.as_deref(), Some("Mia Lee"));
        assert_eq!(note.guardian_signature.as_deref(), Some("data:image/png;base64,BBB"));
        assert_eq!(note.notes.as_deref(), Some("Worked on turn-taking."));
        assert_eq!(note_time("9:00 AM"), NaiveTime::from_hms_opt(9, 0, 0));
        assert_eq!(note_time("2:05pm"), NaiveTime::from_hms_opt(14, 5, 0));
        assert_eq!(note_time("soon"), None);
        assert_eq!(
            read_note([("Therapist Signature", Some("  "))]).therapist_signature,
            None,
            "blank is absent"
        );
    }

    #[test]
    fn a_complete_note_renders_its_appointment_and_an_incomplete_one_lists_every_reason() {
        let complete = read_note([
            ("Date", Some("11/02/2026")),
            ("Start Time", Some("09:02")),
            ("End Time", Some("09:58")),
            ("Notes", Some("Good session.")),
            ("Therapist Signature", Some("sig")),
            ("Location", Some("Clinic")),
        ]);
        let target = RenderTarget {
            start: at("09:00:00"),
            end: at("10:00:00"),
            rendered: false,
            patient_mapped: true,
            practitioner_mapped: true,
        };
        let data = render(&complete, &target, DEFAULT_GRACE).unwrap();
        assert_eq!(data.session_date, Some(day("2026-11-02")));
        assert_eq!(data.render_location.as_deref(), Some("Clinic"));
        assert_eq!(data.therapist_signature_location.as_deref(), Some("Clinic"));
        assert_eq!(
            data.guardian_signature_location, None,
            "no guardian signature, no location for it"
        );

        let incomplete = read_note([
            ("Date", Some("someday")),
            ("Start Time", Some("10:30")),
            ("End Time", Some("11:30")),
        ]);
        let rendered_already = RenderTarget {
            rendered: true,
            practitioner_mapped: false,
            ..target
        };
        assert_eq!(
            render(&incomplete, &rendered_already, DEFAULT_GRACE).unwrap_err(),
            [
                NotRendered::Missing { field: "notes".into() },
                NotRendered::Missing {
                    field: "therapist_signature".into()
                },
                NotRendered::Invalid { field: "date".into() },
                NotRendered::OutsideAppointment,
                NotRendered::PractitionerNotMapped,
                NotRendered::AlreadyRendered,
            ]
        );
    }
}
