//! The Salesforce sandbox keeps Salesforce's public contract for Contacts, checked over HTTP.

use sandbox::Running;
use sandbox::salesforce::{self, Config};
use serde_json::{Value, json};

const PRIVATE_KEY: &str = include_str!("fixtures/salesforce-jwt-test-key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/salesforce-jwt-test-key.pub.pem");

struct Salesforce {
    running: Running,
    http: reqwest::Client,
}

/// An org made through the control plane, and a token of its app.
struct Org {
    name: String,
    made: Value,
    token: String,
}

impl Salesforce {
    async fn start_with(config: Config) -> Salesforce {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Salesforce {
            running: salesforce::start(listener, config).unwrap(),
            http: reqwest::Client::new(),
        }
    }

    async fn start() -> Salesforce {
        Salesforce::start_with(Config::default()).await
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.running.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
        answer.json().await.unwrap_or(Value::Null)
    }

    async fn token(&self, org: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let answer = self
            .http
            .post(format!("{}/{org}/services/oauth2/token", self.running.base_url()))
            .form(form)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
    }

    async fn org(&self) -> Org {
        let made = self
            .control(
                reqwest::Method::POST,
                "/orgs",
                Some(json!({"public_key_pem": PUBLIC_KEY})),
            )
            .await;
        let name = made["org"].as_str().unwrap().to_owned();
        let (status, token) = self
            .token(
                &name,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", made["client_id"].as_str().unwrap()),
                    ("client_secret", made["client_secret"].as_str().unwrap()),
                ],
            )
            .await;
        assert_eq!(status, 200, "{token}");
        Org {
            name,
            made,
            token: token["access_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn call(&self, org: &Org, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = if path.starts_with("/services") {
            format!("{}/{}{path}", self.running.base_url(), org.name)
        } else {
            format!("{}/{}/services/data/v62.0{path}", self.running.base_url(), org.name)
        };
        let mut request = self.http.request(method, url).bearer_auth(&org.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        assert!(
            answer.headers().get("sforce-limit-info").is_some() || status == 401,
            "every API answer says the usage"
        );
        (status, answer.json().await.unwrap_or(Value::Null))
    }

    async fn query(&self, org: &Org, soql: &str) -> (u16, Value) {
        let path = format!(
            "/query?q={}",
            form_urlencoded::byte_serialize(soql.as_bytes()).collect::<String>()
        );
        self.call(org, reqwest::Method::GET, &path, None).await
    }
}

fn assertion(iss: &str, sub: &str, aud: &str, exp_in: i64) -> String {
    let claims = json!({"iss": iss, "sub": sub, "aud": aud, "exp": chrono::Utc::now().timestamp() + exp_in});
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(PRIVATE_KEY.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_come_from_client_credentials_or_a_signed_jwt_and_name_the_instance() {
    let salesforce = Salesforce::start().await;
    let org = salesforce.org().await;
    let (client_id, username) = (
        org.made["client_id"].as_str().unwrap(),
        org.made["username"].as_str().unwrap(),
    );
    let (sf, name) = (&salesforce, org.name.as_str());
    let jwt = |assertion: String| async move {
        let form = [
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", assertion.as_str()),
        ];
        sf.token(name, &form).await
    };
    let (status, granted) = jwt(assertion(client_id, username, "https://login.salesforce.com", 120)).await;
    assert_eq!(status, 200, "{granted}");
    assert_eq!(granted["instance_url"], org.made["instance_url"]);
    assert_eq!(granted["token_type"], "Bearer");

    let (status, expired) = jwt(assertion(client_id, username, "https://login.salesforce.com", -10)).await;
    assert_eq!((status, expired["error"].as_str()), (400, Some("invalid_grant")));
    assert_eq!(
        jwt(assertion(client_id, username, "https://example.org", 120)).await.0,
        400,
        "wrong audience"
    );
    assert_eq!(
        jwt(assertion(
            client_id,
            "someone@else",
            "https://login.salesforce.com",
            120
        ))
        .await
        .0,
        400
    );
    assert_eq!(
        jwt(assertion(client_id, username, "https://login.salesforce.com", 3600))
            .await
            .0,
        400,
        "exp within 3 minutes"
    );

    let (status, refused) = salesforce
        .token(
            &org.name,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", "wrong"),
            ],
        )
        .await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_client")));
}

#[tokio::test]
async fn contacts_are_created_read_updated_and_queried_page_by_page() {
    let salesforce = Salesforce::start_with(Config {
        batch_size: 3,
        ..Config::default()
    })
    .await;
    let org = salesforce.org().await;
    let (status, refused) = salesforce
        .call(
            &org,
            reqwest::Method::POST,
            "/sobjects/Contact",
            Some(json!({"FirstName": "Ann"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(refused[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(refused[0]["fields"], json!(["LastName"]));

    let body =
        json!({"FirstName": "Ann", "LastName": "Lee", "Birthdate": "1980-02-03", "AccountId": org.made["account_id"]});
    let (status, made) = salesforce
        .call(&org, reqwest::Method::POST, "/sobjects/Contact", Some(body))
        .await;
    assert_eq!((status, made["success"].as_bool()), (201, Some(true)));
    let id = made["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 18);
    let (status, _) = salesforce
        .call(
            &org,
            reqwest::Method::PATCH,
            &format!("/sobjects/Contact/{id}"),
            Some(json!({"Email": "ann@example.org"})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, read) = salesforce
        .call(&org, reqwest::Method::GET, &format!("/sobjects/Contact/{id}"), None)
        .await;
    assert_eq!(
        (read["Email"].as_str(), read["Name"].as_str()),
        (Some("ann@example.org"), Some("Ann Lee"))
    );
    assert_eq!(read["attributes"]["type"], "Contact");

    let more: Vec<Value> = (0..6)
        .map(|n| json!({"FirstName": format!("P{n}"), "LastName": "Page"}))
        .collect();
    salesforce
        .control(
            reqwest::Method::POST,
            &format!("/orgs/{}/contacts", org.name),
            Some(Value::Array(more)),
        )
        .await;
    let (_, first) = salesforce
        .query(
            &org,
            "SELECT Id, FirstName FROM Contact WHERE LastName = 'page' ORDER BY FirstName",
        )
        .await;
    assert_eq!(
        (first["totalSize"].as_u64(), first["done"].as_bool()),
        (Some(6), Some(false))
    );
    assert_eq!(first["records"][0]["FirstName"], "P0");
    let mut seen = first["records"].as_array().unwrap().len();
    let mut next = first["nextRecordsUrl"].as_str().map(str::to_owned);
    while let Some(url) = next {
        let (_, page) = salesforce.call(&org, reqwest::Method::GET, &url, None).await;
        seen += page["records"].as_array().unwrap().len();
        next = page["nextRecordsUrl"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, 6);
    let (_, match_one) = salesforce
        .query(
            &org,
            "SELECT Id FROM Contact WHERE FirstName = 'ann' AND LastName = 'Lee' AND Birthdate = 1980-02-03",
        )
        .await;
    assert_eq!(match_one["records"][0]["Id"], id.as_str());
    let (status, bad) = salesforce.query(&org, "SELECT Shoe__c FROM Contact").await;
    assert_eq!((status, bad[0]["errorCode"].as_str()), (400, Some("INVALID_FIELD")));
}

#[tokio::test]
async fn collections_take_200_records_answer_each_and_roll_back_all_or_none() {
    let salesforce = Salesforce::start().await;
    let org = salesforce.org().await;
    let contact = |n: usize| json!({"attributes": {"type": "Contact"}, "LastName": format!("C{n}")});
    let (status, created) = salesforce
        .call(
            &org,
            reqwest::Method::POST,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": (0..200).map(contact).collect::<Vec<_>>()})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(created.as_array().unwrap().len(), 200);
    let (status, too_many) = salesforce
        .call(
            &org,
            reqwest::Method::POST,
            "/composite/sobjects",
            Some(json!({"records": (0..201).map(contact).collect::<Vec<_>>()})),
        )
        .await;
    assert_eq!(
        (status, too_many[0]["errorCode"].as_str()),
        (400, Some("EXCEEDED_ID_LIMIT"))
    );

    let (first, second) = (created[0]["id"].as_str().unwrap(), created[1]["id"].as_str().unwrap());
    let update = |id: &str, email: &str| json!({"attributes": {"type": "Contact"}, "id": id, "Email": email});
    let (_, partial) = salesforce
        .call(
            &org,
            reqwest::Method::PATCH,
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": [update(first, "a@example.org"), update(second, "not an e-mail")]})),
        )
        .await;
    assert_eq!(partial[0]["success"], true);
    assert_eq!(partial[1]["errors"][0]["statusCode"], "INVALID_EMAIL_ADDRESS");
    let (_, rolled_back) = salesforce
        .call(
            &org,
            reqwest::Method::PATCH,
            "/composite/sobjects",
            Some(json!({"allOrNone": true, "records": [update(first, "b@example.org"), update(second, "not an e-mail")]})),
        )
        .await;
    assert_eq!(
        rolled_back[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    let (_, kept) = salesforce
        .call(&org, reqwest::Method::GET, &format!("/sobjects/Contact/{first}"), None)
        .await;
    assert_eq!(
        kept["Email"], "a@example.org",
        "nothing of a rolled-back call is written"
    );
}

#[tokio::test]
async fn changes_are_listed_by_whole_minutes_and_an_expired_token_gets_invalid_session() {
    let salesforce = Salesforce::start().await;
    let org = salesforce.org().await;
    let contacts_path = format!("/orgs/{}/contacts", org.name);
    let contacts = |body: Value| salesforce.control(reqwest::Method::POST, &contacts_path, Some(body));
    let earlier = contacts(json!({"LastName": "Earlier", "_minutes_ago": 3})).await;
    contacts(json!({"LastName": "Now"})).await;
    let five_ago =
        (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let minute_ago =
        (chrono::Utc::now() - chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(2)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let path = |kind: &str, start: &str, end: &str| {
        let enc = |t: &str| form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>();
        format!("/sobjects/Contact/{kind}/?start={}&end={}", enc(start), enc(end))
    };
    let (status, updated) = salesforce
        .call(
            &org,
            reqwest::Method::GET,
            &path("updated", &five_ago, &minute_ago),
            None,
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    // Whole minutes only: the window ends at the minute, and the contact saved now is past it.
    let covered = updated["latestDateCovered"].as_str().unwrap();
    assert!(covered.ends_with(":00.000+0000"), "{covered}");
    assert_eq!(updated["ids"], json!([earlier["Id"]]), "{updated}");
    let month_ago =
        (chrono::Utc::now() - chrono::Duration::days(31)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(
        salesforce
            .call(&org, reqwest::Method::GET, &path("updated", &month_ago, &soon), None)
            .await
            .0,
        400
    );
    let (status, deleted) = salesforce
        .call(&org, reqwest::Method::GET, &path("deleted", &minute_ago, &soon), None)
        .await;
    assert_eq!((status, deleted["deletedRecords"].is_array()), (200, true));

    salesforce
        .control(
            reqwest::Method::POST,
            &format!("/orgs/{}/tokens/expire", org.name),
            None,
        )
        .await;
    let (status, expired) = salesforce.query(&org, "SELECT Id FROM Contact").await;
    assert_eq!(
        (status, expired[0]["errorCode"].as_str()),
        (401, Some("INVALID_SESSION_ID"))
    );
}
