//! Devices (Hosts) and per-user favourites (002/004 §4.1).
//!
//! Data only. Enrollment decisions are in `rules::package`; reachability in `rules::evaluate`.

use crate::model::ids::{DeviceGroupId, DeviceId, PackageId, TenantId, UserId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Enrollment state (002/004: Enrolled, Pending, Revoked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EnrollmentState {
    /// Waiting for an administrator's "Enroll"; not reachable.
    Pending,
    /// Working.
    Enrolled,
    /// Its package was revoked; listed but not reachable until it enrolls with a new key.
    Revoked,
}

/// The device's static public keys, registered at enrollment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceKeys {
    /// ed25519 public key authenticating the device's control connection.
    pub auth_ed25519: [u8; 32],
    /// X25519 public key of the device's Noise static key.
    pub noise_x25519: [u8; 32],
}

/// A device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Host name reported by the agent.
    pub hostname: String,
    /// "internal name" set by an administrator.
    pub alias: Option<String>,
    /// "extended description".
    pub description: String,
    /// Operating system reported by the agent.
    pub os: String,
    /// Agent version reported by the agent.
    pub agent_version: String,
    /// Logged-in OS user reported by the agent.
    pub logged_in_user: Option<String>,
    /// Last time the device was seen online.
    pub last_seen: Option<Timestamp>,
    /// Enrollment state.
    pub enrollment: EnrollmentState,
    /// The deployment package it enrolled through.
    pub package: Option<PackageId>,
    /// Explicit device-group memberships (`Everything` is implicit and never listed).
    pub groups: BTreeSet<DeviceGroupId>,
    /// Static public keys.
    pub keys: DeviceKeys,
    /// Enrollment instant.
    pub enrolled_at: Timestamp,
}

/// A user's favourite devices in one tenant (per user; the seeds leave the scope open and
/// per user is the natural reading, digest §13).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Favourites {
    /// The devices, shown first in that user's device list.
    pub devices: BTreeSet<DeviceId>,
}

impl Favourites {
    /// Adds several devices (bulk "Add to favorites").
    pub fn add_all(&mut self, ids: impl IntoIterator<Item = DeviceId>) {
        self.devices.extend(ids);
    }

    /// Removes several devices.
    pub fn remove_all(&mut self, ids: impl IntoIterator<Item = DeviceId>) {
        for id in ids {
            self.devices.remove(&id);
        }
    }
}

/// Who a favourites list belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FavouritesKey {
    /// Tenant.
    pub tenant: TenantId,
    /// User.
    pub user: UserId,
}
