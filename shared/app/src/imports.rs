//! Participant-list imports: start one (a record and a presigned upload URL), list and read
//! them. Uploading needs `importable_files_uploader` or `importable_files_admin`.

use crate::paging::{Listing, all_keys, decode_cursor, encode_cursor, list_records, page_size};
use crate::{AppError, Deps, groups};
use model::access::{Action, Caller, authorize};
use model::import::RowResult;
use model::import::job::{
    CSV_MEDIA_TYPE, ImportJob, ImportStatus, NewImport, ROWS_PER_RESULTS_PART, UPLOAD_WINDOW, Upload, raw_object_key,
    results_part_key, validate_filename,
};
use model::import::results::{FILTER_NAMES, ResultFilter, write_csv};
use model::{GroupId, ImportId, ValidationErrors};
use store::{Condition, Record, Versioned, Write, keys};

#[derive(Debug, Clone, PartialEq)]
pub struct Created {
    pub import: Versioned<ImportJob>,
    pub upload: Upload,
}

pub async fn create(deps: &Deps, caller: &Caller, group: &GroupId, input: NewImport) -> Result<Created, AppError> {
    authorize(caller, Some(group), Action::UploadImport)?;
    groups::load(deps, group).await?;
    let filename =
        validate_filename(input.filename.as_deref()).map_err(|e| AppError::Invalid(ValidationErrors(vec![e])))?;
    let now = deps.clock.now();
    let job = ImportJob::new(
        ImportId::generate(),
        group.clone(),
        filename,
        caller.subject.clone(),
        now,
    );
    let window = UPLOAD_WINDOW.to_std().unwrap_or(std::time::Duration::from_secs(900));
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
        import: Versioned { version: 1, value: job },
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
    let mut listing = list_records::<ImportJob>(deps, group, keys::IMPORT_PREFIX, cursor, limit, true).await?;
    let now = deps.clock.now();
    for item in &mut listing.items {
        item.value.status = item.value.status_at(now);
    }
    Ok(listing)
}

/// One import as a caller sees it, with the progress of a completion under way.
pub async fn get(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_id: &str,
) -> Result<Versioned<ImportJob>, AppError> {
    let mut job = read(deps, caller, group, raw_id).await?;
    if job.value.status == ImportStatus::Completing {
        // Each part applied so far has left one record.
        let done = all_keys(deps, group, &keys::completion_part_prefix(&job.value.id)).await?;
        if let Some(completion) = job.value.completion.as_mut() {
            completion.parts_done = u32::try_from(done.len()).unwrap_or(u32::MAX);
        }
    }
    Ok(job)
}

/// One import, for a use case that acts on it: access checked, status as of now, but no
/// progress counted.
pub(crate) async fn read(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_id: &str,
) -> Result<Versioned<ImportJob>, AppError> {
    authorize(caller, Some(group), Action::UploadImport)?;
    groups::load(deps, group).await?;
    let not_found = || AppError::NotFound { what: "import" };
    let id = ImportId::parse(raw_id).map_err(|_| not_found())?;
    let mut job: Versioned<ImportJob> = deps.read(&keys::import(group, &id)).await?.ok_or_else(not_found)?;
    job.value.status = job.value.status_at(deps.clock.now());
    Ok(job)
}

/// How many result parts one page request reads at most before answering with a cursor, so a
/// sparse filter over a large import never makes one request slow.
const MAX_PARTS_PER_PAGE: u32 = 10;
/// How long a results download link works.
const DOWNLOAD_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The job, if its preview results exist.
async fn with_results(deps: &Deps, caller: &Caller, group: &GroupId, raw_id: &str) -> Result<ImportJob, AppError> {
    let job = read(deps, caller, group, raw_id).await?.value;
    match job.status {
        ImportStatus::Pending | ImportStatus::Completing | ImportStatus::Completed => Ok(job),
        status => Err(AppError::Conflict(format!(
            "results exist once the file is previewed; this import is {}",
            status.as_str()
        ))),
    }
}

/// Appends a row's result to a results part (JSON Lines).
pub(crate) fn write_result_line(part: &mut Vec<u8>, row: &RowResult) -> Result<(), AppError> {
    serde_json::to_writer(&mut *part, row)
        .map_err(|e| AppError::Internal(format!("a result row could not be encoded: {e}")))?;
    part.push(b'\n');
    Ok(())
}

