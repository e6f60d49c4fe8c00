//! User groups and device groups (002/004 §3.1), each with an active flag.
//!
//! Membership is stored on the member (`Membership::groups`, `Device::groups`), so deleting a
//! group never deletes a member. The built-ins `Everyone` and `Everything` have no stored
//! members: they contain every member / every device of the tenant.

use crate::model::ids::{DeviceGroupId, TenantId, UserGroupId};
use serde::{Deserialize, Serialize};

/// Name of the built-in user group holding every member.
pub const EVERYONE: &str = "Everyone";
/// Name of the built-in device group holding every device.
pub const EVERYTHING: &str = "Everything";

/// Where a user group's membership comes from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UserGroupKind {
    /// Members attached by hand.
    Local,
    /// Imported from an LDAP method (by name); membership synced on login, not editable.
    Ldap(String),
    /// Imported from an Azure AD method (by name); membership synced on login, not editable.
    AzureAd(String),
    /// The built-in `Everyone`: every member of the tenant.
    Everyone,
}

impl UserGroupKind {
    /// Whether members may be attached or detached by hand.
    pub fn manual_membership(&self) -> bool {
        matches!(self, Self::Local)
    }
}

/// A user group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroup {
    /// Its id.
    pub id: UserGroupId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Inactive groups make every assignment through them stop applying.
    pub active: bool,
    /// Where membership comes from.
    pub kind: UserGroupKind,
}

impl UserGroup {
    /// Whether this is the built-in `Everyone`.
    pub fn is_everyone(&self) -> bool {
        matches!(self.kind, UserGroupKind::Everyone)
    }
}

/// A device group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceGroup {
    /// Its id.
    pub id: DeviceGroupId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Inactive groups make every assignment through them stop applying.
    pub active: bool,
    /// Whether this is the built-in `Everything` (every device of the tenant).
    pub everything: bool,
}
