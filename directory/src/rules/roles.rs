//! Role rules: the system roles every tenant has, validation of edits, copying, and what
//! deleting a role does to the assignments that use it.
//!
//! Pure functions over roles and assignments; the service persists the results.

use crate::error::DirectoryError;
use crate::model::{
    AssignmentId, AutoDisabled, ConfirmAccess, Permission, PermissionSet, Role, RoleAssignment,
    RoleId, RolePurpose, SystemRole, TenantId,
};
use jiff::Timestamp;

impl SystemRole {
    /// Every system role, in the order they are listed.
    pub const ALL: [SystemRole; 13] = [
        Self::Administrator,
        Self::WebSupport,
        Self::FullAccessOnDemand,
        Self::ConfirmAccessRequired,
        Self::FullDeviceAccess,
        Self::OnlyDeviceConnection,
        Self::AllInvitations,
        Self::OwnInvitations,
        Self::TeamAdministrator,
        Self::BrandingAdministrator,
        Self::BillingAdministrator,
        Self::Auditor,
        Self::DevicesList,
    ];

    /// Name as shown by the seeds.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Administrator => "Administrator",
            Self::WebSupport => "Web Support",
            Self::FullAccessOnDemand => "Full Access (OnDemand Sessions)",
            Self::ConfirmAccessRequired => "Confirm Access Required",
            Self::FullDeviceAccess => "Full device access (System)",
            Self::OnlyDeviceConnection => "Only device connection (System)",
            Self::AllInvitations => "All invitations (System)",
            Self::OwnInvitations => "Own invitations (System)",
            Self::TeamAdministrator => "Team administrator (System)",
            Self::BrandingAdministrator => "Branding administrator (System)",
            Self::BillingAdministrator => "Billing administrator (System)",
            Self::Auditor => "Auditor (System)",
            Self::DevicesList => "Devices list (System)",
        }
    }

    /// Description (the seeds' wording where they give one).
    pub const fn description(self) -> &'static str {
        match self {
            Self::Administrator => {
                "Provides full access to the remote device when using the Control through \
                 browser option or an installed Guest."
            }
            Self::WebSupport => {
                "Provides full access to the Control through browser option. Access from an \
                 installed Guest is not allowed."
            }
            Self::FullAccessOnDemand => {
                "Provides full access to the remote device when using the OnDemand Session. \
                 This role does not apply to regular Guests and Hosts."
            }
            Self::ConfirmAccessRequired => {
                "Requires that the local user at a remote device confirm a session before it \
                 starts; except for when the computer is locked, or no one is logged in."
            }
            Self::FullDeviceAccess => "Every device permission.",
            Self::OnlyDeviceConnection => "Connect to a device and control it, nothing else.",
            Self::AllInvitations => "Every OnDemand session of the team.",
            Self::OwnInvitations => "The OnDemand sessions one created.",
            Self::TeamAdministrator => "Technicians and team settings.",
            Self::BrandingAdministrator => "Branding settings.",
            Self::BillingAdministrator => "Billing settings.",
            Self::Auditor => "Team-wide audit logs.",
            Self::DevicesList => "Shows the Permanent Access section.",
        }
    }

    /// The purpose of the role.
    pub const fn purpose(self) -> RolePurpose {
        match self {
            Self::Administrator
            | Self::WebSupport
            | Self::ConfirmAccessRequired
            | Self::FullDeviceAccess
            | Self::OnlyDeviceConnection => RolePurpose::DeviceAccess,
            Self::FullAccessOnDemand | Self::AllInvitations | Self::OwnInvitations => {
                RolePurpose::OnDemand
            }
            Self::TeamAdministrator
            | Self::BrandingAdministrator
            | Self::BillingAdministrator
            | Self::Auditor
            | Self::DevicesList => RolePurpose::Administration,
        }
    }

    /// The permissions of the role.
    pub const fn permissions(self) -> PermissionSet {
        use Permission as P;
        match self {
            Self::Administrator | Self::FullDeviceAccess => PermissionSet::DEVICE_FULL,
            Self::WebSupport => PermissionSet::DEVICE_FULL
                .difference(PermissionSet::from_slice(&[P::ClientInstalledGuest])),
            Self::FullAccessOnDemand => PermissionSet::ONDEMAND_FULL,
            Self::ConfirmAccessRequired => PermissionSet::EMPTY,
            Self::OnlyDeviceConnection => PermissionSet::from_slice(&[
                P::RemoteSession,
                P::ViewScreen,
                P::UseKeyboardMouse,
                P::ClientInstalledGuest,
                P::ClientBrowser,
            ]),
            Self::AllInvitations => PermissionSet::ONDEMAND_FULL
                .difference(PermissionSet::from_slice(&[P::OwnInvitations])),
            Self::OwnInvitations => PermissionSet::ONDEMAND_FULL
                .difference(PermissionSet::from_slice(&[P::AllInvitations])),
            Self::TeamAdministrator => PermissionSet::from_slice(&[P::TechniciansAndTeamSettings]),
            Self::BrandingAdministrator => PermissionSet::from_slice(&[P::BrandingSettings]),
            Self::BillingAdministrator => PermissionSet::from_slice(&[P::BillingSettings]),
            Self::Auditor => PermissionSet::from_slice(&[P::AuditLog]),
            Self::DevicesList => PermissionSet::from_slice(&[P::PermanentAccess]),
        }
    }
}

