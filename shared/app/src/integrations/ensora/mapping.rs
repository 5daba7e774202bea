//! The guide's Auto mapping, applied to a group's copies at each poll: sites first (a student's
//! and a user's rule need their sites' agencies), then students and users, then sessions. A
//! record a person mapped (`User`) is never touched; one mapped Auto stays as it is until Ensora
//! changes it; every record not mapped yet is tried again, so a patient added since the last
//! poll is found now.

use super::copies::{Copies, Kept};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use connectors::ensora::{SoapNote, Student, User};
use model::agency::Agency;
use model::appointment::Appointment;
use model::ensora::{
    self, Auto, Mapping, NameKey, PersonKey, Source, Unmapped, agency_index, appointment_index, map_session, map_site,
    map_student, map_user, patient_index, practitioner_index,
};
use model::patient::Patient;
use model::practitioner::Practitioner;
use std::collections::{BTreeSet, HashMap};

/// carebridge's records the rules map to.
pub struct Targets<'a> {
    pub agencies: &'a [Agency],
    pub patients: &'a [Patient],
    pub practitioners: &'a [Practitioner],
    /// The appointments on the dates of the sessions to map ([`dates_to_map`]).
    pub appointments: &'a [Appointment],
}

/// A date of birth as Ensora writes it: `2015-02-03`, with or without a time after it.
pub fn birth_date(raw: Option<&str>) -> Option<NaiveDate> {
    let raw = raw?.trim();
    ensora::note_date(raw.get(..10).unwrap_or(raw))
}

/// Whether the rules should look at a copy now: Ensora changed it, or it is not mapped yet.
fn to_map<T>(kept: &Kept<T>) -> bool {
    !kept.copy.mapping.is_user()
        && kept.copy.mapping
            != Mapping::Unmapped {
                reason: Unmapped::Deleted,
            }
        && (kept.changed || kept.copy.mapping.target().is_none())
}

/// The session dates the next [`remap`] needs the appointments of.
pub fn dates_to_map(copies: &Copies) -> BTreeSet<NaiveDate> {
    copies
        .sessions
        .values()
        .filter(|kept| to_map(kept) && !kept.copy.record.is_deleted)
        .filter_map(|kept| kept.copy.record.date.as_deref().and_then(ensora::note_date))
        .collect()
}

fn decided(auto: Auto, agency: Option<&str>, at: DateTime<Utc>) -> Mapping {
    match auto {
        Auto::Mapped(target_id) => Mapping::Mapped {
            target_id,
            source: Source::Auto,
            agency_id: agency.map(str::to_owned),
            at,
        },
        Auto::Unmapped(reason) => Mapping::Unmapped { reason },
    }
}

/// Sets a copy's mapping, marking it changed when that is new; an Auto mapping keeps the
/// time it was first made.
fn set<T>(kept: &mut Kept<T>, next: Mapping) {
    let same = match (&kept.copy.mapping, &next) {
        (
            Mapping::Mapped {
                target_id: a,
                source: s,
                agency_id: x,
                ..
            },
            Mapping::Mapped {
                target_id: b,
                source: t,
                agency_id: y,
                ..
            },
        ) => a == b && s == t && x == y,
        (current, next) => current == next,
    };
    if !same {
        kept.copy.mapping = next;
        kept.changed = true;
    }
}

/// Each site's agency, for the sites that are mapped.
pub fn site_agencies(copies: &Copies) -> HashMap<String, String> {
    copies
        .sites
        .iter()
        .filter_map(|(id, kept)| kept.copy.mapping.target().map(|agency| (id.clone(), agency.to_owned())))
        .collect()
}

/// A student as the session rule compares it.
pub fn student_key(student: &Student) -> PersonKey {
    PersonKey::new(
        &student.first_name,
        &student.last_name,
        birth_date(student.date_of_birth.as_deref()),
    )
}

/// A user as the session rule compares it.
pub fn user_key(user: &User) -> NameKey {
    NameKey::new(&user.first_name, &user.last_name)
}

/// A session's date and times as Ensora sent them, if they can be read.
pub fn session_times(note: &SoapNote) -> Option<(NaiveDate, chrono::NaiveTime, chrono::NaiveTime)> {
    let date = ensora::note_date(note.date.as_deref()?)?;
    let start = ensora::note_time(note.start_time.as_deref()?)?;
    let end = ensora::note_time(note.end_time.as_deref()?)?;
    Some((date, start, end))
}

