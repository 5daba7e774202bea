//! Completing a previewed import through the dev host: the API marks it completing and queues
//! its parts, the import-complete function applies them from the emulator's SQS queue, and every
//! row ends in exactly one final state, even when the function dies halfway.

use e2e::*;

/// Uploads `csv` to a fresh import in `group` and waits for its preview.
async fn previewed_import(group: &str, csv: impl Into<reqwest::Body>) -> String {
    let id = upload_participants(group, csv).await;
    assert_eq!(previewed(group, &id).await.body["status"], "pending");
    id
}

fn counts(import: &Reply) -> serde_json::Value {
    import.body["completion"]["counts"].clone()
}

async fn patient(group: &str, id: &str) -> Reply {
    get(&format!("/v1/groups/{group}/patients/{id}"))
        .token(&token(&[group], &[GROUP_ADMIN]))
        .send()
        .await
}

/// Ada, an existing patient the files below match by e-mail.
async fn ada_in_london(group: &str) -> Reply {
    create_patient(
        group,
        json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1984-03-07", "email": "ada@example.org", "city": "London"}),
    )
    .await
}

#[tokio::test]
async fn completion_creates_and_updates_the_right_patients() {
    let group = new_group().await;
    let ada = ada_in_london(&group).await;
    let grace = create_patient(
        &group,
        json!({"first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1906-12-09", "city": "Arlington"}),
    )
    .await;
    let id = previewed_import(
        &group,
        "External ID,First Name,Last Name,DOB,Email,City\n\
         ,Ada,Lovelace,1984-03-07,ada@example.org,Paris\n\
         ,Grace,Hopper,1906-12-09,,Arlington\n\
         C-9,Katherine,Johnson,1918-08-26,kj@example.org,Hampton\n",
    )
    .await;

    let accepted = complete(&group, &id, None).await;
    assert_status(&accepted, 202);
    assert!(
        matches!(accepted.body["status"].as_str(), Some("completing" | "completed")),
        "{accepted:#?}"
    );
    assert_eq!(accepted.body["completion"]["parts"], 1);
    assert_eq!(accepted.body["completion"]["requested_by"], "tester");

    let import = completed(&group, &id).await;
    assert_eq!(import.body["status"], "completed", "{:#?}", import.body);
    assert_eq!(
        counts(&import),
        json!({"created": 1, "updated": 1, "unchanged": 1, "skipped": 0, "conflict": 0, "failed": 0})
    );
    assert!(import.body["completion"]["finished_at"].is_string());

    // The matched patient took the row's change, and says which import row wrote it.
    let ada_now = patient(&group, ada.body["id"].as_str().unwrap()).await;
    assert_eq!(
        (ada_now.body["city"].as_str(), ada_now.body["version"].as_u64()),
        (Some("Paris"), Some(2))
    );
    assert_eq!(ada_now.body["imported_from"], json!({"import_id": id, "row": 1}));
    assert_eq!(
        patient(&group, grace.body["id"].as_str().unwrap()).await.body["version"],
        1
    );

    // The created patient's id is in the results, and it exists with its External ID.
    let created = all_results(&group, &id, "created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["completion"]["outcome"], "created");
    let katherine = patient(&group, created[0]["patient_id"].as_str().unwrap()).await;
    assert_status(&katherine, 200);
    assert_eq!(katherine.body["external_ids"], json!({"customer": "C-9"}));
    let updated = all_results(&group, &id, "updated").await;
    assert_eq!(updated[0]["patient_id"], ada.body["id"]);
    assert_eq!(all_patients(&group).await.len(), 3);

    // Asking again changes nothing.
    let again = complete(&group, &id, None).await;
    assert_status(&again, 202);
    assert_eq!(again.body["status"], "completed");
    assert_eq!(counts(&again), counts(&import));
}

#[tokio::test]
async fn error_rows_block_completion_until_the_admin_skips_them() {
    let group = new_group().await;
    let id = previewed_import(
        &group,
        "First Name,Last Name,DOB\nAda,Lovelace,1984-03-07\nAlan,Turing,2031-06-23\n",
    )
    .await;
    let refused = complete(&group, &id, None).await;
    assert_status(&refused, 409);
    assert_eq!(refused.problem(), "conflict");
    assert!(
        refused.body["detail"].as_str().unwrap().contains("skip_error_rows"),
        "{refused:#?}"
    );
    assert_eq!(previewed(&group, &id).await.body["status"], "pending");

    let unknown_option = complete(&group, &id, Some(json!({"skip_errors": true}))).await;
    assert_status(&unknown_option, 400);

    assert_status(
        &complete(&group, &id, Some(json!({"skip_error_rows": true}))).await,
        202,
    );
    let import = completed(&group, &id).await;
    assert_eq!(
        counts(&import),
        json!({"created": 1, "updated": 0, "unchanged": 0, "skipped": 1, "conflict": 0, "failed": 0})
    );
    let skipped = all_results(&group, &id, "skipped").await;
    assert_eq!(skipped[0]["row"], 2);
    assert_eq!(skipped[0]["completion"]["reasons"][0]["code"], "skipped");
    assert_eq!(all_patients(&group).await.len(), 1);
}

#[tokio::test]
async fn a_patient_edited_since_the_preview_is_rechecked_not_overwritten() {
    let group = new_group().await;
    let ada = ada_in_london(&group).await;
    let grace = create_patient(
        &group,
        json!({"first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1906-12-09", "email": "grace@example.org", "city": "Arlington"}),
    )
    .await;
    let id = previewed_import(
        &group,
        "First Name,Last Name,DOB,Email,City\n\
         Ada,Lovelace,1984-03-07,ada@example.org,Paris\n\
         Grace,Hopper,1906-12-09,grace@example.org,New York\n",
    )
    .await;
    // Since the preview: Ada's city changed (the row's own field), Grace's phone (another field).
    let edit = |id: &str, body: serde_json::Value| {
        let path = format!("/v1/groups/{group}/patients/{id}");
        let token = token(&[&group], &[GROUP_ADMIN]);
        async move {
            patch(&path)
                .token(&token)
                .header("if-match", "\"1\"")
                .json(&body)
                .send()
                .await
        }
    };
    assert_status(
        &edit(ada.body["id"].as_str().unwrap(), json!({"city": "Rome"})).await,
        200,
    );
    assert_status(
        &edit(
            grace.body["id"].as_str().unwrap(),
            json!({"mobile_phone": "415 555 2671"}),
        )
        .await,
        200,
    );

    assert_status(&complete(&group, &id, None).await, 202);
    let import = completed(&group, &id).await;
    assert_eq!(
        counts(&import),
        json!({"created": 0, "updated": 1, "unchanged": 0, "skipped": 0, "conflict": 1, "failed": 0})
    );
    let ada_now = patient(&group, ada.body["id"].as_str().unwrap()).await;
    assert_eq!(ada_now.body["city"], "Rome", "someone else's edit is kept");
    let conflict = all_results(&group, &id, "conflict").await;
    assert_eq!(conflict[0]["completion"]["reasons"][0]["code"], "changed_since_preview");
    assert_eq!(conflict[0]["completion"]["reasons"][0]["column"], "City");
    let grace_now = patient(&group, grace.body["id"].as_str().unwrap()).await;
    assert_eq!(
        (grace_now.body["city"].as_str(), grace_now.body["mobile_phone"].as_str()),
        (Some("New York"), Some("+14155552671")),
        "the row's change lands beside the other edit"
    );
}

#[tokio::test]
async fn only_import_admins_complete_and_other_groups_never_see_the_import() {
    let group = new_group().await;
    let other = new_group().await;
    let id = previewed_import(&group, "First Name,Last Name,DOB\nAda,Lovelace,1984-03-07\n").await;
    let path = format!("/v1/groups/{group}/imports/{id}/complete");
    let uploader = post(&path).token(&token(&[&group], &[UPLOADER])).send().await;
    assert_status(&uploader, 403);
    assert_eq!(uploader.problem(), "role-required");
    let outsider = post(&path).token(&token(&[&other], &[IMPORT_ADMIN])).send().await;
    assert_status(&outsider, 403);
    let wrong_group = post(&format!("/v1/groups/{other}/imports/{id}/complete"))
        .token(&token(&[&other], &[IMPORT_ADMIN]))
        .send()
        .await;
    assert_status(&wrong_group, 404);
    assert_eq!(previewed(&group, &id).await.body["status"], "pending");
}

#[tokio::test]
async fn an_import_that_failed_its_preview_cannot_be_completed() {
    let group = new_group().await;
    let id = upload_participants(&group, "First Name,Last Name\nAda,Lovelace\n").await;
    assert_eq!(previewed(&group, &id).await.body["status"], "failed");
    let refused = complete(&group, &id, None).await;
    assert_status(&refused, 409);
    assert!(
        refused.body["detail"].as_str().unwrap().contains("failed"),
        "{refused:#?}"
    );
}

/// `rows` participants (`P-0`, `P-1` …) living in `city`, as a CSV.
fn participants_in(rows: usize, city: &str) -> String {
    let mut csv = String::from("External ID,First Name,Last Name,DOB,Email,City\n");
    for row in 0..rows {
        csv.push_str(&format!(
            "P-{row},Given{row},Family{row},1980-01-{:02},p{row}@example.org,{city}\n",
            row % 28 + 1
        ));
    }
    csv
}

fn participants(rows: usize) -> String {
    participants_in(rows, "Boston")
}

#[tokio::test]
async fn a_completion_killed_halfway_resumes_without_duplicates_and_with_exact_counts() {
    let group = new_group().await;
    let observations = &stack().observations;
    observations.watch(&group);
    let id = previewed_import(&group, participants(2_500)).await;
    // The function dies at its 1,200th write: part 0 applied, part 1 half way (or so: parts run
    // side by side). SQS hands the failed part out again.
    observations.fail_write_after(&group, "ImportCompleteFunction", 1_200);
    assert_status(&complete(&group, &id, None).await, 202);
    // A second request while it completes re-sends the unapplied parts: duplicate deliveries.
    assert_status(&complete(&group, &id, None).await, 202);

    let import = completed(&group, &id).await;
    assert_eq!(
        observations.failures_injected(&group),
        1,
        "the function was killed once"
    );
    assert_eq!(import.body["status"], "completed", "{:#?}", import.body);
    assert_eq!(
        counts(&import),
        json!({"created": 2500, "updated": 0, "unchanged": 0, "skipped": 0, "conflict": 0, "failed": 0})
    );
    assert_eq!(import.body["completion"]["parts_done"], 3);

    let patients = all_patients(&group).await;
    assert_eq!(patients.len(), 2_500, "no patient was created twice");
    let created = all_results(&group, &id, "created").await;
    assert_eq!(created.len(), 2_500);
    let mut ids: Vec<&str> = created.iter().map(|row| row["patient_id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2_500, "every row names its own patient");
    let mut stored: Vec<&str> = patients.iter().map(|p| p["id"].as_str().unwrap()).collect();
    stored.sort_unstable();
    assert_eq!(ids, stored);
}

#[tokio::test]
async fn previews_and_completions_read_existing_patients_in_batches_not_per_row() {
    let group = new_group().await;
    let first = previewed_import(&group, participants(1_000)).await;
    assert_status(&complete(&group, &first, None).await, 202);
    assert_eq!(counts(&completed(&group, &first).await)["created"], 1_000);

    // 2,000 rows: the first 1,000 update the patients above (they moved), 1,000 are new.
    let observations = &stack().observations;
    observations.watch(&group);
    let second = previewed_import(&group, participants_in(2_000, "Denver")).await;
    let summary = previewed(&group, &second).await.body["summary"].clone();
    assert_eq!(
        (summary["update"].as_u64(), summary["create"].as_u64()),
        (Some(1_000), Some(1_000))
    );
    let preview = observations.requests(&group, "CsvPreviewFunction");
    assert!(preview.reads() <= 2_000 / 100, "the preview sent {preview:?}");

    assert_status(&complete(&group, &second, None).await, 202);
    let import = completed(&group, &second).await;
    assert_eq!(
        counts(&import),
        json!({"created": 1000, "updated": 1000, "unchanged": 0, "skipped": 0, "conflict": 0, "failed": 0})
    );
    let completion = observations.requests(&group, "ImportCompleteFunction");
    assert!(completion.reads() <= 2_000 / 100, "the completion sent {completion:?}");
}
