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
use store::keys;

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

/// What `PUT …/ensora/{kind}/{ensora_id}/mapping` takes.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MappingInput {
    /// The carebridge record: an agency for a site, a patient for a student, a practitioner
    /// for a user, an appointment for a session.
    pub target_id: Option<String>,
}

/// One copy, read for a change at the version read.
async fn copy_for_change(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    ensora_id: &str,
) -> Result<(Kind, store::Versioned<Copy<serde_json::Value>>), AppError> {
    authorize(caller, Some(group), Action::EditMappings)?;
    let kind = Kind::parse_plural(kind).ok_or(AppError::NotFound {
        what: "kind of Ensora record",
    })?;
    crate::groups::load(deps, group).await?;
    lifecycle::must_be_active(deps, group, IntegrationKind::Ensora).await?;
    let copy = copies::read(deps, group, kind, ensora_id)
        .await?
        .ok_or(AppError::NotFound { what: "Ensora record" })?;
    Ok((kind, copy))
}

/// Until every site is mapped, students, users and sessions are not: their rules and their
/// dependents need the sites' agencies.
async fn every_site_mapped(deps: &Deps, group: &GroupId) -> Result<(), AppError> {
    let sites = crate::paging::all_records::<Copy<serde_json::Value>>(deps, group, &copies::prefix(Kind::Site)).await?;
    let unmapped = sites.iter().filter(|s| s.value.mapping.target().is_none()).count();
    if unmapped > 0 {
        return Err(AppError::Conflict(format!(
            "{unmapped} Ensora site(s) are not mapped to an agency yet: map every site first"
        )));
    }
    Ok(())
}

/// The agency a target record belongs to, once it is found in the group (422 otherwise).
async fn target_agency(deps: &Deps, group: &GroupId, kind: Kind, target: &str) -> Result<Option<String>, AppError> {
    let missing = || {
        AppError::Invalid(model::ValidationErrors(vec![model::FieldError::new(
            "target_id",
            "not_found",
            format!("target_id names no {} in this group", kind.target()),
        )]))
    };
    let key = match kind {
        Kind::Site => keys::agency(group, &model::AgencyId::parse(target).map_err(|_| missing())?),
        Kind::Student => keys::patient(group, &model::PatientId::parse(target).map_err(|_| missing())?),
        Kind::User => keys::practitioner(group, &model::PractitionerId::parse(target).map_err(|_| missing())?),
        Kind::Session => keys::appointment(group, &model::AppointmentId::parse(target).map_err(|_| missing())?),
    };
    let record = deps.read::<serde_json::Value>(&key).await?.ok_or_else(missing)?;
    Ok(match kind {
        Kind::Site => Some(target.to_owned()),
        _ => record.value["agency_id"].as_str().map(str::to_owned),
    })
}

async fn store_copy(
    deps: &Deps,
    group: &GroupId,
    kind: Kind,
    read: &store::Versioned<Copy<serde_json::Value>>,
    next: &Copy<serde_json::Value>,
) -> Result<(), AppError> {
    let key = keys::ensora_record(group, kind.key_part(), &read.value.ensora_id);
    deps.records
        .write(vec![store::Write::Put {
            record: store::Record::encode(key, read.version + 1, next)?,
            condition: store::Condition::AtVersion(read.version),
        }])
        .await
        .map_err(|error| match error {
            store::StoreError::VersionConflict { .. } => {
                AppError::Conflict("a poll changed this record meanwhile; read it again and retry".into())
            }
            other => other.into(),
        })
}

/// Sets a `User` mapping (role `mapping_editor`): students, users and sessions only once every
/// site is mapped. A session's note is written into its new appointment at the next poll.
pub async fn set_mapping(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    ensora_id: &str,
    input: MappingInput,
) -> Result<RecordView, AppError> {
    let (kind, read) = copy_for_change(deps, caller, group, kind, ensora_id).await?;
    if kind != Kind::Site {
        every_site_mapped(deps, group).await?;
    }
    let target = input
        .target_id
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AppError::Invalid(model::ValidationErrors(vec![model::FieldError::required("target_id")])))?;
    let agency_id = target_agency(deps, group, kind, &target).await?;
    let mut next = read.value.clone();
    let moved = next.mapping.target() != Some(target.as_str());
    next.mapping = Mapping::Mapped {
        target_id: target,
        source: Source::User,
        agency_id,
        at: deps.clock.now(),
    };
    if moved {
        // The note goes to the new appointment at the next poll.
        next.note = None;
    }
    store_copy(deps, group, kind, &read, &next).await?;
    tracing::info!(%group, kind = ?kind, ensora_id, "Ensora User mapping set");
    Ok(RecordView::from(next))
}

/// Deletes a `User` mapping (role `mapping_editor`), only while nothing depends on it: a
/// site's while no student, user or session is mapped within its agency; a student's or user's
/// while no session of theirs is mapped. The next poll tries the rules again.
pub async fn delete_mapping(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    ensora_id: &str,
) -> Result<RecordView, AppError> {
    let (kind, read) = copy_for_change(deps, caller, group, kind, ensora_id).await?;
    if !read.value.mapping.is_user() {
        return Err(AppError::Conflict(
            "only a User mapping can be deleted; this record is mapped by the rules or not at all".into(),
        ));
    }
    let dependents = dependents(deps, group, kind, &read.value).await?;
    if dependents > 0 {
        let what = match kind {
            Kind::Site => "student, user or session mapping(s) within this site's agency",
            Kind::Student | Kind::User => "session mapping(s) of this record",
            Kind::Session => "mapping(s)",
        };
        return Err(AppError::Conflict(format!(
            "{dependents} {what} depend on it: delete them first"
        )));
    }
    let mut next = read.value.clone();
    next.mapping = Mapping::Unmapped {
        reason: model::ensora::Unmapped::Unresolved {
            what: "its User mapping was deleted; the next poll applies the rules".into(),
        },
    };
    store_copy(deps, group, kind, &read, &next).await?;
    tracing::info!(%group, kind = ?kind, ensora_id, "Ensora User mapping deleted");
    Ok(RecordView::from(next))
}

