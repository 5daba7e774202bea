//! What happens to a linked pair, a new Hint patient and an unlinked contact when one side
//! changes. The rules are `model::hint_salesforce`'s; this file reads both vendors, applies
//! them, writes each side only what it must, and remembers the pair ([`links`]).
//!
//! Each side is sent only the fields whose values change, so an edit someone makes on that side
//! at the same moment is not overwritten with a value read a moment before. What carebridge
//! wrote is remembered as that side holds it (`in_hint`, `in_salesforce`), so its coming back
//! (Hint's webhook of carebridge's own write, the next Salesforce poll) is an echo and dropped.

use super::links;
use crate::integrations::logs;
use crate::{AppError, Deps};
use chrono::{DateTime, Utc};
use connectors::ConnectorError;
use connectors::hint::types::{Patient, Phone};
use connectors::hint::{Hint as HintApi, mapping as hint_mapping};
use connectors::salesforce::types::Contact;
use connectors::salesforce::{Salesforce, client::parse_time, mapping as sf_mapping};
use model::GroupId;
use model::hint_salesforce::{
    self as rules, Candidate, Demographics, HintOnly, Link, PatientOutcome, SkipReason, Winner,
};
use model::integration::IntegrationKind;
use model::integration_log::{LogIds, LogLevel};
use serde_json::{Map, Value};
use store::Versioned;

/// Both vendors' clients for one group.
pub struct Sides {
    pub hint: HintApi,
    pub salesforce: std::sync::Arc<Salesforce>,
}

impl Sides {
    pub async fn of(deps: &Deps, group: &GroupId) -> Result<Sides, AppError> {
        Ok(Sides {
            hint: super::hint_client(deps, group).await?,
            salesforce: super::salesforce_client(deps, group).await?,
        })
    }
}

/// A Hint patient as read, with the time of its last change.
pub struct PatientNow {
    pub id: String,
    pub demographics: Demographics,
    pub hint_only: HintOnly,
    pub phones: Vec<Phone>,
    pub changed_at: DateTime<Utc>,
    /// The contact carebridge made this patient from, as Hint's `integration_record_id` says.
    pub made_from_contact: Option<String>,
}

impl PatientNow {
    /// `fallback` is the time to use when Hint sent no `updated_at` (the event's own time).
    pub fn of(patient: &Patient, fallback: DateTime<Utc>) -> PatientNow {
        let read = hint_mapping::read(patient);
        PatientNow {
            id: patient.id.clone(),
            demographics: read.demographics,
            hint_only: read.hint_only,
            phones: patient.phones.clone(),
            changed_at: patient.updated_at.unwrap_or(fallback),
            made_from_contact: patient
                .integration_record_id
                .clone()
                .filter(|id| rules::is_record_id(id)),
        }
    }
}

/// A Salesforce contact as read, with the time of its last change.
pub struct ContactNow {
    pub id: String,
    pub demographics: Demographics,
    pub hint_only: HintOnly,
    pub changed_at: DateTime<Utc>,
    /// Who it names as its Hint patient ("Hint Patient Id", when "Synced to Hint" is checked).
    pub names_patient: Option<String>,
}

impl ContactNow {
    pub fn of(contact: &Contact, fallback: DateTime<Utc>) -> ContactNow {
        let changed_at = contact
            .system_modstamp
            .as_deref()
            .or(contact.last_modified_date.as_deref())
            .and_then(parse_time)
            .unwrap_or(fallback);
        ContactNow {
            id: contact.id.clone(),
            demographics: sf_mapping::read(contact).demographics,
            hint_only: sf_mapping::read_hint_only(contact),
            changed_at,
            names_patient: contact
                .synced_to_hint
                .then(|| contact.hint_patient_id.clone())
                .flatten(),
        }
    }
}

/// What a change of one side became, for the job's own log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Synced,
    Echo,
    Stale,
    Linked,
    Created,
    Skipped,
    Unlinked,
    Nothing,
    Refused,
}

