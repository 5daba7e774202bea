//! Salesforce's Contact as its REST API sends it (standard fields and the Hint integration's
//! custom ones), reduced to what carebridge reads.

use serde::{Deserialize, Deserializer, Serialize};

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(deserializer)?;
    Ok(value.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()))
}

fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

/// The Contact fields carebridge reads, by their API names.
pub const CONTACT_FIELDS: [&str; 29] = [
    "Id",
    "Salutation",
    "FirstName",
    "MiddleName",
    "LastName",
    "Birthdate",
    "Gender__c",
    "Email",
    "MobilePhone",
    "HomePhone",
    "Phone",
    "MailingStreet",
    "MailingCity",
    "MailingState",
    "MailingPostalCode",
    "MailingCountry",
    "Synced_to_Hint__c",
    "Hint_Patient_Id__c",
    "Last_Batch_Sync_Id__c",
    "Hint_Practitioner_Name__c",
    "Hint_Insurance_Payer__c",
    "Hint_Insurance_Group_Id__c",
    "Hint_Insurance_Member_Id__c",
    "Hint_Member_Contract_Accepted__c",
    "Hint_Member_Contract_Accepted_At__c",
    "Hint_HIPAA_Authorization_Accepted__c",
    "Hint_HIPAA_Authorization_Accepted_At__c",
    "LastModifiedDate",
    "SystemModstamp",
];

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Contact {
    pub id: String,
    #[serde(default, deserialize_with = "text")]
    pub salutation: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub middle_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub last_name: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "text")]
    pub birthdate: Option<String>,
    #[serde(default, rename = "Gender__c", deserialize_with = "text")]
    pub gender: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub mobile_phone: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub home_phone: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub phone: Option<String>,
    /// Street lines, one per line.
    #[serde(default, deserialize_with = "text")]
    pub mailing_street: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub mailing_city: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub mailing_state: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub mailing_postal_code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub mailing_country: Option<String>,
    #[serde(default, rename = "Synced_to_Hint__c", deserialize_with = "flag")]
    pub synced_to_hint: bool,
    #[serde(default, rename = "Hint_Patient_Id__c", deserialize_with = "text")]
    pub hint_patient_id: Option<String>,
    #[serde(default, rename = "Last_Batch_Sync_Id__c", deserialize_with = "text")]
    pub last_batch_sync_id: Option<String>,
    #[serde(default, rename = "Hint_Practitioner_Name__c", deserialize_with = "text")]
    pub hint_practitioner_name: Option<String>,
    #[serde(default, rename = "Hint_Insurance_Payer__c", deserialize_with = "text")]
    pub hint_insurance_payer: Option<String>,
    #[serde(default, rename = "Hint_Insurance_Group_Id__c", deserialize_with = "text")]
    pub hint_insurance_group_id: Option<String>,
    #[serde(default, rename = "Hint_Insurance_Member_Id__c", deserialize_with = "text")]
    pub hint_insurance_member_id: Option<String>,
    #[serde(default, rename = "Hint_Member_Contract_Accepted__c", deserialize_with = "flag")]
    pub hint_member_contract_accepted: bool,
    #[serde(default, rename = "Hint_Member_Contract_Accepted_At__c", deserialize_with = "text")]
    pub hint_member_contract_accepted_at: Option<String>,
    #[serde(default, rename = "Hint_HIPAA_Authorization_Accepted__c", deserialize_with = "flag")]
    pub hint_hipaa_authorization_accepted: bool,
    #[serde(
        default,
        rename = "Hint_HIPAA_Authorization_Accepted_At__c",
        deserialize_with = "text"
    )]
    pub hint_hipaa_authorization_accepted_at: Option<String>,
    /// `2013-05-08T17:20:00.000+0000`: the last change by a user.
    #[serde(default, deserialize_with = "text")]
    pub last_modified_date: Option<String>,
    /// The last change by anyone, Salesforce's own processes too; what change windows follow.
    #[serde(default, deserialize_with = "text")]
    pub system_modstamp: Option<String>,
}

/// One result of a `composite/sobjects` call, in the order of the records sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SaveResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<SaveError>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaveError {
    #[serde(alias = "errorCode")]
    pub status_code: String,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_salesforces_published_collection_results_success_and_failure_alike() {
        let partial: Vec<SaveResult> = serde_json::from_str(include_str!(
            "../../fixtures/salesforce-composite-sobjects-partial-failure-response.json"
        ))
        .unwrap();
        assert!(partial[0].success && partial[0].id.is_some());
        assert!(!partial[1].success && partial[1].id.is_none());
        assert_eq!(partial[1].errors[0].status_code, "MALFORMED_ID");
        assert_eq!(partial[1].errors[0].fields, ["Id"]);
        let rolled_back: Vec<SaveResult> = serde_json::from_str(include_str!(
            "../../fixtures/salesforce-composite-sobjects-allornone-rollback-response.json"
        ))
        .unwrap();
        assert_eq!(
            rolled_back[0].errors[0].status_code,
            "ALL_OR_NONE_OPERATION_ROLLED_BACK"
        );
    }
}
