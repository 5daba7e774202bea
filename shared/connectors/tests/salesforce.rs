//! The Salesforce connector against the Salesforce sandbox over HTTP: both token flows, a
//! session that expires mid-work renewed, queries across pages, collections of 200, and the
//! contacts changed in a window.

use connectors::ConnectorError;
use connectors::http::{Open, RetryPolicy};
use connectors::salesforce::client::soql_text;
use connectors::salesforce::types::Contact;
use connectors::salesforce::{Grant, Salesforce, mapping};
use sandbox::Running;
use sandbox::salesforce::{self, Config};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;

const PRIVATE_KEY: &str = include_str!("../../../infra/sandbox/tests/fixtures/salesforce-jwt-test-key.pem");
const PUBLIC_KEY: &str = include_str!("../../../infra/sandbox/tests/fixtures/salesforce-jwt-test-key.pub.pem");

struct Sandbox {
    running: Running,
}

impl Sandbox {
    async fn start_with(config: Config) -> Sandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Sandbox {
            running: salesforce::start(listener, config).unwrap(),
        }
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new().request(method, format!("{}/_sandbox{path}", self.running.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn org(&self) -> Value {
        self.control(
            reqwest::Method::POST,
            "/orgs",
            Some(json!({"public_key_pem": PUBLIC_KEY})),
        )
        .await
    }

    fn connect(&self, org: &Value, grant: Grant) -> Salesforce {
        let retry = RetryPolicy {
            tries: 3,
            first_wait: Duration::from_millis(10),
            longest_wait: Duration::from_millis(50),
        };
        let domain = org["instance_url"].as_str().unwrap().parse().unwrap();
        Salesforce::new(domain, grant, retry, Duration::from_secs(5), Arc::new(Open)).unwrap()
    }
}

fn client_credentials(org: &Value) -> Grant {
    Grant::ClientCredentials {
        client_id: org["client_id"].as_str().unwrap().into(),
        client_secret: org["client_secret"].as_str().unwrap().into(),
    }
}

#[tokio::test]
async fn both_token_flows_are_accepted_and_a_wrong_secret_is_refused_in_salesforces_words() {
    let sandbox = Sandbox::start_with(Config::default()).await;
    let org = sandbox.org().await;
    sandbox
        .connect(&org, client_credentials(&org))
        .check_credentials()
        .await
        .unwrap();
    let jwt = Grant::JwtBearer {
        client_id: org["client_id"].as_str().unwrap().into(),
        username: org["username"].as_str().unwrap().into(),
        private_key_pem: PRIVATE_KEY.into(),
        audience: "https://login.salesforce.com".into(),
    };
    sandbox.connect(&org, jwt).check_credentials().await.unwrap();
    let wrong = Grant::ClientCredentials {
        client_id: org["client_id"].as_str().unwrap().into(),
        client_secret: "wrong".into(),
    };
    match sandbox.connect(&org, wrong).check_credentials().await {
        Err(ConnectorError::BadCredentials { reason, .. }) => assert_eq!(reason, "invalid client credentials"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn collections_of_200_write_every_contact_and_a_session_that_expires_midway_is_renewed() {
    let sandbox = Sandbox::start_with(Config {
        batch_size: 150,
        ..Config::default()
    })
    .await;
    let org = sandbox.org().await;
    let salesforce = sandbox.connect(&org, client_credentials(&org));
    let records: Vec<Map<String, Value>> = (0..450)
        .map(|n| {
            Map::from_iter([
                ("LastName".to_owned(), json!(format!("Batch{n:03}"))),
                ("AccountId".to_owned(), org["account_id"].clone()),
            ])
        })
        .collect();
    let (first, rest) = records.split_at(200);
    let mut saved = salesforce.save_contacts(true, first).await.unwrap();
    sandbox
        .control(
            reqwest::Method::POST,
            &format!("/orgs/{}/tokens/expire", org["org"].as_str().unwrap()),
            None,
        )
        .await;
    saved.extend(salesforce.save_contacts(true, rest).await.unwrap());
    assert_eq!(saved.len(), 450);
    assert!(saved.iter().all(|s| s.success && s.id.is_some()));
    let requests = sandbox.control(reqwest::Method::GET, "/requests", None).await;
    let sizes: Vec<u64> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/composite/sobjects") && r["status"] == 200)
        .filter_map(|r| r["records"].as_u64())
        .collect();
    assert_eq!(sizes, [200, 200, 50], "at most 200 a call");
    assert!(
        requests.as_array().unwrap().iter().any(|r| r["status"] == 401),
        "the expired session was met, and renewed"
    );

    let contacts: Vec<Contact> = salesforce
        .query(&format!(
            "SELECT Id, LastName FROM Contact WHERE LastName LIKE {}",
            soql_text("Batch%")
        ))
        .await
        .unwrap();
    assert_eq!(contacts.len(), 450, "every page of 150, through nextRecordsUrl");

    let ids: Vec<String> = saved.iter().filter_map(|s| s.id.clone()).take(3).collect();
    let mut updates = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut record = Map::from_iter([("id".to_owned(), json!(id))]);
        record.insert("Email".into(), json!(if i == 1 { "broken" } else { "ok@example.org" }));
        updates.push(record);
    }
    let results = salesforce.save_contacts(false, &updates).await.unwrap();
    assert_eq!(
        results.iter().map(|r| r.success).collect::<Vec<_>>(),
        [true, false, true]
    );
    assert_eq!(results[1].errors[0].status_code, "INVALID_EMAIL_ADDRESS");
    let read = salesforce.contacts(&ids).await.unwrap();
    assert_eq!(read.len(), 3);
}

#[tokio::test]
async fn a_contact_reads_by_the_table_and_the_changed_window_names_it_once_its_minute_is_past() {
    let sandbox = Sandbox::start_with(Config::default()).await;
    let org = sandbox.org().await;
    let name = org["org"].as_str().unwrap();
    let salesforce = sandbox.connect(&org, client_credentials(&org));
    let earlier = sandbox
        .control(
            reqwest::Method::POST,
            &format!("/orgs/{name}/contacts"),
            Some(json!({"FirstName": "Ann", "LastName": "Lee", "Birthdate": "1980-02-03", "_minutes_ago": 3})),
        )
        .await;
    let id = earlier["Id"].as_str().unwrap();
    let contact = salesforce.contact(id).await.unwrap().unwrap();
    assert_eq!(mapping::read(&contact).demographics.first_name.as_deref(), Some("Ann"));
    assert!(salesforce.contact("003000000000000AAA").await.unwrap().is_none());

    let now = chrono::Utc::now();
    let (changed, covered) = salesforce
        .changed_contacts(now - chrono::Duration::minutes(10), now)
        .await
        .unwrap();
    assert_eq!(changed, [id]);
    assert!(
        covered <= now && now - covered < chrono::Duration::minutes(1),
        "the window ends at the whole minute"
    );
    let (nothing, _) = salesforce.changed_contacts(covered, now).await.unwrap();
    assert!(
        nothing.is_empty(),
        "a poll with nothing new is one call that names nothing"
    );
}

#[tokio::test]
async fn contacts_are_found_by_identity_and_linked_ones_by_their_last_change() {
    let sandbox = Sandbox::start_with(Config::default()).await;
    let org = sandbox.org().await;
    let name = org["org"].as_str().unwrap();
    let salesforce = sandbox.connect(&org, client_credentials(&org));
    let path = format!("/orgs/{name}/contacts");
    let add = |body: Value| sandbox.control(reqwest::Method::POST, &path, Some(body));
    let linked = add(
        json!({"FirstName": "Ann", "LastName": "O'Lee", "Birthdate": "1980-02-03",
        "Synced_to_Hint__c": true, "Hint_Patient_Id__c": "pat-1", "_minutes_ago": 3}),
    )
    .await;
    add(json!({"FirstName": "Ann", "LastName": "O'Lee", "Birthdate": "1980-02-04"})).await;
    add(json!({"FirstName": "Bea", "LastName": "Kim", "Birthdate": "1990-01-01"})).await;

    let born = chrono::NaiveDate::from_ymd_opt(1980, 2, 3).unwrap();
    let same = salesforce.contacts_of_identity(" ann ", "o'lee", born).await.unwrap();
    assert_eq!(same.len(), 1, "one contact has that name and birthday");
    assert_eq!(same[0].id, linked["Id"].as_str().unwrap());
    assert_eq!(same[0].hint_patient_id.as_deref(), Some("pat-1"));

    let now = chrono::Utc::now();
    let recent = salesforce
        .changed_linked_since(now - chrono::Duration::minutes(10))
        .await
        .unwrap();
    assert_eq!(recent.len(), 1, "only the linked contact, not the unlinked ones");
    assert!(recent[0].system_modstamp.is_some());
    assert!(
        salesforce.changed_linked_since(now).await.unwrap().is_empty(),
        "nothing changed since"
    );
}