fn ids(patient: &str, contact: &str) -> LogIds {
    LogIds {
        patient_id: Some(patient.to_owned()),
        contact_id: Some(contact.to_owned()),
        ..LogIds::default()
    }
}

async fn log(deps: &Deps, group: &GroupId, level: LogLevel, event: &str, message: String, ids: LogIds) {
    logs::write(deps, group, IntegrationKind::Hint, level, event, message, ids).await;
}

/// The entries of `new` whose values differ from `old`'s: what a side must be sent.
fn changed_only(new: Map<String, Value>, old: &Map<String, Value>) -> Map<String, Value> {
    new.into_iter().filter(|(k, v)| old.get(k) != Some(v)).collect()
}

/// The body that gives the patient `to`, less what it holds already.
pub(crate) fn hint_changes(patient: &PatientNow, to: &Demographics) -> Map<String, Value> {
    let as_object = |value: Value| match value {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let (next, _) = hint_mapping::body(to, &patient.phones);
    let (now, _) = hint_mapping::body(&patient.demographics, &patient.phones);
    changed_only(as_object(next), &as_object(now))
}

/// The contact fields that give it `to` and `hint_only`, less what it holds already.
pub(crate) fn contact_changes(contact: &ContactNow, to: &Demographics, hint_only: &HintOnly) -> Map<String, Value> {
    let mut next = sf_mapping::fields(to);
    next.extend(sf_mapping::hint_fields(hint_only));
    let mut now = sf_mapping::fields(&contact.demographics);
    now.extend(sf_mapping::hint_fields(&contact.hint_only));
    changed_only(next, &now)
}

/// A vendor's refusal of one record, which trying again will not change: logged as an error
/// (the vendor's code and the fields it named, never the values), and the change is dropped.
/// Anything else is returned, so the job is tried again.
async fn refused(deps: &Deps, group: &GroupId, error: AppError, what: &str, ids: LogIds) -> Result<Applied, AppError> {
    match error {
        AppError::Vendor(ConnectorError::Rejected {
            vendor, status, fields, ..
        }) => {
            let named = if fields.is_empty() {
                String::new()
            } else {
                format!(" (fields: {})", fields.join(", "))
            };
            log(
                deps,
                group,
                LogLevel::Error,
                "vendor_refused",
                format!("{vendor} refused to {what} with status {status}{named}"),
                ids,
            )
            .await;
            Ok(Applied::Refused)
        }
        other => Err(other),
    }
}

/// A linked pair after `patient` or `contact` changed (both as read now): each side's change
/// read as an edit of what they last agreed on, reconciled, and written where it is missing.
pub async fn sync_linked(
    deps: &Deps,
    group: &GroupId,
    sides: &Sides,
    link: Versioned<Link>,
    patient: PatientNow,
    contact: ContactNow,
) -> Result<Applied, AppError> {
    let pair = rules::sync_pair(
        &link.value,
        &patient.demographics,
        patient.changed_at,
        &contact.demographics,
        contact.changed_at,
    );
    let ids = ids(&patient.id, &contact.id);
    if contact.hint_only != link.value.hint_only && contact.hint_only != patient.hint_only {
        let edited: Vec<&str> = read_only_differences(&contact.hint_only, &link.value.hint_only);
        log(
            deps,
            group,
            LogLevel::Error,
            "read_only_fields_overwritten",
            format!(
                "the contact's read-only Hint fields were edited in Salesforce and are set back from Hint: {}",
                edited.join(", ")
            ),
            ids.clone(),
        )
        .await;
    }
    let mut to_contact = contact_changes(&contact, &pair.result, &patient.hint_only);
    // A link whose contact was not marked yet (its making stopped half-way) is finished here.
    if contact.names_patient.as_deref() != Some(patient.id.as_str()) {
        to_contact.extend(sf_mapping::link_fields(Some(&patient.id), None));
    }
    if !to_contact.is_empty()
        && let Err(error) = sides.salesforce.update_contact(&contact.id, &to_contact).await
    {
        return refused(deps, group, error.into(), "update the contact", ids).await;
    }
    let mut next = link.value.clone();
    next.in_hint = patient.demographics.clone();
    next.patient_changed_at = Some(patient.changed_at);
    let to_patient = hint_changes(&patient, &pair.result);
    if pair.write_hint && !to_patient.is_empty() {
        match sides.hint.update(&patient.id, &Value::Object(to_patient.clone())).await {
            Ok(answer) => {
                next.in_hint = hint_mapping::read(&answer).demographics;
                next.patient_changed_at = answer.updated_at.or(next.patient_changed_at);
            }
            Err(error) => return refused(deps, group, error.into(), "update the patient", ids).await,
        }
    }
    next.in_salesforce = if to_contact.is_empty() {
        contact.demographics.clone()
    } else {
        sf_mapping::written(&pair.result)
    };
    next.contact_changed_at = link.value.contact_changed_at.max(Some(contact.changed_at));
    next.hint_only = patient.hint_only.clone();
    let changed = rules::differences(&link.value.base, &pair.result);
    next.base = pair.result;
    links::commit(deps, links::save(group, &next, link.version)?).await?;
    let sent = |map: &Map<String, Value>| if map.is_empty() { "nothing" } else { "its changes" };
    log(
        deps,
        group,
        LogLevel::Debug,
        "pair_synced",
        format!(
            "the pair was synced (fields changed: {}); the contact was sent {}, the patient {}",
            if changed.is_empty() {
                "none".to_owned()
            } else {
                changed.join(", ")
            },
            sent(&to_contact),
            sent(&to_patient),
        ),
        ids,
    )
    .await;
    Ok(Applied::Synced)
}

/// The names of the read-only Hint fields where `a` and `b` differ.
fn read_only_differences(a: &HintOnly, b: &HintOnly) -> Vec<&'static str> {
    let (a, b) = (sf_mapping::hint_fields(a), sf_mapping::hint_fields(b));
    [
        ("practitioner_name", "Hint_Practitioner_Name__c"),
        ("insurance_payer", "Hint_Insurance_Payer__c"),
        ("insurance_group_id", "Hint_Insurance_Group_Id__c"),
        ("insurance_member_id", "Hint_Insurance_Member_Id__c"),
        ("member_contract_accepted", "Hint_Member_Contract_Accepted__c"),
        ("member_contract_accepted_at", "Hint_Member_Contract_Accepted_At__c"),
        ("hipaa_authorization_accepted", "Hint_HIPAA_Authorization_Accepted__c"),
        (
            "hipaa_authorization_accepted_at",
            "Hint_HIPAA_Authorization_Accepted_At__c",
        ),
    ]
    .into_iter()
    .filter(|(_, field)| a.get(*field) != b.get(*field))
    .map(|(name, _)| name)
    .collect()
}

