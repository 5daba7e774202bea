//! Hint ⇄ Salesforce batch syncs through the dev host and both sandboxes: every Hint patient
//! brought to Salesforce, a report's contacts brought to Hint, each record's result with its
//! reason, live counts that add up, an abort that stops within a page, a batch killed halfway
//! that resumes without doing a record twice, and a Salesforce session renewed mid-batch.

use e2e::hint::*;
use e2e::*;
use serde_json::Value;

/// `n` Hint patients, each a different person.
fn patients(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"first_name": format!("Pat{i}"), "last_name": format!("Batch{i}"), "dob": born(i),
        "email": format!("pat{i}@hint.example.org")})
        })
        .collect()
}

fn born(i: usize) -> String {
    format!("19{:02}-{:02}-{:02}", 40 + i % 60, 1 + i % 12, 1 + i % 28)
}

async fn start(pair: &Connected, direction: &str, report: Option<String>) -> Reply {
    let path = format!(
        "/v1/groups/{}/integrations/hint/batches?direction={direction}",
        pair.group
    );
    let call = post(&path).token(&admin(&pair.group));
    match report {
        Some(csv) => call.raw("text/csv", csv).send().await,
        None => call.send().await,
    }
}

async fn batch(pair: &Connected, id: &str) -> Value {
    let reply = get(&format!("/v1/groups/{}/integrations/hint/batches/{id}", pair.group))
        .token(&admin(&pair.group))
        .send()
        .await;
    assert_status(&reply, 200);
    reply.body
}

/// The batch once it has stopped (succeeded, aborted or failed).
async fn finished(pair: &Connected, id: &str) -> Value {
    pair.eventually_within(
        "the batch finished",
        std::time::Duration::from_secs(240),
        || batch(pair, id),
        |b| ["succeeded", "aborted", "failed"].contains(&b["status"].as_str().unwrap_or_default()),
    )
    .await
}

/// Every result the filter keeps, page by page.
async fn results(pair: &Connected, id: &str, filter: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/v1/groups/{}/integrations/hint/batches/{id}/results?limit=200{filter}",
            pair.group
        );
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = get(&path).token(&admin(&pair.group)).send().await;
        assert_status(&reply, 200);
        all.extend(reply.body["items"].as_array().unwrap().iter().cloned());
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return all,
        }
    }
}

fn counts_add_up(batch: &Value) {
    let c = &batch["counts"];
    let skipped: u64 = ["already_linked", "multiple_matches", "no_match", "unknown_contact"]
        .iter()
        .map(|r| c["skipped"][r].as_u64().unwrap())
        .sum();
    let sum: u64 = ["linked", "created", "updated", "failed"]
        .iter()
        .map(|k| c[k].as_u64().unwrap())
        .sum::<u64>()
        + skipped;
    assert_eq!(sum, c["processed"].as_u64().unwrap(), "the counts add up: {c}");
}

