//! An import job: one uploaded participant list from upload to completion, and the rules for
//! moving between its states.
//!
//! ```text
//! awaiting_upload ──upload──▶ previewing ──▶ pending ──complete──▶ completing ──▶ completed
//!        │                        │             │
//!   (URL expires)                 └──▶ failed   └──delete──▶ deleted
//!        ▼
//!     expired
//! ```

use super::complete::Completion;
use super::{FileFailure, Reason, Summary};
use crate::error::FieldError;
use crate::ids::{GroupId, ImportId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// How long an upload URL stays valid.
pub const UPLOAD_WINDOW: Duration = Duration::minutes(15);
/// The largest participant list accepted, in bytes.
pub const MAX_FILE_BYTES: u64 = 20 * 1024 * 1024;
/// The only media type an upload URL accepts.
pub const CSV_MEDIA_TYPE: &str = "text/csv";
const MAX_FILENAME: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ImportStatus {
    /// Created; waiting for the file to be PUT to the upload URL.
    AwaitingUpload,
    /// The upload URL ran out before a file arrived.
    Expired,
    /// The file arrived and is being previewed.
    Previewing,
    /// Previewed: results are ready to review; the import can be completed or deleted.
    Pending,
    /// The file could not be previewed; `failure` says why.
    Failed,
    /// Being applied.
    Completing,
    Completed,
    Deleted,
}

impl ImportStatus {
    /// The status as the API writes it (`awaiting_upload`, `completing`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::AwaitingUpload => "awaiting_upload",
            ImportStatus::Expired => "expired",
            ImportStatus::Previewing => "previewing",
            ImportStatus::Pending => "pending",
            ImportStatus::Failed => "failed",
            ImportStatus::Completing => "completing",
            ImportStatus::Completed => "completed",
            ImportStatus::Deleted => "deleted",
        }
    }
}

/// What a caller sends to start an import.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewImport {
    /// The file's name as the admin knows it, ending in `.csv`.
    pub filename: Option<String>,
}

/// How to upload an import's file: PUT it to `url` with exactly these headers before
/// `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Upload {
    /// Always `PUT`.
    pub method: &'static str,
    pub url: String,
    /// Send exactly these headers (the URL is bound to `Content-Type: text/csv`).
    pub headers: std::collections::BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