/// Whether a side's change, as read, is nothing new for the pair: older than (or as old as) one
/// already applied from that side, or exactly what carebridge last left there.
pub fn already_applied(
    seen_at: Option<DateTime<Utc>>,
    changed_at: DateTime<Utc>,
    seen: &Demographics,
    now: &Demographics,
    hint_only_seen: &HintOnly,
    hint_only_now: &HintOnly,
) -> Option<Applied> {
    // An echo is usually also no newer than carebridge's write: named for what it is.
    if rules::is_echo(seen, now) && hint_only_seen == hint_only_now {
        Some(Applied::Echo)
    } else if rules::is_stale(seen_at, changed_at) {
        Some(Applied::Stale)
    } else {
        None
    }
}

/// Logs a change of `side` ("Hint", "Salesforce") that [`already_applied`] dropped.
pub async fn log_dropped(deps: &Deps, group: &GroupId, dropped: Applied, side: &str, ids: LogIds) {
    let (event, why) = if dropped == Applied::Echo {
        ("echo_dropped", "repeats what carebridge last wrote")
    } else {
        ("stale_dropped", "is older than one already applied")
    };
    log(
        deps,
        group,
        LogLevel::Debug,
        event,
        format!("a {side} change that {why} was dropped"),
        ids,
    )
    .await;
}

