//! The preview: for every row of a participant list, the one thing importing it would do
//! (`create`, `update` with a field-by-field diff, `unchanged`, or `error`) and any warnings.
//!
//! Matching an existing patient: by External ID, else e-mail, else first name + last name + date
//! of birth (after normalisation). Two or more candidates is an error row that says so. Blank
//! cells never erase existing data. Within the file, a repeated row, a repeated e-mail and a
//! repeated External ID are caught.

use super::FileError;
use super::columns::Column;
use super::complete::RowCompletion;
use super::decode::{self, Encoding};
pub use super::records::Cells;
use super::records::{Records, Start};
use crate::error::FieldError;
use crate::external::ExternalSystem;
use crate::ids::{PatientId, PractitionerId};
use crate::lookup::{Lookup, Search};
use crate::normalize::{self, Country};
use crate::patient::{Change, Context, PatientFields, RawPatient};
use chrono::NaiveDate;
use rustc_hash::FxHasher;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};

/// What the preview needs to know about the group.
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_country: Country,
    pub today: NaiveDate,
    pub row_limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Action {
    Create,
    Update,
    Unchanged,
    Error,
}

/// A row-level error or warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    /// The column concerned, when there is one.
    pub column: Option<String>,
    pub code: String,
    pub message: String,
}

