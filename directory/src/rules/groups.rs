//! Group rules (002/004 §3): built-ins are fixed, directory groups manage their own members,
//! deleting a group keeps its members, names are unique per kind.
//!
//! Pure functions over groups, memberships, devices and assignments.

use crate::error::DirectoryError;
use crate::model::{
    AssignmentId, Device, DeviceGroup, DeviceGroupId, Membership, RoleAssignment, UserGroup,
    UserGroupId,
};

/// Checks that `name` is not used by another user group of the tenant (case-insensitive).
pub fn check_user_group_name(
    groups: &[UserGroup],
    name: &str,
    except: Option<UserGroupId>,
) -> Result<(), DirectoryError> {
    let others = groups.iter().filter(|g| Some(g.id) != except);
    check_group_name(UserGroupId::KIND, others.map(|g| g.name.as_str()), name)
}

/// Checks that `name` is not used by another device group of the tenant (case-insensitive).
pub fn check_device_group_name(
    groups: &[DeviceGroup],
    name: &str,
    except: Option<DeviceGroupId>,
) -> Result<(), DirectoryError> {
    let others = groups.iter().filter(|g| Some(g.id) != except);
    check_group_name(DeviceGroupId::KIND, others.map(|g| g.name.as_str()), name)
}

/// Refuses a blank `name`, or one that a name of `others` equals (case-insensitive), as a
/// `DuplicateName` of `kind`.
fn check_group_name<'a>(
    kind: &'static str,
    mut others: impl Iterator<Item = &'a str>,
    name: &str,
) -> Result<(), DirectoryError> {
    if name.trim().is_empty() {
        return Err(DirectoryError::NotAllowed("a group needs a name"));
    }
    if others.any(|n| n.eq_ignore_ascii_case(name.trim())) {
        return Err(DirectoryError::DuplicateName {
            kind,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Checks an edit of a user group: built-ins keep their name and kind; directory (LDAP / Azure
/// AD) groups only change "the status (active/inactive) and the description".
pub fn check_user_group_update(old: &UserGroup, new: &UserGroup) -> Result<(), DirectoryError> {
    if old.id != new.id || old.tenant != new.tenant || old.kind != new.kind {
        return Err(DirectoryError::NotAllowed(
            "a group's id, tenant and kind are fixed",
        ));
    }
    if old.is_everyone() && old.name != new.name {
        return Err(DirectoryError::BuiltinGroupImmutable);
    }
    if !old.kind.manual_membership() && !old.is_everyone() && old.name != new.name {
        return Err(DirectoryError::GroupMembershipManaged);
    }
    Ok(())
}

/// Checks an edit of a device group: `Everything` keeps its name.
pub fn check_device_group_update(
    old: &DeviceGroup,
    new: &DeviceGroup,
) -> Result<(), DirectoryError> {
    if old.id != new.id || old.tenant != new.tenant || old.everything != new.everything {
        return Err(DirectoryError::NotAllowed(
            "a group's id, tenant and kind are fixed",
        ));
    }
    if old.everything && old.name != new.name {
        return Err(DirectoryError::BuiltinGroupImmutable);
    }
    Ok(())
}

/// Checks that members may be attached to / detached from `group` by hand: not the built-in
/// `Everyone`, and not a directory group ("No users can be manually attached to the group").
pub fn check_manual_membership(group: &UserGroup) -> Result<(), DirectoryError> {
    if group.is_everyone() {
        Err(DirectoryError::BuiltinGroupImmutable)
    } else if !group.kind.manual_membership() {
        Err(DirectoryError::GroupMembershipManaged)
    } else {
        Ok(())
    }
}

/// Checks that devices may be attached to / detached from `group` by hand (not `Everything`).
pub fn check_manual_device_membership(group: &DeviceGroup) -> Result<(), DirectoryError> {
    if group.everything {
        Err(DirectoryError::BuiltinGroupImmutable)
    } else {
        Ok(())
    }
}

/// Applies the deletion of a user group: refused for `Everyone`; members keep existing and only
/// lose the membership; assignments drop the group. Returns the assignments left without any
/// user group (they no longer apply; the caller may warn).
pub fn delete_user_group(
    group: &UserGroup,
    memberships: &mut [Membership],
    assignments: &mut [RoleAssignment],
) -> Result<Vec<AssignmentId>, DirectoryError> {
    if group.is_everyone() {
        return Err(DirectoryError::BuiltinGroupImmutable);
    }
    for m in memberships.iter_mut() {
        m.groups.remove(&group.id);
    }
    let mut orphaned = Vec::new();
    for a in assignments.iter_mut() {
        if a.user_groups.remove(&group.id) && a.user_groups.is_empty() {
            orphaned.push(a.id);
        }
    }
    Ok(orphaned)
}

/// Applies the deletion of a device group, like [`delete_user_group`]; refused for
/// `Everything`.
pub fn delete_device_group(
    group: &DeviceGroup,
    devices: &mut [Device],
    assignments: &mut [RoleAssignment],
) -> Result<Vec<AssignmentId>, DirectoryError> {
    if group.everything {
        return Err(DirectoryError::BuiltinGroupImmutable);
    }
    for d in devices.iter_mut() {
        d.groups.remove(&group.id);
    }
    let mut orphaned = Vec::new();
    for a in assignments.iter_mut() {
        if a.device_groups.remove(&group.id) && a.device_groups.is_empty() {
            orphaned.push(a.id);
        }
    }
    Ok(orphaned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Permission, RolePurpose, UserGroupKind};
    use crate::rules::fixture::World;

    #[test]
    fn deleting_a_group_keeps_its_members() {
        // 002/004 §3.1: "Removing a group does not remove its member users or devices."
        let mut w = World::new("UTC");
        let ug = w.user_group("Support");
        let other = w.user_group("Other");
        let dg = w.device_group("Servers");
        let u = w.user(&[ug, other]);
        let d = w.device(&[dg]);
        let r = w.role(RolePurpose::DeviceAccess, &[Permission::RemoteSession]);
        let a = w.assign("a", r, &[ug], &[dg]);
        let b = w.assign("b", r, &[ug, other], &[dg]);
        let group = w.m.user_groups.iter().find(|g| g.id == ug).unwrap().clone();
        let orphaned =
            delete_user_group(&group, &mut w.m.memberships, &mut w.m.assignments).unwrap();
        assert_eq!(orphaned, vec![a]);
        let m = w.m.memberships.iter().find(|m| m.user == u).unwrap();
        assert_eq!(m.groups.iter().copied().collect::<Vec<_>>(), vec![other]);
        assert!(
            w.m.assignments
                .iter()
                .any(|x| x.id == b && x.user_groups.len() == 1)
        );
        let dgroup =
            w.m.device_groups
                .iter()
                .find(|g| g.id == dg)
                .unwrap()
                .clone();
        let orphaned =
            delete_device_group(&dgroup, &mut w.m.devices, &mut w.m.assignments).unwrap();
        assert_eq!(orphaned.len(), 2);
        assert!(w.m.devices.iter().any(|x| x.id == d && x.groups.is_empty()));
    }

    #[test]
    fn builtins_and_directory_groups_are_protected() {
        // 002/004 §3.2: LDAP groups: "No users can be manually attached to the group"; "The
        // only things that can be edited/changed in the group are the status (active/inactive)
        // and the description."
        let mut w = World::new("UTC");
        let everyone = w.m.user_groups[0].clone();
        let everything = w.m.device_groups[0].clone();
        assert!(matches!(
            check_manual_membership(&everyone),
            Err(DirectoryError::BuiltinGroupImmutable)
        ));
        assert!(check_manual_device_membership(&everything).is_err());
        assert!(delete_user_group(&everyone, &mut [], &mut []).is_err());
        assert!(delete_device_group(&everything, &mut [], &mut []).is_err());
        let mut renamed = everyone.clone();
        renamed.name = "All".into();
        assert!(check_user_group_update(&everyone, &renamed).is_err());
        let mut off = everyone.clone();
        off.active = false;
        check_user_group_update(&everyone, &off).unwrap();
        let ldap_id = w.user_group("Domain Admins");
        let ldap = {
            let g =
                w.m.user_groups
                    .iter_mut()
                    .find(|g| g.id == ldap_id)
                    .unwrap();
            g.kind = UserGroupKind::Ldap("corp".into());
            g.clone()
        };
        assert!(matches!(
            check_manual_membership(&ldap),
            Err(DirectoryError::GroupMembershipManaged)
        ));
        let mut edit = ldap.clone();
        edit.description = "synced".into();
        edit.active = false;
        check_user_group_update(&ldap, &edit).unwrap();
        edit.name = "x".into();
        assert!(check_user_group_update(&ldap, &edit).is_err());
        let local = w.user_group("Local");
        let lg = w.m.user_groups.iter().find(|g| g.id == local).unwrap();
        check_manual_membership(lg).unwrap();
        assert!(matches!(
            check_user_group_name(&w.m.user_groups, "local", None),
            Err(DirectoryError::DuplicateName { .. })
        ));
        check_user_group_name(&w.m.user_groups, "local", Some(local)).unwrap();
        check_device_group_name(&w.m.device_groups, "Servers", None).unwrap();
        assert!(check_device_group_name(&w.m.device_groups, "everything", None).is_err());
    }
}