#[tokio::test]
async fn a_2000_patient_batch_links_creates_updates_and_skips_and_renews_an_expired_session() {
    let pair = connected_with(true, patients(2_000)).await;
    // Patients 0..300 have one unlinked exact match (the first ten with a city the patient
    // lacks), 300..350 two, and 350..380 are linked already; the rest have none.
    let mut contacts: Vec<Value> = (0..300)
        .map(|i| {
            let mut c = json!({"FirstName": format!("pat{i}"), "LastName": format!("BATCH{i}"), "Birthdate": born(i),
                "Email": format!("old{i}@contact.example.org")});
            if i < 10 {
                c["MailingCity"] = json!("Toledo");
            }
            c
        })
        .collect();
    for i in 300..350 {
        for copy in 0..2 {
            contacts.push(
                json!({"FirstName": format!("Pat{i}"), "LastName": format!("Batch{i}"), "Birthdate": born(i),
                "Email": format!("copy{copy}@contact.example.org")}),
            );
        }
    }
    control(
        &stack().salesforce,
        &format!("/orgs/{}/contacts", pair.org),
        Value::Array(contacts),
    )
    .await;
    let hint_ids: Vec<String> = {
        let all = control_with(
            reqwest::Method::GET,
            &stack().hint,
            &format!("/practices/{}/patients", pair.practice),
            None,
        )
        .await;
        let mut by_name: Vec<(usize, String)> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["first_name"].as_str().unwrap()[3..].parse().unwrap(),
                    p["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        by_name.sort();
        by_name.into_iter().map(|(_, id)| id).collect()
    };
    for (i, patient) in hint_ids.iter().enumerate().take(380).skip(350) {
        let contact = pair.add_contact(json!({"LastName": format!("Batch{i}")})).await;
        let linked = pair.link(&contact, json!({"patient_id": patient})).await;
        assert_status(&linked, 200);
    }
    // Hint's list answers slowly, so the batch is surely still going when Salesforce ends the
    // session.
    control(
        &stack().hint,
        "/faults",
        json!({"kind": "slow", "delay_ms": 400, "times": 40, "path_prefix": "/api/provider/patients"}),
    )
    .await;
    let started = start(&pair, "patients_to_contacts", None).await;
    assert_status(&started, 202);
    let id = started.body["id"].as_str().unwrap().to_owned();
    assert_eq!(started.body["status"], "queued");
    let running = pair
        .eventually_within(
            "a page done",
            std::time::Duration::from_secs(60),
            || batch(&pair, &id),
            |b| b["counts"]["processed"].as_u64() >= Some(200),
        )
        .await;
    assert_eq!(running["status"], "running", "live progress while it runs: {running}");
    counts_add_up(&running);
    control(
        &stack().salesforce,
        &format!("/orgs/{}/tokens/expire", pair.org),
        json!({}),
    )
    .await;
    let again = start(&pair, "patients_to_contacts", None).await;
    assert_status(&again, 409);

    let done = finished(&pair, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let c = &done["counts"];
    assert_eq!(c["processed"], 2000);
    assert_eq!(c["linked"], 300);
    assert_eq!(c["skipped"]["multiple_matches"], 50);
    assert_eq!(c["updated"], 30);
    assert_eq!(c["created"], 1620);
    assert_eq!(c["failed"], 0);
    counts_add_up(&done);

    // Salesforce: every contact written carries the batch id; one created per unmatched patient.
    let all = pair.contacts().await;
    let written: Vec<&Value> = all
        .iter()
        .filter(|c| c["Last_Batch_Sync_Id__c"] == id.as_str())
        .collect();
    assert_eq!(written.len(), 300 + 30 + 1620);
    assert!(written.iter().all(|c| c["Synced_to_Hint__c"] == true));
    assert_eq!(all.len(), 300 + 100 + 30 + 1620, "no contact made twice");
    let first = all
        .iter()
        .find(|c| c["Hint_Patient_Id__c"] == hint_ids[0].as_str())
        .unwrap();
    assert_eq!(
        first["Email"], "pat0@hint.example.org",
        "the patient wins where both have a value"
    );
    assert_eq!(first["FirstName"], "Pat0");
    assert_eq!(
        pair.patient(&hint_ids[0]).await["address_city"],
        "Toledo",
        "a blank is filled from the contact"
    );

    let requests = pair.org_requests().await;
    let composite: Vec<&Value> = requests
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/composite/sobjects"))
        .collect();
    assert!(composite.iter().all(|r| r["records"].as_u64() <= Some(200)));
    assert!(composite.len() <= 20, "200 contacts a call: {} calls", composite.len());
    assert!(
        requests.iter().any(|r| r["status"] == 401),
        "Salesforce ended the session mid-batch, and the batch went on with a new one"
    );
    let hint = control_with(reqwest::Method::GET, &stack().hint, "/requests", None).await;
    assert!(
        hint.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["practice"] == pair.practice.as_str())
            .all(|r| r["status"] != 429),
        "Hint's calls stay under its rate limit"
    );

    // Results: by outcome and reason, and as CSV.
    let skipped = results(&pair, &id, "&outcome=skipped").await;
    assert_eq!(skipped.len(), 50);
    assert!(skipped.iter().all(|r| r["reason"] == "multiple_matches"));
    assert_eq!(results(&pair, &id, "").await.len(), 2000);
    let csv = get(&format!(
        "/v1/groups/{}/integrations/hint/batches/{id}/results.csv?outcome=linked",
        pair.group
    ))
    .token(&admin(&pair.group))
    .send()
    .await;
    assert_status(&csv, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines[0], "position,patient_id,contact_id,outcome,reason,error");
    assert_eq!(lines.len(), 301);
    assert!(pair.logged().await.iter().any(|e| e == "batch_finished"));
}

/// A report export as Salesforce writes it: a header, the rows, then its closing text.
fn report(ids: &[&str]) -> String {
    let mut csv = String::from("\"Contact ID\",\"First Name\",\"Last Name\"\n");
    for id in ids {
        csv.push_str(&format!("\"{id}\",\"x\",\"y\"\n"));
    }
    csv.push_str("\n\"Grand Totals (5 records)\"\n\n\"Confidential Information - Do Not Distribute\"\n\"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.\"\n");
    csv
}

#[tokio::test]
async fn a_contacts_report_links_exact_matches_letting_the_contact_win_and_skips_the_rest_with_reasons() {
    let pair = connected(false).await;
    let match_patient = pair
        .add_patient(
            json!({"first_name": "Lia", "last_name": "Moss", "dob": "1990-01-02", "email": "lia@hint.example.org",
            "phones": [{"number": "5550111", "type": "mobile"}]}),
        )
        .await;
    for _ in 0..2 {
        pair.add_patient(json!({"first_name": "Twin", "last_name": "Same", "dob": "2001-03-04"}))
            .await;
    }
    let linked_contact = pair.add_contact(json!({"FirstName": "Kim", "LastName": "Park"})).await;
    let kim = pair
        .add_patient(json!({"first_name": "Kim", "last_name": "Park"}))
        .await;
    let linked = pair.link(&linked_contact, json!({"patient_id": kim})).await;
    assert_status(&linked, 200);
    let lia = pair
        .add_contact(json!({"FirstName": "Lia", "LastName": "Moss", "Birthdate": "1990-01-02", "Email": "lia@contact.example.org"}))
        .await;
    let twin = pair
        .add_contact(json!({"FirstName": "Twin", "LastName": "Same", "Birthdate": "2001-03-04"}))
        .await;
    let nobody = pair
        .add_contact(json!({"FirstName": "No", "LastName": "One", "Birthdate": "1970-07-07"}))
        .await;
    let unknown = "003000000000000AAA";

    let started = start(
        &pair,
        "contacts_to_patients",
        Some(report(&[&lia, &linked_contact, &twin, &nobody, unknown])),
    )
    .await;
    assert_status(&started, 202);
    assert_eq!(started.body["total"], 5);
    assert_eq!(
        started.body["report_trailing_text"],
        json!([
            "\"Grand Totals (5 records)\"",
            "\"Confidential Information - Do Not Distribute\"",
            "\"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved.\""
        ]),
        "the report's closing text is kept, not read as contacts"
    );
    let id = started.body["id"].as_str().unwrap().to_owned();
    let done = finished(&pair, &id).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let c = &done["counts"];
    assert_eq!((c["processed"].as_u64(), c["linked"].as_u64()), (Some(5), Some(1)));
    for reason in ["already_linked", "multiple_matches", "no_match", "unknown_contact"] {
        assert_eq!(c["skipped"][reason], 1, "{reason}");
    }
    counts_add_up(&done);
    let by_contact: Vec<(String, String)> = results(&pair, &id, "")
        .await
        .iter()
        .map(|r| {
            (
                r["contact_id"].as_str().unwrap().to_owned(),
                format!(
                    "{}{}",
                    r["outcome"].as_str().unwrap(),
                    r["reason"].as_str().map(|r| format!(":{r}")).unwrap_or_default()
                ),
            )
        })
        .collect();
    assert_eq!(
        by_contact,
        [
            (lia.clone(), "linked".to_owned()),
            (linked_contact.clone(), "skipped:already_linked".to_owned()),
            (twin.clone(), "skipped:multiple_matches".to_owned()),
            (nobody.clone(), "skipped:no_match".to_owned()),
            (unknown.to_owned(), "skipped:unknown_contact".to_owned()),
        ]
    );
    let patient = pair.patient(&match_patient).await;
    assert_eq!(
        patient["email"], "lia@contact.example.org",
        "the contact's data overwrites the patient's"
    );
    let contact = pair.contact(&lia).await;
    assert_eq!(
        contact["MobilePhone"], "5550111",
        "a blank contact field is filled from the patient"
    );
    assert_eq!(contact["Hint_Patient_Id__c"], match_patient.as_str());
    assert_eq!(contact["Last_Batch_Sync_Id__c"], id.as_str());
    assert_eq!(
        pair.contact(&twin).await["Last_Batch_Sync_Id__c"],
        Value::Null,
        "a skipped contact is not touched"
    );
    let unknowns = results(&pair, &id, "&reason=unknown_contact").await;
    assert_eq!(unknowns.len(), 1);
    let logged = get(&format!(
        "/v1/groups/{}/integrations/hint/logs?batch_id={id}",
        pair.group
    ))
    .token(&admin(&pair.group))
    .send()
    .await;
    assert_status(&logged, 200);
    let entries = logged.body["items"].as_array().unwrap();
    let events: Vec<&str> = entries.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        ["batch_finished", "batch_started"],
        "the batch's own entries, newest first"
    );
    assert!(entries.iter().all(|e| e["batch_id"] == id.as_str()));

    let empty = start(
        &pair,
        "contacts_to_patients",
        Some("Contact ID\n\nGrand Totals (0 records)\n".into()),
    )
    .await;
    assert_status(&empty, 400);
    let sideways = start(&pair, "sideways", None).await;
    assert_status(&sideways, 400);
}

