//! Permissions a role can grant, named after the seeds, and a compact set of them.
//!
//! One enum covers the three purposes of a role (device access, OnDemand, administration);
//! `PermissionSet` is a 64-bit set so that a union is one OR. Where 003 and 002/004 name the
//! same capability differently, one variant carries both names (see each variant). This module
//! does not decide who holds a permission: `rules::evaluate` and `rules::snapshot` do.

use serde::{Deserialize, Serialize};
use std::fmt;

/// One permission. The discriminant is the bit index in a [`PermissionSet`] and is stable:
/// add new permissions at the end only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum Permission {
    // --- device access: "Remote session" option group (002/004 Check permissions) ---
    /// "Remote session": open a session at all.
    RemoteSession = 0,
    /// "View remote screen" (003: "Screen View").
    ViewScreen = 1,
    /// "Use keyboard and mouse" (003: "Screen Control").
    UseKeyboardMouse = 2,
    /// "Lock keyboard and mouse" (003: part of "Black Screen and Input Lock").
    LockKeyboardMouse = 3,
    /// "Blank the screen" (003: part of "Black Screen and Input Lock").
    BlankScreen = 4,
    /// "Transfer clipboard" (003: "Sync Clipboard").
    TransferClipboard = 5,
    /// "Execute command" (003: "Terminal Mode").
    ExecuteCommand = 6,
    /// "File transfer" session action (003: "File Manager").
    FileTransfer = 7,
    /// "Remote management" session action.
    RemoteManagement = 8,
    /// "Chat".
    Chat = 9,
    // --- "Tunnel" option group (004) ---
    /// TCP tunnels through the session (ssh, VNC, RDP, HTTP).
    Tunnel = 10,
    // --- "Client type" option group (004) ---
    /// Connect from an installed Guest.
    ClientInstalledGuest = 11,
    /// Connect from the browser console.
    ClientBrowser = 12,
    // --- 003 device options ---
    /// 003 "Wake Up" (Wake-on-LAN).
    WakeUp = 13,
    /// 003 "Reboot".
    Reboot = 14,
    /// 003 "Lock/Unlock" ("locking the remote OS account").
    LockUnlock = 15,
    /// 003 "Calls".
    Calls = 16,
    /// 003 "Screen Preview" in the device list.
    ScreenPreview = 17,
    /// 003 "Connection History".
    ConnectionHistory = 18,
    /// 003 "Software Inventory".
    SoftwareInventory = 19,
    /// 003 "Modify Notifications".
    ModifyNotifications = 20,
    /// 003 "Video Recording Delete".
    VideoRecordingDelete = 21,
    /// 003 "Device Modify".
    DeviceModify = 22,
    /// 003 "Device Delete".
    DeviceDelete = 23,
    // --- invitations / OnDemand (003) ---
    /// 003 "Own Invitations": see and act on the OnDemand sessions one created.
    OwnInvitations = 24,
    /// 003 "All Invitations": see and act on every OnDemand session of the tenant.
    AllInvitations = 25,
    /// 003 "Installation Request".
    InstallationRequest = 26,
    // --- administration (003) ---
    /// 003 "Audit Log" (team-wide audit logs).
    AuditLog = 27,
    /// 003 "Technicians and Team Settings".
    TechniciansAndTeamSettings = 28,
    /// 003 "Branding Settings".
    BrandingSettings = 29,
    /// 003 "Billing Settings".
    BillingSettings = 30,
    /// 003 "Permanent Access" (show the device section even without device rights).
    PermanentAccess = 31,
}

impl Permission {
    /// Every permission, in bit order.
    pub const ALL: [Permission; 32] = [
        Self::RemoteSession,
        Self::ViewScreen,
        Self::UseKeyboardMouse,
        Self::LockKeyboardMouse,
        Self::BlankScreen,
        Self::TransferClipboard,
        Self::ExecuteCommand,
        Self::FileTransfer,
        Self::RemoteManagement,
        Self::Chat,
        Self::Tunnel,
        Self::ClientInstalledGuest,
        Self::ClientBrowser,
        Self::WakeUp,
        Self::Reboot,
        Self::LockUnlock,
        Self::Calls,
        Self::ScreenPreview,
        Self::ConnectionHistory,
        Self::SoftwareInventory,
        Self::ModifyNotifications,
        Self::VideoRecordingDelete,
        Self::DeviceModify,
        Self::DeviceDelete,
        Self::OwnInvitations,
        Self::AllInvitations,
        Self::InstallationRequest,
        Self::AuditLog,
        Self::TechniciansAndTeamSettings,
        Self::BrandingSettings,
        Self::BillingSettings,
        Self::PermanentAccess,
    ];

    /// The permissions shown by the 002/004 "Check permissions" page, in its order.
    pub const CHECK_PAGE: [Permission; 7] = [
        Self::RemoteSession,
        Self::ViewScreen,
        Self::UseKeyboardMouse,
        Self::LockKeyboardMouse,
        Self::BlankScreen,
        Self::TransferClipboard,
        Self::ExecuteCommand,
    ];

    /// The bit of this permission in a [`PermissionSet`].
    pub const fn bit(self) -> u64 {
        1u64 << (self as u8)
    }