impl Reason {
    pub(crate) fn new(column: Option<&str>, code: &str, message: impl Into<String>) -> Self {
        Reason {
            column: column.map(str::to_owned),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// A reason about a patient field, named by the column it comes from.
    pub(crate) fn field(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Reason::from_field(FieldError::new(field, code, message))
    }

    pub(crate) fn from_field(error: FieldError) -> Self {
        Reason {
            column: column_of_field(&error.field)
                .map(|c| c.header().to_owned())
                .or(Some(error.field)),
            code: error.code.to_owned(),
            message: error.message,
        }
    }
}

/// The template column a patient field comes from.
fn column_of_field(field: &str) -> Option<Column> {
    Some(match field.split('.').next()? {
        "name_prefix" => Column::NamePrefix,
        "first_name" => Column::FirstName,
        "middle_name" => Column::MiddleName,
        "last_name" => Column::LastName,
        "date_of_birth" => Column::DateOfBirth,
        "sex" => Column::Sex,
        "email" => Column::Email,
        "mobile_phone" => Column::MobilePhone,
        "home_phone" => Column::HomePhone,
        "office_phone" => Column::OfficePhone,
        "address_line1" => Column::AddressLine1,
        "address_line2" => Column::AddressLine2,
        "city" => Column::City,
        "state" => Column::State,
        "zip" => Column::Zip,
        "country" => Column::Country,
        "external_ids" => Column::ExternalId,
        "practitioner_id" => Column::PractitionerEmail,
        _ => return None,
    })
}

/// One row's outcome, as stored (JSON Lines) and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowResult {
    /// 1-based number of the participant row (blank lines not counted).
    pub row: u32,
    /// Line of the file the row starts on (the header is line 1).
    pub line: u64,
    pub action: Action,
    /// The matched patient (update, unchanged) or, once completed, the created one.
    pub patient_id: Option<PatientId>,
    /// The matched patient's version when previewed, so completion can tell it changed since.
    pub base_version: Option<u64>,
    pub changes: Vec<Change>,
    pub errors: Vec<Reason>,
    pub warnings: Vec<Reason>,
    /// The row's cells as read, in the file's column order.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub cells: Cells,
    /// What the patient would be after importing this row (create, update). Boxed so that
    /// the preview moves a pointer, not the fields, as it reuses them from row to row.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PatientFields>))]
    pub fields: Option<Box<PatientFields>>,
    /// What completing the import did with the row, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<RowCompletion>,
}

impl RowResult {
    /// A result with nothing in it yet, for the preview to fill.
    fn blank() -> RowResult {
        RowResult {
            row: 0,
            line: 0,
            action: Action::Error,
            patient_id: None,
            base_version: None,
            changes: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            cells: Cells::default(),
            fields: None,
            completion: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Summary {
    pub rows: u32,
    pub create: u32,
    pub update: u32,
    pub unchanged: u32,
    pub error: u32,
    /// Rows with at least one warning.
    pub warning_rows: u32,
}

impl Summary {
    pub fn count(&mut self, row: &RowResult) {
        self.rows += 1;
        match row.action {
            Action::Create => self.create += 1,
            Action::Update => self.update += 1,
            Action::Unchanged => self.unchanged += 1,
            Action::Error => self.error += 1,
        }
        if !row.warnings.is_empty() {
            self.warning_rows += 1;
        }
    }
}

/// What the preview says about the file as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOutcome {
    pub encoding: Encoding,
    /// The file's headers as written.
    pub headers: Vec<String>,
    /// Warnings about the whole file (unknown columns, encoding).
    pub file_warnings: Vec<Reason>,
    pub summary: Summary,
}

/// A whole preview held in memory: the file's outcome and every row.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub encoding: Encoding,
    pub headers: Vec<String>,
    pub file_warnings: Vec<Reason>,
    pub rows: Vec<RowResult>,
    pub summary: Summary,
}

/// The group's current patients and practitioners, indexed the ways rows are matched.
#[derive(Debug, Default)]
pub struct Existing {
    patients: Vec<(PatientId, u64, PatientFields)>,
    by_external_id: HashMap<String, usize>,
    by_email: HashMap<String, Vec<usize>>,
    /// By a hash of the case-folded names and the date of birth; candidates are compared in full.
    by_identity: HashMap<(u64, NaiveDate), Vec<usize>>,
    practitioners_by_email: HashMap<String, Vec<PractitionerId>>,
    /// Set while working out a file's lookups ([`search`]): the practitioner e-mails rows ask for.
    coaches_asked: Option<RefCell<BTreeSet<String>>>,
}

/// First name, last name and date of birth, names compared case-insensitively: hashed without
/// building lower-cased copies, since every row of a file is looked up this way.
fn identity(fields: &PatientFields) -> (u64, NaiveDate) {
    let mut hasher = FxHasher::default();
    hash_folded(&mut hasher, &fields.first_name);
    hasher.write_u32(0);
    hash_folded(&mut hasher, &fields.last_name);
    (hasher.finish(), fields.date_of_birth)
}

/// Hashes the lower-cased characters of `text`; ASCII text (most names) skips the Unicode case
/// tables but hashes the same values.
fn hash_folded(hasher: &mut FxHasher, text: &str) {
    if text.is_ascii() {
        for byte in text.bytes() {
            hasher.write_u32(u32::from(byte.to_ascii_lowercase()));
        }
    } else {
        for c in text.chars().flat_map(char::to_lowercase) {
            hasher.write_u32(c as u32);
        }
    }
}

/// Same first name, last name (case-insensitively) and date of birth: the same person.
pub(crate) fn same_identity(a: &PatientFields, b: &PatientFields) -> bool {
    let folded_equal = |x: &str, y: &str| {
        x.chars()
            .flat_map(char::to_lowercase)
            .eq(y.chars().flat_map(char::to_lowercase))
    };
    a.date_of_birth == b.date_of_birth
        && folded_equal(&a.first_name, &b.first_name)
        && folded_equal(&a.last_name, &b.last_name)
}

impl Existing {
    pub fn new(
        patients: impl IntoIterator<Item = (PatientId, u64, PatientFields)>,
        practitioners: impl IntoIterator<Item = (PractitionerId, String)>,
    ) -> Self {
        let mut existing = Existing::default();
        for (index, (id, version, fields)) in patients.into_iter().enumerate() {
            if let Some(external) = fields.external_ids.get(&ExternalSystem::Customer) {
                existing.by_external_id.insert(external.clone(), index);
            }
            if let Some(email) = &fields.email {
                existing.by_email.entry(email.clone()).or_default().push(index);
            }
            existing.by_identity.entry(identity(&fields)).or_default().push(index);
            existing.patients.push((id, version, fields));
        }
        for (id, email) in practitioners {
            existing.practitioners_by_email.entry(email).or_default().push(id);
        }
        existing
    }