/// A Hint patient that is not linked yet and was just created in Hint: linked to its one
/// unlinked Salesforce match, or given a new contact, as the group's settings say.
pub async fn new_patient(
    deps: &Deps,
    group: &GroupId,
    sides: &Sides,
    patient: PatientNow,
) -> Result<Applied, AppError> {
    let settings = super::settings::current(deps, group).await?;
    let patient_ids = LogIds {
        patient_id: Some(patient.id.clone()),
        ..LogIds::default()
    };
    // A contact naming this patient already was linked by an attempt that stopped before
    // carebridge recorded it: that link is finished, never a second contact made.
    let naming = sides.salesforce.contacts_naming(&patient.id).await?;
    let mut found: Vec<Contact> = naming.into_iter().filter(|c| c.synced_to_hint).collect();
    // A patient carebridge made from a contact whose link is not stored yet (its webhook came
    // first, or the making stopped half-way) is linked to that contact.
    if found.is_empty()
        && let Some(contact_id) = &patient.made_from_contact
        && links::by_contact(deps, group, contact_id).await?.is_none()
    {
        found.extend(sides.salesforce.contact(contact_id).await?);
    }
    let outcome = if let [contact] = found.as_slice() {
        PatientOutcome::Link {
            contact_id: contact.id.clone(),
        }
    } else {
        found = match rules::identity(&patient.demographics) {
            Some(_) => {
                let (first, last, born) = (
                    patient.demographics.first_name.as_deref().unwrap_or_default(),
                    patient.demographics.last_name.as_deref().unwrap_or_default(),
                    patient.demographics.date_of_birth.unwrap_or_default(),
                );
                sides.salesforce.contacts_of_identity(first, last, born).await?
            }
            None => Vec::new(),
        };
        let mut candidates = Vec::with_capacity(found.len());
        for contact in &found {
            let linked_to = links::by_contact(deps, group, &contact.id)
                .await?
                .map(|link| link.value.patient_id);
            candidates.push(Candidate {
                contact_id: contact.id.clone(),
                linked_to,
            });
        }
        rules::on_new_patient(settings.create_contacts_for_unmatched, &candidates)
    };
    match outcome {
        PatientOutcome::Nothing => {
            log(
                deps,
                group,
                LogLevel::Debug,
                "new_patient_not_brought",
                "a new Hint patient was not brought to Salesforce: creating contacts for patients without a match is off".into(),
                patient_ids,
            )
            .await;
            Ok(Applied::Nothing)
        }
        PatientOutcome::Skip(reason) => {
            let matched: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
            let why = match reason {
                SkipReason::MultipleMatches => "several unlinked contacts match the patient's name and date of birth",
                _ => "the patient's match could not be linked",
            };
            log(
                deps,
                group,
                LogLevel::Error,
                "new_patient_skipped",
                format!("a new Hint patient was not linked: {why} ({})", matched.join(", ")),
                patient_ids,
            )
            .await;
            Ok(Applied::Skipped)
        }
        PatientOutcome::Link { contact_id } | PatientOutcome::Update { contact_id } => {
            let Some(contact) = found.iter().find(|c| c.id == contact_id) else {
                return Err(AppError::Internal(
                    "the matched contact was not among those read".into(),
                ));
            };
            let contact = ContactNow::of(contact, deps.clock.now());
            link_pair(deps, group, sides, patient, contact, Winner::Patient, None).await
        }
        PatientOutcome::Create => create_contact(deps, group, sides, patient, settings.default_account_id).await,
    }
}

