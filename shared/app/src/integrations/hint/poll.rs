//! Salesforce → Hint. Salesforce sends no webhook for a contact here, so carebridge asks: a
//! schedule (`SalesforcePollSchedule` in template.yaml, every minute) puts one
//! `poll_salesforce_changes` job on the sync queue, which puts one `poll_salesforce` job per group
//! with Hint ⇄ Salesforce active (read from the list of active integrations, never a scan).
//!
//! A group's poll is one SOQL query: the linked contacts whose `SystemModstamp` is at or after
//! the group's cursor, less [`OVERLAP`] (a change saved while the last poll ran is not missed).
//! A poll with nothing new costs that one call; a contact seen again within the overlap, or
//! carebridge's own write coming back, is dropped without calling either vendor. The cursor
//! moves to the newest change applied, in Salesforce's own time, and only after every contact
//! of the poll was handled; a poll that fails is tried again from the same cursor.

use super::links;
use super::pairs::{self, Applied, ContactNow, PatientNow, Sides};
use crate::{AppError, Deps};
use chrono::{DateTime, Duration, Utc};
use model::GroupId;
use model::integration::IntegrationKind;
use model::integration_log::LogIds;
use serde::{Deserialize, Serialize};
use store::{Condition, Record, Write, keys};

/// How far back each poll reaches past the last change it applied.
pub const OVERLAP: Duration = Duration::seconds(60);

/// Where a group's polls have come to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// The newest `SystemModstamp` applied so far.
    since: DateTime<Utc>,
}

/// What one poll of a group did, for the job's log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Polled {
    pub read: usize,
    pub synced: usize,
    pub dropped: usize,
}

pub async fn poll(deps: &Deps, group: &GroupId) -> Result<Polled, AppError> {
    let key = keys::sync_cursor(group, IntegrationKind::Hint);
    let cursor = deps.read::<Cursor>(&key).await?;
    let start = match &cursor {
        Some(cursor) => cursor.value.since,
        // The first poll starts when the integration was enabled.
        None => super::enabled_at(deps, group)
            .await?
            .unwrap_or_else(|| deps.clock.now()),
    };
    let sides = Sides::of(deps, group).await?;
    let contacts = sides.salesforce.changed_linked_since(start - OVERLAP).await?;
    let mut polled = Polled {
        read: contacts.len(),
        ..Polled::default()
    };
    let mut newest = start;
    for contact in &contacts {
        let now = ContactNow::of(contact, deps.clock.now());
        newest = newest.max(now.changed_at);
        match contact_changed(deps, group, &sides, now).await? {
            Applied::Synced | Applied::Unlinked => polled.synced += 1,
            _ => polled.dropped += 1,
        }
    }
    if newest > start || cursor.is_none() {
        let version = cursor.as_ref().map_or(0, |c| c.version);
        let condition = cursor
            .as_ref()
            .map_or(Condition::Absent, |c| Condition::AtVersion(c.version));
        links::commit(
            deps,
            vec![Write::Put {
                record: Record::encode(key, version + 1, &Cursor { since: newest })?,
                condition,
            }],
        )
        .await?;
    }
    Ok(polled)
}

/// One linked contact that changed in Salesforce: its change goes to the Hint patient.
async fn contact_changed(
    deps: &Deps,
    group: &GroupId,
    sides: &Sides,
    contact: ContactNow,
) -> Result<Applied, AppError> {
    let Some(link) = links::by_contact(deps, group, &contact.id).await? else {
        // "Synced to Hint" checked by hand, or a link being made right now: not carebridge's.
        return Ok(Applied::Nothing);
    };
    let seen = &link.value;
    if let Some(dropped) = pairs::already_applied(
        seen.contact_changed_at,
        contact.changed_at,
        &seen.in_salesforce,
        &contact.demographics,
        &seen.hint_only,
        &contact.hint_only,
    ) {
        // Seen for the first time (not a re-read within the overlap): said once, and remembered.
        if dropped == Applied::Echo && seen.contact_changed_at.is_none_or(|at| contact.changed_at > at) {
            let mut next = seen.clone();
            next.contact_changed_at = Some(contact.changed_at);
            links::commit(deps, links::save(group, &next, link.version)?).await?;
            let ids = LogIds {
                patient_id: Some(seen.patient_id.clone()),
                contact_id: Some(contact.id.clone()),
                ..LogIds::default()
            };
            pairs::log_dropped(deps, group, dropped, "Salesforce", ids).await;
        }
        return Ok(dropped);
    }
    match sides.hint.patient(&seen.patient_id).await? {
        Some(patient) => {
            let patient = PatientNow::of(&patient, deps.clock.now());
            pairs::sync_linked(deps, group, sides, link, patient, contact).await
        }
        None => {
            pairs::unlink(
                deps,
                group,
                &sides.salesforce,
                link,
                "the patient no longer exists in Hint",
            )
            .await
        }
    }
}