/// How many mapped records depend on `copy`'s mapping.
async fn dependents(
    deps: &Deps,
    group: &GroupId,
    kind: Kind,
    copy: &Copy<serde_json::Value>,
) -> Result<usize, AppError> {
    let all = |kind| async move {
        crate::paging::all_records::<Copy<serde_json::Value>>(deps, group, &copies::prefix(kind)).await
    };
    let mapped = |c: &Copy<serde_json::Value>| c.mapping.target().is_some();
    Ok(match kind {
        Kind::Site => {
            let agency = copy.mapping.target().map(str::to_owned);
            let mut count = 0;
            for dependent in [Kind::Student, Kind::User, Kind::Session] {
                count += all(dependent)
                    .await?
                    .iter()
                    .filter(|c| match &c.value.mapping {
                        Mapping::Mapped { agency_id, .. } => agency_id.is_some() && *agency_id == agency,
                        Mapping::Unmapped { .. } => false,
                    })
                    .count();
            }
            count
        }
        Kind::Student | Kind::User => {
            let field = if kind == Kind::Student { "patientId" } else { "userId" };
            all(Kind::Session)
                .await?
                .iter()
                .filter(|c| mapped(&c.value) && c.value.record[field].as_str() == Some(copy.ensora_id.as_str()))
                .count()
        }
        Kind::Session => 0,
    })
}

/// Makes the carebridge record an Ensora one stands for and maps the two (`User`): an agency
/// from a site (its name and time zone), a patient from a student (names, date of birth, the
/// site's agency), a practitioner from a user (names, e-mail, its first mapped site's agency).
/// Role `group_admin`; students and users once every site is mapped. A field carebridge needs
/// and Ensora left out is a 422 naming it.
pub async fn create_record(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    kind: &str,
    ensora_id: &str,
) -> Result<RecordView, AppError> {
    authorize(caller, Some(group), Action::WriteRecords)?;
    let kind = Kind::parse_plural(kind).ok_or(AppError::NotFound {
        what: "kind of Ensora record",
    })?;
    crate::groups::load(deps, group).await?;
    lifecycle::must_be_active(deps, group, IntegrationKind::Ensora).await?;
    let read = copies::read::<serde_json::Value>(deps, group, kind, ensora_id)
        .await?
        .ok_or(AppError::NotFound { what: "Ensora record" })?;
    if read.value.mapping.target().is_some() {
        return Err(AppError::Conflict(
            "this Ensora record is mapped already; delete its mapping first".into(),
        ));
    }
    if kind != Kind::Site {
        every_site_mapped(deps, group).await?;
    }
    let record = &read.value.record;
    let text = |field: &str| record[field].as_str().map(str::to_owned);
    let site_agency = |site: Option<String>| async move {
        let Some(site) = site else {
            return Ok::<_, AppError>(None);
        };
        Ok(copies::read::<serde_json::Value>(deps, group, Kind::Site, &site)
            .await?
            .and_then(|s| s.value.mapping.target().map(str::to_owned)))
    };
    let (target, agency_id) = match kind {
        Kind::Site => {
            let input = model::agency::AgencyInput {
                name: text("name"),
                time_zone: text("timeZone"),
            };
            let made = crate::people::create::<model::agency::Agency>(deps, caller, group, input).await?;
            (made.value.id.to_string(), Some(made.value.id.to_string()))
        }
        Kind::Student => {
            let agency = site_agency(text("siteId")).await?;
            let input = model::patient::PatientInput {
                first_name: text("firstName"),
                last_name: text("lastName"),
                date_of_birth: super::mapping::birth_date(record["dateOfBirth"].as_str()).map(|d| d.to_string()),
                agency_id: agency.clone(),
                ..Default::default()
            };
            let made = crate::people::create::<model::patient::Patient>(deps, caller, group, input).await?;
            (made.value.id.to_string(), agency)
        }
        Kind::User => {
            let mut agency = None;
            for site in record["siteAssignments"].as_array().into_iter().flatten() {
                agency = site_agency(site["siteId"].as_str().map(str::to_owned)).await?;
                if agency.is_some() {
                    break;
                }
            }
            let input = model::practitioner::PractitionerInput {
                first_name: text("firstName"),
                last_name: text("lastName"),
                email: text("email"),
                agency_id: agency.clone(),
                ..Default::default()
            };
            let made = crate::people::create::<model::practitioner::Practitioner>(deps, caller, group, input).await?;
            (made.value.id.to_string(), agency)
        }
        Kind::Session => {
            return Err(AppError::Conflict(
                "carebridge makes no appointment from a session: map the session to an appointment instead".into(),
            ));
        }
    };
    let mut next = read.value.clone();
    next.mapping = Mapping::Mapped {
        target_id: target,
        source: Source::User,
        agency_id,
        at: deps.clock.now(),
    };
    store_copy(deps, group, kind, &read, &next).await?;
    tracing::info!(%group, kind = ?kind, ensora_id, "carebridge record made from an Ensora record");
    Ok(RecordView::from(next))
}
