//! Uploading a participant list triggers its preview: the emulator's S3 notification reaches
//! the csv-preview function through the dev host, exactly once per uploaded object version.

use e2e::*;
use store::Records;
use store::blobs::Blobs;

const CSV: &str = "External ID,First Name,Last Name,Date of Birth,Email,Mobile Phone,Favourite Colour\n\
                   A-1,Ada,Lovelace,1984-03-07,ada@example.org,(415) 555-2671,blue\n\
                   A-2,Grace,Hopper,1906-12-09,grace@example.org,555-12,green\n\
                   A-3,Alan,Turing,2031-06-23,alan@example.org,,red\n";

fn results_key(group: &str, id: &str) -> String {
    format!("results/{group}/{id}/rows-00000.jsonl")
}

#[tokio::test]
async fn an_upload_is_previewed_with_counts_warnings_and_per_row_results() {
    let group = new_group().await;
    let id = upload_participants(&group, CSV).await;
    let import = previewed(&group, &id).await;
    assert_eq!(import.body["status"], "pending", "{:#?}", import.body);
    let summary = &import.body["summary"];
    assert_eq!(
        (
            summary["rows"].as_u64(),
            summary["create"].as_u64(),
            summary["error"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    assert_eq!(summary["warning_rows"], 1);
    assert_eq!(import.body["file_warnings"][0]["code"], "unknown_column");
    assert_eq!(import.body["result_parts"], 1);

    let results = uploads()
        .await
        .get(&results_key(&group, &id))
        .await
        .unwrap()
        .expect("results were written");
    let rows: Vec<serde_json::Value> = String::from_utf8(results)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "create", "error"]);
    assert_eq!(rows[1]["warnings"][0]["code"], "invalid_phone");
    assert_eq!(rows[2]["errors"][0]["code"], "future_date");
    assert_eq!(rows[0]["fields"]["mobile_phone"], "+14155552671");
}

#[tokio::test]
async fn existing_patients_are_matched_and_diffed() {
    let group = new_group().await;
    let existing = create_patient(
        &group,
        json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1984-03-07", "email": "ada@example.org", "city": "London"}),
    )
    .await;
    let id = upload_participants(
        &group,
        "First Name,Last Name,DOB,Email,City\nAda,Lovelace,1984-03-07,ada@example.org,Paris\n",
    )
    .await;
    assert_eq!(previewed(&group, &id).await.body["summary"]["update"], 1);
    let results = uploads().await.get(&results_key(&group, &id)).await.unwrap().unwrap();
    let row: serde_json::Value = serde_json::from_slice(results.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(row["patient_id"], existing.body["id"]);
    assert_eq!(row["base_version"], 1);
    assert_eq!(
        row["changes"],
        json!([{"field": "city", "from": "London", "to": "Paris"}])
    );
}

#[tokio::test]
async fn a_file_that_cannot_be_previewed_fails_the_import_with_a_reason() {
    let group = new_group().await;
    let id = upload_participants(&group, b"PK\x03\x04\x14\x00\x06\x00not really a workbook".to_vec()).await;
    let import = previewed(&group, &id).await;
    assert_eq!(import.body["status"], "failed");
    assert_eq!(import.body["failure"]["code"], "not_csv");
    assert!(import.body["failure"]["message"].as_str().unwrap().contains(".xlsx"));
}

#[tokio::test]
async fn a_repeated_s3_event_for_the_same_object_yields_one_preview() {
    let group = new_group().await;
    let id = upload_participants(&group, CSV).await;
    let first = previewed(&group, &id).await;
    assert_eq!(first.body["status"], "pending");

    // Deliver the same notification again, as S3 may (the emulator's events name the object by
    // its ETag; a versioned bucket in AWS adds the version id).
    let config = store::aws::load_config().await;
    let key = format!("imports/{group}/{id}");
    let head = store::aws::s3(&config)
        .head_object()
        .bucket(&stack().bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let event = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-21T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:EXAMPLE"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "imports",
               "bucket": {"name": stack().bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{}", stack().bucket)},
               "object": {"key": key.replace('/', "%2F"), "size": head.content_length().unwrap(), "eTag": head.e_tag().unwrap().trim_matches('"'), "sequencer": "02"}}
    }]});
    let (sqs, url) = queue(&format!("{}-events-csvpreviewfunction", stack().bucket)).await;
    sqs.send_message()
        .queue_url(&url)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();

    // Wait until the dev host has handled (and so deleted) it.
    for _ in 0..150 {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0)
        };
        if count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages) == 0
            && count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible) == 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let after = get(&format!("/v1/groups/{group}/imports/{id}"))
        .token(&token(&[&group], &[UPLOADER]))
        .send()
        .await;
    assert_eq!(
        after.body["version"], first.body["version"],
        "the repeated event changed nothing"
    );
    assert_eq!(after.body["updated_at"], first.body["updated_at"]);

    // One claim for the object version, completed by the first delivery.
    let etag = head.e_tag().unwrap().trim_matches('"').to_owned();
    let claim = store::Key::new(format!("G#{group}"), format!("IDEMPOTENCY#csv-preview#{key}#{etag}"));
    let claim = records()
        .await
        .get(&claim)
        .await
        .unwrap()
        .expect("the preview claimed the object version");
    assert_eq!(claim.data["status"], "COMPLETED");
}

