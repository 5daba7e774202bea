//! The Ensora sandbox as tests drive it: an organization made through its control plane, its
//! sites, students, users and notes written as therapists would, and a group connected to it.

use crate::*;
use serde_json::Value;
use store::records::Records;

/// A caller who is an admin in both systems and edits mappings.
pub fn admin(group: &str) -> String {
    token(&[group], &[GROUP_ADMIN, INTEGRATION_ADMIN, "mapping_editor"])
}

/// A group connected to a new Ensora organization.
pub struct Connected {
    pub group: String,
    pub organization: String,
    pub client: Value,
}

/// A new organization in the Ensora sandbox (its id and API client).
pub async fn organization() -> Value {
    control_with(
        reqwest::Method::POST,
        &stack().ensora,
        "/organizations",
        Some(json!({})),
    )
    .await
}

/// A new group with Ensora activated (credentials not given yet).
pub async fn activated_group() -> String {
    let group = new_group().await;
    let reply = post(&format!("/v1/groups/{group}/integrations/ensora/activate"))
        .token(&admin(&group))
        .send()
        .await;
    assert_status(&reply, 200);
    group
}

pub async fn store_credentials(group: &str, caller: &str, client: &Value) -> Reply {
    put(&format!("/v1/groups/{group}/integrations/ensora/credentials"))
        .token(caller)
        .json(&json!({"client_id": client["client_id"], "client_secret": client["client_secret"]}))
        .send()
        .await
}

impl Connected {
    /// A group with Ensora activated and a new organization, not connected yet: a test makes
    /// the records on both sides first, so the first poll (the credentials start it) sees them.
    pub async fn new() -> Connected {
        let group = activated_group().await;
        let client = organization().await;
        Connected {
            organization: client["organization"].as_str().unwrap().to_owned(),
            group,
            client,
        }
    }

    /// Stores the credentials: Ensora becomes active and its first poll runs.
    pub async fn connect(&self) -> Value {
        let reply = store_credentials(&self.group, &admin(&self.group), &self.client).await;
        assert_status(&reply, 200);
        reply.body
    }

    /// Writes records into the organization as its people would (`what`: sites, patients,
    /// users, notes): answers what the sandbox made.
    pub async fn ensora_add(&self, what: &str, body: Value) -> Value {
        let path = format!("/organizations/{}/{what}", self.organization);
        control_with(reqwest::Method::POST, &stack().ensora, &path, Some(body)).await
    }

    pub async fn ensora_edit(&self, what: &str, id: &str, body: Value) -> Value {
        let path = format!("/organizations/{}/{what}/{id}", self.organization);
        control_with(reqwest::Method::PATCH, &stack().ensora, &path, Some(body)).await
    }

    pub async fn ensora_delete_note(&self, id: &str) -> Value {
        let path = format!("/organizations/{}/notes/{id}", self.organization);
        control_with(reqwest::Method::DELETE, &stack().ensora, &path, None).await
    }

    /// Makes a carebridge record (`what`: agencies, patients, practitioners, appointments)
    /// and answers its id.
    pub async fn create(&self, what: &str, body: Value) -> String {
        let reply = post(&format!("/v1/groups/{}/{what}", self.group))
            .token(&admin(&self.group))
            .json(&body)
            .send()
            .await;
        assert_status(&reply, 201);
        reply.body["id"].as_str().unwrap().to_owned()
    }

    pub async fn read(&self, what: &str, id: &str) -> Value {
        let reply = get(&format!("/v1/groups/{}/{what}/{id}", self.group))
            .token(&admin(&self.group))
            .send()
            .await;
        assert_status(&reply, 200);
        reply.body
    }

    /// The polls finished so far (the cursor's version).
    pub async fn polls_done(&self) -> u64 {
        let key = store::Key::new(format!("G#{}", self.group), "SYNCCURSOR#ensora");
        records().await.get(&key).await.unwrap().map_or(0, |r| r.version)
    }

    /// Waits until `polls` polls have finished.
    pub async fn polled(&self, polls: u64) {
        eventually_within(
            "the Ensora poll",
            std::time::Duration::from_secs(20),
            || self.polls_done(),
            |done| *done >= polls,
        )
        .await;
    }

    /// Asks for a poll now and waits until it has finished.
    pub async fn poll(&self) {
        let before = self.polls_done().await;
        let reply = post(&format!("/v1/groups/{}/integrations/ensora/poll", self.group))
            .token(&admin(&self.group))
            .send()
            .await;
        assert_status(&reply, 202);
        self.polled(before + 1).await;
    }

    /// Every Ensora record of `kind` (sites, students, users, sessions) with its mapping, by
    /// Ensora id.
    pub async fn mapped(&self, kind: &str) -> std::collections::BTreeMap<String, Value> {
        let reply = get(&format!(
            "/v1/groups/{}/integrations/ensora/{kind}?limit=200",
            self.group
        ))
        .token(&admin(&self.group))
        .send()
        .await;
        assert_status(&reply, 200);
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| (item["ensora_id"].as_str().unwrap().to_owned(), item.clone()))
            .collect()
    }
}
