//! Hint ⇄ Salesforce through the dev host: connecting a group checks the Hint practice key and
//! the Salesforce app against their sandboxes over HTTP, keeps all three secrets only in Secrets
//! Manager, and enables the integration without a preview. Once connected, Hint's signed
//! webhooks keep linked contacts in step, link or create contacts for new patients, and never
//! loop carebridge's own writes back.

use e2e::hint::*;
use e2e::*;
use serde_json::Value;

#[tokio::test]
async fn connecting_checks_the_hint_key_and_the_salesforce_app_and_keeps_them_only_in_secrets_manager() {
    let group = new_group().await;
    activated(&group).await;
    let (practice, org) = practice_and_org().await;

    let mut wrong_key = credentials(&practice, &org);
    wrong_key["practice_api_key"] = json!("sbx-a-key-hint-never-made");
    let refused = store(&group, &wrong_key).await;
    assert_status(&refused, 422);
    assert_eq!(refused.problem(), "vendor-refused");
    assert!(refused.text.contains("Hint"), "{}", refused.text);

    let mut wrong_secret = credentials(&practice, &org);
    wrong_secret["salesforce"]["client_secret"] = json!("not-the-secret");
    let refused = store(&group, &wrong_secret).await;
    assert_status(&refused, 422);
    assert!(
        refused.text.contains("invalid client credentials"),
        "Salesforce's reason: {}",
        refused.text
    );

    let mut nowhere = credentials(&practice, &org);
    nowhere["salesforce"]["my_domain"] = json!("http://127.0.0.1:1");
    let unreachable = store(&group, &nowhere).await;
    assert_status(&unreachable, 502);
    assert_eq!(unreachable.problem(), "vendor-unavailable");

    let unusable = store(
        &group,
        &json!({"practice_api_key": "x", "salesforce": {"my_domain": "ftp://acme"}}),
    )
    .await;
    assert_status(&unusable, 422);
    let fields: Vec<String> = unusable.field_errors().into_iter().map(|(field, _)| field).collect();
    for field in [
        "practice_api_key",
        "webhook_signature_key",
        "salesforce.my_domain",
        "salesforce.client_id",
    ] {
        assert!(fields.contains(&field.to_owned()), "{field} in {fields:?}");
    }
    assert_eq!(
        stored_secret(&group).await,
        None,
        "nothing is kept until both vendors accept"
    );

    let saved = store(&group, &credentials(&practice, &org)).await;
    assert_status(&saved, 200);
    assert!(
        !saved.text.contains(practice["api_key"].as_str().unwrap()),
        "never returned"
    );
    assert!(
        !saved.text.contains(org["client_secret"].as_str().unwrap()),
        "never returned"
    );
    let secret = stored_secret(&group).await.expect("kept in Secrets Manager");
    assert!(secret.contains(practice["webhook_signature_key"].as_str().unwrap()));

    let enabled = post(&format!("/v1/groups/{group}/integrations/hint/enable"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&enabled, 202);
    let now = get(&format!("/v1/groups/{group}/integrations/hint"))
        .token(&admin(&group))
        .send()
        .await;
    assert_eq!(now.body["status"], "active", "no preview: enabled once verified");
}

#[tokio::test]
async fn hint_cannot_be_connected_while_elation_is_in_use_in_the_group() {
    let group = new_group().await;
    let elation = post(&format!("/v1/groups/{group}/integrations/elation/activate"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&elation, 200);
    let refused = post(&format!("/v1/groups/{group}/integrations/hint/activate"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&refused, 409);
    assert!(refused.text.contains("Elation"), "{}", refused.text);
}

#[tokio::test]
async fn the_default_account_must_be_one_of_the_orgs_and_creating_contacts_needs_it() {
    let group = new_group().await;
    activated(&group).await;
    let (practice, org) = practice_and_org().await;
    assert_status(&store(&group, &credentials(&practice, &org)).await, 200);

    let defaults = settings(&group, None).await;
    assert_status(&defaults, 200);
    assert_eq!(defaults.body["create_contacts_for_unmatched"], false);
    assert!(defaults.body.get("default_account_id").is_none());
    assert!(
        defaults.body["webhook_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/webhooks/hint/{group}")),
        "the address to enter in Hint's partner portal: {}",
        defaults.body
    );

    let without_account = settings(&group, Some(json!({"create_contacts_for_unmatched": true}))).await;
    assert_status(&without_account, 422);
    assert_eq!(
        without_account.field_errors(),
        [("default_account_id".to_owned(), "account_required".to_owned())]
    );
    let unknown = settings(&group, Some(json!({"default_account_id": "001000000000000AAA"}))).await;
    assert_status(&unknown, 422);
    assert_eq!(
        unknown.field_errors(),
        [("default_account_id".to_owned(), "unknown_account".to_owned())],
        "looked up in the org"
    );

    let account = org["account_id"].as_str().unwrap();
    let on = settings(
        &group,
        Some(json!({"default_account_id": account, "create_contacts_for_unmatched": true})),
    )
    .await;
    assert_status(&on, 200);
    assert_eq!(on.body["default_account_id"], account);
    let read = settings(&group, None).await;
    assert_eq!(read.body, on.body, "kept");
    let off = settings(&group, Some(json!({"create_contacts_for_unmatched": false}))).await;
    assert_eq!(
        off.body["default_account_id"], account,
        "a field left out keeps its value"
    );
    let stranger = get(&format!("/v1/groups/{group}/integrations/hint/settings"))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .send()
        .await;
    assert_status(&stranger, 403);
}

#[tokio::test]
async fn a_new_hint_patient_without_a_match_gets_a_contact_and_its_later_changes_reach_it() {
    let pair = connected(true).await;
    let patient = pair
        .add_patient(json!({"first_name": "Ada", "last_name": "Quist", "dob": "1984-07-09",
            "email": "ada@example.org", "phones": [{"number": "5550100", "type": "mobile"}],
            "health_insurance_payer_name": "Anthem"}))
        .await;
    let contacts = pair
        .eventually(
            "a contact for the new patient",
            || pair.contacts(),
            |all| all.len() == 1,
        )
        .await;
    let contact = &contacts[0];
    assert_eq!(contact["Synced_to_Hint__c"], true);
    assert_eq!(contact["Hint_Patient_Id__c"], patient.as_str());
    assert_eq!(contact["MobilePhone"], "5550100");
    assert_eq!(
        contact["Hint_Insurance_Payer__c"], "Anthem",
        "read-only Hint fields too"
    );
    let contact_id = contact["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        pair.links().await[0]["patient_id"],
        patient.as_str(),
        "carebridge keeps the link"
    );

    pair.edit_patient(
        &patient,
        json!({"email": "ada.quist@example.org", "address_city": "Salem"}),
    )
    .await;
    let updated = pair
        .eventually(
            "the Hint change on the contact",
            || pair.contact(&contact_id),
            |c| c["MailingCity"] == "Salem",
        )
        .await;
    assert_eq!(updated["Email"], "ada.quist@example.org");
    let events = pair.logged().await;
    assert_eq!(events, ["contact_created", "pair_synced"], "{events:?}");
}

#[tokio::test]
async fn a_new_patient_links_its_one_unlinked_match_patient_winning_and_blanks_filled_without_an_echo() {
    let pair = connected(true).await;
    let contact = pair
        .add_contact(
            json!({"FirstName": "Bea", "LastName": "Marsh", "Birthdate": "1979-03-02",
            "Email": "old@example.org", "MailingCity": "Eugene"}),
        )
        .await;
    let patient = pair
        .add_patient(json!({"first_name": "bea", "last_name": "MARSH", "dob": "1979-03-02",
            "email": "bea@example.org"}))
        .await;
    let linked = pair
        .eventually(
            "the match linked",
            || pair.contact(&contact),
            |c| c["Synced_to_Hint__c"] == true,
        )
        .await;
    assert_eq!(linked["Hint_Patient_Id__c"], patient.as_str());
    assert_eq!(
        linked["Email"], "bea@example.org",
        "the patient wins where both have a value"
    );
    assert_eq!(pair.contacts().await.len(), 1, "no second contact");
    let filled = pair.patient(&patient).await;
    assert_eq!(
        filled["address_city"], "Eugene",
        "a blank of the patient is filled from the contact"
    );

    // carebridge's own write to Hint comes back as a webhook, and stops there.
    let events = pair
        .eventually("the echo dropped", || pair.logged(), |e| e.len() >= 2)
        .await;
    assert_eq!(events, ["linked", "echo_dropped"]);
}

#[tokio::test]
async fn with_the_setting_off_a_new_patient_is_not_brought_to_salesforce() {
    let pair = connected(false).await;
    pair.add_patient(json!({"first_name": "Cy", "last_name": "Dunn", "dob": "1990-01-01"}))
        .await;
    let events = pair
        .eventually("the new patient handled", || pair.logged(), |e| !e.is_empty())
        .await;
    assert_eq!(events, ["new_patient_not_brought"]);
    assert!(pair.contacts().await.is_empty());
}

#[tokio::test]
async fn a_forged_webhook_is_refused_and_a_replayed_one_is_dropped() {
    let pair = connected(false).await;
    let path = format!("/webhooks/hint/{}", pair.group);
    let body = json!({"id": "evt-replayed000001", "created_at": "2026-12-04T10:00:00.000Z",
        "type": "patient.updated", "practice_id": pair.practice, "object": {"id": "pat-unlinked00001"}})
    .to_string();
    let send = |signature: Option<String>| {
        let mut call = post(&path).raw("application/json", body.clone());
        if let Some(signature) = signature {
            call = call.header("X-Hint-Signature", &signature);
        }
        call.send()
    };
    let forged = send(Some(sandbox::hint::sign("not-the-practices-key", body.as_bytes()))).await;
    assert_status(&forged, 401);
    assert_eq!(forged.problem(), "bad-signature");
    assert_status(&send(None).await, 401);

    let key = stored_signature_key(&pair.group).await;
    let signed = sandbox::hint::sign(&key, body.as_bytes());
    let first = send(Some(signed.clone())).await;
    assert_status(&first, 200);
    assert_eq!(first.body["status"], "queued");
    let again = send(Some(signed)).await;
    assert_status(&again, 200);
    assert_eq!(again.body["status"], "repeated", "a replay is not queued twice");
}

#[tokio::test]
async fn unlinking_a_contact_keeps_both_records_and_stops_the_sync() {
    let pair = connected(true).await;
    let patient = pair
        .add_patient(json!({"first_name": "Dee", "last_name": "Holt", "dob": "1970-05-05"}))
        .await;
    let contacts = pair
        .eventually(
            "a contact for the new patient",
            || pair.contacts(),
            |all| all.len() == 1,
        )
        .await;
    let contact = contacts[0]["Id"].as_str().unwrap().to_owned();
    let unlinked = call(
        reqwest::Method::DELETE,
        &format!("/v1/groups/{}/integrations/hint/links/{contact}", pair.group),
    )
    .token(&admin(&pair.group))
    .send()
    .await;
    assert_status(&unlinked, 204);
    let kept = pair.contact(&contact).await;
    assert_eq!(kept["Synced_to_Hint__c"], false);
    assert_eq!(kept["Hint_Patient_Id__c"], Value::Null);
    assert_eq!(kept["LastName"], "Holt", "the contact stays");
    assert!(pair.links().await.is_empty());

    pair.edit_patient(&patient, json!({"address_city": "Bend"})).await;
    let events = pair
        .eventually(
            "the later change seen",
            || pair.logged(),
            |e| e.contains(&"change_of_unlinked_patient".to_owned()),
        )
        .await;
    assert_eq!(events, ["contact_created", "unlinked", "change_of_unlinked_patient"]);
    assert_eq!(
        pair.contact(&contact).await["MailingCity"],
        Value::Null,
        "no sync after unlinking"
    );
    let again = call(
        reqwest::Method::DELETE,
        &format!("/v1/groups/{}/integrations/hint/links/{contact}", pair.group),
    )
    .token(&admin(&pair.group))
    .send()
    .await;
    assert_status(&again, 404);
}

#[tokio::test]
async fn a_contact_change_reaches_its_hint_patient_through_an_expired_token_and_its_echo_stops() {
    let pair = connected(true).await;
    let (patient, contact) = pair
        .linked_pair(json!({"first_name": "Eve", "last_name": "Ng", "dob": "1988-08-08"}))
        .await;
    pair.edit_contact(&contact, json!({"MailingCity": "Portland", "HomePhone": "5550300"}))
        .await;
    // Salesforce ends carebridge's session; the poll renews it.
    control(
        &stack().salesforce,
        &format!("/orgs/{}/tokens/expire", pair.org),
        json!({}),
    )
    .await;
    pair.poll().await;
    let updated = pair
        .eventually(
            "the contact's change in Hint",
            || pair.patient(&patient),
            |p| p["address_city"] == "Portland",
        )
        .await;
    assert!(
        updated["phones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["number"] == "5550300" && p["type"] == "home"),
        "{updated}"
    );
    let events = pair
        .eventually(
            "Hint's echo dropped",
            || pair.logged(),
            |e| e.contains(&"echo_dropped".to_owned()),
        )
        .await;
    assert_eq!(events, ["contact_created", "pair_synced", "echo_dropped"]);

    // The next polls read the same contact again (their overlap) and leave it, each with one
    // call: the query (the session carebridge got is kept, no token asked for again).
    let before = pair.org_requests().await.len();
    pair.poll().await;
    pair.poll().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        pair.logged().await,
        ["contact_created", "pair_synced", "echo_dropped"],
        "nothing more: no loop"
    );
    let made: Vec<String> = pair.org_requests().await[before..]
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap(), r["path"].as_str().unwrap()))
        .collect();
    assert!(made.len() >= 2, "{made:?}");
    assert!(
        made.iter().all(|r| r.starts_with("GET ") && r.ends_with("/query")),
        "a poll with nothing new is one query: {made:?}"
    );
}