/// The system roles of a new tenant (fresh ids). They "cannot delete or modify" (003) and exist
/// in every tenant.
pub fn system_roles(tenant: TenantId, now: Timestamp) -> Vec<Role> {
    SystemRole::ALL
        .iter()
        .map(|s| Role {
            id: RoleId::new_random(),
            tenant,
            name: s.name().to_owned(),
            description: s.description().to_owned(),
            purpose: s.purpose(),
            enabled: true,
            permissions: s.permissions(),
            confirm: if *s == SystemRole::ConfirmAccessRequired {
                ConfirmAccess {
                    host_prompt: true,
                    except_when_locked: true,
                    except_when_no_user: true,
                    ..ConfirmAccess::default()
                }
            } else {
                ConfirmAccess::default()
            },
            whitelist: None,
            system: Some(*s),
            created_at: now,
        })
        .collect()
}

/// Validates a role on its own: a name, permissions its purpose allows, overlays only on
/// device-access roles, approver groups when email confirmation is on.
pub fn validate_role(role: &Role) -> Result<(), DirectoryError> {
    if role.name.trim().is_empty() {
        return Err(DirectoryError::NotAllowed("a role needs a name"));
    }
    if !role.purpose.allowed().contains_all(role.permissions) {
        return Err(DirectoryError::PermissionNotForPurpose);
    }
    let overlays = role.confirm.is_required() || role.whitelist.is_some();
    if overlays && role.purpose != RolePurpose::DeviceAccess {
        return Err(DirectoryError::NotAllowed(
            "confirm access and whitelisting apply to device-access roles only",
        ));
    }
    if role.confirm.email && role.confirm.email_approver_groups.is_empty() {
        return Err(DirectoryError::NotAllowed(
            "confirm access via email needs at least one approver group",
        ));
    }
    if let Some(w) = &role.whitelist
        && w.applications.is_empty()
    {
        return Err(DirectoryError::NotAllowed(
            "whitelisting needs at least one application",
        ));
    }
    Ok(())
}

/// Checks an edit of `old` into `new`: system roles are immutable, the purpose is fixed, the
/// result must be valid.
pub fn check_role_update(old: &Role, new: &Role) -> Result<(), DirectoryError> {
    if old.system.is_some() || new.system != old.system {
        return Err(DirectoryError::SystemRoleImmutable);
    }
    if old.purpose != new.purpose {
        return Err(DirectoryError::RolePurposeImmutable);
    }
    if old.id != new.id || old.tenant != new.tenant {
        return Err(DirectoryError::NotAllowed(
            "a role's id and tenant are fixed",
        ));
    }
    validate_role(new)
}

/// The default name of a copy (004: "Copy of <name> role").
pub fn copy_name(name: &str) -> String {
    format!("Copy of {name} role")
}