    /// The practitioners with this e-mail (normally one).
    fn coaches(&self, email: &str) -> &[PractitionerId] {
        if let Some(asked) = &self.coaches_asked {
            asked.borrow_mut().insert(email.to_owned());
        }
        self.practitioners_by_email.get(email).map_or(&[], Vec::as_slice)
    }
}

/// What previewing `bytes` needs to know of the group, as lookups: for every row that would be
/// matched against existing patients, its External ID, e-mail and (unless those find someone)
/// its name and date of birth, and every practitioner e-mail the file names. The rows are read
/// and validated exactly as the preview reads them (this runs the preview against a group with
/// nobody in it), so the preview never asks about a key this did not list.
pub fn search(bytes: &[u8], settings: &Settings) -> Result<Search, FileError> {
    let collecting = Existing {
        coaches_asked: Some(RefCell::new(BTreeSet::new())),
        ..Existing::default()
    };
    let mut search = Search::default();
    preview_rows(bytes, settings, &collecting, |row| {
        // With nobody to match, every row that would be matched is a create.
        if let (Action::Create, Some(fields)) = (row.action, &row.fields) {
            search.subject();
            let mut first = Vec::new();
            if let Some(id) = fields.external_ids.get(&ExternalSystem::Customer) {
                first.push(Lookup::PatientLink(ExternalSystem::Customer, id.clone()));
            }
            if let Some(email) = &fields.email {
                first.push(Lookup::patient_email(email));
            }
            let identity = Lookup::patient_identity(&fields.first_name, &fields.last_name, fields.date_of_birth);
            search.unless_found(first, identity);
        }
    })?;
    for email in collecting.coaches_asked.into_iter().flat_map(RefCell::into_inner) {
        search.always(Lookup::practitioner_email(&email));
    }
    Ok(search)
}

enum Match<'a> {
    None,
    One(usize, &'a str),
    /// Two or more patients, by their places in the list.
    Ambiguous(Vec<usize>, &'a str),
}

impl Existing {
    fn find(&self, fields: &PatientFields) -> Match<'static> {
        if self.patients.is_empty() {
            return Match::None; // a group's first import: nothing to hash and look up
        }
        if let Some(&index) = fields
            .external_ids
            .get(&ExternalSystem::Customer)
            .and_then(|id| self.by_external_id.get(id))
        {
            return Match::One(index, "External ID");
        }
        let candidates = |found: Option<&Vec<usize>>, by: &'static str| match found.map(Vec::as_slice) {
            None | Some([]) => Match::None,
            Some([one]) => Match::One(*one, by),
            Some(many) => Match::Ambiguous(many.to_vec(), by),
        };
        if let Some(email) = &fields.email {
            let by_email = candidates(self.by_email.get(email), "e-mail");
            if !matches!(by_email, Match::None) {
                return by_email;
            }
        }
        let by_identity: Vec<usize> = self
            .by_identity
            .get(&identity(fields))
            .into_iter()
            .flatten()
            .copied()
            .filter(|&index| same_identity(&self.patients[index].2, fields))
            .collect();
        candidates(Some(&by_identity), "first name, last name and date of birth")
    }
}

/// Which known column each of the file's columns is.
struct Layout {
    columns: Vec<Option<Column>>,
}

fn read_header(headers: &Cells) -> Result<(Layout, Vec<Reason>), FileError> {
    let mut columns = Vec::with_capacity(headers.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut warnings = Vec::new();
    for (index, header) in headers.iter().enumerate() {
        let column = Column::recognise(header);
        let key = match column {
            Some(column) => format!("{column:?}"),
            None => super::columns::fold_header(header),
        };
        if let Some(&earlier) = seen.get(&key) {
            return Err(FileError::DuplicateHeaders {
                first: headers.get(earlier).unwrap_or_default().trim().to_owned(),
                second: header.trim().to_owned(),
                meaning: column
                    .map(|c| format!("the {} column", c.header()))
                    .unwrap_or_else(|| "the same column".into()),
            });
        }
        seen.insert(key, index);
        if column.is_none() && !header.trim().is_empty() {
            warnings.push(Reason::new(
                Some(header.trim()),
                "unknown_column",
                format!(
                    "the column \"{}\" is not one carebridge imports; it is ignored",
                    header.trim()
                ),
            ));
        }
        columns.push(column);
    }
    let missing: Vec<Column> = Column::all()
        .filter(|c| c.is_required() && !columns.contains(&Some(*c)))
        .collect();
    if !missing.is_empty() {
        return Err(FileError::MissingColumns(missing));
    }
    Ok((Layout { columns }, warnings))
}

/// Previews a participant list against the group's existing records, keeping every row.
pub fn preview(bytes: &[u8], settings: &Settings, existing: &Existing) -> Result<Preview, FileError> {
    let mut rows = Vec::new();
    let outcome = preview_rows(bytes, settings, existing, |row| rows.push(row.clone()))?;
    Ok(Preview {
        encoding: outcome.encoding,
        headers: outcome.headers,
        file_warnings: outcome.file_warnings,
        rows,
        summary: outcome.summary,
    })
}

/// Previews a participant list, handing each row's result to `on_row` as soon as it is known,
/// so a large file's results can be written out without all being held at once. The result is
/// lent, not given: the next row is written into the same one, reusing its buffers, so a file
/// costs a handful of allocations rather than a dozen per row. On a file-level error (which can
/// come after some rows, e.g. the row limit) the rows handed over so far must be discarded.
pub fn preview_rows(
    bytes: &[u8],
    settings: &Settings,
    existing: &Existing,
    mut on_row: impl FnMut(&RowResult),
) -> Result<FileOutcome, FileError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FileError::Empty);
    }
    let (text, encoding) = decode::decode(bytes)?;
    super::check_size(text.len() as u64, super::records::MAX_TEXT as u64)?;
    let mut records = Records::new(&text);
    let mut header = Cells::default();
    loop {
        if records.next_into(&mut header).is_none() {
            return Err(FileError::Empty);
        }
        if !is_blank(&header) {
            break;
        }
    }
    let (layout, mut file_warnings) = read_header(&header)?;
    if encoding == Encoding::Windows1252 {
        file_warnings.push(Reason::new(
            None,
            "not_utf8",
            "the file is not UTF-8, so it was read as Windows-1252; check that accented names look right",
        ));
    }

    let context = Context {
        default_country: settings.default_country.clone(),
        today: settings.today,
    };
    let source = Source {
        text: &text,
        layout: &layout,
        context: &context,
        existing,
    };
    let mut state = FileState::new(&source, settings.row_limit);
    let mut summary = Summary::default();
    let mut record = Cells::default();
    let mut result = RowResult::blank();
    while let Some(start) = records.next_into(&mut record) {
        if is_blank(&record) {
            continue;
        }
        if summary.rows >= settings.row_limit {
            return Err(FileError::TooManyRows {
                limit: settings.row_limit,
            });
        }
        state.row_starts.push(start.byte);
        evaluate(&record, &mut result, summary.rows + 1, start.line, &source, &mut state);
        // The row's cells are the record just read; the old cells' buffer takes the next one.
        std::mem::swap(&mut record, &mut result.cells);
        summary.count(&result);
        on_row(&result);
    }
    if summary.rows == 0 {
        return Err(FileError::HeaderOnly);
    }
    Ok(FileOutcome {
        encoding,
        headers: header.iter().map(str::to_owned).collect(),
        file_warnings,
        summary,
    })
}

