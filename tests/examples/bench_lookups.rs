//! What a participant-list preview costs against a large group, on the local stack (the debug
//! dev host, DynamoDB Local, moto): run by `infra/local/bench-lookups`, which starts the
//! emulators.
//!
//! Seeds a group with 100,000 patients through a real import, then uploads a 3-row, a 1,000-row
//! and a 100,000-row copy of part of the list (changed: every row is an update), and the
//! 100,000-row file again into an empty group. For each it prints the time from the upload to
//! the import being `pending` and the preview's DynamoDB requests (reads, which grow with what is
//! found, and writes, the preview's own bookkeeping), with the goals.

use e2e::*;
use std::time::{Duration, Instant};

/// How many patients the group is seeded with (`BENCH_PATIENTS`, 100,000 unless set: a smaller
/// group gives a quicker look, not the goals' numbers).
fn seeded() -> usize {
    std::env::var("BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// `rows` participants spread over the seeded list, as a later copy of it (they moved).
fn copy_of_list(rows: usize) -> String {
    let step = (seeded() / rows).max(1);
    generated_participants((0..rows).map(|i| i * step), "Denver")
}

async fn group_for_large_files() -> String {
    new_group_with(json!({"import_row_limit": 100_000})).await
}

/// Uploads `csv` and waits for the preview; returns the time from the upload to `pending`.
async fn upload_until_pending(group: &str, csv: String) -> (String, Duration) {
    let created = post(&format!("/v1/groups/{group}/imports"))
        .token(&token(&[group], &[UPLOADER]))
        .json(&json!({"filename": "bench.csv"}))
        .send()
        .await;
    assert_status(&created, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/groups/{group}/imports/{id}");
    let started = Instant::now();
    assert_eq!(put_upload(&created.body["upload"], csv).await, 200);
    loop {
        let reply = get(&path).token(&token(&[group], &[UPLOADER])).send().await;
        match reply.body["status"].as_str() {
            Some("pending") => return (id, started.elapsed()),
            Some("awaiting_upload" | "previewing") => tokio::time::sleep(Duration::from_millis(10)).await,
            other => panic!("the preview ended {other:?}: {}", reply.text),
        }
        if started.elapsed() > Duration::from_secs(600) {
            panic!("the preview took over 10 minutes");
        }
    }
}

struct Measured {
    case: String,
    elapsed: Duration,
    reads: u32,
    writes: u32,
    goal: Goal,
}

enum Goal {
    AtMost { seconds: Option<f64>, reads: Option<u32> },
}

impl Measured {
    fn met(&self) -> bool {
        let Goal::AtMost { seconds, reads } = self.goal;
        seconds.is_none_or(|s| self.elapsed.as_secs_f64() <= s) && reads.is_none_or(|r| self.reads <= r)
    }

    fn goal_text(&self) -> String {
        let Goal::AtMost { seconds, reads } = self.goal;
        let mut parts = Vec::new();
        if let Some(s) = seconds {
            parts.push(format!("<= {s} s"));
        }
        if let Some(r) = reads {
            parts.push(format!("<= {r} reads"));
        }
        parts.join(", ")
    }
}

async fn measure(group: &str, csv: String, case: &str, goal: Goal) -> Measured {
    let observations = &stack().observations;
    observations.watch(group);
    let (_, elapsed) = upload_until_pending(group, csv).await;
    let seen = observations.requests(group, "CsvPreviewFunction");
    let measured = Measured {
        case: case.to_owned(),
        elapsed,
        reads: seen.reads(),
        writes: seen.writes(),
        goal,
    };
    eprintln!(
        "  {:<44} {:>8.2} s  {:>5} reads  {:>3} writes",
        measured.case,
        measured.elapsed.as_secs_f64(),
        measured.reads,
        measured.writes
    );
    measured
}

#[tokio::main]
async fn main() {
    stack();
    let full = group_for_large_files().await;
    let seeded = seeded();
    eprintln!("seeding a group with {seeded} patients through an import (a few minutes)");
    let seeding = Instant::now();
    let seed = generated_participants(0..seeded, "Boston");
    let (id, _) = upload_until_pending(&full, seed).await;
    assert_status(&complete(&full, &id, None).await, 202);
    loop {
        let reply = get(&format!("/v1/groups/{full}/imports/{id}"))
            .token(&token(&[&full], &[UPLOADER]))
            .send()
            .await;
        if reply.body["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    eprintln!("seeded in {:.0} s; previews:", seeding.elapsed().as_secs_f64());
    let empty = group_for_large_files().await;

    let results = vec![
        measure(
            &full,
            copy_of_list(3),
            &format!("3 rows against {seeded} patients"),
            Goal::AtMost {
                seconds: Some(1.0),
                reads: Some(5),
            },
        )
        .await,
        measure(
            &full,
            copy_of_list(1_000),
            &format!("1,000 rows against {seeded} patients"),
            Goal::AtMost {
                seconds: None,
                reads: Some(40),
            },
        )
        .await,
        measure(
            &full,
            copy_of_list(100_000),
            &format!("100,000 rows against {seeded} patients"),
            Goal::AtMost {
                seconds: Some(25.0),
                reads: None,
            },
        )
        .await,
        measure(
            &empty,
            copy_of_list(100_000),
            "100,000 rows against an empty group",
            Goal::AtMost {
                seconds: Some(2.4),
                reads: None,
            },
        )
        .await,
    ];

    println!();
    println!("| preview | upload to pending | DynamoDB reads | writes | goal | met |");
    println!("|---|---|---|---|---|---|");
    for m in &results {
        println!(
            "| {} | {:.2} s | {} | {} | {} | {} |",
            m.case,
            m.elapsed.as_secs_f64(),
            m.reads,
            m.writes,
            m.goal_text(),
            if m.met() { "yes" } else { "NO" }
        );
    }
    let all = results.iter().all(Measured::met);
    println!(
        "\n{}",
        if all {
            "every goal is met"
        } else {
            "some goals are NOT met"
        }
    );
    std::process::exit(if all { 0 } else { 1 });
}