#[tokio::test]
async fn conflicting_edits_on_both_sides_keep_each_sides_own_fields_and_the_later_edit_where_both_changed() {
    let pair = connected(true).await;
    let (patient, contact) = pair
        .linked_pair(json!({"first_name": "Fay", "last_name": "Orr", "dob": "1965-06-01", "address_city": "Salem"}))
        .await;
    // First a Salesforce user, then (later) the practice in Hint, before either is synced.
    pair.edit_contact(&contact, json!({"MailingCity": "Albany", "HomePhone": "5550400"}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    pair.edit_patient(&patient, json!({"address_city": "Bend", "email": "fay@example.org"}))
        .await;
    let merged = pair
        .eventually(
            "the pair reconciled",
            || pair.contact(&contact),
            |c| c["Email"] == "fay@example.org",
        )
        .await;
    assert_eq!(
        merged["MailingCity"], "Bend",
        "both changed the city: the later edit stays"
    );
    assert_eq!(merged["HomePhone"], "5550400", "Salesforce's own change stays");
    let in_hint = pair.patient(&patient).await;
    assert_eq!(in_hint["address_city"], "Bend");
    assert!(
        in_hint["phones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["number"] == "5550400"),
        "and reaches Hint: {in_hint}"
    );
    pair.poll().await;
    let events = pair
        .eventually(
            "both echoes dropped",
            || pair.logged(),
            |e| e.iter().filter(|x| *x == "echo_dropped").count() == 2,
        )
        .await;
    assert_eq!(
        events.iter().filter(|e| *e == "pair_synced").count(),
        1,
        "synced once, then only echoes: {events:?}"
    );
}

#[tokio::test]
async fn a_salesforce_edit_of_a_read_only_hint_field_is_set_back_from_hint_and_logged() {
    let pair = connected(true).await;
    let (_, contact) = pair
        .linked_pair(json!({"first_name": "Gus", "last_name": "Pike", "dob": "1950-01-02",
            "health_insurance_member_id": "M-100"}))
        .await;
    pair.edit_contact(&contact, json!({"Hint_Insurance_Member_Id__c": "typed-over"}))
        .await;
    pair.poll().await;
    pair.eventually(
        "the read-only field set back",
        || pair.contact(&contact),
        |c| c["Hint_Insurance_Member_Id__c"] == "M-100",
    )
    .await;
    let errors = get(&format!("/v1/groups/{}/integrations/hint/logs?level=error", pair.group))
        .token(&admin(&pair.group))
        .send()
        .await;
    let entry = &errors.body["items"][0];
    assert_eq!(entry["event"], "read_only_fields_overwritten");
    assert_eq!(entry["contact_id"], contact.as_str());
    assert!(entry["message"].as_str().unwrap().contains("insurance_member_id"));
    assert!(!errors.text.contains("typed-over"), "a log names fields, never values");
}

#[tokio::test]
async fn the_schedules_job_polls_every_group_with_the_integration_active() {
    let pair = connected(true).await;
    let (patient, contact) = pair
        .linked_pair(json!({"first_name": "Hal", "last_name": "Quay", "dob": "1977-07-07"}))
        .await;
    pair.edit_contact(&contact, json!({"MailingState": "OR"})).await;
    // What the EventBridge schedule puts on the sync queue every minute.
    let (sqs, url) = queue(&format!("carebridge-{}-sync", stack().stage)).await;
    sqs.send_message()
        .queue_url(url)
        .message_body(r#"{"job": "poll_salesforce_changes"}"#)
        .send()
        .await
        .unwrap();
    pair.eventually(
        "the scheduled poll's sync",
        || pair.patient(&patient),
        |p| p["address_state"] == "OR",
    )
    .await;
}

#[tokio::test]
async fn a_manual_link_lets_the_contact_win_fills_its_blanks_and_moves_the_contact_off_its_previous_patient() {
    let pair = connected(false).await;
    let contact = pair
        .add_contact(json!({"FirstName": "Ida", "LastName": "Roe", "Birthdate": "1991-09-09",
            "Email": "ida@contact.example.org", "MailingCity": "Medford"}))
        .await;
    let first = pair
        .add_patient(
            json!({"first_name": "Ida", "last_name": "Roe", "email": "ida@hint.example.org",
            "phones": [{"number": "5550500", "type": "mobile"}]}),
        )
        .await;
    let linked = pair.link(&contact, json!({"patient_id": first})).await;
    assert_status(&linked, 200);
    assert_eq!(linked.body["patient_id"], first.as_str());
    let in_hint = pair.patient(&first).await;
    assert_eq!(
        in_hint["email"], "ida@contact.example.org",
        "the contact wins where both have data"
    );
    assert_eq!(in_hint["address_city"], "Medford");
    let in_salesforce = pair.contact(&contact).await;
    assert_eq!(
        in_salesforce["MobilePhone"], "5550500",
        "a blank contact field is filled from the patient"
    );
    assert_eq!(in_salesforce["Hint_Patient_Id__c"], first.as_str());

    let second = pair
        .add_patient(json!({"first_name": "Ida", "last_name": "Roe-Vance"}))
        .await;
    let moved = pair.link(&contact, json!({"patient_id": second})).await;
    assert_status(&moved, 200);
    let links = pair.links().await;
    assert_eq!(links.len(), 1, "the previous patient is unlinked: {links:?}");
    assert_eq!(links[0]["patient_id"], second.as_str());
    assert_eq!(pair.contact(&contact).await["Hint_Patient_Id__c"], second.as_str());
    assert_eq!(
        pair.patient(&first).await["id"],
        first.as_str(),
        "the previous patient stays in Hint"
    );

    let other = pair.add_contact(json!({"LastName": "Else"})).await;
    let taken = pair.link(&other, json!({"patient_id": second})).await;
    assert_status(&taken, 409);
    assert!(
        taken.text.contains(&contact),
        "names the contact it is linked to: {}",
        taken.text
    );
    let unknown = pair.link(&contact, json!({"patient_id": "pat-nobody000000"})).await;
    assert_status(&unknown, 404);
}

#[tokio::test]
async fn the_patient_search_finds_names_by_the_start_of_any_word_as_typed_without_calling_hint() {
    let pair = connected_with(
        false,
        vec![
            json!({"first_name": "Gordon", "middle_name": "Thomas", "last_name": "Sumner", "dob": "1956-04-24"}),
            json!({"first_name": "José", "last_name": "Ávila"}),
            json!({"first_name": "Anna", "last_name": "Leeds"}),
            json!({"first_name": "Ann", "last_name": "Lee"}),
        ],
    )
    .await;
    // The patients Hint had before the integration was enabled are read when it is.
    pair.eventually("the patients read", || pair.found("gor"), |found| !found.is_empty())
        .await;
    let answer = pair.search("sum gor").await;
    assert_status(&answer, 200);
    assert_eq!(answer.body["items"][0]["name"], "Gordon Thomas Sumner");
    assert_eq!(answer.body["items"][0]["date_of_birth"], "1956-04-24");
    assert_eq!(answer.body["items"][0]["linked_contact_id"], Value::Null);
    assert!(answer.body["patients_read_at"].is_string());
    assert_eq!(pair.found("jose").await, ["José Ávila"], "accents need not be typed");
    assert_eq!(pair.found("ANN").await, ["Ann Lee", "Anna Leeds"], "by last name");
    assert_eq!(pair.found("ann leed").await, ["Anna Leeds"]);
    assert_eq!(
        pair.found("ordon").await,
        Vec::<String>::new(),
        "by a word's start only"
    );

    let hint_before = pair.hint_requests().await;
    for typed in ["g", "go", "gor", "gord", "gordo", "gordon", "gordon s"] {
        assert_eq!(pair.found(typed).await, ["Gordon Thomas Sumner"], "{typed:?}");
    }
    assert_eq!(pair.hint_requests().await, hint_before, "a search never calls Hint");

    // Webhooks keep it current: a new patient, a changed name, a deleted patient.
    let gordy = pair
        .add_patient(json!({"first_name": "Gordy", "last_name": "Smith"}))
        .await;
    pair.eventually("the new patient found", || pair.found("gor"), |f| f.len() == 2)
        .await;
    let gordon = answer.body["items"][0]["patient_id"].as_str().unwrap().to_owned();
    pair.edit_patient(&gordon, json!({"last_name": "Summers"})).await;
    pair.eventually("the new name found", || pair.found("summ"), |f| f.len() == 1)
        .await;
    assert_eq!(pair.found("sumn").await, Vec::<String>::new(), "the old name is gone");
    control_with(
        reqwest::Method::DELETE,
        &stack().hint,
        &format!("/practices/{}/patients/{gordy}", pair.practice),
        None,
    )
    .await;
    pair.eventually("the deleted patient gone", || pair.found("gordy"), |f| f.is_empty())
        .await;

    // A linked patient says which contact it is linked to.
    let contact = pair.add_contact(json!({"FirstName": "Ann", "LastName": "Lee"})).await;
    let ann = pair.search("ann lee").await.body["items"][0]["patient_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let linked = pair.link(&contact, json!({"patient_id": ann})).await;
    assert_status(&linked, 200);
    assert_eq!(
        pair.search("ann lee").await.body["items"][0]["linked_contact_id"],
        contact.as_str()
    );

    for (typed, why) in [
        ("", "nothing typed"),
        (" -' ", "no letters"),
        (&"a".repeat(101), "too long"),
    ] {
        let refused = pair.search(typed).await;
        assert_status(&refused, 400);
        assert_eq!(refused.problem(), "invalid-body", "{why}");
    }
    let reread = post(&format!("/v1/groups/{}/integrations/hint/patients/read", pair.group))
        .token(&admin(&pair.group))
        .send()
        .await;
    assert_status(&reread, 202);
}

#[tokio::test]
async fn a_new_hint_patient_made_from_a_contact_is_linked_and_its_webhook_makes_no_second_contact() {
    let pair = connected(true).await;
    let contact = pair
        .add_contact(
            json!({"FirstName": "Noor", "LastName": "Haddad", "Birthdate": "1979-12-01",
            "Email": "noor@example.org", "MobilePhone": "5550199", "MailingCity": "Dayton"}),
        )
        .await;
    let made = pair.link(&contact, json!({"new_patient": true})).await;
    assert_status(&made, 200);
    let patient_id = made.body["patient_id"].as_str().unwrap().to_owned();
    let patient = pair.patient(&patient_id).await;
    assert_eq!(patient["first_name"], "Noor");
    assert_eq!(patient["dob"], "1979-12-01");
    assert_eq!(patient["email"], "noor@example.org");
    assert_eq!(patient["address_city"], "Dayton");
    assert_eq!(patient["phones"][0]["number"], "5550199");
    assert_eq!(
        patient["integration_record_id"],
        contact.as_str(),
        "made from the contact"
    );
    let marked = pair.contact(&contact).await;
    assert_eq!(marked["Synced_to_Hint__c"], true);
    assert_eq!(marked["Hint_Patient_Id__c"], patient_id.as_str());

    // Hint's webhook of the new patient comes back: an echo, and no contact is made for it.
    pair.eventually(
        "the creation's echo",
        || pair.logged(),
        |events| events.iter().any(|e| e == "echo_dropped"),
    )
    .await;
    assert_eq!(pair.contacts().await.len(), 1, "no second contact");
    assert_eq!(pair.links().await.len(), 1);

    let nameless = pair.add_contact(json!({"LastName": "Only"})).await;
    let refused = pair.link(&nameless, json!({"new_patient": true})).await;
    assert_status(&refused, 422);
    assert_eq!(
        refused.field_errors(),
        [("FirstName".to_owned(), "required_by_hint".to_owned())]
    );
    let both = pair
        .link(&contact, json!({"new_patient": true, "patient_id": patient_id}))
        .await;
    assert_status(&both, 400);

    // A making that stopped after Hint made the patient: its webhook links it to its contact.
    let stopped = pair.add_contact(json!({"FirstName": "Rae", "LastName": "Stone"})).await;
    let orphan = pair
        .add_patient(json!({"first_name": "Rae", "last_name": "Stone", "integration_record_id": stopped}))
        .await;
    let links = pair
        .eventually(
            "the half-made link finished",
            || pair.links(),
            |all| all.iter().any(|l| l["patient_id"] == orphan.as_str()),
        )
        .await;
    let finished = links.iter().find(|l| l["patient_id"] == orphan.as_str()).unwrap();
    assert_eq!(finished["contact_id"], stopped.as_str());
    assert_eq!(pair.contacts().await.len(), 3, "no contact made for it");
}

#[tokio::test]
async fn cancelling_stops_every_link_keeps_both_records_and_forgets_the_search_copy() {
    let pair = connected(false).await;
    let contact = pair
        .add_contact(json!({"FirstName": "Ola", "LastName": "Berg", "MailingCity": "Bergen"}))
        .await;
    let patient = pair
        .add_patient(json!({"first_name": "Ola", "last_name": "Berg"}))
        .await;
    pair.eventually("the patient searchable", || pair.found("ola"), |f| f.len() == 1)
        .await;
    let linked = pair.link(&contact, json!({"patient_id": patient})).await;
    assert_status(&linked, 200);
    let cancelled = post(&format!("/v1/groups/{}/integrations/hint/cancel", pair.group))
        .token(&admin(&pair.group))
        .send()
        .await;
    assert_status(&cancelled, 200);

    // A Hint change after the cancel reaches no contact, and nothing polls Salesforce.
    pair.edit_patient(&patient, json!({"address_city": "Oslo"})).await;
    let poll = post(&format!("/v1/groups/{}/integrations/hint/poll", pair.group))
        .token(&admin(&pair.group))
        .send()
        .await;
    assert_status(&poll, 409);
    let search = pair.search("ola").await;
    assert_status(&search, 409);
    let records = records().await;
    let copy = pair
        .eventually_within(
            "the search's copy removed",
            std::time::Duration::from_secs(10),
            || async {
                use store::Records;
                let page = records
                    .query(
                        &format!("G#{}", pair.group),
                        "HINTSEARCH#",
                        store::PageRequest {
                            limit: 100,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                page.records.len()
            },
            |left| *left == 0,
        )
        .await;
    assert_eq!(copy, 0);
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let kept = pair.contact(&contact).await;
    assert_eq!(
        kept["MailingCity"], "Bergen",
        "the Hint change did not reach Salesforce"
    );
    assert_eq!(kept["LastName"], "Berg", "both records stay");
    assert_eq!(pair.patient(&patient).await["address_city"], "Oslo");
}
