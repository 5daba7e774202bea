//! Integrations through the dev host: the life cycle an integration admin drives, credentials
//! checked against the Elation sandbox over HTTP and kept only in Secrets Manager.

use e2e::*;
use sandbox::Running;
use sandbox::elation::{self, Config, Retry};
use serde_json::Value;
use std::time::Duration;

/// An Elation sandbox for one test, with the local stack's demo app.
async fn elation_sandbox() -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        retry: Retry {
            first: Duration::from_millis(20),
            longest: Duration::from_millis(200),
        },
        clients: vec![elation::demo_client()],
    };
    elation::start(listener, config).unwrap()
}

fn credentials(sandbox: &Running, secret: &str) -> Value {
    json!({
        "client_id": elation::demo_client().client_id,
        "client_secret": secret,
        "base_url": format!("{}/api/2.0", sandbox.base_url()),
    })
}

fn admin(group: &str) -> String {
    token(&[group], &[INTEGRATION_ADMIN])
}

async fn activate(group: &str, kind: &str) -> Reply {
    post(&format!("/v1/groups/{group}/integrations/{kind}/activate"))
        .token(&admin(group))
        .send()
        .await
}

async fn store_credentials(group: &str, body: &Value) -> Reply {
    put(&format!("/v1/groups/{group}/integrations/elation/credentials"))
        .token(&admin(group))
        .json(body)
        .send()
        .await
}

async fn stored_secret(group: &str) -> Option<String> {
    use store::secrets::Secrets;
    let config = store::aws::load_config().await;
    let secrets = store::secrets::SecretsManager::new(store::aws::secrets_manager(&config));
    let name = format!("carebridge/{}/{group}/elation", stack().stage);
    secrets.get(&name).await.unwrap()
}

