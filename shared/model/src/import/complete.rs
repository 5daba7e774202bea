//! Completing a previewed import: when an import may be completed, what each previewed row does
//! against the patient as it is now, and the one final outcome every row ends in (so the counts
//! always add up to the number of rows).
//!
//! Completion runs in parts (one per results part) and any part may run more than once (a
//! redelivery, or a resume after a crash). Every decision here is therefore made so that running
//! a row again gives the same outcome: a created patient has an id derived from its import row,
//! and an updated one records the row that wrote it ([`Patient::imported_from`]).

use super::job::{ImportJob, ImportStatus};
use super::preview::{Action, Reason, RowResult};
use super::recheck::{Recheck, recheck_update};
use crate::ids::{ImportId, PatientId};
use crate::patient::{Context, ImportRow, Patient, PatientFields};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a caller sends to complete an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteRequest {
    /// Complete even though some rows have errors; those rows are skipped.
    #[serde(default)]
    pub skip_error_rows: bool,
}

/// The one final state a row ends in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// A new patient was created (its id is the row's `patient_id`).
    Created,
    /// The matched patient took the row's changes.
    Updated,
    /// Nothing needed writing.
    Unchanged,
    /// An error row, skipped because the import was completed with `skip_error_rows`.
    Skipped,
    /// Someone changed the patient (or took its External ID) since the preview; the row was not
    /// applied. Preview the file again to import it.
    Conflict,
    /// The row could not be applied for another reason, given in `reasons`.
    Failed,
}

/// What completing did with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowCompletion {
    pub outcome: Outcome,
    /// Why a row ended in conflict, failed or was skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
}

impl RowCompletion {
    pub fn new(outcome: Outcome) -> Self {
        RowCompletion {
            outcome,
            reasons: Vec::new(),
        }
    }

    fn because(outcome: Outcome, reasons: Vec<Reason>) -> Self {
        RowCompletion { outcome, reasons }
    }
}

/// How many rows ended in each final state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FinalCounts {
    pub created: u32,
    pub updated: u32,
    pub unchanged: u32,
    pub skipped: u32,
    pub conflict: u32,
    pub failed: u32,
}

impl FinalCounts {
    pub fn count(&mut self, outcome: Outcome) {
        let slot = match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Updated => &mut self.updated,
            Outcome::Unchanged => &mut self.unchanged,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Conflict => &mut self.conflict,
            Outcome::Failed => &mut self.failed,
        };
        *slot += 1;
    }

    pub fn add(&mut self, other: &FinalCounts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.conflict += other.conflict;
        self.failed += other.failed;
    }

    pub fn total(&self) -> u32 {
        self.created + self.updated + self.unchanged + self.skipped + self.conflict + self.failed
    }
}

/// An import's completion as the job records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Completion {
    pub skip_error_rows: bool,
    /// The `sub` of whoever completed the import.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// How many parts the rows are applied in.
    pub parts: u32,
    /// How many parts are applied so far: counted when one import is read while it completes;
    /// the list of imports shows it once the import is completed.
    #[serde(default)]
    pub parts_done: u32,
    /// Final counts, once every part is applied; they add up to the number of rows.
    pub counts: Option<FinalCounts>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why an import cannot be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only a previewed import can be completed; this import is {}", .0.as_str())]
    NotPreviewed(ImportStatus),
    #[error(
        "{0} row(s) have errors; fix them and upload the file again, or complete with {{\"skip_error_rows\": true}} to import the other rows"
    )]
    HasErrorRows(u32),
}

/// What a request to complete should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Begin completing.
    Begin,
    /// Completion was already requested: send its parts again (the ones already applied are
    /// recognised and skipped), so a request interrupted after it saved the job still finishes.
    Resume,
    /// Already completed: nothing to do.
    Finished,
}

pub fn check_can_complete(job: &ImportJob, request: &CompleteRequest) -> Result<Start, Refusal> {
    match job.status {
        ImportStatus::Pending => {}
        ImportStatus::Completing => return Ok(Start::Resume),
        ImportStatus::Completed => return Ok(Start::Finished),
        other => return Err(Refusal::NotPreviewed(other)),
    }
    let errors = job.summary.as_ref().map_or(0, |s| s.error);
    if errors > 0 && !request.skip_error_rows {
        return Err(Refusal::HasErrorRows(errors));
    }
    Ok(Start::Begin)
}

/// The patient a previewed `update` or `unchanged` row matched, as it is now.
#[derive(Debug, Clone, Copy)]
pub struct Current<'a> {
    pub version: u64,
    pub patient: &'a Patient,
}

/// What completing one row takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to write: the row's final state is known.
    Done(RowCompletion),
    /// Create this patient (if absent: a rerun finds the one it created).
    Create { id: PatientId, fields: Box<PatientFields> },
    /// Write these fields over the patient, if it is still at `at_version`.
    Update {
        id: PatientId,
        fields: Box<PatientFields>,
        at_version: u64,
    },
}

