//! What a group's integration admin does with the links directly: list them, link one contact
//! to a chosen Hint patient, end one, and poll Salesforce now.

use super::links;
use super::pairs::{self, Applied, ContactNow, PatientNow, Sides};
use crate::integrations::lifecycle::allowed_kind;
use crate::paging::{Listing, list_records};
use crate::{AppError, Deps};
use chrono::{DateTime, Utc};
use model::GroupId;
use model::access::Caller;
use model::hint_salesforce::{Link, Winner};
use model::integration::IntegrationKind;

/// A link as an admin sees it: the two ids and when they were linked (the synced values stay
/// with the vendors).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkView {
    pub patient_id: String,
    pub contact_id: String,
    pub linked_at: DateTime<Utc>,
}

/// One page of the group's links, by contact id: role `integration_admin`.
pub async fn list(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<LinkView>, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    let page = list_records::<Link>(deps, group, &links::contact_prefix(), cursor, limit, false).await?;
    Ok(page.map(|link| view(&link.value)))
}

/// Ends the link of `contact_id`: both records stay, "Synced to Hint" is unchecked and neither
/// side's changes reach the other any more. Role `integration_admin`.
pub async fn unlink(deps: &Deps, caller: &Caller, group: &GroupId, contact_id: &str) -> Result<(), AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    let link = links::by_contact(deps, group, contact_id)
        .await?
        .ok_or(AppError::NotFound { what: "link" })?;
    let salesforce = super::salesforce_client(deps, group).await?;
    pairs::unlink(
        deps,
        group,
        &salesforce,
        link,
        &format!("unlinked by {}", caller.subject),
    )
    .await?;
    Ok(())
}

/// Polls Salesforce for the group now (the schedule does every minute): one job on the sync
/// queue. Role `integration_admin`; the integration must be active (409 otherwise).
pub async fn poll_now(deps: &Deps, caller: &Caller, group: &GroupId) -> Result<(), AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    crate::groups::load(deps, group).await?;
    super::must_be_active(deps, group).await?;
    crate::integrations::jobs::enqueue(deps, &[super::Job::PollSalesforce { group: group.clone() }.into()]).await
}

/// What a user's manual sync of one contact asks: link it with a chosen Hint patient, or make
/// a new Hint patient from it. Exactly one of the two.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkInput {
    /// The Hint patient (`pat-…`) the contact is to be linked with.
    #[serde(default)]
    pub patient_id: Option<String>,
    /// True to create a new Hint patient from the contact and link the two.
    #[serde(default)]
    pub new_patient: bool,
}

/// Links `contact_id` with the chosen Hint patient, as the guide's manual sync does: where both
/// have data the contact's stays, blank contact fields are filled from the patient, and both
/// then hold that. Or creates a Hint patient from the contact (which needs a first and a last
/// name, as Hint does) and links them. A contact linked to another patient is unlinked from it
/// first; a patient linked to another contact is refused (409) until that link ends. Role
/// `integration_admin`.
pub async fn link(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    contact_id: &str,
    input: LinkInput,
) -> Result<LinkView, AppError> {
    allowed_kind(caller, group, IntegrationKind::Hint.as_str())?;
    let chosen = match (input.patient_id.as_deref().map(str::trim), input.new_patient) {
        (Some(id), false) if !id.is_empty() => Some(id.to_owned()),
        (None, true) => None,
        _ => {
            return Err(AppError::BadBody(
                "send either patient_id (the Hint patient to link) or new_patient: true".into(),
            ));
        }
    };
    crate::groups::load(deps, group).await?;
    super::must_be_active(deps, group).await?;
    if let Some(patient_id) = &chosen
        && let Some(other) = links::by_patient(deps, group, patient_id).await?
        && other.value.contact_id != contact_id
    {
        return Err(AppError::Conflict(format!(
            "the Hint patient is linked to contact {}: unlink that contact first",
            other.value.contact_id
        )));
    }
    let sides = Sides::of(deps, group).await?;
    let contact = sides
        .salesforce
        .contact(contact_id)
        .await?
        .ok_or(AppError::NotFound { what: "contact" })?;
    let now = deps.clock.now();
    let contact = ContactNow::of(&contact, now);
    let patient = match &chosen {
        Some(patient_id) => Some(
            sides
                .hint
                .patient(patient_id)
                .await?
                .ok_or(AppError::NotFound { what: "Hint patient" })?,
        ),
        None => {
            require_names(&contact)?;
            None
        }
    };
    if let Some(previous) = links::by_contact(deps, group, contact_id).await? {
        if chosen.as_deref() == Some(previous.value.patient_id.as_str()) {
            return Ok(view(&previous.value));
        }
        let why = format!("the contact was linked to another patient by {}", caller.subject);
        pairs::unlink(deps, group, &sides.salesforce, previous, &why).await?;
    }
    let applied = match patient {
        Some(patient) => {
            let patient = PatientNow::of(&patient, now);
            pairs::link_pair(deps, group, &sides, patient, contact, Winner::Contact, None).await?
        }
        None => pairs::create_patient(deps, group, &sides, contact).await?.0,
    };
    if !matches!(applied, Applied::Linked | Applied::Created) {
        return Err(AppError::Conflict(
            "a vendor refused the linked record; the integration's log names the fields".into(),
        ));
    }
    let link = links::by_contact(deps, group, contact_id)
        .await?
        .ok_or_else(|| AppError::Internal("the link just made was not found".into()))?;
    Ok(view(&link.value))
}

/// Hint makes a patient only with a first and a last name: said before anything is written.
fn require_names(contact: &ContactNow) -> Result<(), AppError> {
    let mut errors = model::ValidationErrors::default();
    for (field, value) in [
        ("FirstName", &contact.demographics.first_name),
        ("LastName", &contact.demographics.last_name),
    ] {
        if value.is_none() {
            errors.push(model::FieldError::new(
                field,
                "required_by_hint",
                format!("the contact has no {field}, and Hint makes a patient only with a first and a last name"),
            ));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.into()) }
}

fn view(link: &Link) -> LinkView {
    LinkView {
        patient_id: link.patient_id.clone(),
        contact_id: link.contact_id.clone(),
        linked_at: link.linked_at,
    }
}
