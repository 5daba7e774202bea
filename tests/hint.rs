//! Hint ⇄ Salesforce through the dev host: connecting a group checks the Hint practice key and
//! the Salesforce app against their sandboxes over HTTP, keeps all three secrets only in Secrets
//! Manager, and enables the integration without a preview.

use e2e::*;
use serde_json::Value;

fn admin(group: &str) -> String {
    token(&[group], &[INTEGRATION_ADMIN])
}

/// A sandbox's control plane.
async fn control(base: &str, path: &str, body: Value) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{base}/_sandbox{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "control plane {path}: {}",
        answer.status()
    );
    answer.json().await.unwrap_or(Value::Null)
}

/// A new practice in the Hint sandbox, and a new org in the Salesforce sandbox.
async fn practice_and_org() -> (Value, Value) {
    let practice = control(&stack().hint, "/practices", json!({})).await;
    let org = control(&stack().salesforce, "/orgs", json!({})).await;
    (practice, org)
}

fn credentials(practice: &Value, org: &Value) -> Value {
    json!({
        "practice_api_key": practice["api_key"],
        "webhook_signature_key": practice["webhook_signature_key"],
        "salesforce": {
            "my_domain": org["instance_url"],
            "client_id": org["client_id"],
            "client_secret": org["client_secret"],
        },
    })
}

async fn store(group: &str, body: &Value) -> Reply {
    put(&format!("/v1/groups/{group}/integrations/hint/credentials"))
        .token(&admin(group))
        .json(body)
        .send()
        .await
}

async fn stored_secret(group: &str) -> Option<String> {
    use store::secrets::Secrets;
    let config = store::aws::load_config().await;
    let secrets = store::secrets::SecretsManager::new(store::aws::secrets_manager(&config));
    secrets
        .get(&format!("carebridge/{}/{group}/hint", stack().stage))
        .await
        .unwrap()
}

async fn activated(group: &str) {
    let reply = post(&format!("/v1/groups/{group}/integrations/hint/activate"))
        .token(&admin(group))
        .send()
        .await;
    assert_status(&reply, 200);
}

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

async fn settings(group: &str, body: Option<Value>) -> Reply {
    let path = format!("/v1/groups/{group}/integrations/hint/settings");
    match body {
        Some(body) => put(&path).token(&admin(group)).json(&body).send().await,
        None => get(&path).token(&admin(group)).send().await,
    }
}

#[tokio::test]
async fn the_default_account_must_be_one_of_the_orgs_and_creating_contacts_needs_it() {
    let group = new_group().await;
    activated(&group).await;
    let (practice, org) = practice_and_org().await;
    assert_status(&store(&group, &credentials(&practice, &org)).await, 200);

    let defaults = settings(&group, None).await;
    assert_status(&defaults, 200);
    assert_eq!(defaults.body, json!({"create_contacts_for_unmatched": false}));

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