fn is_blank(record: &Cells) -> bool {
    record.iter().all(|cell| normalize::trim(cell).is_empty())
}

/// The file being previewed and what its rows are judged by.
struct Source<'a> {
    text: &'a str,
    layout: &'a Layout,
    context: &'a Context,
    existing: &'a Existing,
}

impl Source<'_> {
    /// The patient the row starting at byte `start` describes, read and validated again just as
    /// the first time; `None` if that row was not valid.
    fn patient_at(&self, start: usize) -> Option<PatientFields> {
        let mut record = Cells::default();
        Records::starting_at(self.text, Start { byte: start, line: 1 }).next_into(&mut record)?;
        let mut fields = PatientFields::blank();
        let mut scratch = RowResult::blank();
        read_patient(&record, self, &mut fields, &mut scratch).then_some(fields)
    }
}

/// What earlier rows of the file held, for in-file duplicate checks.
struct FileState {
    /// Where each row's record starts in the text, by row number less one.
    row_starts: Vec<usize>,
    rows: FirstSeen,
    emails: FirstSeen,
    external_ids: FirstSeen,
    /// Validated fields no row holds, to validate the next row into.
    spare_fields: Option<Box<PatientFields>>,
}

impl FileState {
    fn new(source: &Source, row_limit: u32) -> Self {
        // Only valid rows are remembered, and a valid row has every column, so it takes at
        // least one byte per column: that bounds how many a file can hold, small files included.
        let columns = source.layout.columns.len().max(1);
        let valid_rows = (source.text.len() / columns + 1).min(row_limit as usize);
        FileState {
            row_starts: Vec::with_capacity(valid_rows),
            rows: FirstSeen::new(valid_rows, row_limit),
            emails: FirstSeen::new(valid_rows, row_limit),
            external_ids: FirstSeen::new(valid_rows, row_limit),
            spare_fields: None,
        }
    }
}

