//! Groups: platform admins create them; members read them; nobody reaches another group.

use e2e::*;

#[tokio::test]
async fn a_platform_admin_creates_a_group_with_defaults() {
    let id = unique_group();
    let reply = post("/v1/groups")
        .token(&token(&[], &[PLATFORM_ADMIN]))
        .json(&json!({"id": id, "name": "  Acme   Health "}))
        .send()
        .await;
    assert_status(&reply, 201);
    assert_eq!(reply.header("location"), Some(format!("/v1/groups/{id}").as_str()));
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(reply.body["name"], "Acme Health");
    assert_eq!(reply.body["default_country"], "US");
    assert_eq!(reply.body["import_row_limit"], 5000);
    assert_eq!(reply.body["version"], 1);
}

#[tokio::test]
async fn a_group_id_is_taken_once() {
    let id = new_group().await;
    let again = post("/v1/groups")
        .token(&token(&[], &[PLATFORM_ADMIN]))
        .json(&json!({"id": id, "name": "Other"}))
        .send()
        .await;
    assert_status(&again, 409);
    assert_eq!(again.problem(), "conflict");
}

#[tokio::test]
async fn only_platform_admins_create_groups() {
    let reply = post("/v1/groups")
        .token(&token(&["acme"], &[GROUP_ADMIN]))
        .json(&json!({"id": unique_group(), "name": "Sneaky"}))
        .send()
        .await;
    assert_status(&reply, 403);
    assert_eq!(reply.problem(), "role-required");
    assert!(reply.body["detail"].as_str().unwrap().contains("platform_admin"));
}

#[tokio::test]
async fn invalid_group_settings_are_reported_per_field() {
    let reply = post("/v1/groups")
        .token(&token(&[], &[PLATFORM_ADMIN]))
        .json(&json!({"id": "Not A Slug", "default_country": "Atlantis", "import_row_limit": 250000}))
        .send()
        .await;
    assert_status(&reply, 422);
    assert_eq!(reply.problem(), "validation-failed");
    let fields: Vec<String> = reply.field_errors().into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["id", "name", "default_country", "import_row_limit"]);
}

#[tokio::test]
async fn members_read_their_group_and_others_are_turned_away() {
    let group = new_group().await;
    let member = get(&format!("/v1/groups/{group}"))
        .token(&token(&[&group], &[]))
        .send()
        .await;
    assert_status(&member, 200);
    assert_eq!(member.body["id"], group.as_str());

    let outsider = get(&format!("/v1/groups/{group}"))
        .token(&token(&["someone-else"], &[GROUP_ADMIN]))
        .send()
        .await;
    assert_status(&outsider, 403);
    assert_eq!(outsider.problem(), "group-forbidden");

    let platform = get(&format!("/v1/groups/{group}"))
        .token(&token(&[], &[PLATFORM_ADMIN]))
        .send()
        .await;
    assert_status(&platform, 200);
}

#[tokio::test]
async fn a_group_named_in_a_token_but_never_created_is_not_found() {
    let ghost = unique_group();
    let reply = get(&format!("/v1/groups/{ghost}/patients"))
        .token(&token(&[&ghost], &[]))
        .send()
        .await;
    assert_status(&reply, 404);
    assert_eq!(reply.problem(), "not-found");
}

#[tokio::test]
async fn listing_groups_shows_only_the_callers_existing_groups() {
    let first = new_group().await;
    let second = new_group().await;
    let _not_mine = new_group().await;
    let ghost = unique_group();
    let reply = get("/v1/groups")
        .token(&token(&[&second, &first, &ghost], &[]))
        .send()
        .await;
    assert_status(&reply, 200);
    let mut expected = vec![first, second];
    expected.sort();
    let ids: Vec<&str> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);
}
