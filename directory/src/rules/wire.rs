//! Mapping between the directory's permissions and the session actions the wire carries
//! (`switchboard_codec::PermissionSet`, sent in offers and tickets).
//!
//! The directory's set is wider (client type, invitations, administration); only session
//! actions cross the wire. 003's "Terminal Mode" is the directory's `ExecuteCommand`, so that
//! one permission sets both wire bits.
//!
//! The two enums stay apart on purpose: the wire's bit numbers are a shipped format (`Reboot` is
//! bit 11 on the wire, 14 here), `codec` sits below the directory and cannot name its
//! permissions, and the directory's set holds permissions that must never cross the wire. What
//! they share, the names, is kept once: each wire machine name is the snake_case of the
//! directory permission's seed label, and the mapping is derived from that.

use std::sync::LazyLock;

use crate::model::{Permission, PermissionSet};
use switchboard_codec::permissions as wire;

/// The wire's machine name of a seed label: snake_case (`"Lock/Unlock"` → `lock_unlock`).
fn machine_name(label: &str) -> String {
    label.to_lowercase().replace([' ', '/'], "_")
}

/// Each directory permission and the wire action it carries, derived from the one list of
/// names (the seeds' labels) rather than kept by hand: a permission whose label's machine name
/// is a wire action's name carries that action. 003's "Terminal Mode" is the directory's
/// `ExecuteCommand`, the one pair names cannot give.
static PAIRS: LazyLock<Vec<(Permission, wire::Permission)>> = LazyLock::new(|| {
    let mut pairs: Vec<_> = Permission::ALL
        .into_iter()
        .filter_map(|p| wire::Permission::from_name(&machine_name(p.label())).map(|w| (p, w)))
        .collect();
    pairs.push((Permission::ExecuteCommand, wire::Permission::TerminalMode));
    pairs
});

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
        // One pair per wire action: no label maps to two actions, none to a wrong one.
        assert_eq!(PAIRS.len(), wire::Permission::ALL.len());
        assert!(PAIRS.contains(&(Permission::LockUnlock, wire::Permission::LockUnlock)));
        assert!(PAIRS.contains(&(Permission::ViewScreen, wire::Permission::ViewScreen)));
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
