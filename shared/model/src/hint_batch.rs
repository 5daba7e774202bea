//! Hint ⇄ Salesforce batch syncs: every Hint patient brought to Salesforce, or the contacts of a
//! Salesforce report brought to Hint. What each record became is decided by
//! `hint_salesforce::batch_patient_to_contact` and `batch_contact_to_patient`; this module keeps
//! what a batch is, how it counts, and how its results read.
//!
//! A batch works a page (up to 200 records) at a time. Each page's decisions are stored before
//! anything is written to a vendor, and its results with the batch's checkpoint once the writes
//! are done, so a batch that dies resumes at its checkpoint and carries out the stored
//! decisions of the page it was on instead of deciding again.

use crate::HintBatchId;
use crate::hint_salesforce::SkipReason;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most records one page of a batch works on: one `composite/sobjects` call's worth.
pub const PAGE: usize = 200;

/// Which way a batch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Direction {
    /// Every Hint patient: linked to its exact match, or given a contact.
    PatientsToContacts,
    /// The contacts of a Salesforce report export: linked to their exact Hint match.
    ContactsToPatients,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    Queued,
    Running,
    /// Stopped at a page's end because someone asked.
    Aborted,
    Succeeded,
    /// Stopped for a reason that trying again will not fix (see `error`).
    Failed,
}

/// What one record became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    Linked,
    Created,
    Updated,
    Skipped,
    /// A vendor refused the record (its `error` says what it named).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Linked => "linked",
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Outcome> {
        [
            Outcome::Linked,
            Outcome::Created,
            Outcome::Updated,
            Outcome::Skipped,
            Outcome::Failed,
        ]
        .into_iter()
        .find(|o| o.as_str() == raw)
    }
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyLinked => "already_linked",
            SkipReason::MultipleMatches => "multiple_matches",
            SkipReason::NoMatch => "no_match",
            SkipReason::UnknownContact => "unknown_contact",
        }
    }
}

/// One record's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Item {
    /// Its place in the batch, from 1.
    pub position: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    pub outcome: Outcome,
    /// Why a skipped record was left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<SkipReason>,
    /// What the vendor said of a failed record: its error code and the fields it named, never
    /// a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How many records came to each result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Counts {
    pub processed: u32,
    pub linked: u32,
    pub created: u32,
    pub updated: u32,
    pub failed: u32,
    pub skipped: Skipped,
}

/// Skipped records, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Skipped {
    pub already_linked: u32,
    pub multiple_matches: u32,
    pub no_match: u32,
    pub unknown_contact: u32,
}

impl Counts {
    /// Counts one more record.
    pub fn add(&mut self, item: &Item) {
        self.processed += 1;
        match (item.outcome, item.reason) {
            (Outcome::Linked, _) => self.linked += 1,
            (Outcome::Created, _) => self.created += 1,
            (Outcome::Updated, _) => self.updated += 1,
            (Outcome::Failed, _) => self.failed += 1,
            (Outcome::Skipped, Some(SkipReason::AlreadyLinked)) => self.skipped.already_linked += 1,
            (Outcome::Skipped, Some(SkipReason::MultipleMatches)) => self.skipped.multiple_matches += 1,
            (Outcome::Skipped, Some(SkipReason::UnknownContact)) => self.skipped.unknown_contact += 1,
            (Outcome::Skipped, Some(SkipReason::NoMatch) | None) => self.skipped.no_match += 1,
        }
    }
}

/// A batch as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Batch {
    pub id: HintBatchId,
    pub direction: Direction,
    pub status: Status,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// How many records it will work on, when known from the start (a report's contacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u32>,
    /// So far, while it runs.
    pub counts: Counts,
    /// Pages done: where it resumes.
    pub pages_done: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_requested_by: Option<String>,
    /// The text a report printed below its data, which was not read as contacts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_trailing_text: Vec<String>,
    /// Lines of a report whose first cell is not a Salesforce id: `(line, cell)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub report_invalid_lines: Vec<(usize, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Batch {
    pub fn queued(direction: Direction, by: &str, now: DateTime<Utc>) -> Batch {
        Batch {
            id: HintBatchId::generate(),
            direction,
            status: Status::Queued,
            requested_by: by.to_owned(),
            requested_at: now,
            started_at: None,
            finished_at: None,
            total: None,
            counts: Counts::default(),
            pages_done: 0,
            abort_requested_by: None,
            report_trailing_text: Vec::new(),
            report_invalid_lines: Vec::new(),
            error: None,
        }
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.status, Status::Aborted | Status::Succeeded | Status::Failed)
    }

    /// A page's results counted in and the checkpoint moved past it; `last` when no page
    /// follows.
    pub fn page_done(&self, items: &[Item], last: bool, now: DateTime<Utc>) -> Batch {
        let mut next = self.clone();
        for item in items {
            next.counts.add(item);
        }
        next.pages_done += 1;
        next.status = Status::Running;
        if last {
            next.status = Status::Succeeded;
            next.finished_at = Some(now);
        }
        next
    }

    /// Where it ends without finishing: aborted, or failed with `reason`.
    pub fn stopped(&self, status: Status, reason: Option<String>, now: DateTime<Utc>) -> Batch {
        Batch {
            status,
            error: reason,
            finished_at: Some(now),
            ..self.clone()
        }
    }
}