/// Maps every copy the rules should look at (each one whose mapping changes is marked changed).
pub fn remap(copies: &mut Copies, targets: &Targets<'_>, grace: TimeDelta, now: DateTime<Utc>) {
    let agencies = agency_index(targets.agencies.iter().map(|a| ensora::Agency {
        id: a.id.as_str(),
        name: &a.fields.name,
    }));
    for kept in copies.sites.values_mut().filter(|kept| to_map(kept)) {
        let auto = map_site(&kept.copy.record.name, &agencies);
        let agency = match &auto {
            Auto::Mapped(id) => Some(id.clone()),
            Auto::Unmapped(_) => None,
        };
        set(kept, decided(auto, agency.as_deref(), now));
    }
    let site_agency = site_agencies(copies);

    let patients = patient_index(targets.patients.iter().map(|p| ensora::Person {
        id: p.id.as_str(),
        first_name: &p.fields.first_name,
        last_name: &p.fields.last_name,
        date_of_birth: Some(p.fields.date_of_birth),
        agency_id: p.fields.agency_id.as_ref().map(|a| a.as_str()),
    }));
    for kept in copies.students.values_mut().filter(|kept| to_map(kept)) {
        let student = &kept.copy.record;
        let agency = student.site_id.as_ref().and_then(|site| site_agency.get(site));
        let person = ensora::Person {
            id: &student.patient_id,
            first_name: &student.first_name,
            last_name: &student.last_name,
            date_of_birth: birth_date(student.date_of_birth.as_deref()),
            agency_id: None,
        };
        let auto = map_student(&person, agency.map(String::as_str), &patients);
        set(kept, decided(auto, agency.map(String::as_str), now));
    }

    let practitioners = practitioner_index(targets.practitioners.iter().map(|p| ensora::Staff {
        id: p.id.as_str(),
        first_name: &p.fields.first_name,
        last_name: &p.fields.last_name,
        email: &p.fields.email,
        agency_id: p.fields.agency_id.as_ref().map(|a| a.as_str()),
    }));
    let practitioner_agency: HashMap<&str, Option<&str>> = targets
        .practitioners
        .iter()
        .map(|p| (p.id.as_str(), p.fields.agency_id.as_ref().map(|a| a.as_str())))
        .collect();
    for kept in copies.users.values_mut().filter(|kept| to_map(kept)) {
        let user = &kept.copy.record;
        let agencies: Vec<&str> = user
            .site_assignments
            .iter()
            .filter_map(|s| site_agency.get(&s.site_id).map(String::as_str))
            .collect();
        let staff = ensora::Staff {
            id: &user.user_id,
            first_name: &user.first_name,
            last_name: &user.last_name,
            email: user.email.as_deref().unwrap_or_default(),
            agency_id: None,
        };
        let auto = map_user(&staff, &agencies, &practitioners);
        let agency = match &auto {
            Auto::Mapped(id) => practitioner_agency.get(id.as_str()).copied().flatten(),
            Auto::Unmapped(_) => None,
        };
        set(kept, decided(auto, agency, now));
    }

    let patient_keys: HashMap<&str, PersonKey> = targets
        .patients
        .iter()
        .map(|p| {
            (
                p.id.as_str(),
                PersonKey::new(&p.fields.first_name, &p.fields.last_name, Some(p.fields.date_of_birth)),
            )
        })
        .collect();
    let practitioner_keys: HashMap<&str, NameKey> = targets
        .practitioners
        .iter()
        .map(|p| (p.id.as_str(), NameKey::new(&p.fields.first_name, &p.fields.last_name)))
        .collect();
    let slots: Vec<ensora::Slot<'_>> = targets
        .appointments
        .iter()
        .filter_map(|a| {
            Some(ensora::Slot {
                id: a.id.as_str(),
                date: a.fields.date,
                start: a.fields.start,
                end: a.fields.end,
                patient: patient_keys.get(a.fields.patient_id.as_str())?.clone(),
                practitioner: practitioner_keys.get(a.fields.practitioner_id.as_str())?.clone(),
            })
        })
        .collect();
    let appointment_agency: HashMap<&str, &str> = targets
        .appointments
        .iter()
        .map(|a| (a.id.as_str(), a.fields.agency_id.as_str()))
        .collect();
    let appointments = appointment_index(slots);
    let students: HashMap<&str, PersonKey> = copies
        .students
        .iter()
        .map(|(id, kept)| (id.as_str(), student_key(&kept.copy.record)))
        .collect();
    let users: HashMap<&str, NameKey> = copies
        .users
        .iter()
        .map(|(id, kept)| (id.as_str(), user_key(&kept.copy.record)))
        .collect();
    for kept in copies.sessions.values_mut().filter(|kept| to_map(kept)) {
        let note = &kept.copy.record;
        if note.is_deleted {
            // A mapped note's deletion is the sessions' work (its appointment gives its data back).
            if kept.copy.mapping.target().is_none() {
                set(
                    kept,
                    Mapping::Unmapped {
                        reason: Unmapped::Deleted,
                    },
                );
            }
            continue;
        }
        let Some((date, start, end)) = session_times(note) else {
            set(
                kept,
                Mapping::Unmapped {
                    reason: Unmapped::Unresolved {
                        what: "the session's date, start time or end time cannot be read".into(),
                    },
                },
            );
            continue;
        };
        let session = ensora::Session {
            date,
            start,
            end,
            student: note.patient_id.as_deref().and_then(|id| students.get(id)).cloned(),
            user: note.user_id.as_deref().and_then(|id| users.get(id)).cloned(),
        };
        let auto = map_session(&session, grace, &appointments);
        let agency = match &auto {
            Auto::Mapped(id) => appointment_agency.get(id.as_str()).copied(),
            Auto::Unmapped(_) => None,
        };
        set(kept, decided(auto, agency, now));
    }
}
