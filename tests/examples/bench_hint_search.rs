//! How quickly the Hint patient search answers while someone types, on the local stack (the
//! debug dev host, DynamoDB Local, moto, the Hint and Salesforce sandboxes): run by
//! `infra/local/bench-hint-search`, which starts the emulators.
//!
//! Connects a group to a practice of 2,000 patients (`BENCH_PATIENTS`), waits for carebridge to
//! read them, then types 40 of their names a keystroke at a time, searching on every keystroke
//! as a debounce-free search box would. Prints the answer times (p50, p95, the slowest) against
//! the goal (p95 under 300 ms) and how many requests the searches sent Hint (none).

use e2e::hint::*;
use e2e::*;
use std::time::{Duration, Instant};

const FIRST: [&str; 40] = [
    "Ada", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ian", "Jo", "Kai", "Lena", "Max", "Nia", "Otto", "Pia",
    "Quin", "Rosa", "Sam", "Tess", "Uma", "Vic", "Wes", "Xena", "Yuri", "Zoe", "Alma", "Bo", "Cyd", "Dina", "Ezra",
    "Flo", "Gil", "Hugo", "Ines", "Jude", "Kit", "Lou", "Mira", "Ned",
];
const LAST: [&str; 50] = [
    "Abbott", "Baker", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hill", "Ito", "Jones", "Khan", "Lopez", "Moore",
    "Nguyen", "Ortiz", "Patel", "Quinn", "Reyes", "Smith", "Tran", "Udall", "Vance", "Wong", "Xu", "Young", "Zhang",
    "Ali", "Brown", "Cruz", "Davis", "Ellis", "Ford", "Gray", "Hale", "Ivers", "James", "Kim", "Lee", "Mills", "Nash",
    "Owens", "Price", "Ross", "Shaw", "Tate", "Upton", "Vega", "Ward", "York", "Zeller",
];

fn patients() -> usize {
    std::env::var("BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let people: Vec<serde_json::Value> = (0..patients())
        .map(|i| {
            // 2,000 different names; past that, the same names again with a numbered last name.
            let mut last = LAST[(i / FIRST.len()) % LAST.len()].to_owned();
            if i >= FIRST.len() * LAST.len() {
                last.push_str(&format!("-{}", i / (FIRST.len() * LAST.len())));
            }
            let born = format!("19{:02}-{:02}-{:02}", 40 + i % 60, 1 + i % 12, 1 + i % 28);
            json!({"first_name": FIRST[i % FIRST.len()], "last_name": last, "dob": born})
        })
        .collect();
    let count = people.len();
    let pair = connected_with(false, people).await;
    let read_from = Instant::now();
    let read_at = || async { pair.search("a").await.body["patients_read_at"].clone() };
    pair.eventually_within("every patient read", Duration::from_secs(300), read_at, |at| {
        at.is_string()
    })
    .await;
    println!(
        "{count} patients read into the search {:.1} s after enabling",
        read_from.elapsed().as_secs_f64()
    );

    let hint_before = pair.hint_requests().await;
    let mut times = Vec::new();
    for n in 0..40 {
        let name = format!("{} {}", FIRST[(n * 7) % FIRST.len()], LAST[(n * 11) % LAST.len()]);
        for end in 1..=name.len() {
            let typed = &name[..end];
            if typed.ends_with(' ') {
                continue;
            }
            let started = Instant::now();
            let answer = pair.search(typed).await;
            times.push(started.elapsed());
            assert_status(&answer, 200);
        }
    }
    let hint_calls = pair.hint_requests().await - hint_before;
    times.sort();
    let p95 = percentile(&times, 0.95);
    println!(
        "{} searches: p50 {:.1} ms, p95 {:.1} ms, slowest {:.1} ms (goal: p95 under 300 ms: {}); Hint requests: {hint_calls}",
        times.len(),
        percentile(&times, 0.50).as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
        if p95 < Duration::from_millis(300) {
            "met"
        } else {
            "MISSED"
        },
    );
}
