//! Mapping between the directory's permissions and the session actions the wire carries
//! (`switchboard_codec::PermissionSet`, sent in offers and tickets).
//!
//! The directory's set is wider (client type, invitations, administration); only session
//! actions cross the wire. 003's "Terminal Mode" is the directory's `ExecuteCommand`, so that
//! one permission sets both wire bits.

use crate::model::{Permission, PermissionSet};
use switchboard_codec::permissions as wire;

const PAIRS: [(Permission, wire::Permission); 17] = [
    (Permission::RemoteSession, wire::Permission::RemoteSession),
    (Permission::ViewScreen, wire::Permission::ViewScreen),
    (
        Permission::UseKeyboardMouse,
        wire::Permission::UseKeyboardMouse,
    ),
    (
        Permission::LockKeyboardMouse,
        wire::Permission::LockKeyboardMouse,
    ),
    (Permission::BlankScreen, wire::Permission::BlankScreen),
    (
        Permission::TransferClipboard,
        wire::Permission::TransferClipboard,
    ),
    (Permission::ExecuteCommand, wire::Permission::ExecuteCommand),
    (Permission::ExecuteCommand, wire::Permission::TerminalMode),
    (Permission::FileTransfer, wire::Permission::FileTransfer),
    (
        Permission::RemoteManagement,
        wire::Permission::RemoteManagement,
    ),
    (Permission::Chat, wire::Permission::Chat),
    (Permission::Tunnel, wire::Permission::Tunnel),
    (Permission::Reboot, wire::Permission::Reboot),
    (Permission::WakeUp, wire::Permission::WakeUp),
    (Permission::LockUnlock, wire::Permission::LockUnlock),
    (Permission::Calls, wire::Permission::Calls),
    (
        Permission::InstallationRequest,
        wire::Permission::InstallationRequest,
    ),
];

/// The session actions of `set`, for offers and tickets.
pub fn to_wire(set: PermissionSet) -> wire::PermissionSet {
    PAIRS
        .iter()
        .filter(|(ours, _)| set.contains(*ours))
        .map(|(_, w)| *w)
        .collect()
}

/// The directory permissions named by a wire set (e.g. a Guest's wanted actions). Unknown wire
/// bits are ignored.
pub fn from_wire(set: wire::PermissionSet) -> PermissionSet {
    PAIRS
        .iter()
        .filter(|(_, w)| set.contains(*w))
        .map(|(ours, _)| *ours)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_action_has_a_directory_permission() {
        for w in wire::Permission::ALL {
            assert!(PAIRS.iter().any(|(_, x)| *x == w), "{w}");
        }
        let full = to_wire(PermissionSet::DEVICE_FULL);
        assert!(full.contains(wire::Permission::TerminalMode));
        assert!(full.contains(wire::Permission::Tunnel));
        let back = from_wire(full);
        assert!(back.contains(Permission::ExecuteCommand));
        assert!(
            !back.contains(Permission::ClientBrowser),
            "not a session action"
        );
        let one = PermissionSet::from_slice(&[Permission::ViewScreen]);
        assert_eq!(from_wire(to_wire(one)), one);
        assert!(to_wire(PermissionSet::ADMINISTRATION_FULL).bits() == 0);
    }
}
