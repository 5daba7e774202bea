//! The three reports of the guide: staff (Ensora's users), clients (students) and appointments
//! (sessions), each record mapped or not with the reason, as JSON or CSV.

use super::copies::{self, Copy, Kind};
use crate::{AppError, Deps};
use connectors::ensora::{SoapNote, Student, User};
use model::GroupId;
use model::access::{Action, Caller, authorize};
use model::ensora::{Mapping, NotRendered, Source};
use serde::Serialize;

/// One report's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportRow {
    pub ensora_id: String,
    /// The person's name (staff, clients).
    pub name: Option<String>,
    /// The e-mail (staff), date of birth (clients), or date and times (appointments).
    pub detail: Option<String>,
    /// `mapped` or `unmapped`.
    pub status: &'static str,
    pub source: Option<Source>,
    /// The agency, patient, practitioner or appointment it maps to.
    pub carebridge_id: Option<String>,
    pub agency_id: Option<String>,
    /// Why it is not mapped (`no_candidate`, `several_candidates`, `differs`, `unresolved`,
    /// `deleted`) and what to read beside it.
    pub reason: Option<&'static str>,
    pub reason_detail: Option<String>,
    /// Appointments: whether the note rendered it, and every reason it did not.
    pub rendered: Option<bool>,
    pub not_rendered: Option<String>,
}

fn row<T>(copy: &Copy<T>, name: Option<String>, detail: Option<String>) -> ReportRow {
    let (status, source, carebridge_id, agency_id, reason, reason_detail) = match &copy.mapping {
        Mapping::Mapped {
            target_id,
            source,
            agency_id,
            ..
        } => (
            "mapped",
            Some(*source),
            Some(target_id.clone()),
            agency_id.clone(),
            None,
            None,
        ),
        Mapping::Unmapped { reason } => ("unmapped", None, None, None, Some(reason.code()), reason.detail()),
    };
    ReportRow {
        ensora_id: copy.ensora_id.clone(),
        name,
        detail,
        status,
        source,
        carebridge_id,
        agency_id,
        reason,
        reason_detail,
        rendered: None,
        not_rendered: None,
    }
}

fn not_rendered_text(reasons: &[NotRendered]) -> String {
    reasons
        .iter()
        .map(|r| match r {
            NotRendered::Missing { field } => format!("missing {field}"),
            NotRendered::Invalid { field } => format!("invalid {field}"),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v["reason"].as_str().map(str::to_owned))
                .unwrap_or_default(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A report (`staff`, `clients` or `appointments`): role `mapping_editor`.
pub async fn report(deps: &Deps, caller: &Caller, group: &GroupId, which: &str) -> Result<Vec<ReportRow>, AppError> {
    authorize(caller, Some(group), Action::EditMappings)?;
    crate::groups::load(deps, group).await?;
    let all = |kind: Kind| copies::prefix(kind);
    Ok(match which {
        "staff" => crate::paging::all_records::<Copy<User>>(deps, group, &all(Kind::User))
            .await?
            .iter()
            .map(|c| {
                let user = &c.value.record;
                row(
                    &c.value,
                    Some(format!("{} {}", user.first_name, user.last_name)),
                    user.email.clone(),
                )
            })
            .collect(),
        "clients" => crate::paging::all_records::<Copy<Student>>(deps, group, &all(Kind::Student))
            .await?
            .iter()
            .map(|c| {
                let student = &c.value.record;
                row(
                    &c.value,
                    Some(format!("{} {}", student.first_name, student.last_name)),
                    student.date_of_birth.clone(),
                )
            })
            .collect(),
        "appointments" => crate::paging::all_records::<Copy<SoapNote>>(deps, group, &all(Kind::Session))
            .await?
            .iter()
            .map(|c| {
                let note = &c.value.record;
                let when = format!(
                    "{} {}-{}",
                    note.date.as_deref().unwrap_or("?"),
                    note.start_time.as_deref().unwrap_or("?"),
                    note.end_time.as_deref().unwrap_or("?")
                );
                let mut row = row(&c.value, None, Some(when));
                if let Some(outcome) = &c.value.note {
                    row.rendered = Some(outcome.rendered);
                    row.not_rendered =
                        (!outcome.not_rendered.is_empty()).then(|| not_rendered_text(&outcome.not_rendered));
                }
                row
            })
            .collect(),
        _ => return Err(AppError::NotFound { what: "report" }),
    })
}

/// The report as CSV, one row per record, headed by its column names.
pub fn csv(rows: &[ReportRow]) -> String {
    let mut out = String::from(
        "ensora_id,name,detail,status,source,carebridge_id,agency_id,reason,reason_detail,rendered,not_rendered\n",
    );
    for r in rows {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        out.push_str(&model::csv_text::line(&[
            r.ensora_id.clone(),
            text(&r.name),
            text(&r.detail),
            r.status.to_owned(),
            r.source.map(|s| format!("{s:?}")).unwrap_or_default(),
            text(&r.carebridge_id),
            text(&r.agency_id),
            r.reason.unwrap_or_default().to_owned(),
            text(&r.reason_detail),
            r.rendered.map(|b| b.to_string()).unwrap_or_default(),
            text(&r.not_rendered),
        ]));
    }
    out
}
