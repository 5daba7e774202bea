//! Times the participant-list preview against baselines on one file, from one process run each:
//!
//!     import_rows generate ROWS FILE   write a deterministic participant list
//!     import_rows preview FILE         carebridge's preview compute (parse, validate, normalise,
//!                                      in-file duplicates), as the csv-preview function runs it:
//!                                      phone metadata loaded at start-up, timed apart
//!     import_rows plain-read FILE      a plain read of every record with the csv crate, timed
//!                                      like the preview: on the bytes already in memory
//!
//! Each run prints its wall time and the process's peak memory. infra/local/bench-import runs
//! them with `frictionless validate` and prints the comparison.

#[path = "../benches/support/baseline.rs"]
mod baseline;
#[path = "../benches/support/generate.rs"]
mod generate;

use chrono::NaiveDate;
use model::import::{Existing, Settings, preview_rows};
use model::normalize::Country;
use std::time::Instant;

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

// The measured work sits in functions of its own, never inlined, so that
// infra/local/count-preview-instructions can count exactly their instructions by name.

#[inline(never)]
fn measured_preview(bytes: &[u8], settings: &Settings) -> model::import::FileOutcome {
    // Rows stream past as the csv-preview function streams them into its results file.
    preview_rows(bytes, settings, &Existing::default(), |row| {
        std::hint::black_box(row);
    })
    .expect("a readable file")
}

#[inline(never)]
fn measured_plain_read(bytes: &[u8]) -> (usize, usize) {
    baseline::plain_read(bytes)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["generate", rows, file] => {
            let rows: usize = rows.parse().expect("ROWS is a number");
            std::fs::write(file, generate::participant_list(rows)).expect("write the file");
        }
        ["preview", file] => {
            let bytes = std::fs::read(file).expect("read the file");
            let settings = Settings {
                default_country: Country::us(),
                today: NaiveDate::from_ymd_opt(2026, 11, 21).expect("a date"),
                row_limit: 100_000,
            };
            // The csv-preview function loads the phone metadata once while it starts, before any
            // upload arrives; timed here on its own.
            let loading = Instant::now();
            model::normalize::load_phone_metadata();
            println!(
                "start-up: phone metadata loaded in {:.1} ms",
                loading.elapsed().as_secs_f64() * 1000.0
            );
            let started = Instant::now();
            let outcome = measured_preview(&bytes, &settings);
            let elapsed = started.elapsed();
            let s = &outcome.summary;
            println!(
                "preview: {} rows ({} create, {} error, {} with warnings) in {:.1} ms, peak memory {:.0} MiB",
                s.rows,
                s.create,
                s.error,
                s.warning_rows,
                elapsed.as_secs_f64() * 1000.0,
                peak_memory_mib()
            );
        }
        ["plain-read", file] => {
            let bytes = std::fs::read(file).expect("read the file");
            let started = Instant::now();
            let (rows, cells) = measured_plain_read(&bytes);
            let elapsed = started.elapsed();
            println!(
                "plain-read: {rows} rows, {cells} cells in {:.1} ms, peak memory {:.0} MiB",
                elapsed.as_secs_f64() * 1000.0,
                peak_memory_mib()
            );
        }
        _ => {
            eprintln!("usage: import_rows generate ROWS FILE | preview FILE | plain-read FILE");
            std::process::exit(2);
        }
    }
}
