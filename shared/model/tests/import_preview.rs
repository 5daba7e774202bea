//! What previewing a participant list does with every kind of file and row.

use chrono::NaiveDate;
use model::import::decode::Encoding;
use model::import::{Action, Existing, FileError, Preview, Settings, check_size, preview};
use model::normalize::Country;
use model::patient::{PatientFields, PatientInput};
use model::{PatientId, PractitionerId};
use std::collections::BTreeMap;

const HEADER: &str = "External ID,First Name,Last Name,Date of Birth,Email,Mobile Phone,State";

fn settings() -> Settings {
    Settings {
        default_country: Country::us(),
        today: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        row_limit: 5_000,
    }
}

fn run(csv: &str) -> Preview {
    preview(csv.as_bytes(), &settings(), &Existing::default()).expect("a readable file")
}

fn fail(bytes: &[u8]) -> FileError {
    preview(bytes, &settings(), &Existing::default()).expect_err("a file-level error")
}

fn patient(first: &str, last: &str, dob: &str, email: Option<&str>, external: Option<&str>) -> PatientFields {
    PatientInput {
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        date_of_birth: Some(dob.into()),
        email: email.map(Into::into),
        external_ids: external.map(|id| BTreeMap::from([("customer".to_string(), id.to_string())])),
        ..Default::default()
    }
    .validate(&model::patient::Context {
        default_country: Country::us(),
        today: settings().today,
    })
    .unwrap()
}

fn codes(reasons: &[model::import::Reason]) -> Vec<&str> {
    reasons.iter().map(|r| r.code.as_str()).collect()
}

#[test]
fn a_clean_file_creates_every_row_with_normalised_fields() {
    let preview = run(&format!(
        "{HEADER}\nA-1,Ada,Lovelace,03/07/1984,ADA@example.org,(415) 555-2671,ca\nA-2,Grace,Hopper,1906-12-09,,,\n"
    ));
    assert_eq!(preview.rows.len(), 2);
    assert!(
        preview
            .rows
            .iter()
            .all(|r| r.action == Action::Create && r.errors.is_empty())
    );
    let ada = preview.rows[0].fields.as_ref().unwrap();
    assert_eq!(ada.email.as_deref(), Some("ada@example.org"));
    assert_eq!(ada.mobile_phone.as_deref(), Some("+14155552671"));
    assert_eq!(ada.state.as_deref(), Some("CA"));
    assert_eq!((preview.rows[0].row, preview.rows[0].line), (1, 2));
    assert_eq!(preview.summary.create, 2);
    assert_eq!(preview.encoding, Encoding::Utf8);
}

#[test]
fn headers_match_loosely_and_unknown_columns_are_ignored_with_a_warning() {
    let preview = run(
        "first_name,LAST NAME,DOB,Zip Code,Email Address,Favourite Colour\nAda,Lovelace,1984-03-07,02139,a@b.co,blue\n",
    );
    assert_eq!(preview.rows[0].action, Action::Create);
    assert_eq!(preview.rows[0].fields.as_ref().unwrap().zip.as_deref(), Some("02139"));
    assert_eq!(codes(&preview.file_warnings), ["unknown_column"]);
    assert_eq!(preview.file_warnings[0].column.as_deref(), Some("Favourite Colour"));
}

