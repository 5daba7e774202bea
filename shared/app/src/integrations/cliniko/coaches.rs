//! Which practitioner each client sees, as Cliniko says it (their latest appointment that counts:
//! `connectors::cliniko::mapping::coaches`), and those practitioners as the coaches a plan
//! brings in. A client Cliniko names no practitioner for keeps the coach carebridge has.

use crate::AppError;
use chrono::{DateTime, Utc};
use connectors::cliniko::mapping::{coaches, vendor_practitioner};
use connectors::cliniko::types::{Appointment, Id, Practitioner};
use connectors::cliniko::{AppointmentList, Cliniko};
use model::sync::VendorPractitioner;
use std::collections::{BTreeSet, HashMap};

/// The coaches Cliniko names for some clients.
#[derive(Debug, Default)]
pub(super) struct Coaches {
    /// Client → the practitioner Cliniko says they see.
    by_client: HashMap<Id, Id>,
    /// Those practitioners, as a plan reads them.
    pub practitioners: Vec<VendorPractitioner>,
}

impl Coaches {
    /// The Cliniko id of the practitioner client `client` (a Cliniko id) sees, when Cliniko
    /// names one.
    pub fn of(&self, client: &str) -> Option<String> {
        let client: Id = client.parse().ok()?;
        self.by_client.get(&client).map(ToString::to_string)
    }

    /// Every client's coach, from every current appointment (a full sync).
    pub async fn of_everyone(cliniko: &Cliniko) -> Result<Coaches, AppError> {
        let appointments = cliniko.appointments(AppointmentList::Current, None).all().await?;
        Coaches::named_by(cliniko, coaches(&appointments)).await
    }

    /// One client's coach, from their own appointments (a client opened from Cliniko).
    pub async fn of_one(cliniko: &Cliniko, client: Id) -> Result<Coaches, AppError> {
        let appointments = latest_that_count(cliniko, client).await?;
        Coaches::named_by(cliniko, coaches(&appointments)).await
    }

    /// The clients whose appointments were booked, changed, cancelled or deleted after `since`
    /// (an incremental sync), and their coaches now, each from their own appointments.
    pub async fn changed_since(cliniko: &Cliniko, since: DateTime<Utc>) -> Result<(Vec<Id>, Coaches), AppError> {
        let mut touched = BTreeSet::new();
        for list in [
            AppointmentList::Current,
            AppointmentList::Cancelled,
            AppointmentList::Deleted,
        ] {
            let changed = cliniko.appointments(list, Some(since)).all().await?;
            touched.extend(changed.iter().filter_map(|a| a.patient.as_ref()?.id()));
        }
        let mut by_client = HashMap::new();
        for &client in &touched {
            by_client.extend(coaches(&latest_that_count(cliniko, client).await?));
        }
        let coaches = Coaches::named_by(cliniko, by_client).await?;
        Ok((touched.into_iter().collect(), coaches))
    }

    /// The practitioners `by_client` names, read with their users' e-mails; a client whose
    /// practitioner Cliniko no longer has is left without one.
    async fn named_by(cliniko: &Cliniko, mut by_client: HashMap<Id, Id>) -> Result<Coaches, AppError> {
        let wanted: BTreeSet<Id> = by_client.values().copied().collect();
        let found = practitioners(cliniko, &wanted).await?;
        by_client.retain(|_, practitioner| found.contains_key(practitioner));
        Ok(Coaches {
            by_client,
            practitioners: found.into_values().collect(),
        })
    }
}

/// A client's current appointments, read the latest first until one counts (most clients' first
/// page holds it).
async fn latest_that_count(cliniko: &Cliniko, client: Id) -> Result<Vec<Appointment>, AppError> {
    let mut pages = cliniko.appointments_of(client);
    let mut read = Vec::new();
    while let Some(page) = pages.next_page().await? {
        read.extend(page);
        if !coaches(&read).is_empty() {
            break;
        }
    }
    Ok(read)
}

/// The `wanted` practitioners, each with its user's e-mail: one alone is read by id (two
/// requests), more from the practitioner and user lists (three requests for most clinics).
async fn practitioners(cliniko: &Cliniko, wanted: &BTreeSet<Id>) -> Result<HashMap<Id, VendorPractitioner>, AppError> {
    let (listed, emails): (Vec<Practitioner>, HashMap<Id, Option<String>>) = match wanted.len() {
        0 => return Ok(HashMap::new()),
        1 => {
            let mut listed = Vec::new();
            let mut emails = HashMap::new();
            for &id in wanted {
                let Some(practitioner) = cliniko.practitioner(id).await? else {
                    continue;
                };
                if let Some(user) = practitioner.user.as_ref().and_then(|u| u.id()) {
                    let email = cliniko.user(user).await?.and_then(|u| u.email);
                    emails.insert(user, email);
                }
                listed.push(practitioner);
            }
            (listed, emails)
        }
        _ => {
            let mut listed = cliniko.practitioners().all().await?;
            listed.extend(cliniko.inactive_practitioners().all().await?);
            let users = cliniko.users().all().await?;
            (listed, users.into_iter().map(|u| (u.id, u.email)).collect())
        }
    };
    Ok(listed
        .iter()
        .filter(|p| wanted.contains(&p.id))
        .map(|p| {
            let user = p.user.as_ref().and_then(|u| u.id());
            let email = user.and_then(|u| emails.get(&u).cloned().flatten());
            (p.id, vendor_practitioner(p, email.as_deref()))
        })
        .collect())
}