    /// The human label used by the seeds.
    pub const fn label(self) -> &'static str {
        match self {
            Self::RemoteSession => "Remote session",
            Self::ViewScreen => "View remote screen",
            Self::UseKeyboardMouse => "Use keyboard and mouse",
            Self::LockKeyboardMouse => "Lock keyboard and mouse",
            Self::BlankScreen => "Blank the screen",
            Self::TransferClipboard => "Transfer clipboard",
            Self::ExecuteCommand => "Execute command",
            Self::FileTransfer => "File transfer",
            Self::RemoteManagement => "Remote management",
            Self::Chat => "Chat",
            Self::Tunnel => "Tunnel",
            Self::ClientInstalledGuest => "Client type: installed Guest",
            Self::ClientBrowser => "Client type: browser",
            Self::WakeUp => "Wake Up",
            Self::Reboot => "Reboot",
            Self::LockUnlock => "Lock/Unlock",
            Self::Calls => "Calls",
            Self::ScreenPreview => "Screen Preview",
            Self::ConnectionHistory => "Connection History",
            Self::SoftwareInventory => "Software Inventory",
            Self::ModifyNotifications => "Modify Notifications",
            Self::VideoRecordingDelete => "Video Recording Delete",
            Self::DeviceModify => "Device Modify",
            Self::DeviceDelete => "Device Delete",
            Self::OwnInvitations => "Own Invitations",
            Self::AllInvitations => "All Invitations",
            Self::InstallationRequest => "Installation Request",
            Self::AuditLog => "Audit Log",
            Self::TechniciansAndTeamSettings => "Technicians and Team Settings",
            Self::BrandingSettings => "Branding Settings",
            Self::BillingSettings => "Billing Settings",
            Self::PermanentAccess => "Permanent Access",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A set of [`Permission`]s as a 64-bit mask. Serialized as the list of permission names so
/// that stored roles survive a reordering of nothing but names.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: Self = Self(0);

    /// Every permission usable by a device-access role.
    pub const DEVICE_FULL: Self = Self::from_slice(&[
        Permission::RemoteSession,
        Permission::ViewScreen,
        Permission::UseKeyboardMouse,
        Permission::LockKeyboardMouse,
        Permission::BlankScreen,
        Permission::TransferClipboard,
        Permission::ExecuteCommand,
        Permission::FileTransfer,
        Permission::RemoteManagement,
        Permission::Chat,
        Permission::Tunnel,
        Permission::ClientInstalledGuest,
        Permission::ClientBrowser,
        Permission::WakeUp,
        Permission::Reboot,
        Permission::LockUnlock,
        Permission::Calls,
        Permission::ScreenPreview,
        Permission::ConnectionHistory,
        Permission::SoftwareInventory,
        Permission::ModifyNotifications,
        Permission::VideoRecordingDelete,
        Permission::DeviceModify,
        Permission::DeviceDelete,
    ]);

    /// Every permission usable by an OnDemand (invitations) role.
    pub const ONDEMAND_FULL: Self = Self::from_slice(&[
        Permission::RemoteSession,
        Permission::ViewScreen,
        Permission::UseKeyboardMouse,
        Permission::LockKeyboardMouse,
        Permission::BlankScreen,
        Permission::TransferClipboard,
        Permission::ExecuteCommand,
        Permission::FileTransfer,
        Permission::Chat,
        Permission::Calls,
        Permission::Reboot,
        Permission::ScreenPreview,
        Permission::VideoRecordingDelete,
        Permission::OwnInvitations,
        Permission::AllInvitations,
        Permission::InstallationRequest,
        Permission::ClientBrowser,
        Permission::ClientInstalledGuest,
    ]);

    /// Every permission usable by an administration role.
    pub const ADMINISTRATION_FULL: Self = Self::from_slice(&[
        Permission::AuditLog,
        Permission::TechniciansAndTeamSettings,
        Permission::BrandingSettings,
        Permission::BillingSettings,
        Permission::PermanentAccess,
    ]);

    /// The set holding exactly `perms`.
    pub const fn from_slice(perms: &[Permission]) -> Self {
        let mut bits = 0u64;
        let mut i = 0;
        while i < perms.len() {
            bits |= perms[i].bit();
            i += 1;
        }
        Self(bits)
    }

    /// The raw mask (bit i = `Permission` with discriminant i).
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set from a raw mask; bits naming no permission are dropped.
    pub const fn from_bits_truncate(bits: u64) -> Self {
        Self(bits & ALL_BITS)
    }

    /// Whether `p` is in the set.
    pub const fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// Whether every permission of `other` is in the set.
    pub const fn contains_all(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The intersection.
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// The permissions of `self` not in `other`.
    #[must_use]
    pub const fn difference(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Adds `p`.
    pub fn insert(&mut self, p: Permission) {
        self.0 |= p.bit();
    }

    /// Removes `p`.
    pub fn remove(&mut self, p: Permission) {
        self.0 &= !p.bit();
    }

    /// The permissions in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Number of permissions in the set.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }
}

const ALL_BITS: u64 = {
    let mut bits = 0u64;
    let mut i = 0;
    while i < Permission::ALL.len() {
        bits |= Permission::ALL[i].bit();
        i += 1;
    }
    bits
};

impl std::ops::BitOr for PermissionSet {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for PermissionSet {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut s = Self::EMPTY;
        for p in iter {
            s.insert(p);
        }
        s
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<Permission> = Vec::deserialize(d)?;
        Ok(v.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discriminants_match_all_order() {
        for (i, p) in Permission::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i);
        }
    }

    #[test]
    fn set_operations_and_serde() {
        let a = PermissionSet::from_slice(&[Permission::ViewScreen, Permission::Chat]);
        let b = PermissionSet::from_slice(&[Permission::Chat, Permission::Tunnel]);
        assert_eq!((a | b).len(), 3);
        assert_eq!(
            a.intersection(b).iter().collect::<Vec<_>>(),
            vec![Permission::Chat]
        );
        assert!(a.difference(b).contains(Permission::ViewScreen));
        assert!(!a.contains(Permission::Tunnel));
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "[\"ViewScreen\",\"Chat\"]");
        let back: PermissionSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(PermissionSet::from_bits_truncate(u64::MAX).len(), 32);
    }
}