#[test]
fn file_level_errors_say_what_to_do() {
    assert_eq!(fail(b""), FileError::Empty);
    assert_eq!(fail(b"  \r\n\n"), FileError::Empty);
    assert_eq!(fail(format!("{HEADER}\n").as_bytes()), FileError::HeaderOnly);
    assert_eq!(fail(format!("{HEADER}\n\n,,,,,,\n").as_bytes()), FileError::HeaderOnly);
    assert_eq!(fail(b"PK\x03\x04\x14\x00\x06\x00").code(), "not_csv");
    assert!(fail(b"PK\x03\x04\x14\x00").to_string().contains(".xlsx"));
    assert_eq!(fail(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00").code(), "not_csv");
    assert_eq!(fail(b"\x00\x01\x02\x03binary").code(), "not_csv");
    let duplicate = fail(b"First Name,Last Name,DOB,Email,E-mail\n");
    assert_eq!(duplicate.code(), "duplicate_headers");
    assert!(
        duplicate.to_string().contains("\"Email\" and \"E-mail\""),
        "{duplicate}"
    );
    let missing = fail(b"First Name,Email\nAda,a@b.co\n");
    assert_eq!(
        missing,
        FileError::MissingColumns(vec![
            model::import::Column::LastName,
            model::import::Column::DateOfBirth
        ])
    );
    assert!(missing.to_string().contains("Last Name, Date of Birth"));
    assert_eq!(
        check_size(21 * 1024 * 1024, 20 * 1024 * 1024).unwrap_err().code(),
        "too_large"
    );
    assert!(check_size(20, 20).is_ok());
}

#[test]
fn the_row_limit_is_named_in_its_error() {
    let rows: String = (0..4).map(|i| format!("X-{i},A,B,1990-01-01,,,\n")).collect();
    let limited = Settings {
        row_limit: 3,
        ..settings()
    };
    let error = preview(format!("{HEADER}\n{rows}").as_bytes(), &limited, &Existing::default()).unwrap_err();
    assert_eq!(error, FileError::TooManyRows { limit: 3 });
    assert!(error.to_string().contains("more than 3 participant rows"));
    let three: String = (0..3).map(|i| format!("X-{i},A,B,1990-01-01,,,\n")).collect();
    assert!(preview(format!("{HEADER}\n{three}").as_bytes(), &limited, &Existing::default()).is_ok());
}

#[test]
fn utf8_with_bom_utf16_and_windows_1252_all_import() {
    let text = "First Name,Last Name,Date of Birth\nZoë,Núñez,1990-01-01\n";
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend(text.as_bytes());
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    for bytes in [bom, utf16] {
        let preview = preview(&bytes, &settings(), &Existing::default()).unwrap();
        assert_eq!(preview.rows[0].fields.as_ref().unwrap().first_name, "Zoë");
        assert!(preview.file_warnings.is_empty());
    }
    let latin = preview(
        b"First Name,Last Name,Date of Birth\nZo\xEB,N\xFA\xF1ez,1990-01-01\n",
        &settings(),
        &Existing::default(),
    )
    .unwrap();
    assert_eq!(latin.encoding, Encoding::Windows1252);
    assert_eq!(latin.rows[0].fields.as_ref().unwrap().last_name, "Núñez");
    assert_eq!(codes(&latin.file_warnings), ["not_utf8"]);
}

#[test]
fn quoted_fields_parse_blank_lines_are_skipped_and_ragged_rows_are_row_errors() {
    let preview = run(concat!(
        "First Name,Last Name,Date of Birth,Address Line 1\n",
        "\"Ada, Countess\",\"Love \"\"Lady\"\" lace\",1984-03-07,\"1 Main St\nFloor 2\"\n",
        "\n",
        "Grace,Hopper,1906-12-09\n",
        "Alan,Turing,1912-06-23,\"Bletchley\"\n",
    ));
    assert_eq!(preview.rows.len(), 3);
    let ada = preview.rows[0].fields.as_ref().unwrap();
    assert_eq!(ada.first_name, "Ada, Countess");
    assert_eq!(ada.last_name, "Love \"Lady\" lace");
    assert_eq!(ada.address_line1.as_deref(), Some("1 Main St\nFloor 2"));
    assert_eq!(preview.rows[1].action, Action::Error);
    assert_eq!(codes(&preview.rows[1].errors), ["ragged_row"]);
    assert_eq!((preview.rows[1].row, preview.rows[1].line), (2, 5));
    assert_eq!(preview.rows[2].action, Action::Create);
}

#[test]
fn bad_dates_are_row_errors_naming_the_column() {
    let preview =
        run("First Name,Last Name,DOB\nA,B,2031-01-01\nA,B,1899-12-31\nA,B,02/30/1990\nA,B,yesterday\nA,B,\n");
    let found: Vec<(&str, Option<&str>)> = preview
        .rows
        .iter()
        .map(|r| (r.errors[0].code.as_str(), r.errors[0].column.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("future_date", Some("Date of Birth")),
            ("date_before_1900", Some("Date of Birth")),
            ("impossible_date", Some("Date of Birth")),
            ("invalid_date_format", Some("Date of Birth")),
            ("required", Some("Date of Birth")),
        ]
    );
    assert_eq!(preview.summary.error, 5);
}

#[test]
fn a_phone_that_cannot_be_read_is_dropped_with_a_warning() {
    let preview = run(&format!("{HEADER}\nA-1,Ada,Lovelace,1984-03-07,,555-12,\n"));
    let row = &preview.rows[0];
    assert_eq!(row.action, Action::Create);
    assert_eq!(codes(&row.warnings), ["invalid_phone"]);
    assert_eq!(row.warnings[0].column.as_deref(), Some("Mobile Phone"));
    assert_eq!(row.fields.as_ref().unwrap().mobile_phone, None);
    assert_eq!(preview.summary.warning_rows, 1);
}

fn existing() -> Existing {
    let ada = PatientId::generate();
    let twin_a = PatientId::generate();
    let twin_b = PatientId::generate();
    Existing::new(
        [
            (
                ada,
                3,
                patient("Ada", "Lovelace", "1984-03-07", Some("ada@example.org"), Some("A-1")),
            ),
            (
                twin_a,
                1,
                patient("Sam", "Twin", "2000-01-01", Some("family@example.org"), None),
            ),
            (
                twin_b,
                1,
                patient("Max", "Twin", "2000-01-01", Some("family@example.org"), None),
            ),
        ],
        [(PractitionerId::generate(), "coach@clinic.example".to_string())],
    )
}

#[test]
fn rows_match_by_external_id_then_email_then_name_and_birth_date() {
    let csv = format!(
        "{HEADER}\n\
         A-1,Ada,Byron,1984-03-07,,,\n\
         ,Augusta,Lovelace,1984-03-07,ada@example.org,,\n\
         ,ada,LOVELACE,1984-03-07,,,\n\
         ,Sam,Twin,2000-01-01,family@example.org,,\n\
         ,Nobody,New,1990-01-01,,,\n"
    );
    let preview = preview(csv.as_bytes(), &settings(), &existing()).unwrap();
    let actions: Vec<Action> = preview.rows.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [
            Action::Update,
            Action::Update,
            Action::Update,
            Action::Error,
            Action::Create
        ]
    );
    let by_external = &preview.rows[0];
    assert_eq!(by_external.base_version, Some(3));
    let changed: Vec<&str> = by_external.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(changed, ["last_name"]);
    assert_eq!(by_external.changes[0].from, "Lovelace");
    assert_eq!(by_external.changes[0].to, "Byron");
    assert_eq!(
        by_external.fields.as_ref().unwrap().email.as_deref(),
        Some("ada@example.org"),
        "blank cells keep data"
    );
    assert_eq!(preview.rows[1].patient_id, by_external.patient_id);
    assert_eq!(
        preview.rows[2].patient_id, by_external.patient_id,
        "names match case-insensitively"
    );
    let recased: Vec<&str> = preview.rows[2].changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        recased,
        ["first_name", "last_name"],
        "but the file's spelling is what gets stored"
    );
    assert_eq!(codes(&preview.rows[3].errors), ["ambiguous_match"]);
    assert!(
        preview.rows[3].errors[0]
            .message
            .contains("2 existing patients by e-mail")
    );
}

