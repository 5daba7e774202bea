//! A group's connections to outside systems and the rules of their life cycle:
//! inactive → (activate) pending → (enable) active → (cancel) cancelled, and activated again
//! from cancelled. Elation and Hint keep the same patient demographics, so a group may not have
//! both in use at once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The integrations carebridge offers. Hint's integration is Hint ⇄ Salesforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IntegrationKind {
    Elation,
    Cliniko,
    Hint,
    Ensora,
}

impl IntegrationKind {
    pub const ALL: [IntegrationKind; 4] = [
        IntegrationKind::Elation,
        IntegrationKind::Cliniko,
        IntegrationKind::Hint,
        IntegrationKind::Ensora,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationKind::Elation => "elation",
            IntegrationKind::Cliniko => "cliniko",
            IntegrationKind::Hint => "hint",
            IntegrationKind::Ensora => "ensora",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        IntegrationKind::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// How people name it.
    pub fn title(self) -> &'static str {
        match self {
            IntegrationKind::Elation => "Elation",
            IntegrationKind::Cliniko => "Cliniko",
            IntegrationKind::Hint => "Hint",
            IntegrationKind::Ensora => "Ensora",
        }
    }

    /// The integration that may not be in use in the same group as this one.
    pub fn excludes(self) -> Option<IntegrationKind> {
        match self {
            IntegrationKind::Elation => Some(IntegrationKind::Hint),
            IntegrationKind::Hint => Some(IntegrationKind::Elation),
            _ => None,
        }
    }
}

impl fmt::Display for IntegrationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IntegrationStatus {
    /// Never activated in this group.
    Inactive,
    /// Activated: credentials, previews and warnings are being sorted out; nothing syncs yet.
    Pending,
    /// Enabled: records sync.
    Active,
    /// Stopped; carebridge's data is kept.
    Cancelled,
}

impl IntegrationStatus {
    /// True while the integration holds the group (pending or active).
    pub fn in_use(self) -> bool {
        matches!(self, IntegrationStatus::Pending | IntegrationStatus::Active)
    }
}

/// One integration of one group. Credentials are never here: they live in Secrets Manager and
/// this record only says whether and when they were checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Integration {
    pub kind: IntegrationKind,
    pub status: IntegrationStatus,
    /// Where the vendor's API is, once credentials are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// When the stored credentials last got a token from the vendor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_verified_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Why a life-cycle step is refused, in words the admin can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Integration {
    /// An integration never activated: what the group's list shows for it.
    pub fn inactive(kind: IntegrationKind, now: DateTime<Utc>) -> Integration {
        Integration {
            kind,
            status: IntegrationStatus::Inactive,
            base_url: None,
            credentials_verified_at: None,
            activated_at: None,
            activated_by: None,
            cancelled_at: None,
            updated_at: now,
        }
    }

    /// Activates it (→ pending). `others` are the group's other integrations. Activating a
    /// pending integration again changes nothing; an active one is refused.
    pub fn activate(&self, others: &[Integration], by: &str, now: DateTime<Utc>) -> Result<Integration, Refused> {
        if let Some(excluded) = self.kind.excludes()
            && let Some(other) = others.iter().find(|o| o.kind == excluded && o.status.in_use())
        {
            return Err(Refused(format!(
                "{} cannot be activated while the {} integration is {}: a group keeps its patients in step with one of them only. Cancel {} first.",
                self.kind.title(),
                other.kind.title(),
                status_word(other.status),
                other.kind.title(),
            )));
        }
        match self.status {
            IntegrationStatus::Pending => Ok(self.clone()),
            IntegrationStatus::Active => Err(Refused(format!("{} is already active", self.kind.title()))),
            IntegrationStatus::Inactive | IntegrationStatus::Cancelled => Ok(Integration {
                status: IntegrationStatus::Pending,
                activated_at: Some(now),
                activated_by: Some(by.to_owned()),
                cancelled_at: None,
                updated_at: now,
                ..self.clone()
            }),
        }
    }

    /// Checks that credentials may be stored, before anything is sent to the vendor: only a
    /// pending or active integration takes credentials.
    pub fn can_take_credentials(&self) -> Result<(), Refused> {
        if self.status.in_use() {
            return Ok(());
        }
        Err(Refused(format!(
            "{} is {}: activate it before storing credentials",
            self.kind.title(),
            status_word(self.status)
        )))
    }

    /// Records credentials checked against the vendor just now.
    pub fn with_verified_credentials(&self, base_url: &str, now: DateTime<Utc>) -> Result<Integration, Refused> {
        self.can_take_credentials()?;
        Ok(Integration {
            base_url: Some(base_url.to_owned()),
            credentials_verified_at: Some(now),
            updated_at: now,
            ..self.clone()
        })
    }

    /// Cancels it; cancelling again changes nothing.
    pub fn cancel(&self, now: DateTime<Utc>) -> Result<Integration, Refused> {
        match self.status {
            IntegrationStatus::Cancelled => Ok(self.clone()),
            IntegrationStatus::Inactive => Err(Refused(format!("{} was never activated", self.kind.title()))),
            IntegrationStatus::Pending | IntegrationStatus::Active => Ok(Integration {
                status: IntegrationStatus::Cancelled,
                cancelled_at: Some(now),
                updated_at: now,
                ..self.clone()
            }),
        }
    }
}