fn results(group: &str, id: &str, query: &str) -> String {
    format!("/v1/groups/{group}/imports/{id}/results{query}")
}

#[tokio::test]
async fn results_page_through_every_row_and_filter_by_outcome() {
    let group = new_group().await;
    let id = upload_participants(
        &group,
        "First Name,Last Name,DOB\nA,One,1990-01-01\nB,Two,2099-01-01\nC,Three,1990-01-01\nD,Four,bad\nE,Five,1990-01-01\n",
    )
    .await;
    previewed(&group, &id).await;
    let uploader = token(&[&group], &[UPLOADER]);

    let mut rows = Vec::new();
    let mut query = "?limit=2".to_string();
    loop {
        let page = get(&results(&group, &id, &query)).token(&uploader).send().await;
        assert_status(&page, 200);
        rows.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["row"].as_u64().unwrap()),
        );
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(rows, [1, 2, 3, 4, 5]);

    let errors = get(&results(&group, &id, "?filter=errors"))
        .token(&uploader)
        .send()
        .await;
    let error_rows: Vec<u64> = errors.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_u64().unwrap())
        .collect();
    assert_eq!(error_rows, [2, 4]);
    assert_eq!(errors.body["items"][0]["errors"][0]["column"], "Date of Birth");
    let creates = get(&results(&group, &id, "?filter=create"))
        .token(&uploader)
        .send()
        .await;
    assert_eq!(creates.body["items"].as_array().unwrap().len(), 3);

    let bad = get(&results(&group, &id, "?filter=everything"))
        .token(&uploader)
        .send()
        .await;
    assert_status(&bad, 400);
    assert_status(
        &get(&results(&group, &id, "?cursor=zzz")).token(&uploader).send().await,
        400,
    );
}

#[tokio::test]
async fn results_exist_only_once_previewed() {
    let group = new_group().await;
    let created = post(&format!("/v1/groups/{group}/imports"))
        .token(&token(&[&group], &[UPLOADER]))
        .json(&json!({"filename": "later.csv"}))
        .send()
        .await;
    let id = created.body["id"].as_str().unwrap();
    let reply = get(&results(&group, id, ""))
        .token(&token(&[&group], &[UPLOADER]))
        .send()
        .await;
    assert_status(&reply, 409);
    assert!(reply.body["detail"].as_str().unwrap().contains("awaiting_upload"));
}

