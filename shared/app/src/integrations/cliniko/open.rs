//! Opening a client from Cliniko: the URL a clinic enters as a "connected patient app"
//! (Cliniko's custom patient buttons) is requested with `patient_id=<Cliniko id>` when a user of
//! the clinic opens the app from a client's page. carebridge fetches that one client, creates or
//! updates its profile (linked by Cliniko id, with the coach Cliniko's appointments name) and
//! answers with it, or sends the browser to the
//! group's own page for the patient when the group has an `app_url`; a client missing what the
//! guide requires answers with the list of what is missing, and is kept as failed.

use super::clients::judge;
use super::coaches::Coaches;
use super::sync::{keep_one, write_patients};
use crate::integrations::lifecycle;
use crate::{AppError, Deps, groups};
use connectors::cliniko::types::Id;
use model::access::{Action, Caller, authorize};
use model::external::ExternalSystem;
use model::integration::{IntegrationKind, IntegrationStatus};
use model::lookup::Lookup;
use model::patient::{Context, Patient};
use model::sync::{Entity, PlanAction, VendorPatient};
use model::{GroupId, ValidationErrors};
use store::Versioned;

/// What opening a client did.
pub struct Opened {
    pub patient: Versioned<Patient>,
    /// True when carebridge had no profile for the client before.
    pub created: bool,
    /// The group's own page for the patient, when the group has an app URL.
    pub redirect: Option<String>,
}

/// Syncs the one client `raw_id` names and answers with its profile. Any caller of the group
/// may open a client (a practitioner, from Cliniko); Cliniko must be active in the group.
pub async fn open(deps: &Deps, caller: &Caller, group: &GroupId, raw_id: Option<&str>) -> Result<Opened, AppError> {
    authorize(caller, Some(group), Action::ReadRecords)?;
    let id: Id = raw_id.and_then(|raw| raw.parse().ok()).ok_or_else(|| {
        AppError::BadBody("patient_id must be the Cliniko id of a client, as Cliniko sends it".into())
    })?;
    let integration = lifecycle::this_one(&lifecycle::read(deps, group).await?, IntegrationKind::Cliniko, deps);
    if integration.value.status != IntegrationStatus::Active {
        return Err(AppError::Conflict(format!(
            "Cliniko is {} in this group: an integration admin enables it first",
            integration.value.status.as_str()
        )));
    }
    let cliniko = super::client(deps, group).await?;
    let Some(client) = cliniko.patient(id).await? else {
        return Err(AppError::NotFound { what: "Cliniko client" });
    };
    let settings = groups::load(deps, group).await?.value.settings;
    let ctx = Context {
        default_country: settings.default_country.clone(),
        today: deps.clock.now().date_naive(),
    };
    let judged = judge(&client, &ctx);
    keep_one(deps, group, &judged.client).await?;
    if !judged.problems.is_empty() {
        return Err(AppError::Invalid(ValidationErrors(judged.problems)));
    }
    let coaches = Coaches::of_one(&cliniko, id).await?;
    let vendor = VendorPatient {
        vendor_id: client.id.to_string(),
        input: judged.input,
        practitioner_vendor_id: coaches.of(&judged.client.cliniko_id),
    };
    let items = write_patients(
        deps,
        group,
        None,
        &coaches.practitioners,
        std::slice::from_ref(&vendor),
        &ctx,
    )
    .await?;
    let created = items
        .iter()
        .any(|item| item.entity == Entity::Patient && item.action == PlanAction::Create);
    let lookup = Lookup::PatientLink(ExternalSystem::Cliniko, client.id.to_string());
    let patient = crate::finding::linked::<Patient>(deps, group, lookup)
        .await?
        .ok_or_else(|| AppError::Internal(format!("Cliniko client {id} was written but is not linked")))?;
    tracing::info!(%group, cliniko_client = %id, created, "a client was opened from Cliniko");
    let redirect = settings.app_page(&patient.value.id);
    Ok(Opened {
        patient,
        created,
        redirect,
    })
}
