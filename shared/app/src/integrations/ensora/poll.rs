//! One poll of a group's Ensora organization: every 30 minutes (`ensora-poller`), on
//! `POST …/integrations/ensora/poll`, and right after the credentials are stored.
//!
//! It holds the group's poll lease, so two polls of one group never run at once. It reads the
//! sites, and the students, users and session notes changed since the cursor less [`OVERLAP`]
//! (a change saved while the last poll read is not missed), up to now. What differs from
//! carebridge's copies replaces them; revisions (`dateRevisionMade`) and deletions (`isDeleted`)
//! arrive as changed notes. Then every record not mapped yet is tried again with the rules, the
//! mapped notes complete their appointments, the copies are saved, and only then does the
//! cursor move to the poll's start. A poll that fails part-way leaves the cursor, and the next
//! one reads the same window again: copies already saved compare equal, and appointments name
//! the note revision they hold, so nothing is applied twice.

use super::copies::{self, Copies};
use super::mapping::{self, Targets};
use super::sessions;
use crate::integrations::{lease, lifecycle};
use crate::paging::all_records;
use crate::{AppError, Deps};
use chrono::{DateTime, Duration, Utc};
use model::GroupId;
use model::agency::Agency;
use model::ensora::{Mapping, Unmapped};
use model::integration::IntegrationKind;
use model::patient::Patient;
use model::practitioner::Practitioner;
use serde::{Deserialize, Serialize};
use store::{Condition, Record, Write, keys};

/// How far back each poll reads past the last poll's start.
pub const OVERLAP: Duration = Duration::minutes(5);
/// How long a poll may hold the group's lease: longer than the worker's time limit, so a
/// lease outlives only a poll that died.
pub const LEASE: Duration = Duration::minutes(16);

/// Where a group's polls have come to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The start of the last poll that finished: everything changed before it is applied.
    since: DateTime<Utc>,
}

/// What one poll did, for the job's log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    /// Another poll of the group held the lease: this one did nothing.
    pub busy: bool,
    pub read: usize,
    pub copies_written: usize,
    pub sessions: sessions::Applied,
}

pub async fn poll(deps: &Deps, group: &GroupId) -> Result<Polled, AppError> {
    if !lifecycle::is_active(deps, group, IntegrationKind::Ensora).await? {
        tracing::info!(%group, "Ensora is not active in the group: nothing polled");
        return Ok(Polled::default());
    }
    let Some(held) = lease::take(deps, keys::ensora_poll_lease(group), LEASE).await? else {
        tracing::info!(%group, "another Ensora poll of the group is running: this one stands down");
        return Ok(Polled {
            busy: true,
            ..Polled::default()
        });
    };
    let polled = poll_holding_the_lease(deps, group).await;
    if let Err(error) = held.release(deps).await {
        tracing::warn!(%group, %error, "the Ensora poll lease could not be given back; it lapses by itself");
    }
    polled
}

async fn poll_holding_the_lease(deps: &Deps, group: &GroupId) -> Result<Polled, AppError> {
    let cursor_key = keys::sync_cursor(group, IntegrationKind::Ensora);
    let cursor = deps.read::<Cursor>(&cursor_key).await?;
    let since = cursor.as_ref().map(|c| c.value.since - OVERLAP);
    let until = deps.clock.now();
    let ensora = super::client(deps, group).await?;
    let sites = ensora.sites().await?;
    let students = ensora.students(since).await?;
    let users = ensora.users(since).await?;
    let notes = ensora.notes(since, until).await?;
    let mut polled = Polled {
        read: sites.len() + students.len() + users.len() + notes.len(),
        ..Polled::default()
    };

    let mut copies = Copies::load(deps, group).await?;
    let unmapped = || Mapping::Unmapped {
        reason: Unmapped::NoCandidate,
    };
    copies::absorb(&mut copies.sites, sites, |s| &s.site_id, until, unmapped);
    copies::absorb(&mut copies.students, students, |s| &s.patient_id, until, unmapped);
    copies::absorb(&mut copies.users, users, |u| &u.user_id, until, unmapped);
    copies::absorb(&mut copies.sessions, notes, |n| &n.soap_note_id, until, unmapped);

    let agencies: Vec<Agency> = values(all_records(deps, group, keys::AGENCY_PREFIX).await?);
    let patients: Vec<Patient> = values(all_records(deps, group, keys::PATIENT_PREFIX).await?);
    let practitioners: Vec<Practitioner> = values(all_records(deps, group, keys::PRACTITIONER_PREFIX).await?);
    let appointments = values(crate::appointments::on_dates(deps, group, mapping::dates_to_map(&copies)).await?);
    let grace = super::settings::current(deps, group).await?.grace();
    mapping::remap(
        &mut copies,
        &Targets {
            agencies: &agencies,
            patients: &patients,
            practitioners: &practitioners,
            appointments: &appointments,
        },
        grace,
        until,
    );
    polled.sessions = sessions::apply(deps, group, &mut copies, grace).await?;
    polled.copies_written = copies.save(deps, group).await?;

    let version = cursor.as_ref().map_or(0, |c| c.version);
    let condition = cursor
        .as_ref()
        .map_or(Condition::Absent, |c| Condition::AtVersion(c.version));
    deps.records
        .write(vec![Write::Put {
            record: Record::encode(cursor_key, version + 1, &Cursor { since: until })?,
            condition,
        }])
        .await?;
    Ok(polled)
}

fn values<T>(records: Vec<store::Versioned<T>>) -> Vec<T> {
    records.into_iter().map(|r| r.value).collect()
}
