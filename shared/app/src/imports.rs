//! Participant-list imports: start one (a record and a presigned upload URL), list and read
//! them. Uploading needs `importable_files_uploader` or `importable_files_admin`.

use crate::paging::{Listing, list_records};
use crate::{AppError, Deps, groups};
use chrono::{DateTime, Utc};
use model::access::{Action, Caller, authorize};
use model::import::job::{
    CSV_MEDIA_TYPE, ImportJob, NewImport, UPLOAD_WINDOW, raw_object_key, validate_filename,
};
use model::{GroupId, ImportId, ValidationErrors};
use std::collections::BTreeMap;
use store::{Condition, Record, Versioned, Write, keys};

/// How to upload the file: PUT it to `url` with exactly these headers before `expires_at`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Upload {
    pub method: &'static str,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub import: Versioned<ImportJob>,
    pub upload: Upload,
}

pub async fn create(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    input: NewImport,
) -> Result<Created, AppError> {
    authorize(caller, Some(group), Action::UploadImport)?;
    groups::load(deps, group).await?;
    let filename = validate_filename(input.filename.as_deref())
        .map_err(|e| AppError::Invalid(ValidationErrors(vec![e])))?;
    let now = deps.clock.now();
    let job = ImportJob::new(
        ImportId::generate(),
        group.clone(),
        filename,
        caller.subject.clone(),
        now,
    );
    let window = UPLOAD_WINDOW
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(900));
    let presigned = deps
        .uploads
        .presign_put(&raw_object_key(group, &job.id), CSV_MEDIA_TYPE, window)
        .await?;
    deps.records
        .write(vec![Write::Put {
            record: Record::encode(keys::import(group, &job.id), 1, &job)?,
            condition: Condition::Absent,
        }])
        .await?;
    let headers = presigned
        .headers
        .into_iter()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
        .collect();
    Ok(Created {
        upload: Upload {
            method: "PUT",
            url: presigned.url,
            headers,
            expires_at: job.upload_expires_at,
        },
        import: Versioned {
            version: 1,
            value: job,
        },
    })
}

/// The group's imports, newest first.
pub async fn list(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<Versioned<ImportJob>>, AppError> {
    authorize(caller, Some(group), Action::UploadImport)?;
    let mut listing =
        list_records::<ImportJob>(deps, group, keys::IMPORT_PREFIX, cursor, limit, true).await?;
    let now = deps.clock.now();
    for item in &mut listing.items {
        item.value.status = item.value.status_at(now);
    }
    Ok(listing)
}

pub async fn get(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_id: &str,
) -> Result<Versioned<ImportJob>, AppError> {
    authorize(caller, Some(group), Action::UploadImport)?;
    groups::load(deps, group).await?;
    let id = ImportId::parse(raw_id).map_err(|_| AppError::NotFound { what: "import" })?;
    let record = deps.records.get(&keys::import(group, &id)).await?;
    let mut job: Versioned<ImportJob> = record
        .ok_or(AppError::NotFound { what: "import" })?
        .decode()?;
    job.value.status = job.value.status_at(deps.clock.now());
    Ok(job)
}
