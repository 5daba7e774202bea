//! Reading a preview's results: which rows a filter selects, and the results CSV (the input
//! columns plus what carebridge did with each row), safe to open in a spreadsheet.

use super::complete::Outcome;
use super::preview::{Action, Reason, RowResult};
use super::spreadsheet_safe;

/// Which rows a results listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFilter {
    All,
    Errors,
    Warnings,
    Action(Action),
    /// Rows that completing the import left in this final state.
    Outcome(Outcome),
}

/// The filters a results listing accepts, as callers write them.
pub const FILTER_NAMES: &str =
    "all, errors, warnings, create, update, unchanged, created, updated, skipped, conflict, failed";

impl ResultFilter {
    pub fn parse(raw: Option<&str>) -> Option<ResultFilter> {
        Some(match raw {
            None | Some("all") => ResultFilter::All,
            Some("errors") => ResultFilter::Errors,
            Some("warnings") => ResultFilter::Warnings,
            Some("create") => ResultFilter::Action(Action::Create),
            Some("update") => ResultFilter::Action(Action::Update),
            Some("unchanged") => ResultFilter::Action(Action::Unchanged),
            Some("created") => ResultFilter::Outcome(Outcome::Created),
            Some("updated") => ResultFilter::Outcome(Outcome::Updated),
            Some("skipped") => ResultFilter::Outcome(Outcome::Skipped),
            Some("conflict") => ResultFilter::Outcome(Outcome::Conflict),
            Some("failed") => ResultFilter::Outcome(Outcome::Failed),
            Some(_) => return None,
        })
    }

    pub fn matches(self, row: &RowResult) -> bool {
        match self {
            ResultFilter::All => true,
            ResultFilter::Errors => row.action == Action::Error,
            ResultFilter::Warnings => !row.warnings.is_empty(),
            ResultFilter::Action(action) => row.action == action,
            ResultFilter::Outcome(outcome) => row.completion.as_ref().is_some_and(|c| c.outcome == outcome),
        }
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Unchanged => "unchanged",
        Action::Error => "error",
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Created => "created",
        Outcome::Updated => "updated",
        Outcome::Unchanged => "unchanged",
        Outcome::Skipped => "skipped",
        Outcome::Conflict => "conflict",
        Outcome::Failed => "failed",
    }
}

fn reasons(reasons: &[Reason]) -> String {
    reasons
        .iter()
        .map(|r| match &r.column {
            Some(column) => format!("{column}: {}", r.message),
            None => r.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Writes the results CSV: the file's own headers and cells, then carebridge's columns. Every
/// cell that a spreadsheet would run as a formula is escaped.
pub fn write_csv<'a, W: std::io::Write>(
    out: W,
    headers: &[String],
    rows: impl IntoIterator<Item = &'a RowResult>,
) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    let extra = [
        "carebridge row",
        "carebridge action",
        "carebridge patient id",
        "carebridge errors",
        "carebridge warnings",
        "carebridge result",
        "carebridge result reasons",
    ];
    writer.write_record(
        headers
            .iter()
            .map(String::as_str)
            .chain(extra)
            .map(|h| spreadsheet_safe(h).into_owned()),
    )?;
    for row in rows {
        let mut record: Vec<String> = row.cells.iter().map(|c| spreadsheet_safe(c).into_owned()).collect();
        // A ragged row keeps its cells; pad or cut so every line has the header's width.
        record.resize(headers.len(), String::new());
        record.push(row.row.to_string());
        record.push(action_name(row.action).to_owned());
        record.push(row.patient_id.as_ref().map(|id| id.to_string()).unwrap_or_default());
        record.push(spreadsheet_safe(&reasons(&row.errors)).into_owned());
        record.push(spreadsheet_safe(&reasons(&row.warnings)).into_owned());
        let completion = row.completion.as_ref();
        record.push(
            completion
                .map(|c| outcome_name(c.outcome))
                .unwrap_or_default()
                .to_owned(),
        );
        record.push(spreadsheet_safe(&completion.map(|c| reasons(&c.reasons)).unwrap_or_default()).into_owned());
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{Existing, Settings, preview};
    use crate::normalize::Country;

    fn rows(csv: &str) -> (Vec<String>, Vec<RowResult>) {
        let settings = Settings {
            default_country: Country::us(),
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            row_limit: 100,
        };
        let preview = preview(csv.as_bytes(), &settings, &Existing::default()).unwrap();
        (preview.headers, preview.rows)
    }

    #[test]
    fn filters_select_rows_by_action_errors_and_warnings() {
        let (_, rows) =
            rows("First Name,Last Name,DOB,Mobile Phone\nA,B,1990-01-01,\nC,D,2099-01-01,\nE,F,1990-01-01,12\n");
        let count = |filter: &str| {
            rows.iter()
                .filter(|r| ResultFilter::parse(Some(filter)).unwrap().matches(r))
                .count()
        };
        assert_eq!(
            (
                count("all"),
                count("errors"),
                count("warnings"),
                count("create"),
                count("update")
            ),
            (3, 1, 1, 2, 0)
        );
        assert_eq!(ResultFilter::parse(Some("everything")), None);
        // Before completion no row has a final state.
        assert_eq!(count("created"), 0);
    }

    #[test]
    fn the_results_csv_keeps_the_input_adds_outcomes_and_defuses_formulas() {
        let (headers, rows) =
            rows("First Name,Last Name,DOB,Notes\n=HYPERLINK(\"x\"),Lovelace,1984-03-07,\"a, b\"\nAda,Lovelace\n");
        let mut out = Vec::new();
        write_csv(&mut out, &headers, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "First Name,Last Name,DOB,Notes,carebridge row,carebridge action,carebridge patient id,carebridge errors,carebridge warnings,carebridge result,carebridge result reasons"
        );
        assert!(
            lines[1].starts_with("\"'=HYPERLINK(\"\"x\"\")\",Lovelace,1984-03-07,\"a, b\",1,create,,,"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("Ada,Lovelace,,,2,error,,"), "{}", lines[2]);
        assert!(lines[2].contains("the row has 2 cells but the header has 4"));
    }
}