fn status_word(status: IntegrationStatus) -> &'static str {
    match status {
        IntegrationStatus::Inactive => "inactive",
        IntegrationStatus::Pending => "pending",
        IntegrationStatus::Active => "active",
        IntegrationStatus::Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().to_utc()
    }

    fn with_status(kind: IntegrationKind, status: IntegrationStatus) -> Integration {
        Integration {
            status,
            ..Integration::inactive(kind, now())
        }
    }

    #[test]
    fn activating_makes_it_pending_and_again_changes_nothing() {
        let pending = Integration::inactive(IntegrationKind::Elation, now())
            .activate(&[], "admin-1", now())
            .unwrap();
        assert_eq!(pending.status, IntegrationStatus::Pending);
        assert_eq!(pending.activated_by.as_deref(), Some("admin-1"));
        assert_eq!(pending.activate(&[], "admin-2", now()).unwrap(), pending);
        let active = with_status(IntegrationKind::Elation, IntegrationStatus::Active);
        assert!(active.activate(&[], "admin-1", now()).is_err());
    }

    #[test]
    fn elation_and_hint_exclude_each_other_while_either_is_in_use() {
        let elation = Integration::inactive(IntegrationKind::Elation, now());
        for status in [IntegrationStatus::Pending, IntegrationStatus::Active] {
            let hint = with_status(IntegrationKind::Hint, status);
            let refused = elation.activate(&[hint], "admin", now()).unwrap_err();
            assert!(refused.0.contains("Hint integration is"), "{refused}");
            assert!(refused.0.contains("Cancel Hint first"), "{refused}");
        }
        let cancelled_hint = with_status(IntegrationKind::Hint, IntegrationStatus::Cancelled);
        assert!(elation.activate(&[cancelled_hint], "admin", now()).is_ok());
        let pending_elation = with_status(IntegrationKind::Elation, IntegrationStatus::Pending);
        let hint = Integration::inactive(IntegrationKind::Hint, now());
        assert!(
            hint.activate(std::slice::from_ref(&pending_elation), "admin", now())
                .is_err()
        );
        let cliniko = Integration::inactive(IntegrationKind::Cliniko, now());
        assert!(cliniko.activate(&[pending_elation], "admin", now()).is_ok());
    }

    #[test]
    fn credentials_are_taken_only_while_pending_or_active() {
        for status in [IntegrationStatus::Pending, IntegrationStatus::Active] {
            let verified = with_status(IntegrationKind::Elation, status)
                .with_verified_credentials("https://app.elationemr.com/api/2.0", now())
                .unwrap();
            assert_eq!(verified.credentials_verified_at, Some(now()));
        }
        for status in [IntegrationStatus::Inactive, IntegrationStatus::Cancelled] {
            let refused = with_status(IntegrationKind::Elation, status)
                .can_take_credentials()
                .unwrap_err();
            assert!(refused.0.contains("activate it"), "{refused}");
        }
    }

    #[test]
    fn cancelling_keeps_what_was_set_and_can_be_activated_again() {
        let active = with_status(IntegrationKind::Elation, IntegrationStatus::Active)
            .with_verified_credentials("https://x.example/api/2.0", now())
            .unwrap();
        let cancelled = active.cancel(now()).unwrap();
        assert_eq!(cancelled.status, IntegrationStatus::Cancelled);
        assert_eq!(cancelled.base_url, active.base_url);
        assert_eq!(cancelled.cancel(now()).unwrap(), cancelled);
        assert_eq!(
            cancelled.activate(&[], "admin", now()).unwrap().status,
            IntegrationStatus::Pending
        );
        assert!(
            Integration::inactive(IntegrationKind::Elation, now())
                .cancel(now())
                .is_err()
        );
    }
}
