//! Patients through the API: stored in DynamoDB, normalised, versioned, paged, and reachable
//! only inside their group and with the right role.

use e2e::*;
use store::Records;

fn patients(group: &str) -> String {
    format!("/v1/groups/{group}/patients")
}

#[tokio::test]
async fn a_patient_is_created_normalised_stored_and_read_back() {
    let group = new_group().await;
    let created = create_patient(
        &group,
        json!({
            "first_name": " Ada ", "last_name": "Lovelace", "date_of_birth": "03/07/1984", "sex": "F",
            "email": "Ada@Example.ORG", "mobile_phone": "(415) 555-2671", "state": "california", "zip": "94103",
            "external_ids": {"customer": "A-1001"}
        }),
    )
    .await;
    assert_status(&created, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("{}/{id}", patients(&group)).as_str())
    );
    assert_eq!(created.header("etag"), Some("\"1\""));
    for (field, value) in [
        ("first_name", "Ada"),
        ("date_of_birth", "1984-03-07"),
        ("sex", "female"),
        ("email", "ada@example.org"),
        ("mobile_phone", "+14155552671"),
        ("state", "CA"),
    ] {
        assert_eq!(created.body[field], value, "{field}");
    }
    assert_eq!(created.body["external_ids"]["customer"], "A-1001");

    let read = get(&format!("{}/{id}", patients(&group)))
        .token(&token(&[&group], &[]))
        .send()
        .await;
    assert_status(&read, 200);
    assert_eq!(read.body, created.body);

    let key = store::Key::new(format!("G#{group}"), format!("PATIENT#{id}"));
    let stored = records()
        .await
        .get(&key)
        .await
        .unwrap()
        .expect("the patient is in DynamoDB");
    assert_eq!((stored.version, &stored.data["last_name"]), (1, &json!("Lovelace")));
}

#[tokio::test]
async fn members_read_patients_but_only_group_admins_write_them() {
    let group = new_group().await;
    let created = create_patient(&group, ada()).await;
    let path = format!("{}/{}", patients(&group), created.body["id"].as_str().unwrap());
    let reader = token(&[&group], &["importable_files_uploader"]);

    assert_status(&get(&path).token(&reader).send().await, 200);
    let create = post(&patients(&group)).token(&reader).json(&ada()).send().await;
    assert_status(&create, 403);
    assert_eq!(create.problem(), "role-required");
    let update = patch(&path)
        .token(&reader)
        .header("if-match", "\"1\"")
        .json(&json!({"email": null}))
        .send()
        .await;
    assert_status(&update, 403);
}

#[tokio::test]
async fn no_group_reaches_another_groups_patients() {
    let acme = new_group().await;
    let beta = new_group().await;
    let patient = create_patient(&acme, ada()).await;
    let id = patient.body["id"].as_str().unwrap();
    let beta_admin = token(&[&beta], &[GROUP_ADMIN]);

    let listing = get(&patients(&acme)).token(&beta_admin).send().await;
    assert_status(&listing, 403);
    assert_eq!(listing.problem(), "group-forbidden");
    assert_status(
        &get(&format!("{}/{id}", patients(&acme)))
            .token(&beta_admin)
            .send()
            .await,
        403,
    );

    let through_own_group = get(&format!("{}/{id}", patients(&beta)))
        .token(&beta_admin)
        .send()
        .await;
    assert_status(&through_own_group, 404);
    let beta_list = get(&patients(&beta)).token(&beta_admin).send().await;
    assert_eq!(beta_list.body["items"], json!([]));
}

#[tokio::test]
async fn an_update_at_the_current_version_applies_as_a_merge_patch() {
    let group = new_group().await;
    let created = create_patient(&group, json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1984-03-07", "email": "ada@example.org", "city": "London"})).await;
    let path = format!("{}/{}", patients(&group), created.body["id"].as_str().unwrap());
    let admin = token(&[&group], &[GROUP_ADMIN]);

    let updated = patch(&path)
        .token(&admin)
        .header("if-match", "\"1\"")
        .raw(
            "application/merge-patch+json",
            r#"{"email": "ADA@analytical.example", "city": null}"#,
        )
        .send()
        .await;
    assert_status(&updated, 200);
    assert_eq!(updated.header("etag"), Some("\"2\""));
    assert_eq!(updated.body["email"], "ada@analytical.example");
    assert_eq!(updated.body["city"], json!(null));
    assert_eq!(updated.body["first_name"], "Ada");
    assert_eq!(updated.body["created_at"], created.body["created_at"]);

    let unchanged = patch(&path)
        .token(&admin)
        .header("if-match", "\"2\"")
        .json(&json!({"first_name": "Ada"}))
        .send()
        .await;
    assert_status(&unchanged, 200);
    assert_eq!(
        unchanged.body["version"], 2,
        "a patch that changes nothing writes nothing"
    );
}

#[tokio::test]
async fn an_update_carrying_a_stale_version_is_refused_and_changes_nothing() {
    let group = new_group().await;
    let created = create_patient(&group, ada()).await;
    let path = format!("{}/{}", patients(&group), created.body["id"].as_str().unwrap());
    let admin = token(&[&group], &[GROUP_ADMIN]);
    let first = patch(&path)
        .token(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"last_name": "Byron"}))
        .send()
        .await;
    assert_status(&first, 200);

    let stale = patch(&path)
        .token(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"last_name": "King"}))
        .send()
        .await;
    assert_status(&stale, 412);
    assert_eq!(stale.problem(), "stale-version");
    let read = get(&path).token(&admin).send().await;
    assert_eq!(
        (read.body["version"].as_u64(), read.body["last_name"].as_str()),
        (Some(2), Some("Byron"))
    );

    let blind = patch(&path)
        .token(&admin)
        .json(&json!({"last_name": "King"}))
        .send()
        .await;
    assert_status(&blind, 428);
    assert_eq!(blind.problem(), "precondition-required");
    let garbage = patch(&path)
        .token(&admin)
        .header("if-match", "yesterday")
        .json(&json!({}))
        .send()
        .await;
    assert_status(&garbage, 400);
    assert_eq!(garbage.problem(), "invalid-if-match");
}

