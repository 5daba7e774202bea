//! The participant-list preview compute (decode, parse, validate, normalise, in-file duplicate
//! checks) at the recommended 5,000 rows and the 100,000-row maximum, beside a plain read of the
//! same file with the csv crate. Run with `cargo bench -p model --bench import_preview`.

mod support {
    pub mod baseline;
    pub mod generate;
}

use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use model::import::{Existing, Settings, preview_rows};
use model::normalize::Country;
use std::hint::black_box;

fn settings() -> Settings {
    Settings {
        default_country: Country::us(),
        today: NaiveDate::from_ymd_opt(2026, 11, 21).expect("a date"),
        row_limit: 100_000,
    }
}

fn bench(c: &mut Criterion) {
    let existing = Existing::default();
    let mut group = c.benchmark_group("import_preview");
    for rows in [5_000usize, 100_000] {
        let file = support::generate::participant_list(rows).into_bytes();
        group.throughput(Throughput::Elements(rows as u64));
        group.sample_size(if rows > 10_000 { 10 } else { 30 });
        group.bench_with_input(BenchmarkId::new("preview", rows), &file, |b, file| {
            b.iter(|| {
                let mut kept = 0usize;
                let outcome = preview_rows(black_box(file), &settings(), &existing, |row| kept += row.cells.len())
                    .expect("a readable file");
                (outcome.summary.rows, kept)
            })
        });
        group.bench_with_input(BenchmarkId::new("plain_csv_read", rows), &file, |b, file| {
            b.iter(|| support::baseline::plain_read(black_box(file)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