/// Where row `row` (from 1) starts in the text.
fn start_of(row_starts: &[usize], row: u32) -> usize {
    let index = (row as usize).wrapping_sub(1);
    row_starts.get(index).copied().unwrap_or(usize::MAX)
}

/// Values met in earlier rows (whole rows, e-mails, External IDs), each with the row it first
/// appeared on. A value is kept as four bytes, part of its hash and its row number, and never
/// copied: even a 100,000-row file's tables then stay within the processor's cache, which
/// matters because every row looks up three values at random places. Two values can share that
/// part of a hash, so a match is confirmed by the caller, which reads the earlier row again.
struct FirstSeen {
    /// Open addressing with linear probing, at most four-fifths full: small enough to stay in
    /// cache, and a probe mostly stays within one cache line. A slot is empty (0) or holds a
    /// hash fragment in the bits above `row_mask` and a row number (from 1) in those below.
    slots: Vec<u32>,
    row_mask: u32,
}

impl FirstSeen {
    /// A table for up to `values` values from rows numbered 1 to `last_row`.
    fn new(values: usize, last_row: u32) -> Self {
        let row_bits = u32::BITS - last_row.max(1).leading_zeros();
        FirstSeen {
            slots: vec![0; (values + values / 4 + 1).next_power_of_two()],
            row_mask: u32::MAX >> (u32::BITS - row_bits),
        }
    }

    /// The row a value first appeared on; if no earlier row had it, the value is remembered as
    /// `row`'s. `hash` is the value's hash, and `same(earlier)` says whether row `earlier`
    /// really had this value.
    fn earlier_row(&mut self, hash: u64, row: u32, mut same: impl FnMut(u32) -> bool) -> Option<u32> {
        if row == 0 || row > self.row_mask {
            return None; // not a row of this file; the preview never asks
        }
        let fragment = (hash >> 32) as u32 & !self.row_mask;
        let mask = self.slots.len() - 1;
        let mut index = hash as usize & mask;
        for _ in 0..self.slots.len() {
            let slot = self.slots[index];
            if slot == 0 {
                self.slots[index] = fragment | row;
                return None;
            }
            let earlier = slot & self.row_mask;
            if slot & !self.row_mask == fragment && same(earlier) {
                return Some(earlier);
            }
            index = (index + 1) & mask;
        }
        None // full, which the sizing rules out
    }
}

fn hash_of(value: &(impl Hash + ?Sized)) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(value)
}

/// Whether a row's validated fields became its result's `fields`.
enum Fields {
    Kept,
    Unused,
}

