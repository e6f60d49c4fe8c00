//! Deployment packages (002/004 §4.2): how devices enroll.
//!
//! The enrollment key is shown once; only its SHA-256 is kept here. Key generation and the
//! enrollment, revoke and remove rules are in `rules::package`.

use crate::model::ids::{DeviceGroupId, PackageId, TenantId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// State a device gets when it enrolls through the package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArrivalState {
    /// "an administrator is required to review".
    Pending,
    /// Usable at once.
    Enrolled,
}

/// A deployment package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentPackage {
    /// Its id.
    pub id: PackageId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// SHA-256 of the enrollment key (the key itself is shown once and never stored).
    pub key_hash: [u8; 32],
    /// Enrollment allowed from this instant (UTC), inclusive; `None` = from creation.
    pub valid_from: Option<Timestamp>,
    /// Enrollment allowed before this instant (UTC), exclusive; `None` = no expiry.
    pub valid_to: Option<Timestamp>,
    /// How many devices may enroll; `None` = "Unlimited devices".
    pub device_limit: Option<u32>,
    /// "If disabled, new device enrollments do not work."
    pub enabled: bool,
    /// State of arriving devices.
    pub arrival_state: ArrivalState,
    /// "Move to device group" on enrollment.
    pub target_group: Option<DeviceGroupId>,
    /// Host licence key handed to the installer (empty = trial).
    pub license_key: Option<String>,
    /// When it was revoked; a revoked package never comes back.
    pub revoked_at: Option<Timestamp>,
    /// Creation instant.
    pub created_at: Timestamp,
}