#[tokio::test]
async fn an_abort_stops_a_batch_at_the_end_of_its_page() {
    let pair = connected_with(true, patients(1_000)).await;
    // Each page takes a few seconds, so the abort lands while the first is worked on.
    control(
        &stack().hint,
        "/faults",
        json!({"kind": "slow", "delay_ms": 1500, "times": 20, "path_prefix": "/api/provider/patients"}),
    )
    .await;
    let started = start(&pair, "patients_to_contacts", None).await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    let aborted = post(&format!(
        "/v1/groups/{}/integrations/hint/batches/{id}/abort",
        pair.group
    ))
    .token(&admin(&pair.group))
    .send()
    .await;
    assert_status(&aborted, 202);
    let done = finished(&pair, &id).await;
    assert_eq!(done["status"], "aborted", "{done}");
    let processed = done["counts"]["processed"].as_u64().unwrap();
    assert!(
        processed < 1000 && processed % 200 == 0,
        "stopped at a page's end: {processed}"
    );
    counts_add_up(&done);
    let made = pair.contacts().await.len() as u64;
    assert_eq!(
        made,
        done["counts"]["created"].as_u64().unwrap(),
        "nothing done past the counts"
    );
    assert_eq!(results(&pair, &id, "").await.len() as u64, processed);
    let late = post(&format!(
        "/v1/groups/{}/integrations/hint/batches/{id}/abort",
        pair.group
    ))
    .token(&admin(&pair.group))
    .send()
    .await;
    assert_status(&late, 409);
    // The group is free for the next batch.
    assert_status(&start(&pair, "patients_to_contacts", None).await, 202);
}