/// Decides what a previewed row takes to complete. `current` is the matched patient as it is
/// now (`None` if it no longer exists); create, unchanged and error rows need no read.
pub fn plan_row(
    import: &ImportId,
    row: &RowResult,
    skip_error_rows: bool,
    current: Option<Current<'_>>,
    ctx: &Context,
) -> Step {
    match row.action {
        Action::Unchanged => Step::Done(RowCompletion::new(Outcome::Unchanged)),
        Action::Error if skip_error_rows => Step::Done(RowCompletion::because(
            Outcome::Skipped,
            vec![Reason::new(None, "skipped", "the row has errors, so it was skipped")],
        )),
        Action::Error => Step::Done(failed("the row has errors and the import was not told to skip them")),
        Action::Create => match &row.fields {
            Some(fields) => Step::Create {
                id: PatientId::for_import_row(import, row.row),
                fields: fields.clone(),
            },
            None => Step::Done(failed("the preview recorded no patient for this row")),
        },
        Action::Update => plan_update(import, row, current, ctx),
    }
}

fn plan_update(import: &ImportId, row: &RowResult, current: Option<Current<'_>>, ctx: &Context) -> Step {
    let (Some(fields), Some(current)) = (&row.fields, current) else {
        return Step::Done(failed("the patient this row matched no longer exists"));
    };
    let id = current.patient.id.clone();
    if row.base_version == Some(current.version) {
        // Nobody wrote the patient since the preview: its diff still holds as previewed.
        return Step::Update {
            id,
            fields: fields.clone(),
            at_version: current.version,
        };
    }
    match recheck_update(&current.patient.fields, &row.changes, ctx) {
        Recheck::Apply(fields) => Step::Update {
            id,
            fields,
            at_version: current.version,
        },
        Recheck::AlreadyApplied if wrote_by(current.patient, import, row.row) => {
            Step::Done(RowCompletion::new(Outcome::Updated))
        }
        Recheck::AlreadyApplied => Step::Done(RowCompletion::new(Outcome::Unchanged)),
        Recheck::Conflict(fields) => Step::Done(RowCompletion::because(
            Outcome::Conflict,
            fields
                .iter()
                .map(|field| {
                    Reason::field(
                        field,
                        "changed_since_preview",
                        "changed in carebridge since the preview; upload the file again to import this row",
                    )
                })
                .collect(),
        )),
        Recheck::Invalid(errors) => Step::Done(RowCompletion::because(
            Outcome::Failed,
            errors.0.into_iter().map(Reason::from_field).collect(),
        )),
    }
}

/// Whether this import row wrote the patient's current version.
fn wrote_by(patient: &Patient, import: &ImportId, row: u32) -> bool {
    patient
        .imported_from
        .as_ref()
        .is_some_and(|from| &from.import_id == import && from.row == row)
}

/// The mark a row leaves on the patient it writes.
pub fn import_row(import: &ImportId, row: u32) -> ImportRow {
    ImportRow {
        import_id: import.clone(),
        row,
    }
}

fn failed(message: &str) -> RowCompletion {
    RowCompletion::because(Outcome::Failed, vec![Reason::new(None, "not_applied", message)])
}

/// A row whose External ID another patient took since the preview.
pub fn external_id_taken() -> RowCompletion {
    RowCompletion::because(
        Outcome::Conflict,
        vec![Reason::field(
            "external_ids",
            "external_id_taken",
            "another patient has this External ID since the preview; upload the file again to import this row",
        )],
    )
}