/// Fills `result` with what importing `record` would do. Everything `result` held before is
/// replaced; its buffers are reused.
fn evaluate(record: &Cells, result: &mut RowResult, row: u32, line: u64, source: &Source, state: &mut FileState) {
    result.row = row;
    result.line = line;
    result.action = Action::Error;
    result.patient_id = None;
    result.base_version = None;
    result.changes.clear();
    result.errors.clear();
    result.warnings.clear();
    result.completion = None;
    let mut fields = match result.fields.take() {
        Some(fields) => fields,
        None => state
            .spare_fields
            .take()
            .unwrap_or_else(|| Box::new(PatientFields::blank())),
    };
    match judge(record, result, &mut fields, source, state) {
        Fields::Kept => result.fields = Some(fields),
        Fields::Unused => state.spare_fields = Some(fields),
    }
}

fn judge(
    record: &Cells,
    result: &mut RowResult,
    fields: &mut PatientFields,
    source: &Source,
    state: &mut FileState,
) -> Fields {
    if !read_patient(record, source, fields, result) {
        return Fields::Unused;
    }
    if repeats_earlier_row(fields, result.row, source, state, result) {
        return Fields::Unused;
    }

    let existing = source.existing;
    match existing.find(fields) {
        Match::None => {
            fields.complete(source.context);
            result.action = Action::Create;
            return Fields::Kept;
        }
        Match::Ambiguous(candidates, by) => {
            // Named by id (never by what they hold), in id order so the message is the same
            // however the group was read.
            let mut ids: Vec<String> = candidates.iter().map(|&i| existing.patients[i].0.to_string()).collect();
            ids.sort();
            result.errors.push(Reason::new(
                None,
                "ambiguous_match",
                format!(
                    "matches {} existing patients by {by} ({}); add an External ID to say which one",
                    ids.len(),
                    ids.join(", ")
                ),
            ));
        }
        Match::One(index, by) => {
            let (id, version, current) = &existing.patients[index];
            let theirs = current.external_ids.get(&ExternalSystem::Customer);
            let ours = fields.external_ids.get(&ExternalSystem::Customer);
            if let (Some(theirs), Some(ours)) = (theirs, ours)
                && theirs != ours
            {
                result.errors.push(Reason::new(
                    Some(Column::ExternalId.header()),
                    "conflicting_external_id",
                    format!("matches an existing patient by {by}, but that patient has a different External ID"),
                ));
                return Fields::Unused;
            }
            if let Some(email) = &fields.email {
                let others = existing.by_email.get(email).map(Vec::as_slice).unwrap_or_default();
                if others.iter().any(|&other| other != index) {
                    result.warnings.push(Reason::new(
                        Some(Column::Email.header()),
                        "email_used_by_other_patient",
                        "another existing patient already has this e-mail",
                    ));
                }
            }
            let mut merged = current.overlaid_with(fields);
            merged.complete(source.context);
            result.changes = merged.changes_from(current);
            result.action = if result.changes.is_empty() {
                Action::Unchanged
            } else {
                Action::Update
            };
            result.patient_id = Some(id.clone());
            result.base_version = Some(*version);
            result.fields = Some(Box::new(merged));
        }
    }
    Fields::Unused
}

