//! Previewing an uploaded participant list: run by the csv-preview function for each S3
//! `ObjectCreated` event under `imports/`. At-least-once and unordered like every trigger, so it
//! claims the object version first: a repeated event for the same upload yields one preview.

use crate::imports::{save, write_result_line};
use crate::{AppError, Deps, backfill, finding};
use model::import::job::{
    ImportJob, ImportStatus, MAX_FILE_BYTES, ROWS_PER_RESULTS_PART, parse_raw_object_key, results_part_key,
};
use model::import::{Existing, FileFailure, Settings, check_size, preview_rows, rows_at_most, search};
use model::{GroupId, ImportId};
use store::idempotency::{Idempotency, Outcome, Windows};
use store::{Versioned, keys};

/// The object an S3 event announces.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedObject {
    /// The object key, already URL-decoded.
    pub key: String,
    /// The object version (the bucket is versioned) or, failing that, its ETag.
    pub version: String,
    pub size: u64,
}

/// What handling one event did.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewOutcome {
    /// The key is not an import upload.
    NotAnImport,
    /// No import has this id (it was never created, or was deleted).
    UnknownImport,
    /// This object version was previewed before.
    AlreadyPreviewed,
    /// The import is past the preview stage (completed, deleted, …).
    Skipped(ImportStatus),
    Previewed {
        rows: u32,
    },
    Failed {
        code: String,
    },
}

/// How long one preview may take before another attempt may take the event over (the
/// function's timeout is shorter).
const PREVIEW_WINDOW: chrono::Duration = chrono::Duration::minutes(15);

pub async fn preview_upload(deps: &Deps, object: &UploadedObject) -> Result<PreviewOutcome, AppError> {
    let Some((group, id)) = parse_raw_object_key(&object.key) else {
        return Ok(PreviewOutcome::NotAnImport);
    };
    let idempotency = Idempotency::new(
        &*deps.records,
        Windows {
            in_progress: PREVIEW_WINDOW,
            ..Windows::default()
        },
    );
    let event_key = format!("{}#{}", object.key, object.version);
    let ticket = match idempotency
        .begin(
            &group,
            "csv-preview",
            &event_key,
            event_key.as_bytes(),
            deps.clock.now(),
        )
        .await?
    {
        Outcome::Proceed(ticket) => ticket,
        Outcome::AlreadyDone(_) => return Ok(PreviewOutcome::AlreadyPreviewed),
        Outcome::InProgressElsewhere => return Err(AppError::InProgressElsewhere),
    };
    match run(deps, &group, &id, object).await {
        Ok(outcome) => {
            idempotency
                .complete(ticket, serde_json::json!(format!("{outcome:?}")))
                .await?;
            Ok(outcome)
        }
        Err(error) => {
            // Give the claim back so the retry can take it.
            if let Err(release) = idempotency.release(ticket).await {
                tracing::warn!(error = %release, "could not release the preview claim");
            }
            Err(error)
        }
    }
}

async fn run(deps: &Deps, group: &GroupId, id: &ImportId, object: &UploadedObject) -> Result<PreviewOutcome, AppError> {
    let Some(mut job) = deps.read::<ImportJob>(&keys::import(group, id)).await? else {
        return Ok(PreviewOutcome::UnknownImport);
    };
    if !matches!(
        job.value.status,
        ImportStatus::AwaitingUpload | ImportStatus::Previewing
    ) {
        return Ok(PreviewOutcome::Skipped(job.value.status));
    }
    job.value.status = ImportStatus::Previewing;
    job = save(deps, job).await?;

    let outcome = match check_size(object.size, MAX_FILE_BYTES) {
        Err(error) => Err(error),
        Ok(()) => match deps.uploads.get(&object.key).await? {
            None => {
                return finish_failed(
                    deps,
                    job,
                    "upload_missing",
                    "the uploaded file is no longer there; upload it again",
                )
                .await;
            }
            Some(bytes) => compute(deps, group, &bytes).await?,
        },
    };
    match outcome {
        Err(error) => {
            let failure = FileFailure::from(&error);
            finish_failed(deps, job, &failure.code, &failure.message).await
        }
        Ok((outcome, parts)) => {
            for (index, part) in parts.into_iter().enumerate() {
                deps.uploads
                    .put(&results_part_key(group, id, index as u32), part, "application/x-ndjson")
                    .await?;
            }
            let rows = outcome.summary.rows;
            job.value.status = ImportStatus::Pending;
            job.value.result_parts = rows.div_ceil(ROWS_PER_RESULTS_PART as u32);
            job.value.summary = Some(outcome.summary);
            job.value.file_warnings = outcome.file_warnings;
            job.value.headers = outcome.headers;
            save(deps, job).await?;
            tracing::info!(group = %group, import = %id, rows, "previewed");
            Ok(PreviewOutcome::Previewed { rows })
        }
    }
}

/// Previews the file against the group's current patients and practitioners, returning the
/// file's outcome and the per-row results as JSON Lines parts. Only the people the file's rows
/// could match are read, unless reading the whole group costs fewer requests
/// ([`finding`]).
async fn compute(
    deps: &Deps,
    group: &GroupId,
    bytes: &[u8],
) -> Result<Result<(model::import::FileOutcome, Vec<Vec<u8>>), model::import::FileError>, AppError> {
    let census = finding::census(deps, group).await?;
    backfill::start_if_needed(deps, &census).await;
    let group_settings = &census.group.value.settings;
    let settings = Settings {
        default_country: group_settings.default_country.clone(),
        today: deps.clock.now().date_naive(),
        row_limit: group_settings.import_row_limit,
    };
    // A file that cannot be previewed at all has no search; the preview below says why.
    let search = if census.worth_looking_up(rows_at_most(bytes)) {
        search(bytes, &settings).ok()
    } else {
        None
    };
    let plans = census.plans(search.as_ref());
    let found = finding::read(deps, group, plans, search.unwrap_or_default()).await?;
    let existing = Existing::new(
        found
            .patients
            .into_iter()
            .map(|p| (p.value.id, p.version, p.value.fields)),
        found
            .practitioners
            .into_iter()
            .map(|p| (p.value.id, p.value.fields.email)),
    );
    let mut parts: Vec<Vec<u8>> = Vec::new();
    let mut in_part = ROWS_PER_RESULTS_PART;
    let mut encode_error = None;
    let started = std::time::Instant::now();
    let outcome = preview_rows(bytes, &settings, &existing, |row| {
        if in_part == ROWS_PER_RESULTS_PART {
            parts.push(Vec::new());
            in_part = 0;
        }
        let part = parts.last_mut().expect("a part was just opened");
        if let Err(error) = write_result_line(part, row) {
            encode_error.get_or_insert(error);
        }
        in_part += 1;
    });
    if let Some(error) = encode_error {
        return Err(error);
    }
    tracing::info!(%group, ms = started.elapsed().as_millis() as u64, "rows previewed");
    Ok(outcome.map(|outcome| (outcome, parts)))
}

async fn finish_failed(
    deps: &Deps,
    mut job: Versioned<ImportJob>,
    code: &str,
    message: &str,
) -> Result<PreviewOutcome, AppError> {
    job.value.status = ImportStatus::Failed;
    job.value.failure = Some(FileFailure {
        code: code.to_owned(),
        message: message.to_owned(),
    });
    tracing::info!(group = %job.value.group, import = %job.value.id, code, "preview failed");
    save(deps, job).await?;
    Ok(PreviewOutcome::Failed { code: code.to_owned() })
}
