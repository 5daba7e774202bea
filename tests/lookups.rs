//! Finding people costs what the work costs: a preview reads the lookup keys of its rows and the
//! people they find, or the whole group when that takes fewer requests, and every key follows
//! its record through each change. Through the dev host, against DynamoDB Local.

use e2e::*;
use model::lookup::{Lookup, PersonKind};
use serde_json::Value;
use std::time::Duration;
use store::Records;

/// A group that takes files of up to 30,000 rows.
async fn roomy_group() -> String {
    new_group_with(json!({"import_row_limit": 30_000})).await
}

fn participants(range: std::ops::Range<usize>, city: &str) -> String {
    generated_participants(range, city)
}

/// Imports `csv` into `group` and waits for it to be completed.
async fn import(group: &str, csv: String) {
    let id = upload_participants(group, csv).await;
    assert_eq!(previewed(group, &id).await.body["status"], "pending");
    assert_status(&complete(group, &id, None).await, 202);
    let path = format!("/v1/groups/{group}/imports/{id}");
    for _ in 0..1_500 {
        let reply = get(&path).token(&token(&[group], &[UPLOADER])).send().await;
        if reply.body["status"] == "completed" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the import into {group} did not complete within 300 s");
}

/// Previews `csv` in `group` while watching the preview's DynamoDB requests; returns the import
/// and how many reads it took.
async fn preview_reads(group: &str, csv: String) -> (String, u32) {
    let observations = &stack().observations;
    observations.watch(group);
    let id = upload_participants(group, csv).await;
    assert_eq!(previewed(group, &id).await.body["status"], "pending");
    (id, observations.requests(group, "CsvPreviewFunction").reads())
}

/// The ids a lookup key holds, read from the table.
async fn ids_under(group: &str, lookup: &Lookup) -> Vec<String> {
    let group_id = model::GroupId::parse(group).unwrap();
    match records()
        .await
        .get(&store::lookups::key(&group_id, lookup))
        .await
        .unwrap()
    {
        Some(record) => store::lookups::ids(lookup, &record).unwrap(),
        None => Vec::new(),
    }
}

async fn count_of(group: &str, kind: PersonKind) -> u64 {
    let group_id = model::GroupId::parse(group).unwrap();
    let record = records()
        .await
        .get(&store::lookups::count_key(&group_id, kind))
        .await
        .unwrap();
    store::lookups::count_in(record.as_ref()).unwrap()
}

#[tokio::test]
async fn a_preview_reads_at_most_three_keys_per_hundred_rows_or_the_groups_pages() {
    // Groups of 0, 2,000 and 20,000 patients, the last with two patients sharing a name and a
    // birthday.
    let empty = roomy_group().await;
    let small = roomy_group().await;
    import(&small, participants(0..2_000, "Boston")).await;
    let large = roomy_group().await;
    let mut seed = participants(0..20_000, "Boston");
    seed.push_str(",Sam,Twin,2000-01-01,sam@example.org,\n,SAM,twin,2000-01-01,,\n");
    import(&large, seed).await;
    assert_eq!(count_of(&large, PersonKind::Patient).await, 20_002);

    // A constant for the import itself, the group with its counts, and the round that reads
    // the people the keys found.
    const CONSTANT: u32 = 3;
    for (group, patients) in [(&empty, 0u32), (&small, 2_000), (&large, 20_002)] {
        let pages = patients.div_ceil(1_000);
        for rows in [3usize, 1_000, 20_000] {
            let (_, reads) = preview_reads(group, participants(0..rows, "Denver")).await;
            let keys = (3 * rows as u32).div_ceil(100);
            let budget = keys.min(pages) + CONSTANT;
            assert!(
                reads <= budget,
                "{rows} rows against {patients} patients took {reads} reads, more than {budget}"
            );
        }
    }

    // Against the large group the small file was looked up, and matched as a full read would:
    // by External ID, by e-mail, and the twins' name and birthday found both.
    let csv = "External ID,First Name,Last Name,Date of Birth,Email\n\
               P-7,Given7,Family7,1917-08-08,moved@example.org\n\
               ,Someone,Else,1980-01-01,p8@example.org\n\
               ,Sam,Twin,2000-01-01,\n";
    let (id, reads) = preview_reads(&large, csv.into()).await;
    assert!(reads <= 5, "{reads} reads");
    let rows = all_results(&large, &id, "all").await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["update", "update", "error"], "{rows:#?}");
    let twins: Vec<String> = all_patients(&large)
        .await
        .into_iter()
        .filter(|p| p["last_name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("twin")))
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(twins.len(), 2);
    let message = rows[2]["errors"][0]["message"].as_str().unwrap();
    for twin in &twins {
        assert!(message.contains(twin.as_str()), "the error names both: {message}");
    }
}

fn path(group: &str, id: &str) -> String {
    format!("/v1/groups/{group}/patients/{id}")
}

async fn edit(group: &str, id: &str, version: u64, patch_body: Value) -> Reply {
    patch(&path(group, id))
        .token(&token(&[group], &[GROUP_ADMIN]))
        .header("if-match", &format!("\"{version}\""))
        .json(&patch_body)
        .send()
        .await
}

#[tokio::test]
async fn a_lookup_key_follows_every_change_of_its_record() {
    let group = new_group().await;
    let created = create_patient(
        &group,
        json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1984-03-07",
               "email": "ada@example.org", "external_ids": {"customer": "A-1"}}),
    )
    .await;
    assert_status(&created, 201);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let born = chrono::NaiveDate::from_ymd_opt(1984, 3, 7).unwrap();
    let old_email = Lookup::patient_email("ada@example.org");
    let new_email = Lookup::patient_email("augusta@example.org");
    let link = Lookup::PatientLink(model::external::ExternalSystem::Customer, "A-1".into());
    let identity = Lookup::patient_identity("ADA", "lovelace", born);
    for key in [&old_email, &link, &identity] {
        assert_eq!(ids_under(&group, key).await, vec![id.clone()], "{key:?}");
    }
    assert_eq!(count_of(&group, PersonKind::Patient).await, 1);

    // A changed e-mail moves its key.
    assert_status(
        &edit(&group, &id, 1, json!({"email": "Augusta@Example.org"})).await,
        200,
    );
    assert_eq!(ids_under(&group, &old_email).await, Vec::<String>::new());
    assert_eq!(ids_under(&group, &new_email).await, vec![id.clone()]);

    // An External ID taken away takes its link with it.
    assert_status(&edit(&group, &id, 2, json!({"external_ids": null})).await, 200);
    assert_eq!(ids_under(&group, &link).await, Vec::<String>::new());

    // Deleting the patient removes every key it held and its place in the count.
    let stale = call(request_method("DELETE"), &path(&group, &id))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .header("if-match", "\"2\"")
        .send()
        .await;
    assert_status(&stale, 412);
    let deleted = call(request_method("DELETE"), &path(&group, &id))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .header("if-match", "\"3\"")
        .send()
        .await;
    assert_status(&deleted, 204);
    for key in [&new_email, &identity] {
        assert_eq!(ids_under(&group, key).await, Vec::<String>::new(), "{key:?}");
    }
    assert_eq!(count_of(&group, PersonKind::Patient).await, 0);
    let gone = get(&path(&group, &id)).token(&token(&[&group], &[])).send().await;
    assert_status(&gone, 404);
}