/// Validates the patient `record` describes into `fields`, with the warnings that come with it
/// (a phone left out, an unknown practitioner) on `result`. False, with the errors on `result`,
/// when the row is not a valid patient.
fn read_patient(record: &Cells, source: &Source, fields: &mut PatientFields, result: &mut RowResult) -> bool {
    let layout = source.layout;
    if record.len() != layout.columns.len() {
        result.errors.push(Reason::new(
            None,
            "ragged_row",
            format!(
                "the row has {} cells but the header has {}; check for a missing or extra comma",
                record.len(),
                layout.columns.len()
            ),
        ));
        return false;
    }
    // Each known column's value, trimmed, blank as `None`: read in one loop over the row rather
    // than column by column, which would repeat the same steps' code eighteen times over.
    let mut values = [None; Column::COUNT];
    for (value, column) in record.iter().zip(&layout.columns) {
        if let Some(column) = column {
            let value = normalize::trim(value);
            values[*column as usize] = (!value.is_empty()).then_some(value);
        }
    }
    let cell = |column: Column| values[column as usize];
    let external_id = cell(Column::ExternalId).map(|id| [(ExternalSystem::Customer.as_str(), id)]);
    let mut input = RawPatient {
        name_prefix: cell(Column::NamePrefix),
        first_name: cell(Column::FirstName),
        middle_name: cell(Column::MiddleName),
        last_name: cell(Column::LastName),
        date_of_birth: cell(Column::DateOfBirth),
        sex: cell(Column::Sex),
        email: cell(Column::Email),
        mobile_phone: cell(Column::MobilePhone),
        home_phone: cell(Column::HomePhone),
        office_phone: cell(Column::OfficePhone),
        address_line1: cell(Column::AddressLine1),
        address_line2: cell(Column::AddressLine2),
        city: cell(Column::City),
        state: cell(Column::State),
        zip: cell(Column::Zip),
        country: cell(Column::Country),
        practitioner_id: None,
        // Participant lists name no agency; completing keeps the one a patient has.
        agency_id: None,
        external_ids: external_id.as_ref().map_or(&[], |id| id.as_slice()),
    };

    if let Err(errors) = input.validate_into(source.context, fields) {
        // A phone that cannot be read is dropped with a warning rather than failing the row.
        let (phones, others): (Vec<_>, Vec<_>) = errors.0.into_iter().partition(|e| e.code == "invalid_phone");
        if !others.is_empty() {
            result.errors = others.into_iter().map(Reason::from_field).collect();
            return false;
        }
        for phone in phones {
            match phone.field.as_str() {
                "mobile_phone" => input.mobile_phone = None,
                "home_phone" => input.home_phone = None,
                _ => input.office_phone = None,
            }
            let mut warning = Reason::from_field(phone);
            warning.message.push_str("; it is left out");
            result.warnings.push(warning);
        }
        if let Err(errors) = input.validate_into(source.context, fields) {
            result.errors = errors.0.into_iter().map(Reason::from_field).collect();
            return false;
        }
    }
    if let Some(raw) = cell(Column::PractitionerEmail) {
        let coaches = normalize::email(raw).map_or(&[][..], |email| source.existing.coaches(email.as_ref()));
        match coaches {
            [id] => fields.practitioner_id = Some(id.clone()),
            [] => result.warnings.push(Reason::new(
                Some(Column::PractitionerEmail.header()),
                "unknown_practitioner",
                "no practitioner in this group has this e-mail; the patient's coach is left as it is",
            )),
            several => result.warnings.push(Reason::new(
                Some(Column::PractitionerEmail.header()),
                "ambiguous_practitioner",
                format!(
                    "{} practitioners have this e-mail ({}); the patient's coach is left as it is",
                    several.len(),
                    several.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
    true
}

/// Checks a valid row against the rows before it, noting warnings and errors on `result`. True
/// when the row is finished: it repeats an earlier row, or reuses an earlier row's External ID.
///
/// An identical earlier row would have the same External ID (or, without one, the same e-mail),
/// so that key is looked up first: while it is new, as in most rows, the row cannot repeat an
/// earlier one and the table of whole rows is not touched. Each table is a random access into
/// a large array, so this saves a likely cache miss per row. The whole-row table then holds only
/// rows with neither key or whose key repeats; what each row is told is the same as comparing it
/// with every earlier row (`tests/import_preview.rs` checks that against the plain way).
fn repeats_earlier_row(
    fields: &PatientFields,
    row: u32,
    source: &Source,
    state: &mut FileState,
    result: &mut RowResult,
) -> bool {
    let FileState {
        row_starts,
        rows,
        emails,
        external_ids,
        spare_fields: _,
    } = state;
    // A candidate earlier row is read again (rarely: only for a real repeat, or a shared hash
    // fragment) so that every check is exact; the last one read is kept for the next check.
    let last_read: RefCell<Option<(u32, Option<PatientFields>)>> = RefCell::new(None);
    let earlier_has = |earlier: u32, check: &dyn Fn(&PatientFields) -> bool| {
        let mut last = last_read.borrow_mut();
        if last.as_ref().is_none_or(|(read, _)| *read != earlier) {
            *last = Some((earlier, source.patient_at(start_of(row_starts, earlier))));
        }
        last.as_ref()
            .and_then(|(_, patient)| patient.as_ref())
            .is_some_and(check)
    };
    let external = fields.external_ids.get(&ExternalSystem::Customer);
    let same_external = |earlier: u32| {
        earlier_has(earlier, &|patient| {
            patient.external_ids.get(&ExternalSystem::Customer) == external
        })
    };
    let same_email = |earlier: u32| earlier_has(earlier, &|patient| patient.email == fields.email);
    let same_row = |earlier: u32| earlier_has(earlier, &|patient| patient == fields);
    let duplicate_row = |result: &mut RowResult, earlier: u32| {
        result.action = Action::Unchanged;
        result.warnings.push(Reason::new(
            None,
            "duplicate_row",
            format!("the same participant as row {earlier}, which already covers it"),
        ));
        true
    };

    // The earlier row with the same key, unless it turned out to be the same participant.
    let key_seen_on = match (external, &fields.email) {
        (Some(external), _) => external_ids.earlier_row(hash_of(external.as_str()), row, same_external),
        (None, Some(email)) => emails.earlier_row(hash_of(email.as_str()), row, same_email),
        (None, None) => {
            return match rows.earlier_row(hash_of(fields), row, same_row) {
                Some(earlier) => duplicate_row(result, earlier),
                None => false,
            };
        }
    };
    if let Some(first) = key_seen_on {
        // The first row with this key is the earliest that could be the same participant; any
        // later one is in the whole-row table.
        if same_row(first) {
            return duplicate_row(result, first);
        }
        if let Some(earlier) = rows.earlier_row(hash_of(fields), row, same_row) {
            return duplicate_row(result, earlier);
        }
    }
    if external.is_some()
        && let Some(earlier) = key_seen_on
    {
        result.errors.push(Reason::new(
            Some(Column::ExternalId.header()),
            "duplicate_external_id",
            format!("row {earlier} has the same External ID; each participant needs their own"),
        ));
        return true;
    }
    let email_seen_on = match (&fields.email, external) {
        (None, _) => None,
        (Some(_), None) => key_seen_on,
        (Some(email), Some(_)) => emails.earlier_row(hash_of(email.as_str()), row, same_email),
    };
    if let Some(earlier) = email_seen_on {
        result.warnings.push(Reason::new(
            Some(Column::Email.header()),
            "duplicate_email_in_file",
            format!("row {earlier} has the same e-mail"),
        ));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::FirstSeen;

    #[test]
    fn values_sharing_a_hash_are_told_apart_by_the_caller() {
        let mut seen = FirstSeen::new(4, 10);
        let hash = 0xDEAD_BEEF_0000_0007;
        // Rows 1 and 2 have different values with the same hash: neither repeats the other.
        assert_eq!(
            seen.earlier_row(hash, 1, |_| unreachable!("nothing is stored yet")),
            None
        );
        assert_eq!(seen.earlier_row(hash, 2, |_| false), None);
        // Row 3 has row 2's value: it is found behind row 1's, and only row 2 is asked about.
        let mut asked = Vec::new();
        let found = seen.earlier_row(hash, 3, |earlier| {
            asked.push(earlier);
            earlier == 2
        });
        assert_eq!((found, asked), (Some(2), vec![1, 2]));
    }

    #[test]
    fn a_table_filled_to_its_size_still_answers() {
        let mut seen = FirstSeen::new(3, 3);
        // Every value lands on the same slot, so each one probes past the others.
        for row in 1..=3 {
            assert_eq!(seen.earlier_row(u64::from(row) << 40, row, |_| false), None);
        }
        for row in 1..=3 {
            let same = |earlier: u32| earlier == row;
            assert_eq!(seen.earlier_row(u64::from(row) << 40, row, same), Some(row));
        }
        // A row number beyond the file's limit is never stored, rather than stored wrongly.
        assert_eq!(seen.earlier_row(1, 4, |_| true), None);
    }
}
