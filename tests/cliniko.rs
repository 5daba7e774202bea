//! Cliniko through the dev host: the API key checked on its shard against the Cliniko sandbox
//! over HTTP and kept only in Secrets Manager, enabling without a preview, and the client list
//! with the clients in error first.

use e2e::*;
use serde_json::Value;

fn admin(group: &str) -> String {
    token(&[group], &[INTEGRATION_ADMIN])
}

/// The Cliniko sandbox's control plane, as the clinic's own users use Cliniko.
async fn clinic(method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    control_with(method, &stack().cliniko, path, body).await
}

/// What a clinic's users add to its Cliniko account: a client, or a list of them.
async fn add_clients(account: &str, clients: Value) -> Value {
    clinic(
        reqwest::Method::POST,
        &format!("/accounts/{account}/patients"),
        Some(clients),
    )
    .await
}

/// A key of a new clinic's account on `shard`, and the account's name.
async fn new_clinic(shard: &str) -> (String, String) {
    let made = clinic(reqwest::Method::POST, "/keys", Some(json!({"shard": shard}))).await;
    (
        made["api_key"].as_str().unwrap().to_owned(),
        made["account"].as_str().unwrap().to_owned(),
    )
}

/// The requests the sandbox answered for one clinic's account, oldest first.
async fn requests_of(account: &str) -> Vec<Value> {
    let all = clinic(reqwest::Method::GET, "/requests", None).await;
    all.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["account"] == account)
        .cloned()
        .collect()
}

/// The most of these requests the sandbox answered within any `window_ms`, however placed.
fn busiest(asked: &[Value], window_ms: i64) -> u64 {
    let mut times: Vec<i64> = asked
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r["at"].as_str().unwrap())
                .unwrap()
                .timestamp_millis()
        })
        .collect();
    times.sort_unstable();
    (0..times.len())
        .map(|first| {
            times[first..]
                .iter()
                .take_while(|t| **t - times[first] < window_ms)
                .count()
        })
        .max()
        .unwrap_or(0) as u64
}

async fn store_key(group: &str, body: &Value) -> Reply {
    put(&format!("/v1/groups/{group}/integrations/cliniko/credentials"))
        .token(&admin(group))
        .json(body)
        .send()
        .await
}

async fn activated(group: &str) {
    let reply = post(&format!("/v1/groups/{group}/integrations/cliniko/activate"))
        .token(&admin(group))
        .send()
        .await;
    assert_status(&reply, 200);
}

async fn stored_secret(group: &str) -> Option<String> {
    use store::secrets::Secrets;
    let config = store::aws::load_config().await;
    let secrets = store::secrets::SecretsManager::new(store::aws::secrets_manager(&config));
    let name = format!("carebridge/{}/{group}/cliniko", stack().stage);
    secrets.get(&name).await.unwrap()
}

#[tokio::test]
async fn a_bad_key_is_refused_on_save_and_a_good_one_is_kept_only_in_secrets_manager() {
    let group = new_group().await;
    activated(&group).await;
    let (key, _) = new_clinic("au2").await;

    let unknown = store_key(&group, &json!({"api_key": "MS0xLW5vdC1hLXJlYWwta2V5-au2"})).await;
    assert_status(&unknown, 422);
    assert_eq!(unknown.problem(), "vendor-refused");
    assert!(
        unknown.body["detail"].as_str().unwrap().contains("not valid"),
        "Cliniko's reason: {}",
        unknown.text
    );
    let wrong_shard = store_key(
        &group,
        &json!({"api_key": format!("{}-uk1", key.rsplit_once('-').unwrap().0)}),
    )
    .await;
    assert_status(&wrong_shard, 422);
    let garbled = store_key(&group, &json!({"api_key": "has spaces in it"})).await;
    assert_status(&garbled, 422);
    assert_eq!(
        garbled.field_errors(),
        [("api_key".to_owned(), "invalid_api_key".to_owned())]
    );
    let stranger = store_key(&group, &json!({"api_key": key, "password": "x"})).await;
    assert_status(&stranger, 400);
    assert_eq!(
        stored_secret(&group).await,
        None,
        "nothing is kept until Cliniko accepts a key"
    );

    let saved = store_key(&group, &json!({"api_key": key})).await;
    assert_status(&saved, 200);
    assert!(
        saved.body["base_url"].as_str().unwrap().ends_with("/au2/v1"),
        "the key's shard picks the host"
    );
    assert!(saved.body["credentials_verified_at"].is_string());
    assert!(!saved.text.contains(&key), "the key is never returned");
    assert!(stored_secret(&group).await.unwrap().contains(&key));
    let read = get(&format!("/v1/groups/{group}/integrations/cliniko"))
        .token(&admin(&group))
        .send()
        .await;
    assert!(!read.text.contains(&key));
}