#[tokio::test]
async fn the_results_csv_downloads_with_outcomes_and_defused_formulas() {
    let group = new_group().await;
    let id = upload_participants(
        &group,
        "First Name,Last Name,DOB,Notes\nAda,Lovelace,1984-03-07,=cmd|' /C calc'!A0\nBad,Row,not-a-date,\n",
    )
    .await;
    previewed(&group, &id).await;
    let reply = get(&results(&group, &id, ".csv"))
        .token(&token(&[&group], &[UPLOADER]))
        .send()
        .await;
    assert_status(&reply, 200);
    let lines: Vec<&str> = reply.text.lines().collect();
    assert_eq!(
        lines[0],
        "First Name,Last Name,DOB,Notes,carebridge row,carebridge action,carebridge patient id,carebridge errors,carebridge warnings,carebridge result,carebridge result reasons"
    );
    assert!(
        lines[1].starts_with("Ada,Lovelace,1984-03-07,'=cmd|' /C calc'!A0,1,create,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("Bad,Row,not-a-date,,2,error,,Date of Birth: date_of_birth must be a date"),
        "{}",
        lines[2]
    );
}

#[tokio::test]
async fn a_file_over_the_groups_row_limit_fails_naming_the_limit() {
    let group = unique_group();
    let created = post("/v1/groups")
        .token(&token(&[], &[PLATFORM_ADMIN]))
        .json(&json!({"id": group, "name": "Small Clinic", "import_row_limit": 2}))
        .send()
        .await;
    assert_status(&created, 201);
    let id = upload_participants(
        &group,
        "First Name,Last Name,DOB\nA,B,1990-01-01\nC,D,1990-01-01\nE,F,1990-01-01\n",
    )
    .await;
    let import = previewed(&group, &id).await;
    assert_eq!(import.body["status"], "failed");
    assert_eq!(import.body["failure"]["code"], "too_many_rows");
    assert!(
        import.body["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("more than 2 participant rows")
    );
}

#[tokio::test]
async fn an_import_admin_deletes_the_file_and_results_and_uploaders_cannot() {
    let group = new_group().await;
    let id = upload_participants(&group, "First Name,Last Name,DOB\nAda,Lovelace,1984-03-07\n").await;
    previewed(&group, &id).await;
    let path = format!("/v1/groups/{group}/imports/{id}");

    let by_uploader = call(request_method("DELETE"), &path)
        .token(&token(&[&group], &[UPLOADER]))
        .send()
        .await;
    assert_status(&by_uploader, 403);
    assert_eq!(by_uploader.problem(), "role-required");

    let admin = token(&[&group], &[IMPORT_ADMIN]);
    let deleted = call(request_method("DELETE"), &path).token(&admin).send().await;
    assert_status(&deleted, 200);
    assert_eq!(deleted.body["status"], "deleted");
    let blobs = uploads().await;
    assert_eq!(
        blobs.get(&format!("imports/{group}/{id}")).await.unwrap(),
        None,
        "the raw file is gone"
    );
    assert_eq!(
        blobs.get(&results_key(&group, &id)).await.unwrap(),
        None,
        "the results are gone"
    );
    assert_eq!(get(&path).token(&admin).send().await.body["status"], "deleted");
    assert_status(&get(&results(&group, &id, "")).token(&admin).send().await, 409);
    assert_status(&call(request_method("DELETE"), &path).token(&admin).send().await, 200);

    let other = new_group().await;
    let outsider = token(&[&other], &[IMPORT_ADMIN]);
    assert_status(
        &call(request_method("DELETE"), &path).token(&outsider).send().await,
        403,
    );
}

/// Uploads `file` and returns the import once previewed, expecting it to fail with `code`.
async fn fails_with(file: Vec<u8>, code: &str) -> Reply {
    let group = new_group().await;
    let id = upload_participants(&group, file).await;
    let import = previewed(&group, &id).await;
    assert_eq!(import.body["status"], "failed", "{:#?}", import.body);
    assert_eq!(import.body["failure"]["code"], code, "{:#?}", import.body);
    import
}

#[tokio::test]
async fn every_file_level_error_fails_the_import_with_a_reason_to_act_on() {
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"".to_vec(), "empty_file", "the file is empty"),
        (
            b"First Name,Last Name,DOB\n\n".to_vec(),
            "header_only",
            "no participant rows",
        ),
        (
            b"First Name,Last Name,DOB,Email,E-mail\nA,B,1990-01-01,a@b.co,a@b.co\n".to_vec(),
            "duplicate_headers",
            "both mean",
        ),
        (
            b"First Name,Email\nAda,a@b.co\n".to_vec(),
            "missing_columns",
            "Last Name, Date of Birth",
        ),
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00".to_vec(),
            "not_csv",
            "Excel 97-2003",
        ),
        (
            vec![b'x'; 20 * 1024 * 1024 + 1],
            "too_large",
            "the limit is 20971520 bytes",
        ),
    ];
    for (file, code, words) in cases {
        let import = fails_with(file, code).await;
        let message = import.body["failure"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{code}: {message}");
    }
}

#[tokio::test]
async fn utf16_files_with_a_bom_import() {
    let group = new_group().await;
    let mut file = vec![0xFF, 0xFE];
    file.extend(
        "First Name,Last Name,DOB\nZoë,Núñez,1990-01-01\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    let id = upload_participants(&group, file).await;
    let import = previewed(&group, &id).await;
    assert_eq!(import.body["summary"]["create"], 1, "{:#?}", import.body);
    let page = get(&results(&group, &id, ""))
        .token(&token(&[&group], &[UPLOADER]))
        .send()
        .await;
    assert_eq!(page.body["items"][0]["fields"]["first_name"], "Zoë");
}
