//! A group's connections to outside systems and the rules of their life cycle:
//! inactive → (activate) pending → (enable) active → (cancel) cancelled, and activated again
//! from cancelled. Elation and Hint keep the same patient demographics, so a group may not have
//! both in use at once.

use crate::SyncRunId;
use crate::sync::{RunStatus, SyncRun};
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

    /// As the API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationStatus::Inactive => "inactive",
            IntegrationStatus::Pending => "pending",
            IntegrationStatus::Active => "active",
            IntegrationStatus::Cancelled => "cancelled",
        }
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
    /// The latest preview's run; enabling looks at its warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_preview: Option<SyncRunId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled_by: Option<String>,
    /// The run of the one-time import made when it was enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_import: Option<SyncRunId>,
    /// The vendor's webhook subscriptions while it is active, with the keys that sign them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscribed>,
    pub updated_at: DateTime<Utc>,
}

/// One webhook subscription at the vendor. The key is public: it only checks signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscribed {
    pub id: String,
    /// The vendor's resource name, e.g. `patients`.
    pub resource: String,
    pub signing_pub_key: String,
}

/// What an enable request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnableRequest {
    /// Enable although the latest preview has warnings.
    #[serde(default)]
    pub force: bool,
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
            latest_preview: None,
            enabled_at: None,
            enabled_by: None,
            initial_import: None,
            subscriptions: Vec::new(),
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

    /// Checks that a preview may run: it reads the vendor with the stored credentials.
    pub fn can_preview(&self) -> Result<(), Refused> {
        self.can_take_credentials()?;
        if self.credentials_verified_at.is_none() {
            return Err(Refused(format!(
                "{} has no credentials yet: store them before previewing",
                self.kind.title()
            )));
        }
        Ok(())
    }

    pub fn with_preview(&self, run: &SyncRunId, now: DateTime<Utc>) -> Integration {
        Integration {
            latest_preview: Some(run.clone()),
            updated_at: now,
            ..self.clone()
        }
    }

    /// Checks that it may be enabled given its latest preview: pending, with credentials, and a
    /// finished preview whose warnings are resolved (or overridden with `force`).
    pub fn can_enable(&self, latest_preview: Option<&SyncRun>, request: EnableRequest) -> Result<(), Refused> {
        let title = self.kind.title();
        if self.status != IntegrationStatus::Pending {
            return Err(Refused(format!(
                "{title} is {}: only a pending integration can be enabled",
                status_word(self.status)
            )));
        }
        self.can_preview()?;
        let Some(preview) = latest_preview else {
            return Err(Refused(format!("preview {title} before enabling it")));
        };
        match preview.status {
            RunStatus::Queued | RunStatus::Running => {
                return Err(Refused(format!(
                    "the {title} preview is still running: wait for it to finish"
                )));
            }
            RunStatus::Failed => {
                return Err(Refused(format!(
                    "the latest {title} preview failed ({}); preview again",
                    preview.error.as_deref().unwrap_or("no reason recorded")
                )));
            }
            RunStatus::Succeeded => {}
        }
        let warned = preview.counts.map_or(0, |c| c.warnings());
        if warned > 0 && !request.force {
            return Err(Refused(format!(
                "the latest {title} preview has {warned} record(s) with warnings: resolve them (edit the carebridge record or the data in {title}) and preview again, or enable with {{\"force\": true}}"
            )));
        }
        Ok(())
    }

    /// Checks that an integration whose vendor has no preview (its data is read on demand, as
    /// Cliniko's is) may be enabled: pending, with verified credentials.
    pub fn can_enable_without_preview(&self) -> Result<(), Refused> {
        if self.status != IntegrationStatus::Pending {
            return Err(Refused(format!(
                "{} is {}: only a pending integration can be enabled",
                self.kind.title(),
                status_word(self.status)
            )));
        }
        if self.credentials_verified_at.is_none() {
            return Err(Refused(format!(
                "{} has no credentials yet: store them before enabling it",
                self.kind.title()
            )));
        }
        Ok(())
    }

    /// Enabled (→ active) with its webhook subscriptions and, for a vendor that imports once
    /// when enabled, the run doing so.
    pub fn enabled(
        &self,
        subscriptions: Vec<Subscribed>,
        initial_import: Option<&SyncRunId>,
        by: &str,
        now: DateTime<Utc>,
    ) -> Integration {
        Integration {
            status: IntegrationStatus::Active,
            enabled_at: Some(now),
            enabled_by: Some(by.to_owned()),
            initial_import: initial_import.cloned(),
            subscriptions,
            updated_at: now,
            ..self.clone()
        }
    }

    /// The key that checks a webhook about `resource`, while the integration is active.
    pub fn signing_key(&self, resource: &str) -> Option<&str> {
        (self.status == IntegrationStatus::Active)
            .then(|| self.subscriptions.iter().find(|s| s.resource == resource))
            .flatten()
            .map(|s| s.signing_pub_key.as_str())
    }

    /// Cancels it; cancelling again changes nothing. Its subscriptions must already be removed
    /// at the vendor.
    pub fn cancel(&self, now: DateTime<Utc>) -> Result<Integration, Refused> {
        match self.status {
            IntegrationStatus::Cancelled => Ok(self.clone()),
            IntegrationStatus::Inactive => Err(Refused(format!("{} was never activated", self.kind.title()))),
            IntegrationStatus::Pending | IntegrationStatus::Active => Ok(Integration {
                status: IntegrationStatus::Cancelled,
                cancelled_at: Some(now),
                subscriptions: Vec::new(),
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

    fn preview(status: RunStatus, warnings: u32) -> SyncRun {
        let mut run = SyncRun::queued(
            crate::GroupId::parse("acme").unwrap(),
            IntegrationKind::Elation,
            crate::sync::RunKind::Preview,
            "admin",
            now(),
        );
        run.status = status;
        let mut counts = crate::sync::PlanCounts::default();
        counts.patients.with_warnings = warnings;
        run.counts = Some(counts);
        run
    }

    #[test]
    fn enabling_needs_credentials_and_a_finished_preview_without_warnings_unless_forced() {
        let pending = with_status(IntegrationKind::Elation, IntegrationStatus::Pending);
        let no_force = EnableRequest::default();
        let refused = pending
            .can_enable(Some(&preview(RunStatus::Succeeded, 0)), no_force)
            .unwrap_err();
        assert!(refused.0.contains("no credentials"), "{refused}");
        let ready = pending
            .with_verified_credentials("https://x.example/api/2.0", now())
            .unwrap();
        assert!(
            ready
                .can_enable(None, no_force)
                .unwrap_err()
                .0
                .contains("preview Elation")
        );
        let running = preview(RunStatus::Running, 0);
        assert!(
            ready
                .can_enable(Some(&running), no_force)
                .unwrap_err()
                .0
                .contains("still running")
        );
        let warned = preview(RunStatus::Succeeded, 2);
        let refused = ready.can_enable(Some(&warned), no_force).unwrap_err();
        assert!(refused.0.contains("2 record(s) with warnings"), "{refused}");
        assert!(ready.can_enable(Some(&warned), EnableRequest { force: true }).is_ok());
        assert!(
            ready
                .can_enable(Some(&preview(RunStatus::Succeeded, 0)), no_force)
                .is_ok()
        );
    }

    #[test]
    fn a_vendor_without_a_preview_is_enabled_once_its_credentials_are_verified() {
        let pending = with_status(IntegrationKind::Cliniko, IntegrationStatus::Pending);
        let refused = pending.can_enable_without_preview().unwrap_err();
        assert!(refused.0.contains("no credentials"), "{refused}");
        let ready = pending
            .with_verified_credentials("https://api.au2.cliniko.com/v1", now())
            .unwrap();
        assert!(ready.can_enable_without_preview().is_ok());
        let active = ready.enabled(Vec::new(), None, "admin", now());
        assert_eq!(
            (active.status, active.initial_import.as_ref()),
            (IntegrationStatus::Active, None)
        );
        assert!(
            active
                .can_enable_without_preview()
                .unwrap_err()
                .0
                .contains("only a pending")
        );
    }

    #[test]
    fn an_active_integration_checks_webhooks_with_its_subscription_keys_until_cancelled() {
        let subscribed = vec![Subscribed {
            id: "1".into(),
            resource: "patients".into(),
            signing_pub_key: "key".into(),
        }];
        let run = SyncRunId::generate();
        let active = with_status(IntegrationKind::Elation, IntegrationStatus::Pending).enabled(
            subscribed,
            Some(&run),
            "admin",
            now(),
        );
        assert_eq!(active.status, IntegrationStatus::Active);
        assert_eq!(active.signing_key("patients"), Some("key"));
        assert_eq!(active.signing_key("physicians"), None);
        let cancelled = active.cancel(now()).unwrap();
        assert_eq!(cancelled.signing_key("patients"), None);
        assert!(cancelled.subscriptions.is_empty());
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
