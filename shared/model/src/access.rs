//! Who may do what. The API Gateway JWT authorizer (or the dev host) vouches for the token; these
//! rules decide, from its claims, whether the caller may act on a group.
//!
//! - A caller reaches only the groups named in its `groups` claim. Patient data stays inside its
//!   group even for a platform admin, who may create groups and read their settings.
//! - Roles are carried in the `roles` claim and apply in every group the caller belongs to.

use crate::ids::GroupId;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// The roles carebridge knows. Other values in a token's `roles` claim are ignored, since a token
/// may carry roles for other applications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform: creates groups.
    PlatformAdmin,
    /// Runs one customer group: edits its patients, practitioners and settings.
    GroupAdmin,
    /// May upload participant lists and look at their previews.
    ImportableFilesUploader,
    /// May also complete and delete participant-list imports.
    ImportableFilesAdmin,
    /// Sets up and runs vendor integrations.
    IntegrationAdmin,
    /// Edits how vendor records map to carebridge records.
    MappingEditor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::PlatformAdmin,
        Role::GroupAdmin,
        Role::ImportableFilesUploader,
        Role::ImportableFilesAdmin,
        Role::IntegrationAdmin,
        Role::MappingEditor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::GroupAdmin => "group_admin",
            Role::ImportableFilesUploader => "importable_files_uploader",
            Role::ImportableFilesAdmin => "importable_files_admin",
            Role::IntegrationAdmin => "integration_admin",
            Role::MappingEditor => "mapping_editor",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authenticated caller, as read from the token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub groups: BTreeSet<GroupId>,
    pub roles: BTreeSet<Role>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("the token has no `sub` claim")]
    MissingSubject,
}

impl Caller {
    /// Reads the claims as API Gateway's HTTP API JWT authorizer hands them over: every value is
    /// a string, and list claims arrive either as JSON (`["a","b"]`), in API Gateway's own
    /// bracketed form (`[a b]`), or comma/space separated.
    pub fn from_claims(claims: &HashMap<String, String>) -> Result<Caller, ClaimsError> {
        let subject = claims
            .get("sub")
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .ok_or(ClaimsError::MissingSubject)?
            .to_owned();
        let list = |name: &str| claims.get(name).map(|v| claim_list(v)).unwrap_or_default();
        Ok(Caller {
            subject,
            groups: list("groups").iter().filter_map(|g| GroupId::parse(g).ok()).collect(),
            roles: list("roles").iter().filter_map(|r| Role::parse(r)).collect(),
        })
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_member_of(&self, group: &GroupId) -> bool {
        self.groups.contains(group)
    }
}

/// Splits one list-valued claim into its items.
pub fn claim_list(raw: &str) -> Vec<String> {
    let trimmed = raw.trim();
    if let Ok(items) = serde_json::from_str::<Vec<String>>(trimmed) {
        return items;
    }
    let inner = trimmed
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(trimmed);
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|item| item.trim_matches('"'))
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Everything a caller can ask to do, grouped by the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateGroup,
    ReadGroup,
    ReadRecords,
    WriteRecords,
    UploadImport,
    AdministerImport,
    AdministerIntegration,
    EditMappings,
}