#[test]
fn a_row_repeating_what_is_stored_is_unchanged() {
    let csv = format!("{HEADER}\n,Ada,Lovelace,1984-03-07,,,\n");
    let preview = preview(csv.as_bytes(), &settings(), &existing()).unwrap();
    assert_eq!(preview.rows[0].action, Action::Unchanged);
    assert!(preview.rows[0].changes.is_empty());
}

#[test]
fn a_row_matching_one_patient_with_another_patients_email_is_warned() {
    let csv = format!("{HEADER}\nA-1,Ada,Lovelace,1984-03-07,family@example.org,,\n");
    let preview = preview(csv.as_bytes(), &settings(), &existing()).unwrap();
    assert_eq!(preview.rows[0].action, Action::Update);
    assert_eq!(codes(&preview.rows[0].warnings), ["email_used_by_other_patient"]);
}

#[test]
fn a_match_whose_external_id_differs_is_an_error() {
    let csv = format!("{HEADER}\nB-9,Ada,Lovelace,1984-03-07,ada@example.org,,\n");
    let preview = preview(csv.as_bytes(), &settings(), &existing()).unwrap();
    assert_eq!(codes(&preview.rows[0].errors), ["conflicting_external_id"]);
}

#[test]
fn repeats_within_the_file_are_caught() {
    let csv = format!(
        "{HEADER}\n\
         X-1,Ada,Lovelace,1984-03-07,ada@new.example,,\n\
         X-1,Ada,Lovelace,1984-03-07,ada@new.example,,\n\
         X-2,Grace,Hopper,1906-12-09,ada@new.example,,\n\
         X-1,Alan,Turing,1912-06-23,,,\n"
    );
    let preview = run(&csv);
    let outcome: Vec<(Action, Vec<&str>, Vec<&str>)> = preview
        .rows
        .iter()
        .map(|r| (r.action, codes(&r.errors), codes(&r.warnings)))
        .collect();
    assert_eq!(
        outcome,
        [
            (Action::Create, vec![], vec![]),
            (Action::Unchanged, vec![], vec!["duplicate_row"]),
            (Action::Create, vec![], vec!["duplicate_email_in_file"]),
            (Action::Error, vec!["duplicate_external_id"], vec![]),
        ]
    );
}