#[tokio::test]
async fn of_two_edits_at_one_version_the_refused_one_leaves_no_key() {
    let group = new_group().await;
    let created = create_patient(&group, ada()).await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let (first, second) = tokio::join!(
        edit(&group, &id, 1, json!({"email": "first@example.org"})),
        edit(&group, &id, 1, json!({"email": "second@example.org"})),
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [200, 412], "one edit wins: {first:?} {second:?}");
    let (won, lost) = if first.status == 200 {
        ("first@example.org", "second@example.org")
    } else {
        ("second@example.org", "first@example.org")
    };
    assert_eq!(ids_under(&group, &Lookup::patient_email(won)).await, vec![id.clone()]);
    assert_eq!(
        ids_under(&group, &Lookup::patient_email(lost)).await,
        Vec::<String>::new()
    );
    assert_eq!(
        ids_under(&group, &Lookup::patient_email("ada@example.org")).await,
        Vec::<String>::new()
    );
}

/// Every record in `partition` whose sort key starts with `prefix`, page by page.
async fn records_under(partition: &str, prefix: &str) -> Vec<store::Record> {
    let table = records().await;
    let mut found = Vec::new();
    let mut after = None;
    loop {
        let page = table
            .query(
                partition,
                prefix,
                store::PageRequest {
                    limit: 1000,
                    after,
                    newest_first: false,
                },
            )
            .await
            .unwrap();
        found.extend(page.records);
        match page.next {
            Some(next) => after = Some(next),
            None => return found,
        }
    }
}