#[tokio::test]
async fn patients_list_in_pages_with_an_opaque_cursor() {
    let group = new_group().await;
    let mut created = Vec::new();
    for i in 0..5 {
        let reply = create_patient(
            &group,
            json!({"first_name": format!("P{i}"), "last_name": "Page", "date_of_birth": "1990-01-01"}),
        )
        .await;
        created.push(reply.body["id"].as_str().unwrap().to_owned());
    }
    let reader = token(&[&group], &[]);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("{}?limit=2&cursor={cursor}", patients(&group)),
            None => format!("{}?limit=2", patients(&group)),
        };
        let page = get(&path).token(&reader).send().await;
        assert_status(&page, 200);
        pages += 1;
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
            assert!(item["version"].is_u64());
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(pages >= 3);
    assert_eq!(seen, created, "every patient once, in creation order");

    let bad_cursor = get(&format!("{}?cursor=!!notacursor", patients(&group)))
        .token(&reader)
        .send()
        .await;
    assert_status(&bad_cursor, 400);
    assert_eq!(bad_cursor.problem(), "invalid-cursor");
    for limit in ["0", "201", "ten"] {
        let reply = get(&format!("{}?limit={limit}", patients(&group)))
            .token(&reader)
            .send()
            .await;
        assert_status(&reply, 400);
    }
}

#[tokio::test]
async fn an_external_id_belongs_to_one_patient_per_group() {
    let group = new_group().await;
    let with_id = |first: &str| json!({"first_name": first, "last_name": "Link", "date_of_birth": "1970-01-01", "external_ids": {"customer": "C-7"}});
    let first = create_patient(&group, with_id("One")).await;
    assert_status(&first, 201);
    let second = create_patient(&group, with_id("Two")).await;
    assert_status(&second, 409);
    assert!(
        second.body["detail"]
            .as_str()
            .unwrap()
            .contains("customer id is already linked")
    );

    let path = format!("{}/{}", patients(&group), first.body["id"].as_str().unwrap());
    let released = patch(&path)
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .header("if-match", "\"1\"")
        .json(&json!({"external_ids": null}))
        .send()
        .await;
    assert_status(&released, 200);
    assert_status(&create_patient(&group, with_id("Two")).await, 201);

    let elsewhere = new_group().await;
    assert_status(&create_patient(&elsewhere, with_id("Three")).await, 201);
}

#[tokio::test]
async fn a_patients_coach_must_be_a_practitioner_of_the_group() {
    let group = new_group().await;
    let admin = token(&[&group], &[GROUP_ADMIN]);
    let unknown = create_patient(&group, json!({"first_name": "A", "last_name": "B", "date_of_birth": "1990-01-01", "practitioner_id": "prc_0190f0e0a1b27c3d8e9f0a1b2c3d4e5f"})).await;
    assert_status(&unknown, 422);
    assert_eq!(
        unknown.field_errors(),
        [("practitioner_id".to_string(), "unknown_practitioner".to_string())]
    );

    let coach = post(&format!("/v1/groups/{group}/practitioners"))
        .token(&admin)
        .json(&json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@clinic.example"}))
        .send()
        .await;
    assert_status(&coach, 201);
    let assigned = create_patient(&group, json!({"first_name": "A", "last_name": "B", "date_of_birth": "1990-01-01", "practitioner_id": coach.body["id"]})).await;
    assert_status(&assigned, 201);
    assert_eq!(assigned.body["practitioner_id"], coach.body["id"]);
}

#[tokio::test]
async fn unknown_and_malformed_patient_ids_are_not_found() {
    let group = new_group().await;
    let reader = token(&[&group], &[]);
    for id in [
        "pat_0190f0e0a1b27c3d8e9f0a1b2c3d4e5f",
        "nonsense",
        "prc_0190f0e0a1b27c3d8e9f0a1b2c3d4e5f",
    ] {
        let reply = get(&format!("{}/{id}", patients(&group))).token(&reader).send().await;
        assert_status(&reply, 404);
        assert_eq!(reply.problem(), "not-found");
    }
}

#[tokio::test]
async fn an_address_gets_the_groups_default_country_by_patch_and_by_import_alike() {
    let group = new_group_with(json!({"default_country": "GB"})).await;
    let ada = create_patient(&group, ada()).await;
    assert_status(&ada, 201);
    assert_eq!(ada.body["country"], serde_json::Value::Null, "no address, no country");
    let id = ada.body["id"].as_str().unwrap();
    let moved = patch(&format!("{}/{id}", patients(&group)))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .header("if-match", "\"1\"")
        .json(&json!({"address_line1": "10 Downing St", "city": "London"}))
        .send()
        .await;
    assert_status(&moved, 200);
    assert_eq!(moved.body["country"], "GB");

    let import = upload_participants(
        &group,
        "First Name,Last Name,Date of Birth,City\nGrace,Hopper,1906-12-09,Cambridge\n",
    )
    .await;
    assert_eq!(previewed(&group, &import).await.body["status"], "pending");
    let rows = all_results(&group, &import, "create").await;
    assert_eq!(rows[0]["fields"]["country"], "GB", "{rows:?}");
}