#[test]
fn a_repeat_is_caught_however_the_earlier_row_was_written() {
    // The earlier row is quoted across two lines, comes after blank lines and an error row,
    // and writes the e-mail and External ID differently; they are compared once normalised.
    let csv = format!(
        "{HEADER}\n\n,Bad,Date,13/13/2000,,,\n\n\
         \" X-7 \",\"Ada\nAugusta\",Lovelace,1984-03-07,\" Ada@New.Example \",,\n\
         ,Grace,Hopper,1906-12-09,ada@new.example,,\n\
         X-7,Alan,Turing,1912-06-23,,,\n"
    );
    let preview = run(&csv);
    let findings: Vec<(u32, Vec<&str>, Vec<&str>)> = preview
        .rows
        .iter()
        .map(|r| (r.row, codes(&r.errors), codes(&r.warnings)))
        .collect();
    assert_eq!(
        findings,
        [
            (1, vec!["impossible_date"], vec![]),
            (2, vec![], vec![]),
            (3, vec![], vec!["duplicate_email_in_file"]),
            (4, vec!["duplicate_external_id"], vec![]),
        ]
    );
    assert_eq!(preview.rows[2].warnings[0].message, "row 2 has the same e-mail");
}

#[test]
fn thousands_of_different_rows_raise_no_repeat_and_a_late_repeat_names_its_row() {
    let mut csv = format!("{HEADER}\n");
    for i in 0..4_000 {
        csv.push_str(&format!("P-{i},First{i},Last{i},1980-01-01,p{i}@example.org,,\n"));
    }
    csv.push_str("P-new,Someone,Else,1980-01-01,p1234@example.org,,\n");
    let preview = run(&csv);
    let warned: Vec<u32> = preview
        .rows
        .iter()
        .filter(|r| !r.warnings.is_empty())
        .map(|r| r.row)
        .collect();
    assert_eq!(warned, [4_001]);
    assert_eq!(preview.rows[4_000].warnings[0].message, "row 1235 has the same e-mail");
    assert_eq!(preview.summary.create, 4_001);
}

/// A row of the generated files below: External ID, first name and e-mail.
type Participant<'a> = (Option<&'a str>, &'a str, Option<&'a str>);