/// Makes `group` look as a group did before lookup keys: its counts and key state removed and,
/// with `keys_too`, its patients' and practitioners' keys (other than links, which always
/// existed).
async fn forget_keys(group: &str, keys_too: bool) {
    let group_partition = format!("G#{group}");
    let keys_partition = store::lookups::set_partition(&model::GroupId::parse(group).unwrap());
    let mut doomed = vec![(&group_partition, "COUNT#"), (&group_partition, "LOOKUPSTATE")];
    if keys_too {
        doomed.push((&keys_partition, store::lookups::SET_PREFIX));
    }
    let table = records().await;
    for (partition, prefix) in doomed {
        for record in records_under(partition, prefix).await {
            let delete = store::Write::Delete {
                key: record.key,
                condition: store::Condition::Always,
            };
            table.write(vec![delete]).await.unwrap();
        }
    }
}

/// Every set key of the group holding someone, as (sort key, ids).
async fn set_keys(group: &str) -> Vec<(String, Vec<String>)> {
    let partition = store::lookups::set_partition(&model::GroupId::parse(group).unwrap());
    records_under(&partition, store::lookups::SET_PREFIX)
        .await
        .into_iter()
        .map(|record| {
            let ids: Vec<String> = record.data["members"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| m.as_str().unwrap().to_owned())
                .collect();
            (record.key.sk, ids)
        })
        .filter(|(_, ids)| !ids.is_empty())
        .collect()
}

/// Waits until the group's lookup keys are marked complete.
async fn keys_complete(group: &str) {
    let key = store::Key::new(format!("G#{group}"), "LOOKUPSTATE");
    for _ in 0..300 {
        if let Some(state) = records().await.get(&key).await.unwrap()
            && state.data["complete"] == true
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the group's lookup keys were not filled in within 30 s");
}

#[tokio::test]
async fn older_records_get_their_keys_once_however_often_the_fill_runs() {
    let group = roomy_group().await;
    // 1,200 patients (more than one job's batches), two of each sharing an e-mail, and a coach.
    let mut csv = String::from("External ID,First Name,Last Name,Date of Birth,Email\n");
    for n in 0..1_200 {
        csv.push_str(&format!(
            "P-{n},Given{n},Family,1980-01-01,family{}@example.org\n",
            n / 2
        ));
    }
    import(&group, csv).await;
    let coach = post(&format!("/v1/groups/{group}/practitioners"))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .json(&json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@clinic.example"}))
        .send()
        .await;
    assert_status(&coach, 201);
    let written = set_keys(&group).await;
    assert_eq!(
        written.len(),
        600 + 1_200 + 1,
        "an e-mail per pair, an identity each, the coach's e-mail"
    );

    // First as a group from before lookup keys; then the fill runs again over keys it made.
    for (round, keys_too) in [(0, true), (1, false)] {
        forget_keys(&group, keys_too).await;
        if keys_too {
            assert_eq!(set_keys(&group).await, Vec::new(), "as before lookup keys");
        }
        // The next preview finds the keys incomplete: it reads the group whole, and starts the fill.
        let (id, _) = preview_reads(
            &group,
            "First Name,Last Name,Date of Birth\nGiven3,Family,1980-01-01\n".into(),
        )
        .await;
        assert_eq!(
            all_results(&group, &id, "all").await[0]["action"],
            "unchanged",
            "round {round}"
        );
        keys_complete(&group).await;
        assert_eq!(
            set_keys(&group).await,
            written,
            "round {round}: exactly the keys the records keep"
        );
        assert_eq!(count_of(&group, PersonKind::Patient).await, 1_200);
        assert_eq!(count_of(&group, PersonKind::Practitioner).await, 1);
    }
    // Once complete, the fill is not started again: a third run over complete keys changes nothing.
    let (_, _) = preview_reads(
        &group,
        "First Name,Last Name,Date of Birth\nNew,Person,1990-01-01\n".into(),
    )
    .await;
    assert_eq!(set_keys(&group).await, written);
}