pub(crate) async fn result_part(deps: &Deps, job: &ImportJob, part: u32) -> Result<Vec<RowResult>, AppError> {
    let key = results_part_key(&job.group, &job.id, part);
    let bytes = deps.uploads.get(&key).await?.ok_or_else(|| {
        AppError::Store(store::StoreError::Corrupt {
            key: store::Key::new(job.group.to_string(), key.clone()),
            reason: "a results part is missing".into(),
        })
    })?;
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line).map_err(|e| {
                AppError::Store(store::StoreError::Corrupt {
                    key: store::Key::new(job.group.to_string(), key.clone()),
                    reason: e.to_string(),
                })
            })
        })
        .collect()
}

/// A page of the preview's per-row results, optionally only errors, warnings or one action.
pub async fn results(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_id: &str,
    filter: Option<&str>,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Result<Listing<RowResult>, AppError> {
    let job = with_results(deps, caller, group, raw_id).await?;
    let filter = ResultFilter::parse(filter)
        .ok_or_else(|| AppError::BadBody(format!("filter must be one of {FILTER_NAMES}")))?;
    let limit = page_size(limit)? as usize;
    let after: u32 = match cursor {
        None => 0,
        Some(cursor) => decode_cursor(cursor)?.parse().map_err(|_| AppError::BadCursor)?,
    };
    let total = job.summary.as_ref().map(|s| s.rows).unwrap_or(0);
    let mut items = Vec::new();
    let mut last = after;
    let mut part = after / ROWS_PER_RESULTS_PART as u32;
    let first_part = part;
    while part < job.result_parts && part < first_part + MAX_PARTS_PER_PAGE {
        for row in result_part(deps, &job, part).await? {
            if row.row <= after {
                continue;
            }
            last = row.row;
            if filter.matches(&row) {
                items.push(row);
                if items.len() == limit {
                    return Ok(Listing {
                        items,
                        next_cursor: (last < total).then(|| encode_cursor(&last.to_string())),
                    });
                }
            }
        }
        part += 1;
    }
    Ok(Listing {
        items,
        next_cursor: (last < total).then(|| encode_cursor(&last.to_string())),
    })
}

/// Writes the results CSV (the input columns, then row, action, patient id, errors and
/// warnings) next to the results and returns a short-lived download link for it.
pub async fn results_csv(deps: &Deps, caller: &Caller, group: &GroupId, raw_id: &str) -> Result<String, AppError> {
    let job = with_results(deps, caller, group, raw_id).await?;
    let mut rows = Vec::new();
    for part in 0..job.result_parts {
        rows.extend(result_part(deps, &job, part).await?);
    }
    let mut csv = Vec::new();
    write_csv(&mut csv, &job.headers, &rows)
        .map_err(|e| AppError::Internal(format!("the results could not be written as CSV: {e}")))?;
    let key = format!("results/{}/{}/results.csv", job.group, job.id);
    deps.uploads.put(&key, csv, "text/csv; charset=utf-8").await?;
    let stem = job.filename.trim_end_matches(".csv").trim_end_matches(".CSV");
    Ok(deps
        .uploads
        .presign_get(&key, &format!("{stem}-results.csv"), DOWNLOAD_WINDOW)
        .await?)
}

/// Deletes an import's raw file and preview results and marks it deleted. Patients that an
/// already completed import created stay. Deleting twice is fine; deleting while the import is
/// being completed is refused.
pub async fn delete(
    deps: &Deps,
    caller: &Caller,
    group: &GroupId,
    raw_id: &str,
) -> Result<Versioned<ImportJob>, AppError> {
    authorize(caller, Some(group), Action::AdministerImport)?;
    let mut job = read(deps, caller, group, raw_id).await?;
    match job.value.status {
        ImportStatus::Deleted => return Ok(job),
        ImportStatus::Completing => {
            return Err(AppError::Conflict(
                "the import is being completed; delete it once it has finished".into(),
            ));
        }
        _ => {}
    }
    let id = job.value.id.clone();
    let mut objects = vec![raw_object_key(group, &id), format!("results/{group}/{id}/results.csv")];
    objects.extend((0..job.value.result_parts).map(|part| results_part_key(group, &id, part)));
    for key in objects {
        deps.uploads.delete(&key).await?;
    }
    job.value.status = ImportStatus::Deleted;
    save(deps, job).await
}

/// Writes the job at its next version, refusing if anyone else changed it meanwhile.
pub(crate) async fn save(deps: &Deps, mut job: Versioned<ImportJob>) -> Result<Versioned<ImportJob>, AppError> {
    job.value.updated_at = deps.clock.now();
    let key = keys::import(&job.value.group, &job.value.id);
    job.version = deps
        .write_next(key, job.version, &job.value)
        .await
        .map_err(|error| match error {
            store::StoreError::VersionConflict { .. } => {
                AppError::Conflict("the import changed meanwhile; try again".into())
            }
            other => other.into(),
        })?;
    Ok(job)
}