/// What the in-file checks say of each row, worked out the plain way: every earlier row is
/// compared in full. A row repeating an earlier participant is `duplicate_row` (naming the first
/// such row); otherwise a reused External ID is an error and a reused e-mail a warning, each
/// naming the first row that kept it.
fn expected_repeats(rows: &[Participant]) -> Vec<Vec<String>> {
    let mut kept: Vec<(usize, Participant)> = Vec::new();
    let mut external_ids: Vec<(&str, usize)> = Vec::new();
    let mut emails: Vec<(&str, usize)> = Vec::new();
    let mut said = Vec::new();
    for (index, &participant) in rows.iter().enumerate() {
        let row = index + 1;
        let (external, _, email) = participant;
        if let Some((earlier, _)) = kept.iter().find(|(_, p)| *p == participant) {
            said.push(vec![format!("duplicate_row {earlier}")]);
            continue;
        }
        kept.push((row, participant));
        if let Some(external) = external {
            if let Some((_, earlier)) = external_ids.iter().find(|(e, _)| *e == external) {
                said.push(vec![format!("duplicate_external_id {earlier}")]);
                continue;
            }
            external_ids.push((external, row));
        }
        let mut found = Vec::new();
        if let Some(email) = email {
            match emails.iter().find(|(e, _)| *e == email) {
                Some((_, earlier)) => found.push(format!("duplicate_email_in_file {earlier}")),
                None => emails.push((email, row)),
            }
        }
        said.push(found);
    }
    said
}

#[test]
fn in_file_repeats_agree_with_comparing_every_earlier_row() {
    let externals = [None, Some("X-1"), Some("X-2")];
    let names = ["Ada", "Bea"];
    let emails = [None, Some("a@example.org"), Some("b@example.org")];
    let mut seed = 7u64;
    let mut pick = |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    for _ in 0..200 {
        let rows: Vec<_> = (0..12)
            .map(|_| (externals[pick(3)], names[pick(2)], emails[pick(3)]))
            .collect();
        let mut csv = format!("{HEADER}\n");
        for (external, name, email) in &rows {
            let line = format!(
                "{},{name},Lovelace,1984-03-07,{},,",
                external.unwrap_or(""),
                email.unwrap_or("")
            );
            csv.push_str(&line);
            csv.push('\n');
        }
        let said: Vec<Vec<String>> = run(&csv)
            .rows
            .iter()
            .map(|r| {
                let number = |message: &str| {
                    message
                        .split(' ')
                        .find_map(|word| word.trim_end_matches(',').parse::<u32>().ok())
                        .unwrap_or(0)
                };
                r.errors
                    .iter()
                    .chain(&r.warnings)
                    .map(|reason| format!("{} {}", reason.code, number(&reason.message)))
                    .collect()
            })
            .collect();
        assert_eq!(said, expected_repeats(&rows), "{csv}");
    }
}

#[test]
fn the_practitioner_email_assigns_the_coach() {
    let csv = "First Name,Last Name,DOB,Coach Email\nA,B,1990-01-01,Coach@Clinic.example\nC,D,1990-01-01,stranger@x.example\n";
    let preview = preview(csv.as_bytes(), &settings(), &existing()).unwrap();
    assert!(preview.rows[0].fields.as_ref().unwrap().practitioner_id.is_some());
    assert!(preview.rows[0].warnings.is_empty());
    assert_eq!(codes(&preview.rows[1].warnings), ["unknown_practitioner"]);
    assert_eq!(preview.rows[1].action, Action::Create);
}

#[test]
fn every_row_gets_exactly_one_action_and_the_counts_add_up() {
    let csv = format!(
        "{HEADER}\nA-1,Ada,Lovelace,1984-03-07,,,\n,Bad,Date,13/13/2000,,,\n,New,One,1990-01-01,,,\n,ada,lovelace,1984-03-07,,,\n"
    );
    let preview = preview(csv.as_bytes(), &settings(), &existing()).unwrap();
    let s = &preview.summary;
    assert_eq!(s.rows as usize, preview.rows.len());
    assert_eq!(s.create + s.update + s.unchanged + s.error, s.rows);
    assert_eq!((s.create, s.update, s.unchanged, s.error), (1, 1, 1, 1));
}

#[test]
fn row_results_round_trip_through_json_lines_with_their_cells() {
    let preview = run(&format!(
        "{HEADER}\nA-1,Ada,Lovelace,1984-03-07,,,\n,Bad,Date,13/13/2000,,,\n"
    ));
    for row in &preview.rows {
        let line = serde_json::to_string(row).unwrap();
        assert!(line.contains("\"cells\":[\""), "{line}");
        assert_eq!(&serde_json::from_str::<model::import::RowResult>(&line).unwrap(), row);
    }
    assert_eq!(preview.rows[1].cells.iter().nth(3), Some("13/13/2000"));
}

