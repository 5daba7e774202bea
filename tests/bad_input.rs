//! Bad input of every kind gets a specific 4xx problem, never a 500.

use e2e::*;

async fn admin_and_path() -> (String, String) {
    let group = new_group().await;
    (token(&[&group], &[GROUP_ADMIN]), format!("/v1/groups/{group}/patients"))
}

#[tokio::test]
async fn malformed_json_is_a_400_naming_where() {
    let (admin, path) = admin_and_path().await;
    let reply = post(&path)
        .token(&admin)
        .raw("application/json", r#"{"first_name": "Ada","#)
        .send()
        .await;
    assert_status(&reply, 400);
    assert_eq!(reply.problem(), "malformed-json");
    assert!(reply.body["detail"].as_str().unwrap().contains("line 1"));
}

#[tokio::test]
async fn unknown_members_and_wrong_types_are_400s() {
    let (admin, path) = admin_and_path().await;
    let unknown = post(&path)
        .token(&admin)
        .json(&json!({"firstname": "Ada"}))
        .send()
        .await;
    assert_status(&unknown, 400);
    assert_eq!(unknown.problem(), "invalid-body");
    assert!(
        unknown.body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `firstname`")
    );

    let wrong_type = post(&path).token(&admin).json(&json!({"first_name": 42})).send().await;
    assert_status(&wrong_type, 400);
    assert_eq!(wrong_type.problem(), "invalid-body");

    let not_an_object = post(&path).token(&admin).json(&json!([1, 2])).send().await;
    assert_status(&not_an_object, 400);

    let empty = post(&path).token(&admin).raw("application/json", "").send().await;
    assert_status(&empty, 400);
    assert_eq!(empty.problem(), "malformed-json");
}

#[tokio::test]
async fn invalid_dates_emails_and_phones_are_422s_per_field() {
    let (admin, path) = admin_and_path().await;
    let reply = post(&path)
        .token(&admin)
        .json(&json!({
            "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1984-02-30",
            "email": "ada@", "mobile_phone": "12345", "home_phone": "not a phone"
        }))
        .send()
        .await;
    assert_status(&reply, 422);
    assert_eq!(reply.problem(), "validation-failed");
    let errors = reply.field_errors();
    let expected = [
        ("date_of_birth", "impossible_date"),
        ("email", "invalid_email"),
        ("mobile_phone", "invalid_phone"),
        ("home_phone", "invalid_phone"),
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:?}");
    for (field, code) in expected {
        assert!(
            errors.contains(&(field.to_string(), code.to_string())),
            "{field}: {errors:?}"
        );
    }

    for (dob, code) in [
        ("2199-01-01", "future_date"),
        ("1850-06-01", "date_before_1900"),
        ("7th of March", "invalid_date_format"),
    ] {
        let reply = post(&path)
            .token(&admin)
            .json(&json!({"first_name": "A", "last_name": "B", "date_of_birth": dob}))
            .send()
            .await;
        assert_status(&reply, 422);
        assert_eq!(reply.field_errors(), [("date_of_birth".to_string(), code.to_string())]);
    }
}

#[tokio::test]
async fn invalid_values_in_a_patch_are_422s_and_change_nothing() {
    let group = new_group().await;
    let created = create_patient(&group, ada()).await;
    let path = format!("/v1/groups/{group}/patients/{}", created.body["id"].as_str().unwrap());
    let admin = token(&[&group], &[GROUP_ADMIN]);
    let reply = patch(&path)
        .token(&admin)
        .header("if-match", "\"1\"")
        .json(&json!({"email": "nope", "first_name": null}))
        .send()
        .await;
    assert_status(&reply, 422);
    let fields: Vec<String> = reply.field_errors().into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["first_name", "email"]);
    let not_object = patch(&path)
        .token(&admin)
        .header("if-match", "\"1\"")
        .json(&json!("email"))
        .send()
        .await;
    assert_status(&not_object, 400);
    assert_eq!(get(&path).token(&admin).send().await.body["version"], 1);
}

#[tokio::test]
async fn bodies_over_one_megabyte_are_413s() {
    let (admin, path) = admin_and_path().await;
    let padding = "x".repeat(1024 * 1024 + 1);
    let reply = post(&path)
        .token(&admin)
        .json(&json!({"first_name": padding}))
        .send()
        .await;
    assert_status(&reply, 413);
    assert_eq!(reply.problem(), "body-too-large");
}

#[tokio::test]
async fn bodies_that_are_not_json_are_415s() {
    let (admin, path) = admin_and_path().await;
    let reply = post(&path)
        .token(&admin)
        .raw("text/csv", "first_name\nAda\n")
        .send()
        .await;
    assert_status(&reply, 415);
    assert_eq!(reply.problem(), "unsupported-media-type");
}

#[tokio::test]
async fn unknown_routes_are_404s_and_wrong_methods_405s() {
    let group = new_group().await;
    let member = token(&[&group], &[GROUP_ADMIN]);
    let missing = get(&format!("/v1/groups/{group}/invoices")).token(&member).send().await;
    assert_status(&missing, 404);
    assert_eq!(missing.problem(), "not-found");
    let wrong = call(request_method("DELETE"), &format!("/v1/groups/{group}/patients"))
        .token(&member)
        .send()
        .await;
    assert_status(&wrong, 405);
    assert_eq!(wrong.header("allow"), Some("GET, POST"));
    let bad_group = get("/v1/groups/Not_A_Group/patients").token(&member).send().await;
    assert_status(&bad_group, 404);
}
