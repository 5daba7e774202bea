//! Where each kind of record lives in the single table. Every partition key starts with the
//! group, so no query can reach another tenant's records; the one exception,
//! [`active_integration`], holds nothing but group ids.

use crate::records::Key;
use model::external::ExternalSystem;
use model::integration::IntegrationKind;
use model::{
    AgencyId, AppointmentId, GroupId, HintBatchId, ImportId, LogEntryId, PatientId, PlanNoteId, PractitionerId,
    SyncRunId,
};

pub fn group_partition(group: &GroupId) -> String {
    format!("G#{group}")
}

pub fn group(group: &GroupId) -> Key {
    Key::new(group_partition(group), "GROUP")
}

pub const PATIENT_PREFIX: &str = "PATIENT#";
pub const PRACTITIONER_PREFIX: &str = "PRACTITIONER#";
pub const IMPORT_PREFIX: &str = "IMPORT#";
pub const INTEGRATION_PREFIX: &str = "INTEGRATION#";

pub fn patient(group: &GroupId, id: &PatientId) -> Key {
    Key::new(group_partition(group), format!("{PATIENT_PREFIX}{id}"))
}

pub fn practitioner(group: &GroupId, id: &PractitionerId) -> Key {
    Key::new(group_partition(group), format!("{PRACTITIONER_PREFIX}{id}"))
}

pub const AGENCY_PREFIX: &str = "AGENCY#";
pub const APPOINTMENT_PREFIX: &str = "APPOINTMENT#";
/// Appointments by date: `APPTDAY#{date}#{appointment}`, so a date range is one query.
pub const APPOINTMENT_DAY_PREFIX: &str = "APPTDAY#";

/// The prefix of one agency's appointments by date: `APPTAGENCY#{agency}#{date}#{appointment}`.
pub fn agency_appointments_prefix(agency: &AgencyId) -> String {
    format!("APPTAGENCY#{agency}#")
}

pub fn agency(group: &GroupId, id: &AgencyId) -> Key {
    Key::new(group_partition(group), format!("{AGENCY_PREFIX}{id}"))
}

pub fn appointment(group: &GroupId, id: &AppointmentId) -> Key {
    Key::new(group_partition(group), format!("{APPOINTMENT_PREFIX}{id}"))
}

/// The index entries of appointment `id` at `agency` on `date` (`YYYY-MM-DD`): under the date,
/// and under the agency and the date.
pub fn appointment_days(group: &GroupId, agency: &AgencyId, date: &str, id: &AppointmentId) -> [Key; 2] {
    [
        Key::new(group_partition(group), format!("{APPOINTMENT_DAY_PREFIX}{date}#{id}")),
        Key::new(
            group_partition(group),
            format!("{}{date}#{id}", agency_appointments_prefix(agency)),
        ),
    ]
}

pub fn import(group: &GroupId, id: &ImportId) -> Key {
    Key::new(group_partition(group), format!("{IMPORT_PREFIX}{id}"))
}

/// A group's integration with one vendor: its status and settings, never its credentials.
pub fn integration(group: &GroupId, kind: IntegrationKind) -> Key {
    Key::new(group_partition(group), format!("{INTEGRATION_PREFIX}{kind}"))
}

pub const SYNC_RUN_PREFIX: &str = "SYNCRUN#";

/// The sort-key prefix of one integration's runs.
pub fn sync_run_prefix(integration: IntegrationKind) -> String {
    format!("{SYNC_RUN_PREFIX}{integration}#")
}

/// One run of an integration's preview or initial import (ids sort by creation time).
pub fn sync_run(group: &GroupId, integration: IntegrationKind, run: &SyncRunId) -> Key {
    Key::new(group_partition(group), format!("{}{run}", sync_run_prefix(integration)))
}

/// The sort-key prefix of the records saying which of a run's vendor records it has written.
pub fn sync_item_prefix(run: &SyncRunId) -> String {
    format!("SYNCITEM#{run}#")
}

/// The record saying run `run` has written the carebridge record for vendor record
/// `vendor_id`, and how: written in the same transaction as that record, so a resumed run
/// knows exactly what it already did.
pub fn sync_item(group: &GroupId, run: &SyncRunId, entity: &str, vendor_id: &str) -> Key {
    Key::new(
        group_partition(group),
        format!("{}{entity}#{vendor_id}", sync_item_prefix(run)),
    )
}

/// The sort-key prefix of a patient's plan notes (ids sort by creation time).
pub fn plan_note_prefix(patient: &PatientId) -> String {
    format!("NOTE#{patient}#")
}