#[test]
fn the_published_template_previews_cleanly() {
    let preview = run(model::import::columns::TEMPLATE_CSV);
    assert_eq!(preview.summary.create, 2);
    assert!(preview.file_warnings.is_empty());
    let grace = preview.rows[1].fields.as_ref().unwrap();
    assert_eq!(
        (grace.state.as_deref(), grace.home_phone.as_deref()),
        (Some("NY"), Some("+12125550147"))
    );
}

#[test]
fn names_match_whatever_their_case_accented_or_not() {
    let existing = Existing::new(
        [
            (
                PatientId::generate(),
                1,
                patient("Émile", "Zola", "1940-04-02", None, None),
            ),
            (
                PatientId::generate(),
                1,
                patient("Ada", "Lovelace", "1984-03-07", None, None),
            ),
        ],
        [],
    );
    let csv = format!(
        "{HEADER}\n\
         ,ÉMILE,ZOLA,1940-04-02,,,\n\
         ,ADA,lovelace,1984-03-07,,,\n\
         ,Emile,Zola,1940-04-02,,,\n\
         ,Ada,Lovelace,1984-03-08,,,\n"
    );
    let preview = preview(csv.as_bytes(), &settings(), &existing).unwrap();
    let actions: Vec<Action> = preview.rows.iter().map(|r| r.action).collect();
    assert_eq!(
        actions,
        [Action::Update, Action::Update, Action::Create, Action::Create],
        "matched whatever the case (the file's spelling is taken); an accent is part of the name; \
         a different birth date is another person"
    );
}

#[test]
fn each_row_comes_out_as_if_it_were_the_only_row() {
    // The preview reuses one result's buffers from row to row; nothing of a row may leak into the
    // next, whatever the earlier row held (more fields, fewer, an error, a dropped phone).
    let header = "External ID,Name Prefix,First Name,Middle Name,Last Name,Date of Birth,Sex,Email,Mobile Phone,Home Phone,Address Line 1,City,State,Zip,Country";
    let rows = [
        "A-1,Dr,Ada,Augusta,Lovelace,1984-03-07,f,Ada@Example.org,(415) 555-2671,415.555.2672,1 Main St,San Francisco,CA,94103,US",
        ",,Grace,,Hopper,12/09/1906,,,,,,,,,",
        "A-3,,Alan,,Turing,1912-06-23,m,alan@example.org,12345,,,Boston,Massachusetts,021391234,",
        "A-4,,,,Nobody,2030-01-01,,not-an-email,,,,,,,",
        "A-5,Ms,Katherine,,Johnson,08/26/1918,female,kj@example.org,,(212) 444-2649,2 Elm St,New  York,ny,10001,us",
        "A-6,,Edsger,,Dijkstra,1930-05-11,,,,,,Austin,TX,73301,",
    ];
    let together = run(&format!("{header}\n{}\n", rows.join("\n")));
    assert_eq!(together.rows.len(), rows.len());
    for (index, row) in rows.iter().enumerate() {
        let alone = run(&format!("{header}\n{row}\n"));
        let (mut expected, got) = (alone.rows[0].clone(), &together.rows[index]);
        expected.row = got.row;
        expected.line = got.line;
        assert_eq!(got, &expected, "row {}", index + 1);
    }
}