/// Which results a listing shows: by outcome, and for skipped ones by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultFilter {
    pub outcome: Option<Outcome>,
    pub reason: Option<SkipReason>,
}

impl ResultFilter {
    pub fn keeps(&self, item: &Item) -> bool {
        self.outcome.is_none_or(|o| o == item.outcome) && self.reason.is_none_or(|r| Some(r) == item.reason)
    }
}

/// The results as CSV, a header and a line per record: what a practice opens in a spreadsheet.
pub fn results_csv(items: &[Item]) -> String {
    let mut out = String::from("position,patient_id,contact_id,outcome,reason,error\n");
    for item in items {
        let cells = [
            item.position.to_string(),
            item.patient_id.clone().unwrap_or_default(),
            item.contact_id.clone().unwrap_or_default(),
            item.outcome.as_str().to_owned(),
            item.reason.map(SkipReason::as_str).unwrap_or_default().to_owned(),
            item.error.clone().unwrap_or_default(),
        ];
        out.push_str(&crate::csv_text::line(&cells));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(position: u32, outcome: Outcome, reason: Option<SkipReason>) -> Item {
        Item {
            position,
            patient_id: Some(format!("pat-{position}")),
            contact_id: None,
            outcome,
            reason,
            error: None,
        }
    }

    #[test]
    fn counts_add_up_to_the_records_processed_by_outcome_and_reason() {
        let items = [
            item(1, Outcome::Linked, None),
            item(2, Outcome::Created, None),
            item(3, Outcome::Skipped, Some(SkipReason::MultipleMatches)),
            item(4, Outcome::Skipped, Some(SkipReason::AlreadyLinked)),
            item(5, Outcome::Failed, None),
        ];
        let batch = Batch::queued(Direction::ContactsToPatients, "admin", Utc::now());
        let after = batch.page_done(&items[..3], false, Utc::now());
        assert_eq!(after.status, Status::Running);
        assert_eq!(after.pages_done, 1);
        let done = after.page_done(&items[3..], true, Utc::now());
        assert_eq!(done.status, Status::Succeeded);
        let c = done.counts;
        assert_eq!(c.processed, 5);
        assert_eq!((c.linked, c.created, c.updated, c.failed), (1, 1, 0, 1));
        assert_eq!(c.skipped.multiple_matches + c.skipped.already_linked, 2);
    }

    #[test]
    fn results_filter_by_outcome_and_reason_and_read_as_csv() {
        let items = [
            item(1, Outcome::Linked, None),
            item(2, Outcome::Skipped, Some(SkipReason::NoMatch)),
            item(3, Outcome::Skipped, Some(SkipReason::UnknownContact)),
        ];
        let skipped = ResultFilter {
            outcome: Some(Outcome::Skipped),
            reason: None,
        };
        assert_eq!(items.iter().filter(|i| skipped.keeps(i)).count(), 2);
        let unknown = ResultFilter {
            outcome: None,
            reason: Some(SkipReason::UnknownContact),
        };
        assert_eq!(items.iter().filter(|i| unknown.keeps(i)).count(), 1);
        let mut failed = item(4, Outcome::Failed, None);
        failed.error = Some("=REQUIRED_FIELD_MISSING, LastName".into());
        assert_eq!(
            results_csv(&[items[1].clone(), failed]),
            "position,patient_id,contact_id,outcome,reason,error\n2,pat-2,,skipped,no_match,\n4,pat-4,,failed,,\"'=REQUIRED_FIELD_MISSING, LastName\"\n"
        );
        assert_eq!(Outcome::parse("skipped"), Some(Outcome::Skipped));
    }
}
