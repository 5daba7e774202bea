//! A mapped session note completes its appointment: the note's Notes become the results notes;
//! the guardian's name, the relationship, the session's date and times, both signatures with
//! where they were made, and the render location become the signature data; and the
//! appointment is rendered when every validation of `model::ensora::render` passes, or the
//! reasons are kept on the session.
//!
//! Each write names the note and its revision on the appointment, so a poll that stopped
//! after writing an appointment and before saving the session sees its own work and does not
//! apply it twice. A revision after the render keeps the render and is recorded beside it; a
//! deleted note is unmapped and its data removed from an appointment not yet rendered.

use super::copies::{Copies, Kept, NoteOutcome};
use crate::people::replacement_with;
use crate::{AppError, Deps};
use chrono::{DateTime, TimeDelta, Utc};
use connectors::ensora::SoapNote;
use model::GroupId;
use model::appointment::{Appointment, AppointmentStatus, RevisionAfterRender, SessionNote};
use model::ensora::{self, Mapping, NotRendered, RenderTarget, Unmapped};
use store::{Versioned, keys};

const SYSTEM: &str = "ensora";

/// The revision of a note as carebridge records it.
fn revision(note: &SoapNote) -> String {
    note.date_revision_made.clone().unwrap_or_else(|| "original".into())
}

fn written_by(appointment: &Appointment, note: &SoapNote) -> bool {
    appointment
        .session_note
        .as_ref()
        .is_some_and(|s| s.system == SYSTEM && s.note_id == note.soap_note_id)
}

/// What one pass over the sessions did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub rendered: usize,
    pub not_rendered: usize,
    pub revisions_recorded: usize,
    pub removed: usize,
}

/// Applies every mapped session whose note revision is not on its appointment yet, and every
/// deleted one.
pub async fn apply(deps: &Deps, group: &GroupId, copies: &mut Copies, grace: TimeDelta) -> Result<Applied, AppError> {
    let now = deps.clock.now();
    let mut applied = Applied::default();
    let student_targets: std::collections::HashMap<String, Option<String>> = copies
        .students
        .iter()
        .map(|(id, kept)| (id.clone(), kept.copy.mapping.target().map(str::to_owned)))
        .collect();
    let user_targets: std::collections::HashMap<String, Option<String>> = copies
        .users
        .iter()
        .map(|(id, kept)| (id.clone(), kept.copy.mapping.target().map(str::to_owned)))
        .collect();
    for kept in copies.sessions.values_mut() {
        let Some(target) = kept.copy.mapping.target().map(str::to_owned) else {
            continue;
        };
        let note = kept.copy.record.clone();
        let already = kept.copy.note.as_ref().and_then(|n| n.applied_revision.as_deref());
        if !note.is_deleted && already == Some(revision(&note).as_str()) {
            continue;
        }
        let Some(id) = model::AppointmentId::parse(&target).ok() else {
            continue;
        };
        let Some(appointment) = deps.read::<Appointment>(&keys::appointment(group, &id)).await? else {
            // The appointment was deleted: the session maps to nothing now.
            kept.copy.mapping = Mapping::Unmapped {
                reason: Unmapped::NoCandidate,
            };
            kept.copy.note = None;
            kept.changed = true;
            continue;
        };
        if note.is_deleted {
            remove(deps, group, kept, appointment, now).await?;
            applied.removed += 1;
            continue;
        }
        let mapped = |targets: &std::collections::HashMap<String, Option<String>>, id: Option<&str>, want: &str| {
            id.and_then(|id| targets.get(id)).and_then(Option::as_deref) == Some(want)
        };
        let patient_mapped = mapped(
            &student_targets,
            note.patient_id.as_deref(),
            appointment.value.fields.patient_id.as_str(),
        );
        let practitioner_mapped = mapped(
            &user_targets,
            note.user_id.as_deref(),
            appointment.value.fields.practitioner_id.as_str(),
        );
        let outcome = write(
            deps,
            group,
            &note,
            appointment,
            (patient_mapped, practitioner_mapped),
            grace,
            now,
        )
        .await?;
        if outcome.rendered {
            applied.rendered += 1;
        } else if outcome.not_rendered.is_empty() {
            applied.revisions_recorded += 1;
        } else {
            applied.not_rendered += 1;
        }
        kept.copy.note = Some(outcome);
        kept.changed = true;
    }
    Ok(applied)
}

