//! Practitioners (coaches, physicians, staff) through the API.

use e2e::*;

fn practitioners(group: &str) -> String {
    format!("/v1/groups/{group}/practitioners")
}

#[tokio::test]
async fn a_coach_is_created_read_updated_and_listed() {
    let group = new_group().await;
    let admin = token(&[&group], &[GROUP_ADMIN]);
    let created = post(&practitioners(&group))
        .token(&admin)
        .json(&json!({"first_name": "Grace", "last_name": "Hopper", "email": "Grace@Clinic.Example", "phone": "415 555 2671"}))
        .send()
        .await;
    assert_status(&created, 201);
    assert_eq!(created.body["kind"], "coach");
    assert_eq!(created.body["email"], "grace@clinic.example");
    assert_eq!(created.body["phone"], "+14155552671");
    let path = format!("{}/{}", practitioners(&group), created.body["id"].as_str().unwrap());

    let promoted = patch(&path)
        .token(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"kind": "physician", "npi": "1234567893", "external_ids": {"elation": "140758510600193"}}))
        .send()
        .await;
    assert_status(&promoted, 200);
    assert_eq!(
        (promoted.body["kind"].as_str(), promoted.body["version"].as_u64()),
        (Some("physician"), Some(2))
    );

    let read = get(&path).token(&token(&[&group], &[])).send().await;
    assert_eq!(read.body, promoted.body);
    let listing = get(&practitioners(&group)).token(&token(&[&group], &[])).send().await;
    assert_eq!(listing.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn practitioner_fields_are_validated() {
    let group = new_group().await;
    let reply = post(&practitioners(&group))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .json(&json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace", "kind": "wizard", "npi": "1234567890"}))
        .send()
        .await;
    assert_status(&reply, 422);
    let codes: Vec<String> = reply.field_errors().into_iter().map(|(_, code)| code).collect();
    assert_eq!(codes, ["invalid_email", "invalid_kind", "invalid_npi"]);
}