fn status_of(list: &Reply, kind: &str) -> String {
    list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == kind)
        .map(|i| i["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_integration_is_listed_with_its_status() {
    let group = new_group().await;
    let list = get(&format!("/v1/groups/{group}/integrations"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&list, 200);
    let kinds: Vec<&str> = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["elation", "cliniko", "hint", "ensora"]);
    assert!(kinds.iter().all(|k| status_of(&list, k) == "inactive"));

    let activated = activate(&group, "elation").await;
    assert_status(&activated, 200);
    assert_eq!(activated.body["status"], "pending");
    assert_eq!(activated.body["version"], 1);
    let again = activate(&group, "elation").await;
    assert_eq!(
        (again.status, &again.body["version"]),
        (200, &json!(1)),
        "activating again changes nothing"
    );

    let list = get(&format!("/v1/groups/{group}/integrations"))
        .token(&admin(&group))
        .send()
        .await;
    assert_eq!(status_of(&list, "elation"), "pending");
    let one = get(&format!("/v1/groups/{group}/integrations/elation"))
        .token(&admin(&group))
        .send()
        .await;
    assert_eq!((one.status, one.header("etag")), (200, Some("\"1\"")));
    let unknown = get(&format!("/v1/groups/{group}/integrations/athena"))
        .token(&admin(&group))
        .send()
        .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn bad_credentials_are_refused_with_elations_reason_and_never_stored() {
    let sandbox = elation_sandbox().await;
    let group = new_group().await;
    assert_status(&activate(&group, "elation").await, 200);

    let refused = store_credentials(&group, &credentials(&sandbox, "not-the-secret")).await;
    assert_status(&refused, 422);
    assert_eq!(refused.problem(), "vendor-refused");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(
        detail.contains("Elation refused the credentials") && detail.contains("invalid_client"),
        "{detail}"
    );
    assert!(!refused.text.contains("not-the-secret"));
    assert_eq!(stored_secret(&group).await, None);
    let integration = get(&format!("/v1/groups/{group}/integrations/elation"))
        .token(&admin(&group))
        .send()
        .await;
    assert!(integration.body.get("credentials_verified_at").is_none());
}

#[tokio::test]
async fn good_credentials_are_verified_stored_in_secrets_manager_and_never_returned() {
    let sandbox = elation_sandbox().await;
    let group = new_group().await;
    assert_status(&activate(&group, "elation").await, 200);
    let secret = elation::demo_client().client_secret;

    let stored = store_credentials(&group, &credentials(&sandbox, &secret)).await;
    assert_status(&stored, 200);
    assert_eq!(stored.body["status"], "pending");
    assert_eq!(stored.body["base_url"], format!("{}/api/2.0", sandbox.base_url()));
    assert!(stored.body["credentials_verified_at"].is_string());
    assert!(!stored.text.contains(&secret), "the secret is never returned");

    let kept: Value = serde_json::from_str(&stored_secret(&group).await.expect("a secret")).unwrap();
    assert_eq!(kept["client_secret"], secret);
    assert_eq!(kept["client_id"], elation::demo_client().client_id);
    let read = get(&format!("/v1/groups/{group}/integrations/elation"))
        .token(&admin(&group))
        .send()
        .await;
    assert!(!read.text.contains(&secret));
}

#[tokio::test]
async fn credentials_are_checked_before_elation_is_called() {
    let group = new_group().await;
    let early = store_credentials(
        &group,
        &json!({"client_id": "a", "client_secret": "b", "environment": "sandbox"}),
    )
    .await;
    assert_status(&early, 409);
    assert!(
        early.body["detail"].as_str().unwrap().contains("activate it"),
        "{early:?}"
    );

    assert_status(&activate(&group, "elation").await, 200);
    let incomplete = store_credentials(
        &group,
        &json!({"client_id": "a", "username": "u", "environment": "staging"}),
    )
    .await;
    assert_status(&incomplete, 422);
    assert_eq!(incomplete.problem(), "validation-failed");
    let fields: Vec<String> = incomplete.field_errors().into_iter().map(|(field, _)| field).collect();
    assert_eq!(fields, ["client_secret", "password", "environment"]);

    let plain_http = store_credentials(
        &group,
        &json!({"client_id": "a", "client_secret": "b", "base_url": "http://elation.example/api/2.0"}),
    )
    .await;
    assert_status(&plain_http, 422);
    assert_eq!(plain_http.field_errors()[0].0, "base_url");
}

#[tokio::test]
async fn an_elation_that_cannot_answer_is_a_502_to_retry_later() {
    let sandbox = elation_sandbox().await;
    let group = new_group().await;
    assert_status(&activate(&group, "elation").await, 200);
    let control = reqwest::Client::new();
    let fault = json!({"kind": "status", "status": 503, "times": 10});
    let added = control
        .post(format!("{}/_sandbox/faults", sandbox.base_url()))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success());

    let unavailable = store_credentials(&group, &credentials(&sandbox, &elation::demo_client().client_secret)).await;
    assert_status(&unavailable, 502);
    assert_eq!(unavailable.problem(), "vendor-unavailable");
    assert_eq!(unavailable.header("retry-after"), Some("30"));
    assert_eq!(stored_secret(&group).await, None);
}

#[tokio::test]
async fn elation_and_hint_cannot_both_be_in_use_in_a_group() {
    let group = new_group().await;
    assert_status(&activate(&group, "hint").await, 200);

    let refused = activate(&group, "elation").await;
    assert_status(&refused, 409);
    let reason = refused.body["detail"].as_str().unwrap();
    assert!(
        reason.contains("Hint integration is pending") && reason.contains("Cancel Hint first"),
        "{reason}"
    );

    let cancelled = post(&format!("/v1/groups/{group}/integrations/hint/cancel"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&cancelled, 200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_status(&activate(&group, "elation").await, 200);
    assert_status(&activate(&group, "hint").await, 409);
    assert_status(&activate(&group, "cliniko").await, 200);
}

#[tokio::test]
async fn only_integration_admins_of_the_group_reach_its_integrations() {
    let group = new_group().await;
    let path = format!("/v1/groups/{group}/integrations");
    let group_admin = get(&path).token(&token(&[&group], &[GROUP_ADMIN])).send().await;
    assert_status(&group_admin, 403);
    assert_eq!(group_admin.problem(), "role-required");
    let other_group = get(&path)
        .token(&token(&["someone-else"], &[INTEGRATION_ADMIN]))
        .send()
        .await;
    assert_status(&other_group, 403);
    let activate_as_group_admin = post(&format!("{path}/elation/activate"))
        .token(&token(&[&group], &[GROUP_ADMIN]))
        .send()
        .await;
    assert_status(&activate_as_group_admin, 403);
}