/// A row whose patient kept changing while completion tried to write it.
pub fn kept_changing() -> RowCompletion {
    RowCompletion::because(
        Outcome::Conflict,
        vec![Reason::new(
            None,
            "changed_during_import",
            "the patient was being edited while the import ran; upload the file again to import this row",
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::job::ImportJob;
    use crate::import::{Cells, Summary};
    use crate::patient::PatientInput;
    use crate::patient::tests::ctx;
    use crate::{GroupId, ImportId};

    fn fields(city: &str) -> PatientFields {
        PatientInput {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            date_of_birth: Some("1984-03-07".into()),
            city: Some(city.into()),
            ..Default::default()
        }
        .validate(&ctx())
        .unwrap()
    }

    fn patient(city: &str, imported_from: Option<ImportRow>) -> Patient {
        let now = Utc::now();
        Patient {
            id: PatientId::generate(),
            group: GroupId::parse("acme").unwrap(),
            fields: fields(city),
            created_at: now,
            updated_at: now,
            imported_from,
            unlinked: Vec::new(),
        }
    }

    fn row(action: Action, base_version: Option<u64>, before: &str, after: &str) -> RowResult {
        RowResult {
            row: 7,
            line: 8,
            action,
            patient_id: None,
            base_version,
            changes: fields(after).changes_from(&fields(before)),
            errors: Vec::new(),
            warnings: Vec::new(),
            cells: Cells::default(),
            fields: Some(Box::new(fields(after))),
            completion: None,
        }
    }

    fn job(status: ImportStatus, errors: u32) -> ImportJob {
        let mut job = ImportJob::new(
            ImportId::generate(),
            GroupId::parse("acme").unwrap(),
            "list.csv".into(),
            "alice".into(),
            Utc::now(),
        );
        job.status = status;
        job.summary = Some(Summary {
            rows: 10,
            error: errors,
            ..Default::default()
        });
        job
    }

    #[test]
    fn only_a_previewed_import_completes_and_error_rows_need_consent() {
        let plain = CompleteRequest::default();
        let skipping = CompleteRequest { skip_error_rows: true };
        assert_eq!(
            check_can_complete(&job(ImportStatus::Pending, 0), &plain),
            Ok(Start::Begin)
        );
        assert_eq!(
            check_can_complete(&job(ImportStatus::Pending, 2), &plain),
            Err(Refusal::HasErrorRows(2))
        );
        assert_eq!(
            check_can_complete(&job(ImportStatus::Pending, 2), &skipping),
            Ok(Start::Begin)
        );
        assert_eq!(
            check_can_complete(&job(ImportStatus::Completing, 0), &plain),
            Ok(Start::Resume)
        );
        assert_eq!(
            check_can_complete(&job(ImportStatus::Completed, 0), &plain),
            Ok(Start::Finished)
        );
        for status in [
            ImportStatus::AwaitingUpload,
            ImportStatus::Failed,
            ImportStatus::Deleted,
        ] {
            assert_eq!(
                check_can_complete(&job(status, 0), &plain),
                Err(Refusal::NotPreviewed(status))
            );
        }
        assert!(Refusal::HasErrorRows(2).to_string().contains("skip_error_rows"));
    }

    #[test]
    fn a_create_row_gets_the_same_patient_id_on_every_run() {
        let import = ImportId::generate();
        let create = row(Action::Create, None, "London", "London");
        let Step::Create { id, .. } = plan_row(&import, &create, false, None, &ctx()) else {
            panic!("a create step")
        };
        assert_eq!(id, PatientId::for_import_row(&import, 7));
        assert_eq!(
            plan_row(&import, &create, false, None, &ctx()),
            plan_row(&import, &create, false, None, &ctx())
        );
    }

    #[test]
    fn an_untouched_patient_takes_the_previewed_fields_at_its_version() {
        let import = ImportId::generate();
        let now = patient("London", None);
        let step = plan_row(
            &import,
            &row(Action::Update, Some(3), "London", "Paris"),
            false,
            Some(Current {
                version: 3,
                patient: &now,
            }),
            &ctx(),
        );
        assert_eq!(
            step,
            Step::Update {
                id: now.id.clone(),
                fields: Box::new(fields("Paris")),
                at_version: 3
            }
        );
    }

    #[test]
    fn a_rerun_recognises_its_own_update_and_someone_elses_identical_edit() {
        let import = ImportId::generate();
        let update = row(Action::Update, Some(3), "London", "Paris");
        let ours = patient("Paris", Some(import_row(&import, 7)));
        let theirs = patient("Paris", None);
        let plan = |patient: &Patient| plan_row(&import, &update, false, Some(Current { version: 4, patient }), &ctx());
        assert_eq!(plan(&ours), Step::Done(RowCompletion::new(Outcome::Updated)));
        assert_eq!(plan(&theirs), Step::Done(RowCompletion::new(Outcome::Unchanged)));
    }

    #[test]
    fn a_patient_edited_since_the_preview_is_rechecked_not_overwritten() {
        let import = ImportId::generate();
        let update = row(Action::Update, Some(3), "London", "Paris");
        let edited = patient("Rome", None);
        let Step::Done(done) = plan_row(
            &import,
            &update,
            false,
            Some(Current {
                version: 4,
                patient: &edited,
            }),
            &ctx(),
        ) else {
            panic!("no write")
        };
        assert_eq!(done.outcome, Outcome::Conflict);
        assert_eq!(done.reasons[0].code, "changed_since_preview");
        assert_eq!(done.reasons[0].column.as_deref(), Some("City"));
    }

    #[test]
    fn every_row_ends_in_exactly_one_state() {
        let import = ImportId::generate();
        let error = RowResult {
            fields: None,
            ..row(Action::Error, None, "London", "London")
        };
        let outcome = |step: Step| match step {
            Step::Done(done) => done.outcome,
            other => panic!("{other:?}"),
        };
        assert_eq!(outcome(plan_row(&import, &error, true, None, &ctx())), Outcome::Skipped);
        assert_eq!(outcome(plan_row(&import, &error, false, None, &ctx())), Outcome::Failed);
        let unchanged = row(Action::Unchanged, Some(1), "London", "London");
        assert_eq!(
            outcome(plan_row(&import, &unchanged, false, None, &ctx())),
            Outcome::Unchanged
        );
        let vanished = row(Action::Update, Some(1), "London", "Paris");
        assert_eq!(
            outcome(plan_row(&import, &vanished, false, None, &ctx())),
            Outcome::Failed
        );

        let mut counts = FinalCounts::default();
        for outcome in [Outcome::Created, Outcome::Skipped, Outcome::Conflict, Outcome::Created] {
            counts.count(outcome);
        }
        let mut total = FinalCounts::default();
        total.add(&counts);
        total.add(&counts);
        assert_eq!((total.created, total.total()), (4, 8));
    }
}