/// Links `patient` and `contact`, neither linked yet: where both have a value `winner`'s stays,
/// a blank is filled from the other, and both are sent what they lack of that.
pub async fn link_pair(
    deps: &Deps,
    group: &GroupId,
    sides: &Sides,
    patient: PatientNow,
    contact: ContactNow,
    winner: Winner,
    batch: Option<&str>,
) -> Result<Applied, AppError> {
    let merged = rules::merge(&patient.demographics, &contact.demographics, winner);
    let ids = LogIds {
        batch_id: batch.map(str::to_owned),
        ..ids(&patient.id, &contact.id)
    };
    // Hint first, then the link, then the contact: until the contact names its patient, no
    // other flow takes it for a link made elsewhere (a webhook of the same patient arriving
    // meanwhile finds the link, or an unmarked contact), and a link stored before the contact
    // was written is completed by the pair's next sync.
    let mut in_hint = patient.demographics.clone();
    let mut patient_changed_at = patient.changed_at;
    let to_patient = hint_changes(&patient, &merged);
    if !to_patient.is_empty() {
        match sides.hint.update(&patient.id, &Value::Object(to_patient)).await {
            Ok(answer) => {
                in_hint = hint_mapping::read(&answer).demographics;
                patient_changed_at = answer.updated_at.unwrap_or(patient_changed_at);
            }
            Err(error) => return refused(deps, group, error.into(), "update the patient", ids).await,
        }
    }
    let mut to_contact = contact_changes(&contact, &merged, &patient.hint_only);
    to_contact.extend(sf_mapping::link_fields(Some(&patient.id), batch));
    let link = Link {
        patient_id: patient.id.clone(),
        contact_id: contact.id.clone(),
        in_salesforce: sf_mapping::written(&merged),
        base: merged,
        in_hint,
        hint_only: patient.hint_only,
        patient_changed_at: Some(patient_changed_at),
        contact_changed_at: Some(contact.changed_at),
        linked_at: deps.clock.now(),
    };
    links::commit(deps, links::save(group, &link, 0)?).await?;
    if let Err(error) = sides.salesforce.update_contact(&contact.id, &to_contact).await {
        return refused(deps, group, error.into(), "link the contact", ids).await;
    }
    log(
        deps,
        group,
        LogLevel::Debug,
        "linked",
        "the Hint patient and the Salesforce contact were linked".into(),
        ids,
    )
    .await;
    Ok(Applied::Linked)
}

/// A Hint patient made from `contact`, not linked (a user's manual sync choosing a new
/// patient): the contact's values, its id as Hint's `integration_record_id` (so the patient's
/// webhook, should it come first, links the two instead of making a contact), then the link,
/// then the contact marked. A link the webhook stored first is taken as this one.
pub async fn create_patient(
    deps: &Deps,
    group: &GroupId,
    sides: &Sides,
    contact: ContactNow,
) -> Result<(Applied, Option<String>), AppError> {
    let contact_ids = LogIds {
        contact_id: Some(contact.id.clone()),
        ..LogIds::default()
    };
    let (mut body, _) = hint_mapping::body(&contact.demographics, &[]);
    body["integration_record_id"] = Value::String(contact.id.clone());
    let made = match sides.hint.create(&body).await {
        Ok(made) => made,
        Err(error) => {
            let applied = refused(deps, group, error.into(), "create a patient", contact_ids).await?;
            return Ok((applied, None));
        }
    };
    let now = deps.clock.now();
    let patient = PatientNow::of(&made, now);
    let link = Link {
        patient_id: patient.id.clone(),
        contact_id: contact.id.clone(),
        base: contact.demographics.clone(),
        in_hint: patient.demographics.clone(),
        in_salesforce: contact.demographics.clone(),
        hint_only: patient.hint_only.clone(),
        patient_changed_at: Some(patient.changed_at),
        contact_changed_at: Some(contact.changed_at),
        linked_at: now,
    };
    if let Err(error) = links::commit(deps, links::save(group, &link, 0)?).await {
        let same = links::by_patient(deps, group, &patient.id)
            .await?
            .is_some_and(|found| found.value.contact_id == contact.id);
        if !same {
            return Err(error);
        }
    }
    let mut to_contact = sf_mapping::link_fields(Some(&patient.id), None);
    to_contact.extend(sf_mapping::hint_fields(&patient.hint_only));
    let ids = ids(&patient.id, &contact.id);
    if let Err(error) = sides.salesforce.update_contact(&contact.id, &to_contact).await {
        return Ok((
            refused(deps, group, error.into(), "link the contact", ids).await?,
            Some(patient.id),
        ));
    }
    log(
        deps,
        group,
        LogLevel::Debug,
        "patient_created",
        "a Hint patient was created from the contact and linked".into(),
        ids,
    )
    .await;
    Ok((Applied::Created, Some(patient.id)))
}

