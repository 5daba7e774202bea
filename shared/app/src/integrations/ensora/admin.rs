//! What admins and mapping editors ask of Ensora: a poll now, and each kind of Ensora record
//! with its mapping (`Auto`, `User`, or unmapped with the reason).

use super::copies::{self, Copy, Kind};
use crate::integrations::lifecycle::{self, allowed_kind};
use crate::paging::{Listing, list_records};
use crate::{AppError, Deps};
use model::GroupId;
use model::access::{Action, Caller, authorize};
use model::ensora::{Mapping, Source};
use model::integration::IntegrationKind;

/// `POST …/integrations/ensora/poll`: queues a poll of the group now (role
/// `integration_admin`; 409 unless Ensora is active).
pub async fn poll_now(deps: &Deps, caller: &Caller, group: &GroupId) -> Result<(), AppError> {
    allowed_kind(caller, group, IntegrationKind::Ensora.as_str())?;
    crate::groups::load(deps, group).await?;
    lifecycle::must_be_active(deps, group, IntegrationKind::Ensora).await?;
    crate::integrations::jobs::enqueue(deps, &[super::Job::Poll { group: group.clone() }.into()]).await
}

/// One Ensora record as the mapping API shows it: Ensora's own fields under `record`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordView {
    pub ensora_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub record: serde_json::Value,
    pub mapping: Mapping,
    /// For a session: what its note did to the appointment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<copies::NoteOutcome>,
    pub read_at: chrono::DateTime<chrono::Utc>,
}

impl From<Copy<serde_json::Value>> for RecordView {
    fn from(copy: Copy<serde_json::Value>) -> Self {
        RecordView {
            ensora_id: copy.ensora_id,
            record: copy.record,
            mapping: copy.mapping,
            note: copy.note,
            read_at: copy.read_at,
        }
    }
}

/// Which copies a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingFilter {
    Auto,
    User,
    Unmapped,
}

impl MappingFilter {
    pub fn parse(raw: &str) -> Result<MappingFilter, AppError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(MappingFilter::Auto),
            "user" => Ok(MappingFilter::User),
            "unmapped" => Ok(MappingFilter::Unmapped),
            _ => Err(AppError::BadBody("mapping is auto, user or unmapped".into())),
        }
    }

    fn keeps(self, mapping: &Mapping) -> bool {
        match (self, mapping) {
            (MappingFilter::Auto, Mapping::Mapped { source, .. }) => *source == Source::Auto,
            (MappingFilter::User, Mapping::Mapped { source, .. }) => *source == Source::User,
            (MappingFilter::Unmapped, Mapping::Unmapped { .. }) => true,
            _ => false,
        }
    }
}

/// One page of the group's copies of `kind` (`sites`, `students`, `users`, `sessions`), each
/// with its mapping, in Ensora id order: role `mapping_editor`. With `mapping`, only those
/// mapped that way (a page may then hold fewer than `limit`; follow `next_cursor`).
pub async fn list(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    mapping: Option<&str>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<RecordView>, AppError> {
    authorize(caller, Some(group), Action::EditMappings)?;
    let kind = Kind::parse_plural(kind).ok_or(AppError::NotFound {
        what: "kind of Ensora record",
    })?;
    let filter = mapping.map(MappingFilter::parse).transpose()?;
    let page =
        list_records::<Copy<serde_json::Value>>(deps, group, &copies::prefix(kind), cursor, limit, false).await?;
    Ok(Listing {
        items: page
            .items
            .into_iter()
            .map(|copy| copy.value)
            .filter(|copy| filter.is_none_or(|f| f.keeps(&copy.mapping)))
            .map(RecordView::from)
            .collect(),
        next_cursor: page.next_cursor,
    })
}