/// A copy of `source` under a new id, named "Copy of <name> role", never a system role (a
/// copy of a system role is an ordinary, editable role).
pub fn copy_role(source: &Role, now: Timestamp) -> Role {
    Role {
        id: RoleId::new_random(),
        name: copy_name(&source.name),
        system: None,
        created_at: now,
        ..source.clone()
    }
}

/// What deleting `role` would do: the names of the active assignments that become disabled
/// (the 004 dialog: "The following 6 role assignments will be disabled: ..."). Refuses system
/// roles.
pub fn role_deletion_preview(
    role: &Role,
    assignments: &[RoleAssignment],
) -> Result<Vec<String>, DirectoryError> {
    if role.system.is_some() {
        return Err(DirectoryError::SystemRoleImmutable);
    }
    Ok(assignments
        .iter()
        .filter(|a| a.role == role.id && a.active)
        .map(|a| a.name.clone())
        .collect())
}

/// Applies the deletion of `role` to the assignments: every assignment using it is disabled
/// (not deleted) and marked [`AutoDisabled::RoleDeleted`]. Returns the ids and names of the ones
/// that were active.
pub fn apply_role_deletion(
    role: &Role,
    assignments: &mut [RoleAssignment],
    now: Timestamp,
) -> Result<Vec<(AssignmentId, String)>, DirectoryError> {
    if role.system.is_some() {
        return Err(DirectoryError::SystemRoleImmutable);
    }
    let mut disabled = Vec::new();
    for a in assignments.iter_mut().filter(|a| a.role == role.id) {
        if a.active {
            disabled.push((a.id, a.name.clone()));
        }
        a.active = false;
        a.auto_disabled = Some(AutoDisabled::RoleDeleted);
        a.modified_at = now;
    }
    Ok(disabled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApplicationId, UserGroupId, Whitelist};
    use std::collections::BTreeSet;

    fn now() -> Timestamp {
        Timestamp::UNIX_EPOCH
    }

    fn custom(purpose: RolePurpose) -> Role {
        Role {
            id: RoleId::new_random(),
            tenant: TenantId::new_random(),
            name: "Test Role".into(),
            description: String::new(),
            purpose,
            enabled: true,
            permissions: PermissionSet::EMPTY,
            confirm: ConfirmAccess::default(),
            whitelist: None,
            system: None,
            created_at: now(),
        }
    }

    fn assignment(role: RoleId, name: &str, active: bool) -> RoleAssignment {
        RoleAssignment {
            id: AssignmentId::new_random(),
            tenant: TenantId::new_random(),
            name: name.into(),
            description: String::new(),
            active,
            auto_disabled: None,
            role,
            user_groups: BTreeSet::new(),
            device_groups: BTreeSet::new(),
            schedule: None,
            created_at: now(),
            modified_at: now(),
        }
    }

    #[test]
    fn every_tenant_gets_the_system_roles_and_they_are_valid() {
        let roles = system_roles(TenantId::new_random(), now());
        let names: Vec<&str> = roles.iter().map(|r| r.name.as_str()).collect();
        // 002/004 §4.4.1 predefined roles and 003 system roles.
        for n in [
            "Administrator",
            "Web Support",
            "Full Access (OnDemand Sessions)",
            "Confirm Access Required",
            "Full device access (System)",
            "Auditor (System)",
            "Devices list (System)",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        for r in &roles {
            validate_role(r).unwrap();
        }
        // "Web Support ... Access from an installed Guest is not allowed."
        let web = roles.iter().find(|r| r.name == "Web Support").unwrap();
        assert!(!web.permissions.contains(Permission::ClientInstalledGuest));
        assert!(web.permissions.contains(Permission::ClientBrowser));
        // "Confirm Access Required ... except for when the computer is locked, or no one is
        // logged in."
        let confirm = roles
            .iter()
            .find(|r| r.system == Some(SystemRole::ConfirmAccessRequired))
            .unwrap();
        assert!(confirm.confirm.host_prompt && confirm.confirm.except_when_locked);
        assert!(confirm.confirm.except_when_no_user);
    }

    #[test]
    fn system_roles_cannot_be_edited_or_deleted() {
        // 003: "You cannot delete or modify these roles".
        let roles = system_roles(TenantId::new_random(), now());
        let admin = &roles[0];
        let mut edited = admin.clone();
        edited.name = "Mine".into();
        assert!(matches!(
            check_role_update(admin, &edited),
            Err(DirectoryError::SystemRoleImmutable)
        ));
        assert!(matches!(
            role_deletion_preview(admin, &[]),
            Err(DirectoryError::SystemRoleImmutable)
        ));
        let mut v = vec![assignment(admin.id, "a", true)];
        assert!(apply_role_deletion(admin, &mut v, now()).is_err());
        assert!(v[0].active);
    }

    #[test]
    fn purpose_is_fixed_and_permissions_must_fit_it() {
        // 003: "For existing roles, the purpose cannot be changed."
        let old = custom(RolePurpose::DeviceAccess);
        let mut new = old.clone();
        new.purpose = RolePurpose::OnDemand;
        assert!(matches!(
            check_role_update(&old, &new),
            Err(DirectoryError::RolePurposeImmutable)
        ));
        let mut new = old.clone();
        new.permissions = PermissionSet::from_slice(&[Permission::AuditLog]);
        assert!(matches!(
            check_role_update(&old, &new),
            Err(DirectoryError::PermissionNotForPurpose)
        ));
        let mut new = old.clone();
        new.permissions = PermissionSet::from_slice(&[Permission::ViewScreen]);
        check_role_update(&old, &new).unwrap();
    }

    #[test]
    fn overlays_need_their_parts() {
        let mut r = custom(RolePurpose::DeviceAccess);
        r.confirm.email = true;
        assert!(validate_role(&r).is_err());
        r.confirm.email_approver_groups = vec![UserGroupId::new_random()];
        validate_role(&r).unwrap();
        r.whitelist = Some(Whitelist::default());
        assert!(validate_role(&r).is_err());
        r.whitelist = Some(Whitelist {
            applications: vec![ApplicationId::new_random()],
            ..Whitelist::default()
        });
        validate_role(&r).unwrap();
        let mut od = custom(RolePurpose::OnDemand);
        od.confirm.host_prompt = true;
        assert!(validate_role(&od).is_err());
    }

    #[test]
    fn copy_uses_the_seed_default_name() {
        // 004: the Add role dialog of a copy shows "Copy of Test Role role".
        let src = system_roles(TenantId::new_random(), now()).remove(0);
        let c = copy_role(&src, now());
        assert_eq!(copy_name("Test Role"), "Copy of Test Role role");
        assert_eq!(c.name, "Copy of Administrator role");
        assert_ne!(c.id, src.id);
        assert_eq!(c.system, None);
        assert_eq!(c.permissions, src.permissions);
    }

    #[test]
    fn deleting_a_role_disables_its_assignments_and_names_them() {
        // 002/004: "If the user deletes a role which is part of an active role assignment, the
        // role assignment becomes disabled"; 004: "The following 6 role assignments will be
        // disabled: ...".
        let role = custom(RolePurpose::DeviceAccess);
        let other = RoleId::new_random();
        let mut v = vec![
            assignment(role.id, "test only", true),
            assignment(other, "keep", true),
            assignment(role.id, "already off", false),
            assignment(role.id, "fa2", true),
        ];
        assert_eq!(
            role_deletion_preview(&role, &v).unwrap(),
            vec!["test only".to_owned(), "fa2".to_owned()]
        );
        let disabled = apply_role_deletion(&role, &mut v, now()).unwrap();
        let names: Vec<&str> = disabled.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["test only", "fa2"]);
        assert_eq!(v.len(), 4, "disabled, not deleted");
        assert!(!v[0].active && !v[2].active && !v[3].active && v[1].active);
        assert_eq!(v[2].auto_disabled, Some(AutoDisabled::RoleDeleted));
        assert_eq!(v[1].auto_disabled, None);
    }
}
