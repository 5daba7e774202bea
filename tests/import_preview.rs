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
    let results = uploads()
        .await
        .get(&results_key(&group, &id))
        .await
        .unwrap()
        .unwrap();
    let row: serde_json::Value =
        serde_json::from_slice(results.split(|b| *b == b'\n').next().unwrap()).unwrap();
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
    let id = upload_participants(
        &group,
        b"PK\x03\x04\x14\x00\x06\x00not really a workbook".to_vec(),
    )
    .await;
    let import = previewed(&group, &id).await;
    assert_eq!(import.body["status"], "failed");
    assert_eq!(import.body["failure"]["code"], "not_csv");
    assert!(
        import.body["failure"]["message"]
            .as_str()
            .unwrap()
            .contains(".xlsx")
    );
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
    let sqs = store::aws::sqs(&config);
    let queue_name = format!("{}-events-csvpreviewfunction", stack().bucket);
    let url = sqs
        .get_queue_url()
        .queue_name(&queue_name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
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
            && count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
                == 0
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
    let claim = store::Key::new(
        format!("G#{group}"),
        format!("IDEMPOTENCY#csv-preview#{key}#{etag}"),
    );
    let claim = records()
        .await
        .get(&claim)
        .await
        .unwrap()
        .expect("the preview claimed the object version");
    assert_eq!(claim.data["status"], "COMPLETED");
}