pub fn plan_note(group: &GroupId, patient: &PatientId, note: &PlanNoteId) -> Key {
    Key::new(group_partition(group), format!("{}{note}", plan_note_prefix(patient)))
}

/// The sort-key prefix of an import's applied-part records.
pub fn completion_part_prefix(import: &ImportId) -> String {
    format!("COMPLETION#{import}#")
}

/// The record saying part `part` of an import's completion is applied, with its counts.
pub fn completion_part(group: &GroupId, import: &ImportId, part: u32) -> Key {
    Key::new(
        group_partition(group),
        format!("{}{part:05}", completion_part_prefix(import)),
    )
}

/// The kinds of record an external id can point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkedKind {
    Patient,
    Practitioner,
}

impl LinkedKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkedKind::Patient => "PATIENT",
            LinkedKind::Practitioner => "PRACTITIONER",
        }
    }
}

/// `system + external id → internal id`: one record per link, so an external id can be linked to
/// at most one record of a kind in a group, and a vendor's id finds our record in one read.
pub fn external_link(group: &GroupId, kind: LinkedKind, system: ExternalSystem, external_id: &str) -> Key {
    Key::new(
        group_partition(group),
        format!("LINK#{}#{system}#{external_id}", kind.as_str()),
    )
}

/// What carebridge last applied from an outside system for one of its records (its modified
/// time there), so an older change arriving late is recognised.
pub fn vendor_state(group: &GroupId, system: ExternalSystem, kind: LinkedKind, external_id: &str) -> Key {
    Key::new(
        group_partition(group),
        format!("VENDOR#{}#{system}#{external_id}", kind.as_str()),
    )
}

/// One slice of time of a request budget that every function calling one vendor account for
/// the group shares (`name` says which, slices are numbered from the UNIX epoch).
pub fn budget_slice(group: &GroupId, name: &str, slice: u64) -> Key {
    Key::new(group_partition(group), format!("BUDGET#{name}#{slice}"))
}

/// Where an integration's syncs have come to (the start of the last one that succeeded).
pub fn sync_cursor(group: &GroupId, integration: IntegrationKind) -> Key {
    Key::new(group_partition(group), format!("SYNCCURSOR#{integration}"))
}

/// The sort-key prefix of the profiles of `system` that could not be synced.
pub fn failed_profile_prefix(system: ExternalSystem) -> String {
    format!("FAILED#{system}#")
}

/// A profile of `system` that could not be synced into carebridge, with its reasons: kept until
/// a later sync takes it.
pub fn failed_profile(group: &GroupId, system: ExternalSystem, external_id: &str) -> Key {
    Key::new(
        group_partition(group),
        format!("{}{external_id}", failed_profile_prefix(system)),
    )
}

/// An integration's settings that are not secrets (Hint ⇄ Salesforce's default account, say).
pub fn integration_settings(group: &GroupId, kind: &str) -> Key {
    Key::new(group_partition(group), format!("SETTINGS#{kind}"))
}

/// The record an idempotent consumer claims before handling an event (`scope` names the
/// consumer, `key` the event).
pub fn idempotency(group: &GroupId, scope: &str, key: &str) -> Key {
    Key::new(group_partition(group), format!("IDEMPOTENCY#{scope}#{key}"))
}

/// The sort-key prefix of a group's Hint ⇄ Salesforce links, found by the Hint patient
/// (`PATIENT`) or by the Salesforce contact (`CONTACT`).
pub fn hint_link_prefix(side: &str) -> String {
    format!("HINTLINK#{side}#")
}

/// One Hint patient linked with one Salesforce contact: the link is kept twice, once under each
/// side's id, both written in one transaction, so either side finds its partner in one read
/// and neither can be linked twice.
pub fn hint_link(group: &GroupId, side: &str, id: &str) -> Key {
    Key::new(group_partition(group), format!("{}{id}", hint_link_prefix(side)))
}

/// The sort-key prefix of the search entries of a group's Hint patients with a name word
/// starting `start` (a word of `model::hint_salesforce::search_words`). Each patient has one
/// entry per word of its name, so a search is one query whatever word is typed.
pub fn hint_name_prefix(start: &str) -> String {
    format!("HINTSEARCH#WORD#{start}")
}

pub fn hint_name(group: &GroupId, word: &str, patient_id: &str) -> Key {
    Key::new(
        group_partition(group),
        format!("{}#{patient_id}", hint_name_prefix(word)),
    )
}

