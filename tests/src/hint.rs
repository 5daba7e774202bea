//! The Hint and Salesforce sandboxes as tests drive them: a practice and an org made through
//! their control planes, a group connected to both, and the records and requests each holds.

use crate::*;
use serde_json::Value;

pub fn admin(group: &str) -> String {
    token(&[group], &[INTEGRATION_ADMIN])
}

/// A sandbox's control plane.
pub async fn control(base: &str, path: &str, body: Value) -> Value {
    control_with(reqwest::Method::POST, base, path, Some(body)).await
}

/// A new practice in the Hint sandbox, and a new org in the Salesforce sandbox.
pub async fn practice_and_org() -> (Value, Value) {
    let practice = control(&stack().hint, "/practices", json!({})).await;
    let org = control(&stack().salesforce, "/orgs", json!({})).await;
    (practice, org)
}

pub fn credentials(practice: &Value, org: &Value) -> Value {
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

pub async fn store(group: &str, body: &Value) -> Reply {
    put(&format!("/v1/groups/{group}/integrations/hint/credentials"))
        .token(&admin(group))
        .json(body)
        .send()
        .await
}

pub async fn stored_secret(group: &str) -> Option<String> {
    use store::secrets::Secrets;
    let config = store::aws::load_config().await;
    let secrets = store::secrets::SecretsManager::new(store::aws::secrets_manager(&config));
    secrets
        .get(&format!("carebridge/{}/{group}/hint", stack().stage))
        .await
        .unwrap()
}

pub async fn activated(group: &str) {
    let reply = post(&format!("/v1/groups/{group}/integrations/hint/activate"))
        .token(&admin(group))
        .send()
        .await;
    assert_status(&reply, 200);
}

pub async fn settings(group: &str, body: Option<Value>) -> Reply {
    let path = format!("/v1/groups/{group}/integrations/hint/settings");
    match body {
        Some(body) => put(&path).token(&admin(group)).json(&body).send().await,
        None => get(&path).token(&admin(group)).send().await,
    }
}

/// A group connected to a new practice and org, creating contacts for unmatched patients under
/// the org's account (`create`), with the practice's webhooks pointed at the group.
pub struct Connected {
    pub group: String,
    pub practice: String,
    pub org: String,
}

pub async fn connected(create: bool) -> Connected {
    connected_with(create, Vec::new()).await
}

/// Connected, with `patients` in Hint before the integration is enabled (no webhook tells
/// carebridge of them).
pub async fn connected_with(create: bool, patients: Vec<Value>) -> Connected {
    let group = new_group().await;
    activated(&group).await;
    let (practice, org) = practice_and_org().await;
    if !patients.is_empty() {
        control(
            &stack().hint,
            &format!("/practices/{}/patients", practice["practice_id"].as_str().unwrap()),
            Value::Array(patients),
        )
        .await;
    }
    assert_status(&store(&group, &credentials(&practice, &org)).await, 200);
    let chosen = settings(
        &group,
        Some(json!({"default_account_id": org["account_id"], "create_contacts_for_unmatched": create})),
    )
    .await;
    assert_status(&chosen, 200);
    let enabled = post(&format!("/v1/groups/{group}/integrations/hint/enable"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&enabled, 202);
    let practice_id = practice["practice_id"].as_str().unwrap().to_owned();
    control(
        &stack().hint,
        &format!("/practices/{practice_id}/webhook_endpoints"),
        json!({"webhook_url": chosen.body["webhook_url"]}),
    )
    .await;
    Connected {
        group,
        practice: practice_id,
        org: org["org"].as_str().unwrap().to_owned(),
    }
}

impl Connected {
    /// A patient added in Hint, as the practice's staff would.
    pub async fn add_patient(&self, body: Value) -> String {
        let made = control(&stack().hint, &format!("/practices/{}/patients", self.practice), body).await;
        made["id"].as_str().unwrap().to_owned()
    }

    pub async fn edit_patient(&self, id: &str, body: Value) {
        control_with(
            reqwest::Method::PATCH,
            &stack().hint,
            &format!("/practices/{}/patients/{id}", self.practice),
            Some(body),
        )
        .await;
    }

    pub async fn patient(&self, id: &str) -> Value {
        control_with(
            reqwest::Method::GET,
            &stack().hint,
            &format!("/practices/{}/patients/{id}", self.practice),
            None,
        )
        .await
    }

    pub async fn add_contact(&self, body: Value) -> String {
        let made = control(&stack().salesforce, &format!("/orgs/{}/contacts", self.org), body).await;
        made["Id"].as_str().unwrap().to_owned()
    }

    pub async fn contacts(&self) -> Vec<Value> {
        let all = control_with(
            reqwest::Method::GET,
            &stack().salesforce,
            &format!("/orgs/{}/contacts", self.org),
            None,
        )
        .await;
        all.as_array().cloned().unwrap_or_default()
    }

    pub async fn contact(&self, id: &str) -> Value {
        control_with(
            reqwest::Method::GET,
            &stack().salesforce,
            &format!("/orgs/{}/contacts/{id}", self.org),
            None,
        )
        .await
    }

    /// A contact edited in Salesforce, as the org's users would.
    pub async fn edit_contact(&self, id: &str, body: Value) {
        control_with(
            reqwest::Method::PATCH,
            &stack().salesforce,
            &format!("/orgs/{}/contacts/{id}", self.org),
            Some(body),
        )
        .await;
    }

    /// The requests the Salesforce sandbox answered for this org, oldest first.
    pub async fn org_requests(&self) -> Vec<Value> {
        let all = control_with(reqwest::Method::GET, &stack().salesforce, "/requests", None).await;
        all.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["org"] == self.org.as_str())
            .cloned()
            .collect()
    }

    /// Asks carebridge to poll Salesforce now, as the schedule does every minute.
    pub async fn poll(&self) {
        let reply = post(&format!("/v1/groups/{}/integrations/hint/poll", self.group))
            .token(&admin(&self.group))
            .send()
            .await;
        assert_status(&reply, 202);
    }

    /// A new patient in Hint and the contact carebridge made and linked for it.
    pub async fn linked_pair(&self, patient: Value) -> (String, String) {
        let id = self.add_patient(patient).await;
        let links = self
            .eventually(
                "the new patient linked",
                || self.links(),
                |all| all.iter().any(|l| l["patient_id"] == id.as_str()),
            )
            .await;
        let contact = links.iter().find(|l| l["patient_id"] == id.as_str()).unwrap()["contact_id"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, contact)
    }

    pub async fn links(&self) -> Vec<Value> {
        let reply = get(&format!("/v1/groups/{}/integrations/hint/links", self.group))
            .token(&admin(&self.group))
            .send()
            .await;
        assert_status(&reply, 200);
        reply.body["items"].as_array().cloned().unwrap_or_default()
    }

    /// A user's manual sync of `contact`: `body` is `{patient_id}` or `{new_patient: true}`.
    pub async fn link(&self, contact: &str, body: Value) -> Reply {
        put(&format!("/v1/groups/{}/integrations/hint/links/{contact}", self.group))
            .token(&admin(&self.group))
            .json(&body)
            .send()
            .await
    }

    /// What the patient search answers for `typed`.
    pub async fn search(&self, typed: &str) -> Reply {
        let mut url = reqwest::Url::parse("http://host/").unwrap();
        url.set_path(&format!("/v1/groups/{}/integrations/hint/patients/search", self.group));
        url.query_pairs_mut().append_pair("q", typed);
        let path = format!("{}?{}", url.path(), url.query().unwrap());
        get(&path).token(&admin(&self.group)).send().await
    }

    /// The names the patient search finds for `typed`, in its order.
    pub async fn found(&self, typed: &str) -> Vec<String> {
        let reply = self.search(typed).await;
        assert_status(&reply, 200);
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    }

    /// How many requests the Hint sandbox has answered for this practice.
    pub async fn hint_requests(&self) -> usize {
        let all = control_with(reqwest::Method::GET, &stack().hint, "/requests", None).await;
        all.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["practice"] == self.practice.as_str())
            .count()
    }

    /// The log's events, oldest first.
    pub async fn logged(&self) -> Vec<String> {
        let reply = get(&format!("/v1/groups/{}/integrations/hint/logs?limit=200", self.group))
            .token(&admin(&self.group))
            .send()
            .await;
        assert_status(&reply, 200);
        let mut events: Vec<String> = reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect();
        events.reverse();
        events
    }

    /// Reads until `done` holds for what `read` answers (the worker applies changes a moment
    /// after Hint sends them), for up to ten seconds.
    pub async fn eventually<T, F>(&self, what: &str, read: impl Fn() -> F, done: impl Fn(&T) -> bool) -> T
    where
        F: std::future::Future<Output = T>,
        T: std::fmt::Debug,
    {
        self.eventually_within(what, std::time::Duration::from_secs(10), read, done)
            .await
    }

    /// As [`Connected::eventually`], for up to `patience`.
    pub async fn eventually_within<T, F>(
        &self,
        what: &str,
        patience: std::time::Duration,
        read: impl Fn() -> F,
        done: impl Fn(&T) -> bool,
    ) -> T
    where
        F: std::future::Future<Output = T>,
        T: std::fmt::Debug,
    {
        crate::eventually_within(what, patience, read, done).await
    }
}

pub async fn stored_signature_key(group: &str) -> String {
    let secret: Value = serde_json::from_str(&stored_secret(group).await.unwrap()).unwrap();
    secret["webhook_signature_key"].as_str().unwrap().to_owned()
}
