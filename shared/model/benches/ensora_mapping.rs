//! The Ensora Auto mapping rules at the scale: 10,000 students against 10,000 patients
//! and 10,000 sessions against 10,000 appointments, each timed from the carebridge records to
//! every Ensora record decided (building the indexes included). The goal is at most 100 ms each
//! on the 2-core machine. Run with `cargo bench -p model --bench ensora_mapping`.

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use criterion::{Criterion, criterion_group, criterion_main};
use model::ensora::{
    Auto, DEFAULT_GRACE, NameKey, Person, PersonKey, Session, Slot, appointment_index, map_session, map_student,
    patient_index,
};
use std::hint::black_box;

const N: usize = 10_000;

/// The i-th person: 10,000 different ones, in 20 agencies.
fn name(i: usize) -> (String, String, NaiveDate, String) {
    let born =
        NaiveDate::from_ymd_opt(2005 + (i % 15) as i32, 1 + (i % 12) as u32, 1 + (i % 28) as u32).expect("a date");
    (
        format!("First{i}"),
        format!("Last{}", i / 3),
        born,
        format!("agy_{}", i % 20),
    )
}

fn bench(c: &mut Criterion) {
    let people: Vec<(String, String, String, NaiveDate, String)> = (0..N)
        .map(|i| {
            let (first, last, born, agency) = name(i);
            (format!("pat_{i}"), first, last, born, agency)
        })
        .collect();
    // Students are the same people, a tenth of them with a typo in the first name.
    let students: Vec<(String, String, NaiveDate, String)> = (0..N)
        .map(|i| {
            let (first, last, born, agency) = name(i);
            (
                if i % 10 == 0 { format!("{first}x") } else { first },
                last,
                born,
                agency,
            )
        })
        .collect();
    let mut group = c.benchmark_group("ensora_mapping");
    group.sample_size(20);
    group.bench_function("10000_students_against_10000_patients", |b| {
        b.iter(|| {
            let index = patient_index(people.iter().map(|(id, first, last, born, agency)| Person {
                id,
                first_name: first,
                last_name: last,
                date_of_birth: Some(*born),
                agency_id: Some(agency),
            }));
            let mapped = students
                .iter()
                .filter(|(first, last, born, agency)| {
                    let student = Person {
                        id: "",
                        first_name: first,
                        last_name: last,
                        date_of_birth: Some(*born),
                        agency_id: None,
                    };
                    matches!(map_student(&student, Some(agency), black_box(&index)), Auto::Mapped(_))
                })
                .count();
            assert_eq!(mapped, N - N / 10);
            mapped
        })
    });

    let day = |i: usize| NaiveDate::from_ymd_opt(2026, 1 + (i % 12) as u32, 1 + (i % 28) as u32).expect("a date");
    let start = |i: usize| NaiveTime::from_hms_opt(8 + (i % 9) as u32, 0, 0).expect("a time");
    let appointments: Vec<(String, usize)> = (0..N).map(|i| (format!("apt_{i}"), i)).collect();
    group.bench_function("10000_sessions_against_10000_appointments", |b| {
        b.iter(|| {
            let index = appointment_index(appointments.iter().map(|(id, i)| {
                let (first, last, born, _) = name(*i);
                Slot {
                    id,
                    date: day(*i),
                    start: start(*i),
                    end: start(*i) + TimeDelta::hours(1),
                    patient: PersonKey::new(&first, &last, Some(born)),
                    practitioner: NameKey::new(&format!("Staff{}", i % 50), "Therapist"),
                }
            }));
            let mapped = (0..N)
                .filter(|i| {
                    let (first, last, born, _) = name(*i);
                    let session = Session {
                        date: day(*i),
                        start: start(*i) + TimeDelta::minutes(3),
                        end: start(*i) + TimeDelta::minutes(58),
                        student: Some(PersonKey::new(&first, &last, Some(born))),
                        user: Some(NameKey::new(&format!("Staff{}", i % 50), "Therapist")),
                    };
                    matches!(map_session(&session, DEFAULT_GRACE, black_box(&index)), Auto::Mapped(_))
                })
                .count();
            assert_eq!(mapped, N);
            mapped
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
