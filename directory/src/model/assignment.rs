//! Role assignments (002/004 §5.2): role x user groups x device groups, optional schedule.
//!
//! Data only; validation (`rules::assignments`) and evaluation (`rules::evaluate`) elsewhere.

use crate::model::ids::{AssignmentId, DeviceGroupId, RoleId, TenantId, UserGroupId};
use crate::model::schedule::Schedule;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Why an assignment was switched off by the system rather than by an administrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AutoDisabled {
    /// Its role was deleted (002/004: "the role assignment becomes disabled").
    RoleDeleted,
    /// All applications of its whitelisting role were disabled (002/004 §4.4.11).
    ApplicationsDisabled,
}

/// A role assignment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    /// Its id.
    pub id: AssignmentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// "Disabling the role assignment does not remove it."
    pub active: bool,
    /// Set when the system disabled it (then `active` is false).
    pub auto_disabled: Option<AutoDisabled>,
    /// The role (may name a deleted role once `auto_disabled == Some(RoleDeleted)`).
    pub role: RoleId,
    /// One or more user groups.
    pub user_groups: BTreeSet<UserGroupId>,
    /// One or more device groups for device-access roles; none for OnDemand and
    /// administration roles.
    pub device_groups: BTreeSet<DeviceGroupId>,
    /// Optional schedule; `None` = always.
    pub schedule: Option<Schedule>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Last modification instant.
    pub modified_at: Timestamp,
}