/// A contact made for `patient` under the group's default account, "Synced to Hint" checked.
async fn create_contact(
    deps: &Deps,
    group: &GroupId,
    sides: &Sides,
    patient: PatientNow,
    account: Option<String>,
) -> Result<Applied, AppError> {
    let patient_ids = LogIds {
        patient_id: Some(patient.id.clone()),
        ..LogIds::default()
    };
    let Some(account) = account else {
        log(
            deps,
            group,
            LogLevel::Error,
            "no_default_account",
            "a new Hint patient got no contact: the settings name no default Salesforce account".into(),
            patient_ids,
        )
        .await;
        return Ok(Applied::Skipped);
    };
    let mut fields = sf_mapping::fields(&patient.demographics);
    fields.extend(sf_mapping::hint_fields(&patient.hint_only));
    fields.extend(sf_mapping::link_fields(Some(&patient.id), None));
    fields.insert("AccountId".into(), Value::String(account));
    let contact_id = match sides.salesforce.create_contact(&fields).await {
        Ok(id) => id,
        Err(error) => return refused(deps, group, error.into(), "create a contact", patient_ids).await,
    };
    let now = deps.clock.now();
    let link = Link {
        patient_id: patient.id.clone(),
        contact_id: contact_id.clone(),
        in_salesforce: sf_mapping::written(&patient.demographics),
        base: patient.demographics.clone(),
        in_hint: patient.demographics,
        hint_only: patient.hint_only,
        patient_changed_at: Some(patient.changed_at),
        // Salesforce's time of the creation is unknown here (and carebridge's clock is not
        // Salesforce's): the first poll finds the contact as written, an echo.
        contact_changed_at: None,
        linked_at: now,
    };
    links::commit(deps, links::save(group, &link, 0)?).await?;
    log(
        deps,
        group,
        LogLevel::Debug,
        "contact_created",
        "a contact was created for the new Hint patient and linked".into(),
        ids(&link.patient_id, &contact_id),
    )
    .await;
    Ok(Applied::Created)
}

/// Ends a link: both records stay; the contact's "Synced to Hint" is unchecked and its Hint
/// patient id cleared (a contact Salesforce no longer has needs nothing).
pub async fn unlink(
    deps: &Deps,
    group: &GroupId,
    salesforce: &Salesforce,
    link: Versioned<Link>,
    why: &str,
) -> Result<Applied, AppError> {
    let ids = ids(&link.value.patient_id, &link.value.contact_id);
    match salesforce
        .update_contact(&link.value.contact_id, &sf_mapping::link_fields(None, None))
        .await
    {
        Ok(()) => {}
        Err(ConnectorError::Rejected { status: 404, .. }) => {}
        Err(error) => return Err(error.into()),
    }
    links::commit(deps, links::remove(group, &link.value, link.version)).await?;
    log(
        deps,
        group,
        LogLevel::Debug,
        "unlinked",
        format!("the link was ended ({why}); both records stay"),
        ids,
    )
    .await;
    Ok(Applied::Unlinked)
}