/// An import as carebridge keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportJob {
    pub id: ImportId,
    pub group: GroupId,
    pub filename: String,
    /// The `sub` of whoever created the import.
    pub uploaded_by: String,
    pub status: ImportStatus,
    pub upload_expires_at: DateTime<Utc>,
    /// Counts per action, once previewed.
    pub summary: Option<Summary>,
    /// Warnings about the whole file (unknown columns, encoding).
    #[serde(default)]
    pub file_warnings: Vec<Reason>,
    /// Why the file could not be previewed.
    pub failure: Option<FileFailure>,
    /// The file's headers as written.
    #[serde(default)]
    pub headers: Vec<String>,
    /// How many parts of per-row results the preview wrote (see [`results_part_key`]).
    #[serde(default)]
    pub result_parts: u32,
    /// Once completion was requested: who asked, progress, and the final counts.
    #[serde(default)]
    pub completion: Option<Completion>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ImportJob {
    pub fn new(id: ImportId, group: GroupId, filename: String, uploaded_by: String, now: DateTime<Utc>) -> Self {
        ImportJob {
            id,
            group,
            filename,
            uploaded_by,
            status: ImportStatus::AwaitingUpload,
            upload_expires_at: now + UPLOAD_WINDOW,
            summary: None,
            file_warnings: Vec::new(),
            failure: None,
            headers: Vec::new(),
            result_parts: 0,
            completion: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// The status as of `now`: an upload URL that ran out unused makes the import `expired`.
    pub fn status_at(&self, now: DateTime<Utc>) -> ImportStatus {
        if self.status == ImportStatus::AwaitingUpload && now >= self.upload_expires_at {
            ImportStatus::Expired
        } else {
            self.status
        }
    }
}

/// Where an import's uploaded file lives in the uploads bucket.
pub fn raw_object_key(group: &GroupId, id: &ImportId) -> String {
    format!("imports/{group}/{id}")
}

/// How many rows' results one results part holds, so a page of results reads one small object.
pub const ROWS_PER_RESULTS_PART: usize = 1_000;

/// Where part `part` of an import's per-row results (JSON Lines) lives in the uploads bucket.
pub fn results_part_key(group: &GroupId, id: &ImportId, part: u32) -> String {
    format!("results/{group}/{id}/rows-{part:05}.jsonl")
}

/// The group and import an uploaded object belongs to, if its key is one of ours.
pub fn parse_raw_object_key(key: &str) -> Option<(GroupId, ImportId)> {
    let mut parts = key.strip_prefix("imports/")?.split('/');
    let group = GroupId::parse(parts.next()?).ok()?;
    let id = ImportId::parse(parts.next()?).ok()?;
    parts.next().is_none().then_some((group, id))
}

/// A filename to show: trimmed, printable, at most 255 characters, ending in `.csv`.
pub fn validate_filename(raw: Option<&str>) -> Result<String, FieldError> {
    let name = raw.map(str::trim).unwrap_or_default();
    if name.is_empty() {
        return Err(FieldError::required("filename"));
    }
    if name.chars().count() > MAX_FILENAME || name.chars().any(|c| c.is_control() || c == '/' || c == '\\') {
        return Err(FieldError::new(
            "filename",
            "invalid_filename",
            format!("filename must be at most {MAX_FILENAME} printable characters, without / or \\"),
        ));
    }
    if !name.to_ascii_lowercase().ends_with(".csv") {
        return Err(FieldError::new(
            "filename",
            "not_csv",
            "filename must end in .csv; save the spreadsheet as CSV (UTF-8) first",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(now: DateTime<Utc>) -> ImportJob {
        ImportJob::new(
            ImportId::generate(),
            GroupId::parse("acme").unwrap(),
            "list.csv".into(),
            "alice".into(),
            now,
        )
    }

    #[test]
    fn an_upload_url_that_runs_out_unused_makes_the_import_expired() {
        let now = Utc::now();
        let job = job(now);
        assert_eq!(job.status_at(now + Duration::minutes(14)), ImportStatus::AwaitingUpload);
        assert_eq!(job.status_at(now + UPLOAD_WINDOW), ImportStatus::Expired);
        let previewed = ImportJob {
            status: ImportStatus::Pending,
            ..job
        };
        assert_eq!(previewed.status_at(now + Duration::days(2)), ImportStatus::Pending);
    }

    #[test]
    fn statuses_read_as_the_api_writes_them() {
        for status in [
            ImportStatus::AwaitingUpload,
            ImportStatus::Expired,
            ImportStatus::Previewing,
            ImportStatus::Pending,
            ImportStatus::Failed,
            ImportStatus::Completing,
            ImportStatus::Completed,
            ImportStatus::Deleted,
        ] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }

    #[test]
    fn raw_object_keys_round_trip_and_foreign_keys_are_not_ours() {
        let group = GroupId::parse("acme").unwrap();
        let id = ImportId::generate();
        let key = raw_object_key(&group, &id);
        assert_eq!(parse_raw_object_key(&key), Some((group, id)));
        for foreign in [
            "results/acme/x",
            "imports/acme",
            "imports/Acme/imp_1",
            &format!("{key}/extra"),
        ] {
            assert_eq!(parse_raw_object_key(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn filenames_are_printable_csv_names() {
        assert_eq!(validate_filename(Some(" March list.CSV ")), Ok("March list.CSV".into()));
        assert_eq!(validate_filename(None).unwrap_err().code, "required");
        assert_eq!(validate_filename(Some("list.xlsx")).unwrap_err().code, "not_csv");
        assert_eq!(
            validate_filename(Some("../etc/passwd.csv")).unwrap_err().code,
            "invalid_filename"
        );
        assert_eq!(
            validate_filename(Some(&format!("{}.csv", "a".repeat(252))))
                .unwrap_err()
                .code,
            "invalid_filename"
        );
    }
}
