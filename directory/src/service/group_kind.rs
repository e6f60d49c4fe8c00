//! What differs between user groups and device groups, stated once per kind, so that
//! `groups` writes create, (de)activate, delete and membership edits a single time for both.
//!
//! A group kind names its index kind and audit wording, which built-in it refuses to touch,
//! and the record its members carry their memberships on (`Membership::groups`,
//! `Device::groups`). Nothing here reads or writes the store.

use std::collections::BTreeSet;

use jiff::Timestamp;

use super::records::TenantRecord;
use crate::error::DirectoryError;
use crate::model::{
    Device, DeviceGroup, DeviceGroupId, Membership, TenantId, UserGroup, UserGroupId,
    UserGroupKind, UserId,
};
use crate::rules::groups::{check_manual_device_membership, check_manual_membership};

/// A kind of group (user or device) as the group service handles it.
pub(crate) trait GroupKind: TenantRecord<Id: Ord> {
    /// The record that carries a member's memberships.
    type Member: TenantRecord;
    /// The kind in the name-uniqueness index (`keys::name`).
    const NAME_KIND: &'static str;
    /// How audit sentences name the kind ("user group").
    const LABEL: &'static str;
    /// How audit sentences count members ("user(s)").
    const MEMBERS: &'static str;

    /// A new active group, neither built in nor synced from a directory.
    fn new_local(tenant: TenantId, name: String, description: String) -> Self;
    /// Its id.
    fn id(&self) -> Self::Id;
    /// Its name.
    fn name(&self) -> &str;
    /// Activates or deactivates it.
    fn set_active(&mut self, active: bool);
    /// Whether it is the built-in group (`Everyone`, `Everything`) nobody may change.
    fn is_builtin(&self) -> bool;
    /// Refuses unless members may be attached and detached by hand.
    fn check_manual_membership(&self) -> Result<(), DirectoryError>;
    /// The groups `member` belongs to.
    fn groups_of(member: &mut Self::Member) -> &mut BTreeSet<Self::Id>;
    /// Stamps a member whose memberships an administrator just edited.
    fn touch(member: &mut Self::Member, now: Timestamp, by: Option<UserId>);
}

impl GroupKind for UserGroup {
    type Member = Membership;
    const NAME_KIND: &'static str = "ugroup";
    const LABEL: &'static str = "user group";
    const MEMBERS: &'static str = "user(s)";

    fn new_local(tenant: TenantId, name: String, description: String) -> Self {
        Self {
            id: UserGroupId::new_random(),
            tenant,
            name,
            description,
            active: true,
            kind: UserGroupKind::Local,
        }
    }
    fn id(&self) -> UserGroupId {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_active(&mut self, active: bool) {
        self.active = active;
    }
    fn is_builtin(&self) -> bool {
        self.is_everyone()
    }
    fn check_manual_membership(&self) -> Result<(), DirectoryError> {
        // Built-ins have no stored members; directory groups sync their own.
        check_manual_membership(self)
    }
    fn groups_of(member: &mut Membership) -> &mut BTreeSet<UserGroupId> {
        &mut member.groups
    }
    fn touch(member: &mut Membership, now: Timestamp, by: Option<UserId>) {
        member.modified_at = now;
        member.modified_by = by;
    }
}

impl GroupKind for DeviceGroup {
    type Member = Device;
    const NAME_KIND: &'static str = "dgroup";
    const LABEL: &'static str = "device group";
    const MEMBERS: &'static str = "device(s)";

    fn new_local(tenant: TenantId, name: String, description: String) -> Self {
        Self {
            id: DeviceGroupId::new_random(),
            tenant,
            name,
            description,
            active: true,
            everything: false,
        }
    }
    fn id(&self) -> DeviceGroupId {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn set_active(&mut self, active: bool) {
        self.active = active;
    }
    fn is_builtin(&self) -> bool {
        self.everything
    }
    fn check_manual_membership(&self) -> Result<(), DirectoryError> {
        check_manual_device_membership(self)
    }
    fn groups_of(member: &mut Device) -> &mut BTreeSet<DeviceGroupId> {
        &mut member.groups
    }
    fn touch(_: &mut Device, _: Timestamp, _: Option<UserId>) {
        // A device records no editor.
    }
}