/// Writes the note into its appointment (unless this very revision is already there) and
/// answers what it did.
async fn write(
    deps: &Deps,
    group: &GroupId,
    note: &SoapNote,
    current: Versioned<Appointment>,
    (patient_mapped, practitioner_mapped): (bool, bool),
    grace: TimeDelta,
    now: DateTime<Utc>,
) -> Result<NoteOutcome, AppError> {
    let fields = ensora::read_note(note.answers());
    let appointment = &current.value;
    let rev = revision(note);
    let rendered = appointment.fields.status == AppointmentStatus::Rendered;
    let this_revision_written = written_by(appointment, note)
        && appointment.session_note.as_ref().map(|s| s.revision.as_str()) == Some(rev.as_str());
    let recorded_after_render = appointment.revisions_after_render.iter().any(|r| r.revised_at == rev);
    if rendered {
        if !written_by(appointment, note) {
            // Another note (or a person) completed it: this one does not touch it.
            return Ok(NoteOutcome {
                applied_revision: Some(rev),
                rendered: false,
                not_rendered: vec![NotRendered::AlreadyRendered],
            });
        }
        if !this_revision_written && !recorded_after_render {
            let revision = RevisionAfterRender {
                revised_at: rev.clone(),
                recorded_at: now,
                results_notes: fields.notes.clone(),
                signature_data: ensora::signature_data(&fields),
            };
            store_appointment(deps, group, &current, appointment.fields.clone(), now, |a| {
                a.revisions_after_render.push(revision);
            })
            .await?;
        }
        return Ok(NoteOutcome {
            applied_revision: Some(rev),
            rendered: this_revision_written,
            not_rendered: Vec::new(),
        });
    }
    let target = RenderTarget {
        start: appointment.fields.start,
        end: appointment.fields.end,
        rendered: false,
        patient_mapped,
        practitioner_mapped,
    };
    let decision = ensora::render(&fields, &target, grace);
    if !this_revision_written {
        let mut next = appointment.fields.clone();
        next.results_notes = fields.notes.clone();
        if decision.is_ok() {
            next.status = AppointmentStatus::Rendered;
        }
        let signature = ensora::signature_data(&fields);
        let reference = SessionNote {
            system: SYSTEM.into(),
            note_id: note.soap_note_id.clone(),
            revision: rev.clone(),
        };
        let rendering = decision.is_ok();
        store_appointment(deps, group, &current, next, now, |a| {
            a.signature_data = Some(signature);
            a.session_note = Some(reference);
            if rendering {
                a.rendered_at = Some(now);
            }
        })
        .await?;
    }
    Ok(match decision {
        Ok(_) => NoteOutcome {
            applied_revision: Some(rev),
            rendered: true,
            not_rendered: Vec::new(),
        },
        Err(reasons) => NoteOutcome {
            applied_revision: Some(rev),
            rendered: false,
            not_rendered: reasons,
        },
    })
}

/// A deleted note: unmapped, and its data taken out of an appointment it wrote and that is not
/// rendered (a rendered one keeps what it was rendered with).
async fn remove(
    deps: &Deps,
    group: &GroupId,
    kept: &mut Kept<SoapNote>,
    appointment: Versioned<Appointment>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let note = &kept.copy.record;
    let value = &appointment.value;
    if written_by(value, note) && value.fields.status != AppointmentStatus::Rendered {
        let mut next = value.fields.clone();
        next.results_notes = None;
        store_appointment(deps, group, &appointment, next, now, |a| {
            a.signature_data = None;
            a.session_note = None;
        })
        .await?;
    }
    kept.copy.mapping = Mapping::Unmapped {
        reason: Unmapped::Deleted,
    };
    kept.copy.note = None;
    kept.changed = true;
    Ok(())
}

async fn store_appointment(
    deps: &Deps,
    group: &GroupId,
    current: &Versioned<Appointment>,
    fields: model::appointment::AppointmentFields,
    now: DateTime<Utc>,
    adjust: impl FnOnce(&mut Appointment),
) -> Result<(), AppError> {
    let (_, writes) = replacement_with::<Appointment>(group, Some(current), fields, now, adjust)?;
    deps.records.write(writes).await?;
    Ok(())
}
