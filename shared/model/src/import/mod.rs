//! Participant-list imports: reading an uploaded CSV and previewing, row by row, what importing it
//! would do. Pure computation: the caller supplies the file's bytes and the group's existing
//! patients and practitioners, and stores what comes back.

pub mod columns;
pub mod complete;
pub mod decode;
pub mod job;
pub mod preview;
pub mod recheck;
pub mod records;
pub mod results;

pub use columns::Column;
pub use preview::{
    Action, Cells, Existing, FileOutcome, Preview, Reason, RowResult, Settings, Summary, preview, preview_rows, search,
};

use serde::Serialize;

/// Why a whole file cannot be previewed, in words a practice admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty; upload a CSV with a header row and one row per participant")]
    Empty,
    #[error("the file has a header row but no participant rows")]
    HeaderOnly,
    #[error(transparent)]
    Decode(#[from] decode::DecodeError),
    #[error("the columns \"{first}\" and \"{second}\" both mean {meaning}; keep one of them")]
    DuplicateHeaders {
        first: String,
        second: String,
        meaning: String,
    },
    #[error("required column(s) missing: {}; the template's headers are in GET /v1/import-template.csv", names(.0))]
    MissingColumns(Vec<Column>),
    #[error("the file has more than {limit} participant rows, this group's limit; split it into smaller files")]
    TooManyRows { limit: u32 },
    #[error("the file is {size} bytes; the limit is {limit} bytes; split it into smaller files")]
    TooLarge { size: u64, limit: u64 },
}

fn names(columns: &[Column]) -> String {
    columns.iter().map(|c| c.header()).collect::<Vec<_>>().join(", ")
}

impl FileError {
    /// A stable code for API clients.
    pub fn code(&self) -> &'static str {
        match self {
            FileError::Empty => "empty_file",
            FileError::HeaderOnly => "header_only",
            FileError::Decode(decode::DecodeError::NotCsv(_)) => "not_csv",
            FileError::Decode(decode::DecodeError::BadUtf16) => "bad_encoding",
            FileError::DuplicateHeaders { .. } => "duplicate_headers",
            FileError::MissingColumns(_) => "missing_columns",
            FileError::TooManyRows { .. } => "too_many_rows",
            FileError::TooLarge { .. } => "too_large",
        }
    }
}

/// How many rows a file can hold at most, from its line breaks alone (a quoted cell may hold a
/// line break, so a file may have fewer): for sizing work before the file is read.
pub fn rows_at_most(bytes: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', bytes).count() as u64 + 1
}

/// Refuses a file over the size limit before anything reads it.
pub fn check_size(size: u64, limit: u64) -> Result<(), FileError> {
    if size > limit {
        Err(FileError::TooLarge { size, limit })
    } else {
        Ok(())
    }
}

/// A file-level failure as stored and shown: its code and message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FileFailure {
    pub code: String,
    pub message: String,
}

impl From<&FileError> for FileFailure {
    fn from(error: &FileError) -> Self {
        FileFailure {
            code: error.code().to_owned(),
            message: error.to_string(),
        }
    }
}

/// Escapes a cell for a CSV that people open in spreadsheets: a value starting with `=`, `+`,
/// `-`, `@`, tab or carriage return would run as a formula, so it gains a leading `'`.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => std::borrow::Cow::Owned(format!("'{cell}")),
        _ => std::borrow::Cow::Borrowed(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_left_alone() {
        for (cell, safe) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1 415", "'+1 415"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("Ada", "Ada"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell), safe);
        }
    }
}
