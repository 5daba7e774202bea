//! What a group's integration admin does with the links directly: list them and end one.

use super::links;
use crate::integrations::lifecycle::allowed_kind;
use crate::paging::{Listing, list_records};
use crate::{AppError, Deps};
use chrono::{DateTime, Utc};
use model::GroupId;
use model::access::Caller;
use model::hint_salesforce::Link;
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
    Ok(Listing {
        items: page
            .items
            .into_iter()
            .map(|link| LinkView {
                patient_id: link.value.patient_id,
                contact_id: link.value.contact_id,
                linked_at: link.value.linked_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
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
    super::pairs::unlink(
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
    if !super::is_active(deps, group).await? {
        return Err(AppError::Conflict(
            "Hint ⇄ Salesforce is not active in this group: connect and enable it first".into(),
        ));
    }
    crate::integrations::jobs::enqueue(deps, &[super::Job::PollSalesforce { group: group.clone() }.into()]).await
}
