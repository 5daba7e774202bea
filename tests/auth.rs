//! Authentication at the dev host, which stands where API Gateway's JWT authorizer stands.

use e2e::*;

#[tokio::test]
async fn the_openapi_document_is_public() {
    let reply = get("/v1/openapi.json").send().await;
    assert_status(&reply, 200);
    assert!(reply.body["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(reply.body["paths"]["/v1/groups/{group}/patients"]["post"].is_object());
}

#[tokio::test]
async fn every_bad_token_gets_a_401_saying_what_is_wrong() {
    let group = new_group().await;
    let path = format!("/v1/groups/{group}/patients");
    let expired = stack().auth.mint("tester", &[&group], &[GROUP_ADMIN], -60);
    let forged = devhost::auth::DevAuth::new("not-the-secret").mint("tester", &[&group], &[GROUP_ADMIN], 3600);
    let cases = [
        (None, "bearer token is required"),
        (Some("Basic dXNlcjpwYXNz".to_string()), "must be `Bearer <token>`"),
        (Some("Bearer not-a-jwt".to_string()), "not a well-formed JWT"),
        (Some(format!("Bearer {expired}")), "expired"),
        (Some(format!("Bearer {forged}")), "signature does not verify"),
    ];
    for (authorization, reason) in cases {
        let mut request = get(&path);
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let reply = request.send().await;
        assert_status(&reply, 401);
        assert_eq!(reply.problem(), "unauthenticated");
        assert!(
            reply.body["detail"].as_str().unwrap().contains(reason),
            "{authorization:?}: {:?}",
            reply.body
        );
    }
}

#[tokio::test]
async fn the_import_template_downloads_as_csv_for_any_signed_in_caller() {
    let reply = get("/v1/import-template.csv").token(&token(&[], &[])).send().await;
    assert_status(&reply, 200);
    assert_eq!(reply.header("content-type"), Some("text/csv; charset=utf-8"));
    assert!(
        reply
            .header("content-disposition")
            .unwrap()
            .contains("carebridge-participants-template.csv")
    );
    assert!(
        reply.text.starts_with("External ID,Name Prefix,First Name,"),
        "{}",
        reply.text
    );
    assert_status(&get("/v1/import-template.csv").send().await, 401);
}