/// The sort-key prefix of the patients the search knows, one record each with the words it is
/// filed under (so a change of name removes the old ones).
pub fn hint_searchable_prefix() -> String {
    "HINTSEARCH#PATIENT#".to_owned()
}

pub fn hint_searchable(group: &GroupId, patient_id: &str) -> Key {
    Key::new(
        group_partition(group),
        format!("{}{patient_id}", hint_searchable_prefix()),
    )
}

/// When the group's search last read every Hint patient.
pub fn hint_search_state(group: &GroupId) -> Key {
    Key::new(group_partition(group), "HINTSEARCH#STATE")
}

/// The sort-key prefix of a group's Hint ⇄ Salesforce batches (their ids sort by time).
pub fn hint_batch_prefix() -> String {
    "HINTBATCH#RUN#".to_owned()
}

pub fn hint_batch(group: &GroupId, batch: &HintBatchId) -> Key {
    Key::new(group_partition(group), format!("{}{batch}", hint_batch_prefix()))
}

/// The sort-key prefix of one batch's pages: each page's decisions, then its results.
pub fn hint_batch_page_prefix(batch: &HintBatchId) -> String {
    format!("HINTBATCH#PAGE#{batch}#")
}

pub fn hint_batch_page(group: &GroupId, batch: &HintBatchId, page: u32) -> Key {
    Key::new(
        group_partition(group),
        format!("{}{page:06}", hint_batch_page_prefix(batch)),
    )
}

/// Held by the group's one unfinished batch, so two never work on the same records at once.
pub fn hint_batch_lock(group: &GroupId) -> Key {
    Key::new(group_partition(group), "HINTBATCH#LOCK")
}

/// Someone asked for the batch to stop (kept apart from the batch, which its job rewrites).
pub fn hint_batch_abort(group: &GroupId, batch: &HintBatchId) -> Key {
    Key::new(group_partition(group), format!("HINTBATCH#ABORT#{batch}"))
}

/// The sort-key prefix of an integration's log entries, which sort by time.
pub fn integration_log_prefix(kind: IntegrationKind) -> String {
    format!("LOG#{kind}#")
}

/// One entry of an integration's log (its id sorts by time).
pub fn integration_log(group: &GroupId, kind: IntegrationKind, id: &LogEntryId) -> Key {
    Key::new(group_partition(group), format!("{}{id}", integration_log_prefix(kind)))
}

/// The partition listing every group whose `kind` integration is active, for the schedules
/// that fan work out to those groups (a Salesforce poll, Ensora's poller) without scanning
/// the table. It holds only group ids, written with each change of an integration's status.
pub fn active_integrations(kind: IntegrationKind) -> String {
    format!("ACTIVE#{kind}")
}

pub fn active_integration(kind: IntegrationKind, group: &GroupId) -> Key {
    Key::new(active_integrations(kind), format!("GROUP#{group}"))
}

/// carebridge's copy of one Ensora record (`kind`: `SITE`, `STUDENT`, `USER` or `SESSION`)
/// with its mapping.
pub fn ensora_record(group: &GroupId, kind: &str, ensora_id: &str) -> Key {
    Key::new(
        group_partition(group),
        format!("{}{ensora_id}", ensora_records_prefix(kind)),
    )
}

pub fn ensora_records_prefix(kind: &str) -> String {
    format!("ENSORA#{kind}#")
}

/// The lease a group's Ensora poll holds while it runs.
pub fn ensora_poll_lease(group: &GroupId) -> Key {
    Key::new(group_partition(group), "ENSORA-POLLING")
}

/// Where an integration's credentials live in Secrets Manager.
pub fn secret_name(stage: &str, group: &GroupId, integration: &str) -> String {
    format!("carebridge/{stage}/{group}/{integration}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_inside_its_group_partition() {
        let acme = GroupId::parse("acme").unwrap();
        let patient_id = PatientId::generate();
        let keys = [
            group(&acme),
            patient(&acme, &patient_id),
            practitioner(&acme, &PractitionerId::generate()),
            external_link(&acme, LinkedKind::Patient, ExternalSystem::Elation, "42"),
            idempotency(&acme, "s3", "bucket/key"),
        ];
        for key in keys {
            assert_eq!(key.pk, "G#acme");
        }
        assert_eq!(patient(&acme, &patient_id).sk, format!("PATIENT#{patient_id}"));
        assert_eq!(
            external_link(&acme, LinkedKind::Patient, ExternalSystem::Elation, "42").sk,
            "LINK#PATIENT#elation#42"
        );
    }
}
