//! Session actions and the bit set that carries them in session requests, offers and tickets.
//!
//! Each `Permission` owns one stable bit (its number never changes once shipped). The names are
//! those of the seeds' "Check permissions" result and role options. Evaluating who holds which
//! permission is the directory's job, not this module's; unknown bits received from a newer peer
//! are kept in `bits()` but skipped by `iter()`.

use std::fmt;

/// One action a Guest may perform in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Permission {
    /// 004 "Remote session": may open a session at all.
    RemoteSession = 0,
    /// 004 "View remote screen".
    ViewScreen = 1,
    /// 004 "Use keyboard and mouse".
    UseKeyboardMouse = 2,
    /// 004 "Lock keyboard and mouse".
    LockKeyboardMouse = 3,
    /// 004 "Blank the screen".
    BlankScreen = 4,
    /// 004 "Transfer clipboard" (Sync Clipboard).
    TransferClipboard = 5,
    /// 004 "Execute command".
    ExecuteCommand = 6,
    /// "File transfer" / File Manager.
    FileTransfer = 7,
    /// "Remote management".
    RemoteManagement = 8,
    /// "Chat".
    Chat = 9,
    /// Device role option group "Tunnel": TCP tunnels (ssh, VNC, RDP, HTTP).
    Tunnel = 10,
    /// "Reboot".
    Reboot = 11,
    /// "Wake Up" (Wake-on-LAN).
    WakeUp = 12,
    /// "Lock/Unlock" the remote OS account.
    LockUnlock = 13,
    /// "Terminal Mode".
    TerminalMode = 14,
    /// "Calls".
    Calls = 15,
    /// "Installation Request" (ask to install the agent application).
    InstallationRequest = 16,
}

impl Permission {
    /// Every permission, in bit order.
    pub const ALL: [Permission; 17] = [
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
        Self::Reboot,
        Self::WakeUp,
        Self::LockUnlock,
        Self::TerminalMode,
        Self::Calls,
        Self::InstallationRequest,
    ];

    /// The bit index.
    pub const fn bit(self) -> u8 {
        self as u8
    }

    /// The permission owning bit `bit`, if any.
    pub fn from_bit(bit: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.bit() == bit)
    }

    /// The snake_case machine name (used in configs and the admin API).
    pub const fn name(self) -> &'static str {
        match self {
            Self::RemoteSession => "remote_session",
            Self::ViewScreen => "view_remote_screen",
            Self::UseKeyboardMouse => "use_keyboard_and_mouse",
            Self::LockKeyboardMouse => "lock_keyboard_and_mouse",
            Self::BlankScreen => "blank_the_screen",
            Self::TransferClipboard => "transfer_clipboard",
            Self::ExecuteCommand => "execute_command",
            Self::FileTransfer => "file_transfer",
            Self::RemoteManagement => "remote_management",
            Self::Chat => "chat",
            Self::Tunnel => "tunnel",
            Self::Reboot => "reboot",
            Self::WakeUp => "wake_up",
            Self::LockUnlock => "lock_unlock",
            Self::TerminalMode => "terminal_mode",
            Self::Calls => "calls",
            Self::InstallationRequest => "installation_request",
        }
    }

    /// The permission with machine name `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of permissions as a 64-bit mask (bit `p.bit()` set = `p` granted).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: Self = Self(0);

    /// Every permission this codec knows.
    pub fn all_known() -> Self {
        Permission::ALL.iter().copied().collect()
    }

    /// The raw mask as sent on the wire.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// A set from a raw mask; bits this codec does not know are kept (forward compatibility).
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// Whether `p` is in the set.
    pub const fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p.bit()) != 0
    }

    /// Whether every permission of `other` is in the set.
    pub const fn contains_all(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Adds `p`.
    pub fn insert(&mut self, p: Permission) {
        self.0 |= 1 << p.bit();
    }

    /// Removes `p`.
    pub fn remove(&mut self, p: Permission) {
        self.0 &= !(1 << p.bit());
    }

    /// Permissions in either set.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Permissions in both sets (e.g. wanted ∩ granted).
    #[must_use]
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The known permissions in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = Self::EMPTY;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_set();
        list.entries(self.iter().map(Permission::name));
        let unknown = self.0 & !Self::all_known().0;
        if unknown != 0 {
            list.entry(&format_args!("unknown:{unknown:#x}"));
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_unique_and_names_round_trip() {
        let mut seen = 0u64;
        for p in Permission::ALL {
            assert_eq!(seen & (1 << p.bit()), 0, "{p} reuses a bit");
            seen |= 1 << p.bit();
            assert_eq!(Permission::from_name(p.name()), Some(p));
            assert_eq!(Permission::from_bit(p.bit()), Some(p));
        }
        assert_eq!(PermissionSet::all_known().bits(), seen);
    }

    #[test]
    fn set_operations() {
        let mut a = PermissionSet::EMPTY;
        a.insert(Permission::ViewScreen);
        a.insert(Permission::Chat);
        let b: PermissionSet = [Permission::Chat, Permission::Tunnel].into_iter().collect();
        assert!(a.contains(Permission::Chat) && !a.contains(Permission::Tunnel));
        assert_eq!(a.union(b).iter().count(), 3);
        assert_eq!(
            a.intersection(b).iter().collect::<Vec<_>>(),
            vec![Permission::Chat]
        );
        a.remove(Permission::Chat);
        assert!(!a.contains_all(b));
        let unknown = PermissionSet::from_bits(1 << 63 | 1);
        assert_eq!(unknown.bits(), 1 << 63 | 1);
        assert_eq!(
            unknown.iter().collect::<Vec<_>>(),
            vec![Permission::RemoteSession]
        );
    }
}
