//! Cliniko's client list as carebridge would take it: every current client, the ones carebridge
//! cannot sync first, each with its reasons (a missing first name, last name, date of birth,
//! sex or e-mail, as the clinic's guide lists them, or a value carebridge cannot read).

use super::client;
use crate::integrations::lifecycle;
use crate::paging::{Listing, decode_cursor, encode_cursor, page_size};
use crate::{AppError, Deps, groups};
use connectors::cliniko::PatientList;
use connectors::cliniko::mapping::{Mapped, REQUIRED, missing, patient_input};
use connectors::cliniko::types::Patient;
use model::FieldError;
use model::GroupId;
use model::access::Caller;
use model::integration::IntegrationKind;
use model::patient::{Context, PatientInput};
use serde::{Deserialize, Serialize};

/// One Cliniko client as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Client {
    pub cliniko_id: String,
    /// The client's name as Cliniko has it, so the clinic can find the record.
    pub name: String,
    /// Why carebridge cannot sync the client as it is; empty when it can.
    pub errors: Vec<Reason>,
    /// What carebridge syncs, but not exactly as Cliniko has it.
    pub warnings: Vec<Reason>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    /// A stable code: `missing_first_name`, `missing_last_name`, `missing_date_of_birth`,
    /// `missing_sex`, `missing_email`, a field's validation code (`invalid_email`, …),
    /// `sex_not_recognised` or `phone_type_not_kept`.
    pub code: String,
    /// The field it is about, as carebridge names it.
    pub field: String,
    pub message: String,
}

/// A client judged once: as listed, why carebridge cannot take it (as field errors), and the
/// patient input it maps to, so a flow neither maps nor validates it twice.
pub(crate) struct Judged {
    pub client: Client,
    pub problems: Vec<FieldError>,
    pub input: PatientInput,
}

/// Why carebridge cannot take a client as it is: each required field it lacks, then each value
/// of `input` (the client mapped) it cannot read (none when it can be synced).
fn problems(patient: &Patient, input: &PatientInput, ctx: &Context) -> Vec<FieldError> {
    let lacking = missing(patient);
    let mut errors: Vec<FieldError> = REQUIRED
        .iter()
        .filter(|(_, code)| lacking.contains(code))
        .map(|(field, code)| {
            FieldError::new(
                *field,
                code,
                format!("Cliniko has no {} for this client", field.replace('_', " ")),
            )
        })
        .collect();
    if let Err(invalid) = input.validate(ctx) {
        let more: Vec<FieldError> = invalid
            .0
            .into_iter()
            .filter(|e| !errors.iter().any(|known| known.field == e.field))
            .collect();
        errors.extend(more);
    }
    errors
}

/// How a client fares: its errors (none when it can be synced) and warnings.
pub(crate) fn assess(patient: &Patient, ctx: &Context) -> Client {
    judge(patient, ctx).client
}

/// How a client fares, with what a sync or an open needs besides.
pub(crate) fn judge(patient: &Patient, ctx: &Context) -> Judged {
    let Mapped { input, warnings } = patient_input(patient);
    let problems = problems(patient, &input, ctx);
    let errors = problems
        .iter()
        .map(|e| Reason {
            code: e.code.to_owned(),
            field: e.field.clone(),
            message: e.message.clone(),
        })
        .collect();
    let warnings = warnings
        .into_iter()
        .map(|(code, value)| Reason {
            code: code.to_owned(),
            field: if code == "sex_not_recognised" { "sex" } else { "phones" }.to_owned(),
            message: match code {
                "sex_not_recognised" => format!("Cliniko's sex {value:?} is kept as other"),
                _ => format!("a {value:?} phone number is not kept"),
            },
        })
        .collect();
    Judged {
        client: Client {
            cliniko_id: patient.id.to_string(),
            name: display_name(patient),
            errors,
            warnings,
        },
        problems,
        input,
    }
}

pub(crate) fn display_name(patient: &Patient) -> String {
    let name = [&patient.first_name, &patient.last_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    if name.is_empty() {
        format!("(no name) #{}", patient.id)
    } else {
        name
    }
}

/// A page of Cliniko's current clients (role `integration_admin`), read from Cliniko now: those
/// in error first, then the rest, each part in Cliniko's order.
pub async fn list(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Client>, AppError> {
    let kind = lifecycle::allowed_kind(caller, group, IntegrationKind::Cliniko.as_str())?;
    let current = lifecycle::this_one(&lifecycle::read(deps, group).await?, kind, deps);
    current
        .value
        .can_preview()
        .map_err(|refused| AppError::Conflict(refused.0))?;
    let limit = page_size(limit)? as usize;
    let after: usize = match cursor {
        None => 0,
        Some(cursor) => decode_cursor(cursor)?.parse().map_err(|_| AppError::BadCursor)?,
    };
    let settings = groups::load(deps, group).await?.value.settings;
    let ctx = Context {
        default_country: settings.default_country,
        today: deps.clock.now().date_naive(),
    };
    let patients = client(deps, group)
        .await?
        .patients(PatientList::Current, None)
        .all()
        .await?;
    let (mut in_error, fine): (Vec<Client>, Vec<Client>) = patients
        .iter()
        .map(|patient| assess(patient, &ctx))
        .partition(|client| !client.errors.is_empty());
    in_error.extend(fine);
    let items: Vec<Client> = in_error.iter().skip(after).take(limit).cloned().collect();
    let next = after + items.len();
    Ok(Listing {
        next_cursor: (next < in_error.len()).then(|| encode_cursor(&next.to_string())),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::normalize::Country;

    fn ctx() -> Context {
        Context {
            default_country: Country::parse("AU").unwrap(),
            today: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(),
        }
    }

    fn client(json: &str) -> Patient {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_client_lacking_what_the_guide_requires_names_each_missing_field_once() {
        let assessed = assess(
            &client(r#"{"id": 7, "last_name": "Nofirst", "date_of_birth": "1990-01-02"}"#),
            &ctx(),
        );
        let codes: Vec<&str> = assessed.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["missing_first_name", "missing_sex", "missing_email"]);
        assert_eq!(assessed.name, "Nofirst");
    }

    #[test]
    fn a_value_carebridge_cannot_read_is_an_error_and_an_unknown_sex_a_warning() {
        let assessed = assess(
            &client(
                r#"{"id": 8, "first_name": "Ana", "last_name": "Lyst", "date_of_birth": "1990-01-02",
                "sex": "Non-binary", "email": "not-an-email"}"#,
            ),
            &ctx(),
        );
        assert_eq!(assessed.errors.len(), 1);
        assert_eq!(
            (assessed.errors[0].field.as_str(), assessed.errors[0].code.as_str()),
            ("email", "invalid_email")
        );
        assert_eq!(assessed.warnings[0].code, "sex_not_recognised");
    }

    #[test]
    fn a_complete_client_has_no_errors() {
        let assessed = assess(
            &client(
                r#"{"id": 9, "first_name": "Ana", "last_name": "Lyst", "date_of_birth": "1990-01-02",
                "sex": "Female", "email": "ana@example.com"}"#,
            ),
            &ctx(),
        );
        assert!(
            assessed.errors.is_empty() && assessed.warnings.is_empty(),
            "{assessed:?}"
        );
    }
}