#[test]
fn looking_up_a_files_keys_previews_exactly_as_reading_the_whole_group() {
    use model::lookup::{KeysInMemory, PersonKind};
    let firsts = ["Ada", "ADA", "Bea", "Cy"];
    let lasts = ["Lovelace", "Twin"];
    let births = ["1984-03-07", "2000-01-01"];
    let emails = [
        None,
        Some("a@example.org"),
        Some("b@example.org"),
        Some("c@example.org"),
    ];
    let externals = [None, None, Some("X-1"), Some("X-2"), Some("X-3")];
    let coaches = [
        "",
        "coach@clinic.example",
        "shared@clinic.example",
        "nobody@clinic.example",
    ];
    let mut seed = 11u64;
    let mut pick = |n: usize| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize % n
    };
    let mut compared_rows = 0;
    for round in 0..300 {
        // A group whose people share e-mails, names and birthdays in every way, External IDs
        // held once each.
        let mut patients = Vec::new();
        let mut taken = Vec::new();
        for _ in 0..pick(12) {
            let external = externals[pick(5)].filter(|e| !taken.contains(e));
            taken.extend(external);
            let fields = patient(
                firsts[pick(4)],
                lasts[pick(2)],
                births[pick(2)],
                emails[pick(4)],
                external,
            );
            patients.push((PatientId::generate(), 1 + pick(3) as u64, fields));
        }
        let practitioners: Vec<(PractitionerId, String)> =
            ["coach@clinic.example", "shared@clinic.example", "shared@clinic.example"]
                .into_iter()
                .take(pick(4))
                .map(|email| (PractitionerId::generate(), email.to_owned()))
                .collect();
        let mut csv = String::from("External ID,First Name,Last Name,Date of Birth,Email,City,Coach Email\n");
        for _ in 0..1 + pick(10) {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                externals[pick(5)].unwrap_or(""),
                firsts[pick(4)],
                lasts[pick(2)],
                births[pick(2)],
                emails[pick(4)].unwrap_or(""),
                ["", "Boston"][pick(2)],
                coaches[pick(4)],
            ));
        }
        let whole = preview(
            csv.as_bytes(),
            &settings(),
            &Existing::new(patients.clone(), practitioners.clone()),
        )
        .unwrap();

        // The same preview, knowing only what the file's lookups find.
        let mut held = KeysInMemory::default();
        for (id, _, fields) in &patients {
            held.add(id.to_string(), model::lookup::of_patient(fields));
        }
        for (id, email) in &practitioners {
            held.add(id.to_string(), vec![model::lookup::Lookup::practitioner_email(email)]);
        }
        let read = model::import::search(csv.as_bytes(), &settings())
            .unwrap()
            .run_against(&held);
        let found_patients: Vec<_> = patients
            .iter()
            .filter(|p| read.contains(&(PersonKind::Patient, p.0.to_string())))
            .cloned()
            .collect();
        let found_practitioners: Vec<_> = practitioners
            .iter()
            .filter(|p| read.contains(&(PersonKind::Practitioner, p.0.to_string())))
            .cloned()
            .collect();
        assert!(found_patients.len() <= patients.len());
        let looked_up = preview(
            csv.as_bytes(),
            &settings(),
            &Existing::new(found_patients, found_practitioners),
        )
        .unwrap();
        assert_eq!(looked_up.rows, whole.rows, "round {round}:\n{csv}");
        compared_rows += whole.rows.len();
    }
    assert!(compared_rows > 1_000);
}

#[test]
fn two_patients_on_one_key_make_the_row_an_error_naming_both() {
    let twins = [
        (
            PatientId::generate(),
            1,
            patient("Sam", "Twin", "2000-01-01", None, None),
        ),
        (
            PatientId::generate(),
            1,
            patient("SAM", "twin", "2000-01-01", None, None),
        ),
    ];
    let existing = Existing::new(twins.clone(), []);
    let csv = format!("{HEADER}\n,Sam,Twin,2000-01-01,,,\n");
    let row = &preview(csv.as_bytes(), &settings(), &existing).unwrap().rows[0];
    assert_eq!(row.action, Action::Error);
    let message = &row.errors[0].message;
    for (id, _, _) in &twins {
        assert!(message.contains(&id.to_string()), "{message}");
    }
}

#[test]
fn a_coach_email_two_practitioners_share_assigns_neither() {
    let shared = [
        (PractitionerId::generate(), "shared@clinic.example".to_string()),
        (PractitionerId::generate(), "shared@clinic.example".to_string()),
    ];
    let csv = "First Name,Last Name,DOB,Coach Email\nA,B,1990-01-01,shared@clinic.example\n";
    let row = &preview(csv.as_bytes(), &settings(), &Existing::new([], shared))
        .unwrap()
        .rows[0];
    assert_eq!(row.fields.as_ref().unwrap().practitioner_id, None);
    assert_eq!(codes(&row.warnings), ["ambiguous_practitioner"]);
}