#[tokio::test]
async fn cliniko_is_enabled_once_its_key_is_verified_without_a_preview() {
    let group = new_group().await;
    activated(&group).await;
    let enable = |group: String| async move {
        post(&format!("/v1/groups/{group}/integrations/cliniko/enable"))
            .token(&admin(&group))
            .send()
            .await
    };
    let early = enable(group.clone()).await;
    assert_status(&early, 409);
    assert!(early.body["detail"].as_str().unwrap().contains("no credentials"));

    let (key, _) = new_clinic("au3").await;
    assert_status(&store_key(&group, &json!({"api_key": key})).await, 200);
    let preview = post(&format!("/v1/groups/{group}/integrations/cliniko/preview"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&preview, 409);
    assert!(preview.body["detail"].as_str().unwrap().contains("no preview"));
    let enabled = enable(group.clone()).await;
    assert_status(&enabled, 202);
    assert_eq!(enabled.body["status"], "active");
    assert!(
        enabled.body.get("initial_import").is_none(),
        "nothing is imported until asked"
    );
}

#[tokio::test]
async fn the_client_list_shows_the_clients_in_error_first_each_with_its_reasons() {
    let group = new_group_with(json!({"default_country": "AU"})).await;
    activated(&group).await;
    let (key, account) = new_clinic("au2").await;
    assert_status(&store_key(&group, &json!({"api_key": key})).await, 200);
    // 300 clients; every tenth lacks something the guide requires.
    let clients: Vec<Value> = (0..300)
        .map(|n| {
            let mut client = json!({
                "first_name": format!("Client{n:03}"), "last_name": "Cliniko",
                "date_of_birth": "1980-02-03", "sex": "Female", "email": format!("client{n}@example.com"),
            });
            if n % 10 == 3 {
                let gone = ["first_name", "last_name", "date_of_birth", "sex", "email"][(n / 10) % 5];
                client.as_object_mut().unwrap().remove(gone);
            }
            client
        })
        .collect();
    add_clients(&account, Value::Array(clients)).await;

    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/groups/{group}/integrations/cliniko/patients?limit=200&cursor={cursor}"),
            None => format!("/v1/groups/{group}/integrations/cliniko/patients?limit=200"),
        };
        let page = get(&path).token(&admin(&group)).send().await;
        assert_status(&page, 200);
        listed.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(listed.len(), 300);
    let in_error: Vec<&Value> = listed
        .iter()
        .take_while(|c| !c["errors"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(in_error.len(), 30, "the 30 in error come first");
    assert!(listed[30..].iter().all(|c| c["errors"].as_array().unwrap().is_empty()));
    let codes: std::collections::BTreeSet<&str> = in_error
        .iter()
        .map(|c| c["errors"][0]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes.into_iter().collect::<Vec<_>>(),
        [
            "missing_date_of_birth",
            "missing_email",
            "missing_first_name",
            "missing_last_name",
            "missing_sex"
        ]
    );
    assert!(
        in_error.iter().all(|c| c["errors"].as_array().unwrap().len() == 1),
        "one reason each"
    );

    let coach = token(&[&group], &["group_admin"]);
    let refused = get(&format!("/v1/groups/{group}/integrations/cliniko/patients"))
        .token(&coach)
        .send()
        .await;
    assert_status(&refused, 403);
}

/// A group with Cliniko enabled on a new clinic's key: the group and the clinic's account.
async fn connected_group() -> (String, String) {
    connected_group_with(json!({"default_country": "AU"})).await
}

/// As [`connected_group`], for a group with these settings.
async fn connected_group_with(settings: Value) -> (String, String) {
    let group = new_group_with(settings).await;
    activated(&group).await;
    let (key, account) = new_clinic("au2").await;
    assert_status(&store_key(&group, &json!({"api_key": key})).await, 200);
    let enabled = post(&format!("/v1/groups/{group}/integrations/cliniko/enable"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&enabled, 202);
    (group, account)
}

/// Starts a sync and reads its run until it has finished.
async fn synced(group: &str, body: Option<Value>) -> Value {
    let mut start = post(&format!("/v1/groups/{group}/integrations/cliniko/syncs")).token(&admin(group));
    if let Some(body) = body {
        start = start.json(&body);
    }
    let started = start.send().await;
    assert_status(&started, 202);
    let run = started.body["id"].as_str().unwrap().to_owned();
    for _ in 0..600 {
        let reply = get(&format!("/v1/groups/{group}/integrations/cliniko/runs/{run}"))
            .token(&admin(group))
            .send()
            .await;
        if matches!(reply.body["status"].as_str(), Some("succeeded" | "failed")) {
            return reply.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("sync {run} did not finish within 120 s");
}

async fn every_failed(group: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(&format!(
            "/v1/groups/{group}/integrations/cliniko/failed?limit=200{cursor}"
        ))
        .token(&admin(group))
        .send()
        .await;
        assert_status(&page, 200);
        all.extend(page.body["items"].as_array().unwrap().iter().cloned());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

/// Client `n` of a clinic: every twentieth lacks one field the guide requires.
fn generated_client(n: usize) -> Value {
    let mut client = json!({
        "first_name": format!("Client{n:04}"), "last_name": "Synced", "date_of_birth": "1975-06-07",
        "sex": if n.is_multiple_of(2) { "Female" } else { "Male" }, "email": format!("client{n}@clinic.example"),
        "patient_phone_numbers": [{"phone_type": "Mobile", "number": "0412 345 678"}],
        "address_1": "1 Smith Street", "city": "Melbourne", "state": "VIC", "post_code": "3000",
        "country_code": "AU",
    });
    if n % 20 == 7 {
        let gone = ["first_name", "last_name", "date_of_birth", "sex", "email"][(n / 20) % 5];
        client.as_object_mut().unwrap().remove(gone);
    }
    client
}

#[tokio::test]
async fn a_full_sync_takes_every_complete_client_once_and_keeps_the_rest_as_failed_until_fixed() {
    let (group, account) = connected_group().await;
    let clients: Vec<Value> = (0..1000).map(generated_client).collect();
    let created = add_clients(&account, Value::Array(clients)).await;
    // Past the local stack's overlap (250 ms), so the incremental sync below reads only what
    // changed after this one.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let run = synced(&group, None).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["kind"], "full_sync");
    assert_eq!(run["outcome"], json!({"synced": 950, "failed": 50, "unlinked": 0}));
    assert_eq!(run["progress"], json!({"fetched": 1000, "total": 1000}));
    assert_eq!(all_patients(&group).await.len(), 950);

    let failed = every_failed(&group).await;
    assert_eq!(failed.len(), 50);
    assert!(
        failed.iter().all(|f| f["reasons"].as_array().unwrap().len() == 1),
        "one reason each"
    );
    let skipped = get(&format!(
        "/v1/groups/{group}/integrations/cliniko/runs/{}/results?filter=skip&limit=200",
        run["id"].as_str().unwrap()
    ))
    .token(&admin(&group))
    .send()
    .await;
    assert_eq!(skipped.body["items"].as_array().unwrap().len(), 50);
    assert!(
        skipped.body["items"][0]["warnings"][0]["code"]
            .as_str()
            .unwrap()
            .starts_with("missing_")
    );

    // The clinic fixes 20 of them in Cliniko; the next sync takes those, and only those.
    let broken = created
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(n, _)| n % 20 == 7);
    for (fixed, (_, client)) in broken.take(20).enumerate() {
        let mut repair = serde_json::Map::new();
        for (field, value) in [
            ("first_name", json!(format!("Fixed{fixed}"))),
            ("last_name", json!("Fixed")),
            ("date_of_birth", json!("1975-06-07")),
            ("sex", json!("Female")),
            ("email", json!(format!("fixed{fixed}@clinic.example"))),
        ] {
            if client[field].is_null() || client[field] == "" {
                repair.insert(field.into(), value);
            }
        }
        assert_eq!(repair.len(), 1, "each broken client lacks one field: {client}");
        let id = client["id"].as_u64().unwrap();
        clinic(
            reqwest::Method::PATCH,
            &format!("/accounts/{account}/patients/{id}"),
            Some(Value::Object(repair)),
        )
        .await;
    }
    // And archives one synced client and deletes another.
    let (archived, deleted) = (created[0]["id"].as_u64().unwrap(), created[1]["id"].as_u64().unwrap());
    clinic(
        reqwest::Method::POST,
        &format!("/accounts/{account}/patients/{archived}/archive"),
        None,
    )
    .await;
    clinic(
        reqwest::Method::DELETE,
        &format!("/accounts/{account}/patients/{deleted}"),
        None,
    )
    .await;
    let before = requests_of(&account).await.len();

    let incremental = synced(&group, Some(json!({"mode": "incremental"}))).await;
    assert_eq!(incremental["kind"], "incremental_sync");
    assert!(incremental["changed_since"].is_string(), "{incremental}");
    assert_eq!(
        incremental["outcome"],
        json!({"synced": 20, "failed": 0, "unlinked": 2}),
        "{incremental}"
    );
    assert_eq!(
        incremental["progress"]["total"], 20,
        "only the changed clients are read"
    );
    assert_eq!(every_failed(&group).await.len(), 30);
    assert_eq!(
        all_patients(&group).await.len(),
        970,
        "nobody is created twice, nobody deleted"
    );

    let asked = requests_of(&account).await.split_off(before);
    assert!(!asked.is_empty());
    for request in &asked {
        let path = request["path"].as_str().unwrap();
        assert!(
            [
                "/au2/v1/patients",
                "/au2/v1/patients/archived",
                "/au2/v1/patients/deleted",
                "/au2/v1/individual_appointments",
                "/au2/v1/individual_appointments/cancelled",
                "/au2/v1/individual_appointments/deleted",
            ]
            .contains(&path),
            "only lists are read, never a client one by one: {path}"
        );
        let filtered = request["query"]
            .as_array()
            .unwrap()
            .iter()
            .any(|pair| pair[0] == "q[]" && pair[1].as_str().unwrap().starts_with("updated_at:>"));
        assert!(filtered, "every list asks only for what changed: {request}");
    }

    for (cliniko_id, reason) in [(archived, "archived"), (deleted, "deleted")] {
        let marked = all_patients(&group)
            .await
            .into_iter()
            .find(|p| p["unlinked"][0]["external_id"].as_str() == Some(cliniko_id.to_string().as_str()))
            .unwrap_or_else(|| panic!("the patient of client {cliniko_id} is kept, marked"));
        assert_eq!(marked["unlinked"][0]["reason"], reason);
        assert!(
            marked["external_ids"].get("cliniko").is_none(),
            "and unlinked: {marked}"
        );
    }
}

#[tokio::test]
async fn a_sync_is_refused_until_cliniko_is_enabled_and_an_unknown_mode_is_named() {
    let group = new_group().await;
    activated(&group).await;
    let early = post(&format!("/v1/groups/{group}/integrations/cliniko/syncs"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&early, 409);
    let (group, _) = connected_group().await;
    let odd = post(&format!("/v1/groups/{group}/integrations/cliniko/syncs"))
        .token(&admin(&group))
        .json(&json!({"mode": "sideways"}))
        .send()
        .await;
    assert_status(&odd, 400);
    let elation = post(&format!("/v1/groups/{group}/integrations/elation/syncs"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&elation, 409);
}

#[tokio::test]
async fn a_field_cliniko_keeps_cannot_be_edited_here_while_the_patient_is_linked_to_cliniko() {
    let (group, account) = connected_group().await;
    add_clients(&account, generated_client(1)).await;
    assert_eq!(
        synced(&group, None).await["outcome"],
        json!({"synced": 1, "failed": 0, "unlinked": 0})
    );
    let patient = all_patients(&group).await.remove(0);
    let id = patient["id"].as_str().unwrap();
    let edit = |body: Value, version: u64| {
        let group = group.clone();
        async move {
            patch(&format!("/v1/groups/{group}/patients/{id}"))
                .token(&token(&[&group], &["group_admin"]))
                .header("If-Match", &format!("\"{version}\""))
                .raw("application/merge-patch+json", body.to_string())
                .send()
                .await
        }
    };
    let refused = edit(json!({"first_name": "Renamed", "email": "new@example.com"}), 1).await;
    assert_status(&refused, 409);
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("Cliniko keeps email, first_name"), "{detail}");
    // carebridge's own fields stay the caller's.
    assert_status(&edit(json!({"middle_name": "Own"}), 1).await, 200);
}

#[tokio::test]
async fn opening_a_client_from_cliniko_creates_then_updates_one_profile_and_names_what_is_missing() {
    let (group, account) = connected_group().await;
    let client = add_clients(&account, generated_client(2)).await;
    let id = client["id"].as_u64().unwrap();
    let member = token(&[&group], &[]);
    let open = |id: String| {
        let (group, member) = (group.clone(), member.clone());
        async move {
            get(&format!("/v1/groups/{group}/integrations/cliniko/open?patient_id={id}"))
                .token(&member)
                .send()
                .await
        }
    };
    let created = open(id.to_string()).await;
    assert_status(&created, 201);
    assert_eq!(created.body["first_name"], "Client0002");
    assert_eq!(created.body["external_ids"]["cliniko"], id.to_string());

    clinic(
        reqwest::Method::PATCH,
        &format!("/accounts/{account}/patients/{id}"),
        Some(json!({"last_name": "Renamed"})),
    )
    .await;
    let updated = open(id.to_string()).await;
    assert_status(&updated, 200);
    assert_eq!(
        (updated.body["id"].clone(), updated.body["last_name"].clone()),
        (created.body["id"].clone(), json!("Renamed"))
    );
    assert_eq!(all_patients(&group).await.len(), 1, "one profile, opened twice");

    let lacking = add_clients(
        &account,
        json!({"first_name": "No", "last_name": "Birthday", "sex": "Male"}),
    )
    .await;
    let refused = open(lacking["id"].to_string()).await;
    assert_status(&refused, 422);
    assert_eq!(
        refused.field_errors(),
        [
            ("date_of_birth".to_owned(), "missing_date_of_birth".to_owned()),
            ("email".to_owned(), "missing_email".to_owned())
        ]
    );
    assert_eq!(every_failed(&group).await.len(), 1, "kept as failed");
    assert_status(&open("999".into()).await, 404);
    assert_status(&open("not-an-id".into()).await, 400);
    let stranger = get(&format!("/v1/groups/{group}/integrations/cliniko/open?patient_id={id}"))
        .token(&token(&["some-other-group"], &[]))
        .send()
        .await;
    assert_status(&stranger, 403);
}

#[tokio::test]
async fn everything_that_reads_one_groups_cliniko_at_once_stays_under_its_limit_together() {
    let (group, account) = connected_group().await;
    // 2,500 clients: 25 pages each time the list is read.
    let clients: Vec<Value> = (0..2500).map(generated_client).collect();
    add_clients(&account, Value::Array(clients)).await;
    let before = requests_of(&account).await.len();

    // Three readers of the list at once, each through its own request to the API: 75 requests
    // against a limit of 40 in any 2 s.
    let read = |group: String| async move {
        get(&format!("/v1/groups/{group}/integrations/cliniko/patients?limit=1"))
            .token(&admin(&group))
            .send()
            .await
    };
    let (a, b, c) = tokio::join!(read(group.clone()), read(group.clone()), read(group.clone()));
    for reply in [a, b, c] {
        assert_status(&reply, 200);
    }
    let window_ms = CLINIKO_LIMIT.per.as_millis() as i64;
    let asked = requests_of(&account).await.split_off(before);
    assert_eq!(asked.len(), 75, "every page was read");
    assert!(asked.iter().all(|r| r["status"] == 200), "and none was refused");
    let most = busiest(&asked, window_ms);
    assert!(
        most <= u64::from(CLINIKO_LIMIT.requests),
        "at most {} requests in any {window_ms} ms, the sandbox counted {most}",
        CLINIKO_LIMIT.requests
    );
}

#[tokio::test]
async fn cancelling_cliniko_stops_its_syncs_and_keeps_every_patient_linked_as_it_was() {
    let (group, account) = connected_group().await;
    add_clients(&account, generated_client(4)).await;
    assert_eq!(synced(&group, None).await["status"], "succeeded");
    let cancelled = post(&format!("/v1/groups/{group}/integrations/cliniko/cancel"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&cancelled, 200);
    assert_eq!(cancelled.body["status"], "cancelled");
    let kept = all_patients(&group).await;
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0]["external_ids"]["cliniko"].is_string(),
        "links and data stay: {}",
        kept[0]
    );
    let refused = post(&format!("/v1/groups/{group}/integrations/cliniko/syncs"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&refused, 409);
}

#[tokio::test]
async fn two_syncs_of_one_groups_cliniko_at_once_stay_under_its_limit_together() {
    let (group, account) = connected_group().await;
    // 2,000 clients: each full sync reads 20 pages of them, then the appointments (which name
    // each client's coach) and the archived and deleted lists.
    let clients: Vec<Value> = (0..2000).map(generated_client).collect();
    add_clients(&account, Value::Array(clients)).await;
    assert_eq!(synced(&group, None).await["status"], "succeeded");
    let before = requests_of(&account).await.len();

    // Two more at once: 46 requests against a limit of 40 in any 2 s.
    let (a, b) = tokio::join!(synced(&group, None), synced(&group, None));
    for run in [&a, &b] {
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["outcome"]["synced"], 1900, "{run}");
    }
    let asked = requests_of(&account).await.split_off(before);
    assert_eq!(asked.len(), 46, "both read every page");
    assert!(asked.iter().all(|r| r["status"] == 200), "and none was refused");
    let window_ms = CLINIKO_LIMIT.per.as_millis() as i64;
    let most = busiest(&asked, window_ms);
    assert!(
        most <= u64::from(CLINIKO_LIMIT.requests),
        "at most {} requests in any {window_ms} ms, the sandbox counted {most}",
        CLINIKO_LIMIT.requests
    );
}

#[tokio::test]
async fn a_group_with_an_app_url_sends_a_client_opened_from_cliniko_to_its_own_page() {
    let (group, account) =
        connected_group_with(json!({"default_country": "AU", "app_url": "https://care.example.com/patient"})).await;
    let client = add_clients(&account, generated_client(3)).await;
    // As the clinic's browser would, without following the redirect out of this machine.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = browser
        .get(format!(
            "{}/v1/groups/{group}/integrations/cliniko/open?patient_id={}",
            stack().url,
            client["id"]
        ))
        .bearer_auth(token(&[&group], &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status().as_u16(), 303);
    let patient = all_patients(&group).await.remove(0);
    assert_eq!(
        opened.headers()["location"].to_str().unwrap(),
        format!(
            "https://care.example.com/patient?patient_id={}",
            patient["id"].as_str().unwrap()
        )
    );
}

/// A practitioner added in the clinic's Cliniko (with the user account that holds its e-mail),
/// and its Cliniko id.
async fn add_practitioner(account: &str, first_name: &str, email: &str) -> String {
    let made = clinic(
        reqwest::Method::POST,
        &format!("/accounts/{account}/practitioners"),
        Some(json!({"first_name": first_name, "last_name": "Practitioner", "email": email})),
    )
    .await;
    made["id"].as_str().unwrap().to_owned()
}

/// Books an appointment of a client with a practitioner; answers with its Cliniko id.
async fn book(account: &str, client: &Value, practitioner: &str, starts_at: &str) -> u64 {
    let booked = clinic(
        reqwest::Method::POST,
        &format!("/accounts/{account}/appointments"),
        Some(json!({"patient_id": client["id"], "practitioner_id": practitioner, "starts_at": starts_at})),
    )
    .await;
    booked["id"].as_u64().unwrap()
}

/// The carebridge coach linked to each Cliniko practitioner, by Cliniko id.
async fn coaches_by_cliniko_id(group: &str) -> std::collections::HashMap<String, Value> {
    let listed = get(&format!("/v1/groups/{group}/practitioners?limit=200"))
        .token(&token(&[group], &[GROUP_ADMIN]))
        .send()
        .await;
    assert_status(&listed, 200);
    listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| Some((c["external_ids"]["cliniko"].as_str()?.to_owned(), c.clone())))
        .collect()
}

/// A finished run's per-patient results.
async fn results_of(group: &str, run: &str) -> Vec<Value> {
    let reply = get(&format!(
        "/v1/groups/{group}/integrations/cliniko/runs/{run}/results?filter=patients&limit=200"
    ))
    .token(&admin(group))
    .send()
    .await;
    assert_status(&reply, 200);
    reply.body["items"].as_array().unwrap().clone()
}

/// The coach (carebridge id) of the patient linked to Cliniko client `client`.
async fn coach_of(group: &str, client: &Value) -> Value {
    let id = client["id"].to_string();
    let patients = all_patients(group).await;
    let patient = patients
        .iter()
        .find(|p| p["external_ids"]["cliniko"] == id.as_str())
        .unwrap_or_else(|| panic!("no patient is linked to Cliniko client {id}"));
    patient.get("practitioner_id").cloned().unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_clients_coach_is_the_practitioner_of_their_latest_appointment_in_cliniko() {
    let (group, account) = connected_group().await;
    let randy = add_practitioner(&account, "Randy", "randy@clinic.example").await;
    let dana = add_practitioner(&account, "Dana", "dana@clinic.example").await;
    let ann = add_clients(&account, generated_client(0)).await;
    let bo = add_clients(&account, generated_client(1)).await;
    let cy = add_clients(&account, generated_client(2)).await;
    book(&account, &ann, &randy, "2026-03-01T09:00:00Z").await;
    book(&account, &bo, &randy, "2026-02-01T09:00:00Z").await;
    let bos_latest = book(&account, &bo, &dana, "2026-04-01T09:00:00Z").await;
    // Past the overlap an incremental sync reads again, so it sees only what changes below.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    let full = synced(&group, None).await;
    assert_eq!(full["status"], "succeeded", "{full}");
    assert_eq!(full["outcome"]["synced"], 3);
    let coaches = coaches_by_cliniko_id(&group).await;
    assert_eq!(
        coaches.len(),
        2,
        "each practitioner a client sees is a coach: {coaches:?}"
    );
    assert_eq!(
        coaches[&randy]["email"], "randy@clinic.example",
        "found by its user's e-mail"
    );
    assert_eq!(coaches[&randy]["kind"], "coach");
    assert_eq!(coach_of(&group, &ann).await, coaches[&randy]["id"]);
    assert_eq!(
        coach_of(&group, &bo).await,
        coaches[&dana]["id"],
        "the latest appointment decides"
    );
    assert_eq!(coach_of(&group, &cy).await, Value::Null, "no appointment, no coach");

    // Bo's appointment with Dana is cancelled; Cy books with a practitioner whose user has no
    // e-mail, so carebridge cannot make them a coach.
    clinic(
        reqwest::Method::POST,
        &format!("/accounts/{account}/appointments/{bos_latest}/cancel"),
        None,
    )
    .await;
    let unreachable = add_practitioner(&account, "Noemail", "").await;
    book(&account, &cy, &unreachable, "2026-05-01T09:00:00Z").await;
    clinic(reqwest::Method::DELETE, "/requests", None).await;
    let incremental = synced(&group, Some(json!({"mode": "incremental"}))).await;
    assert_eq!(incremental["status"], "succeeded", "{incremental}");
    assert_eq!(
        incremental["outcome"]["synced"], 2,
        "the two clients whose appointments changed: {incremental}"
    );
    assert_eq!(
        coach_of(&group, &bo).await,
        coaches[&randy]["id"],
        "back to the one still booked"
    );
    assert_eq!(coach_of(&group, &cy).await, Value::Null);
    let cys_result = results_of(&group, incremental["id"].as_str().unwrap())
        .await
        .into_iter()
        .find(|r| r["entity"] == "patient" && r["vendor_id"].as_str() == Some(cy["id"].to_string().as_str()))
        .unwrap();
    assert_eq!(cys_result["action"], "unchanged", "Cy keeps no coach: {cys_result}");
    assert_eq!(
        cys_result["warnings"][0]["code"], "physician_not_imported",
        "{cys_result}"
    );
    let client_reads: Vec<Value> = requests_of(&account)
        .await
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/patients"))
        .collect();
    let filters: Vec<String> = client_reads
        .iter()
        .flat_map(|r| r["query"].as_array().unwrap().clone())
        .filter(|pair| pair[0] == "q[]")
        .map(|pair| pair[1].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(filters.len(), 2, "{filters:?}");
    assert!(filters[0].starts_with("updated_at:>"), "{filters:?}");
    let mut asked: Vec<&str> = filters[1].trim_start_matches("id:=").split(',').collect();
    asked.sort_unstable();
    let mut touched = vec![bo["id"].to_string(), cy["id"].to_string()];
    touched.sort_unstable();
    assert_eq!(asked, touched, "only the clients whose appointments changed are read");

    // Opened from Cliniko after booking with Dana: the profile comes with Dana as coach.
    book(&account, &ann, &dana, "2026-06-01T09:00:00Z").await;
    let opened = get(&format!(
        "/v1/groups/{group}/integrations/cliniko/open?patient_id={}",
        ann["id"]
    ))
    .token(&token(&[&group], &[]))
    .send()
    .await;
    assert_status(&opened, 200);
    assert_eq!(opened.body["practitioner_id"], coaches[&dana]["id"]);
}