impl Action {
    /// The roles of which the caller needs at least one (empty: membership is enough).
    pub fn roles(self) -> &'static [Role] {
        match self {
            Action::CreateGroup => &[Role::PlatformAdmin],
            Action::ReadGroup | Action::ReadRecords => &[],
            Action::WriteRecords => &[Role::GroupAdmin],
            Action::UploadImport => &[Role::ImportableFilesUploader, Role::ImportableFilesAdmin],
            Action::AdministerImport => &[Role::ImportableFilesAdmin],
            Action::AdministerIntegration => &[Role::IntegrationAdmin],
            Action::EditMappings => &[Role::MappingEditor],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("your token does not grant access to group `{0}`")]
    NotInGroup(GroupId),
    #[error("this needs one of the roles: {}", roles_list(.0))]
    MissingRole(&'static [Role]),
    #[error("this needs every one of the roles: {}", roles_list(.0))]
    MissingRoles(&'static [Role]),
}

/// Refuses a caller who lacks any of `roles` (a step that takes an admin of two systems).
pub fn require_every(caller: &Caller, roles: &'static [Role]) -> Result<(), Denied> {
    if roles.iter().all(|role| caller.has_role(*role)) {
        Ok(())
    } else {
        Err(Denied::MissingRoles(roles))
    }
}

fn roles_list(roles: &[Role]) -> String {
    roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// Decides whether `caller` may do `action` in `group` (`None` for actions outside any group).
pub fn authorize(caller: &Caller, group: Option<&GroupId>, action: Action) -> Result<(), Denied> {
    if let Some(group) = group {
        let platform_reads_settings = action == Action::ReadGroup && caller.has_role(Role::PlatformAdmin);
        if !caller.is_member_of(group) && !platform_reads_settings {
            return Err(Denied::NotInGroup(group.clone()));
        }
    }
    let needed = action.roles();
    if needed.is_empty() || needed.iter().any(|role| caller.has_role(*role)) {
        Ok(())
    } else {
        Err(Denied::MissingRole(needed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(groups: &[&str], roles: &[Role]) -> Caller {
        Caller {
            subject: "user-1".into(),
            groups: groups.iter().map(|g| GroupId::parse(g).unwrap()).collect(),
            roles: roles.iter().copied().collect(),
        }
    }

    fn group(id: &str) -> GroupId {
        GroupId::parse(id).unwrap()
    }

    #[test]
    fn list_claims_are_read_in_every_form_api_gateway_may_send() {
        assert_eq!(claim_list(r#"["acme","beta"]"#), ["acme", "beta"]);
        assert_eq!(claim_list("[acme beta]"), ["acme", "beta"]);
        assert_eq!(claim_list("acme, beta"), ["acme", "beta"]);
        assert_eq!(claim_list("acme"), ["acme"]);
        assert!(claim_list("  ").is_empty());
    }

    #[test]
    fn claims_become_a_caller_ignoring_unknown_roles_and_malformed_groups() {
        let claims = HashMap::from([
            ("sub".to_string(), "user-1".to_string()),
            ("groups".to_string(), "[acme Not_A_Group]".to_string()),
            ("roles".to_string(), r#"["group_admin","billing_viewer"]"#.to_string()),
        ]);
        let caller = Caller::from_claims(&claims).unwrap();
        assert_eq!(caller.subject, "user-1");
        assert_eq!(caller.groups, BTreeSet::from([group("acme")]));
        assert_eq!(caller.roles, BTreeSet::from([Role::GroupAdmin]));
    }

    #[test]
    fn a_token_without_a_subject_is_refused() {
        let claims = HashMap::from([("groups".to_string(), "acme".to_string())]);
        assert_eq!(Caller::from_claims(&claims), Err(ClaimsError::MissingSubject));
    }

    #[test]
    fn members_read_their_group_and_nobody_else_s() {
        let reader = caller(&["acme"], &[]);
        assert_eq!(authorize(&reader, Some(&group("acme")), Action::ReadRecords), Ok(()));
        assert_eq!(
            authorize(&reader, Some(&group("other")), Action::ReadRecords),
            Err(Denied::NotInGroup(group("other")))
        );
    }

    #[test]
    fn writing_records_needs_group_admin() {
        let reader = caller(&["acme"], &[Role::ImportableFilesAdmin]);
        assert_eq!(
            authorize(&reader, Some(&group("acme")), Action::WriteRecords),
            Err(Denied::MissingRole(&[Role::GroupAdmin]))
        );
        let admin = caller(&["acme"], &[Role::GroupAdmin]);
        assert_eq!(authorize(&admin, Some(&group("acme")), Action::WriteRecords), Ok(()));
    }

    #[test]
    fn a_role_never_opens_another_group() {
        let admin = caller(&["acme"], &Role::ALL);
        for action in [Action::ReadRecords, Action::WriteRecords, Action::AdministerImport] {
            assert!(authorize(&admin, Some(&group("other")), action).is_err());
        }
    }

    #[test]
    fn platform_admins_create_groups_and_read_settings_but_not_patient_data() {
        let platform = caller(&[], &[Role::PlatformAdmin]);
        assert_eq!(authorize(&platform, None, Action::CreateGroup), Ok(()));
        assert_eq!(authorize(&platform, Some(&group("acme")), Action::ReadGroup), Ok(()));
        assert!(authorize(&platform, Some(&group("acme")), Action::ReadRecords).is_err());
        assert!(authorize(&caller(&["acme"], &[Role::GroupAdmin]), None, Action::CreateGroup).is_err());
    }

    #[test]
    fn import_roles_split_uploading_from_completing() {
        let uploader = caller(&["acme"], &[Role::ImportableFilesUploader]);
        let importer = caller(&["acme"], &[Role::ImportableFilesAdmin]);
        let acme = group("acme");
        assert_eq!(authorize(&uploader, Some(&acme), Action::UploadImport), Ok(()));
        assert!(authorize(&uploader, Some(&acme), Action::AdministerImport).is_err());
        assert_eq!(authorize(&importer, Some(&acme), Action::UploadImport), Ok(()));
        assert_eq!(authorize(&importer, Some(&acme), Action::AdministerImport), Ok(()));
    }

    #[test]
    fn integrations_and_mappings_have_their_own_roles() {
        let acme = group("acme");
        let admin = caller(&["acme"], &[Role::GroupAdmin]);
        assert!(authorize(&admin, Some(&acme), Action::AdministerIntegration).is_err());
        assert!(authorize(&admin, Some(&acme), Action::EditMappings).is_err());
        let integrator = caller(&["acme"], &[Role::IntegrationAdmin, Role::MappingEditor]);
        assert_eq!(
            authorize(&integrator, Some(&acme), Action::AdministerIntegration),
            Ok(())
        );
        assert_eq!(authorize(&integrator, Some(&acme), Action::EditMappings), Ok(()));
    }
}