#[tokio::test]
async fn a_batch_killed_halfway_resumes_from_its_checkpoint_without_doing_a_record_twice() {
    let pair = connected_with(true, patients(600)).await;
    // The reading of the patients for search, when the integration was enabled, is done first.
    pair.eventually(
        "the patients read",
        || async { pair.search("pat").await.body["patients_read_at"].clone() },
        |at| at.is_string(),
    )
    .await;
    let observations = &stack().observations;
    observations.watch(&pair.group);
    // The worker dies amid the first page's links, after its contacts were created.
    observations.fail_write_after(&pair.group, "SyncWorkerFunction", 120);
    let started = start(&pair, "patients_to_contacts", None).await;
    let id = started.body["id"].as_str().unwrap().to_owned();
    let done = finished(&pair, &id).await;
    assert_eq!(
        observations.failures_injected(&pair.group),
        1,
        "the worker was killed once"
    );
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["counts"]["created"], 600);
    counts_add_up(&done);
    let contacts = pair.contacts().await;
    assert_eq!(contacts.len(), 600, "no contact made twice");
    let mut named: Vec<&str> = contacts
        .iter()
        .map(|c| c["Hint_Patient_Id__c"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    named.dedup();
    assert_eq!(named.len(), 600, "each patient has its one contact");
    let positions: Vec<u64> = results(&pair, &id, "")
        .await
        .iter()
        .map(|r| r["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, (1..=600).collect::<Vec<u64>>(), "each record's result once");
    assert!(
        pair.logged().await.iter().any(|e| e == "batch_page_resumed"),
        "the page it died on was carried out again from its decisions"
    );
}
