//! Roles: a purpose fixed at creation, an enabled flag, a permission set and the restrictive
//! overlays (confirm access, whitelisted applications); plus the application catalogue.
//!
//! System roles and role rules (copy, delete effects) are in `rules::roles`.

use crate::model::ids::{ApplicationId, RoleId, TenantId, UserGroupId};
use crate::model::permission::PermissionSet;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a role is for; cannot change after creation (003: "For existing roles, the purpose
/// cannot be changed").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RolePurpose {
    /// Remote access to permanent devices (Netop "Device", 003 "Devices and Groups").
    DeviceAccess,
    /// OnDemand sessions (Netop "OnDemand", 003 "Invitations"); assignments name no device
    /// group.
    OnDemand,
    /// Administration sections (003 "Administration"); assignments name no device group.
    Administration,
}

impl RolePurpose {
    /// The permissions a role of this purpose may hold.
    pub const fn allowed(self) -> PermissionSet {
        match self {
            Self::DeviceAccess => PermissionSet::DEVICE_FULL,
            Self::OnDemand => PermissionSet::ONDEMAND_FULL,
            Self::Administration => PermissionSet::ADMINISTRATION_FULL,
        }
    }
}

/// Confirm-access options of a role (002/004 §5.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmAccess {
    /// "Enable confirm access": the Host's local user must accept.
    pub host_prompt: bool,
    /// Host prompt skipped "when computer is locked" (Windows Hosts only).
    pub except_when_locked: bool,
    /// Host prompt skipped "when no user is logged in" (Windows Hosts only).
    pub except_when_no_user: bool,
    /// "Enable confirm access via email".
    pub email: bool,
    /// User groups whose members receive the approval email.
    pub email_approver_groups: Vec<UserGroupId>,
    /// Email approval requested "only when computer is locked".
    pub email_only_when_locked: bool,
    /// Email approval requested "only when no user is logged in".
    pub email_only_when_no_user: bool,
}

impl ConfirmAccess {
    /// Whether any confirmation is configured.
    pub fn is_required(&self) -> bool {
        self.host_prompt || self.email
    }
}

/// Whitelisted-applications options of a role (002/004 §5.6).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Whitelist {
    /// The applications visible in the session.
    pub applications: Vec<ApplicationId>,
    /// Whitelisting not applied when the computer is locked at session start.
    pub except_when_locked: bool,
    /// Whitelisting not applied when nobody is logged in at session start.
    pub except_when_no_user: bool,
}

/// Identifies a system role; system roles exist in every tenant and cannot be edited or
/// deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SystemRole {
    /// 002/004 "Administrator".
    Administrator,
    /// 002/004 "Web Support".
    WebSupport,
    /// 002/004 "Full Access (OnDemand Sessions)".
    FullAccessOnDemand,
    /// 002/004 "Confirm Access Required".
    ConfirmAccessRequired,
    /// 003 "Full device access (System)".
    FullDeviceAccess,
    /// 003 "Only device connection (System)".
    OnlyDeviceConnection,
    /// 003 "All invitations (System)".
    AllInvitations,
    /// 003 "Own invitations (System)".
    OwnInvitations,
    /// 003 "Team administrator (System)".
    TeamAdministrator,
    /// 003 "Branding administrator (System)".
    BrandingAdministrator,
    /// 003 "Billing administrator (System)".
    BillingAdministrator,
    /// 003 "Auditor (System)".
    Auditor,
    /// 003 "Devices list (System)".
    DevicesList,
}

/// A role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its id.
    pub id: RoleId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Purpose, fixed at creation.
    pub purpose: RolePurpose,
    /// A disabled role contributes nothing.
    pub enabled: bool,
    /// Granted permissions.
    pub permissions: PermissionSet,
    /// Confirm-access overlay.
    pub confirm: ConfirmAccess,
    /// Whitelisted-applications overlay, if enabled.
    pub whitelist: Option<Whitelist>,
    /// `Some` for system roles.
    pub system: Option<SystemRole>,
    /// Creation instant.
    pub created_at: Timestamp,
}

/// An application of the whitelisted-application catalogue (002/004 §4.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Its id.
    pub id: ApplicationId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Path (may contain environment variables); optional in 004.
    pub path: Option<String>,
    /// Executable name, e.g. `notepad.exe`.
    pub executable: String,
    /// Description.
    pub description: String,
    /// "This application is enabled".
    pub enabled: bool,
}
