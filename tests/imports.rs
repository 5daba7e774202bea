//! Participant-list imports through the API: starting one, uploading to the presigned URL,
//! listing and reading, and who may do which.

use e2e::*;
use store::blobs::Blobs;

fn imports(group: &str) -> String {
    format!("/v1/groups/{group}/imports")
}

async fn start_import(group: &str, roles: &[&str], filename: &str) -> Reply {
    post(&imports(group))
        .token(&token(&[group], roles))
        .json(&json!({"filename": filename}))
        .send()
        .await
}

#[tokio::test]
async fn an_uploader_starts_an_import_and_puts_the_file_to_its_upload_url() {
    let group = new_group().await;
    let started = chrono::Utc::now();
    let created = start_import(&group, &[UPLOADER], "March list.csv").await;
    assert_status(&created, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("{}/{id}", imports(&group)).as_str())
    );
    assert_eq!(created.body["status"], "awaiting_upload");
    assert_eq!(created.body["filename"], "March list.csv");
    assert_eq!(created.body["uploaded_by"], "tester");
    let upload = &created.body["upload"];
    assert_eq!(upload["method"], "PUT");
    assert_eq!(upload["headers"]["content-type"], "text/csv");
    let expires: chrono::DateTime<chrono::Utc> = upload["expires_at"].as_str().unwrap().parse().unwrap();
    let window = expires - started;
    assert!(
        window >= chrono::Duration::minutes(15) && window < chrono::Duration::minutes(16),
        "{window}"
    );
    assert!(
        upload["url"].as_str().unwrap().contains("X-Amz-Expires=900"),
        "the URL itself lapses after 15 minutes"
    );

    let csv = "First Name,Last Name,Date of Birth\nAda,Lovelace,1984-03-07\n";
    assert_eq!(put_upload(upload, csv).await, 200);
    let stored = uploads().await.get(&format!("imports/{group}/{id}")).await.unwrap();
    assert_eq!(stored.as_deref(), Some(csv.as_bytes()));
}

#[tokio::test]
async fn imports_list_newest_first_and_read_one_by_one() {
    let group = new_group().await;
    let mut ids = Vec::new();
    for name in ["first.csv", "second.csv", "third.csv"] {
        ids.push(
            start_import(&group, &[IMPORT_ADMIN], name).await.body["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let uploader = token(&[&group], &[UPLOADER]);
    let listing = get(&format!("{}?limit=2", imports(&group)))
        .token(&uploader)
        .send()
        .await;
    assert_status(&listing, 200);
    let names: Vec<&str> = listing.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["filename"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["third.csv", "second.csv"]);
    let rest = get(&format!(
        "{}?cursor={}",
        imports(&group),
        listing.body["next_cursor"].as_str().unwrap()
    ))
    .token(&uploader)
    .send()
    .await;
    assert_eq!(rest.body["items"][0]["filename"], "first.csv");

    let one = get(&format!("{}/{}", imports(&group), ids[0]))
        .token(&uploader)
        .send()
        .await;
    assert_status(&one, 200);
    assert_eq!(
        (one.body["filename"].as_str(), one.body["version"].as_u64()),
        (Some("first.csv"), Some(1))
    );
}

#[tokio::test]
async fn imports_need_an_import_role_and_stay_in_their_group() {
    let group = new_group().await;
    let other = new_group().await;
    let created = start_import(&group, &[UPLOADER], "list.csv").await;
    let path = format!("{}/{}", imports(&group), created.body["id"].as_str().unwrap());

    let member = token(&[&group], &[GROUP_ADMIN]);
    for reply in [
        post(&imports(&group))
            .token(&member)
            .json(&json!({"filename": "x.csv"}))
            .send()
            .await,
        get(&imports(&group)).token(&member).send().await,
        get(&path).token(&member).send().await,
    ] {
        assert_status(&reply, 403);
        assert_eq!(reply.problem(), "role-required");
    }

    let outsider = token(&[&other], &[UPLOADER, IMPORT_ADMIN]);
    assert_eq!(get(&path).token(&outsider).send().await.problem(), "group-forbidden");
    let through_other = format!("{}/{}", imports(&other), created.body["id"].as_str().unwrap());
    assert_status(&get(&through_other).token(&outsider).send().await, 404);
    assert_status(
        &get(&format!("{}/imp_nonsense", imports(&group)))
            .token(&token(&[&group], &[UPLOADER]))
            .send()
            .await,
        404,
    );
}

#[tokio::test]
async fn an_import_needs_a_csv_filename() {
    let group = new_group().await;
    for (body, status, problem) in [
        (json!({}), 422, "validation-failed"),
        (json!({"filename": "list.xlsx"}), 422, "validation-failed"),
        (json!({"filename": "a/b.csv"}), 422, "validation-failed"),
        (json!({"filename": "list.csv", "rows": 5}), 400, "invalid-body"),
    ] {
        let reply = post(&imports(&group))
            .token(&token(&[&group], &[UPLOADER]))
            .json(&body)
            .send()
            .await;
        assert_status(&reply, status);
        assert_eq!(reply.problem(), problem, "{body}");
    }
}
