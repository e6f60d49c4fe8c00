//! User groups and device groups: create (unique names), rename, (de)activate, delete, and
//! membership. Membership is stored on the member (`Membership::groups`, `Device::groups`), so
//! deleting a group keeps every member; the deletion also drops the group from its members.
//!
//! Each action is written once, generic over the [`GroupKind`]; the public methods name the
//! kind. Who may do what is `rules::user_types`; which groups are fixed is `rules::groups`.

use std::collections::BTreeSet;

use super::codec::{Rec, Tx, duplicate_name};
use super::group_kind::GroupKind;
use super::records::TenantRecord;
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{
    AuditKind, DeviceGroup, DeviceGroupId, DeviceId, Membership, TenantId, UserGroup, UserGroupId,
    UserId,
};
use crate::rules::user_types::Capability;

fn check_name(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(DirectoryError::NotAllowed(
            "a name needs 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

/// The audit word for (de)activating something.
pub(crate) fn activated(active: bool) -> &'static str {
    if active { "activated" } else { "deactivated" }
}

impl Directory {
    /// Creates a local user group.
    pub async fn create_user_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<UserGroup, DirectoryError> {
        self.create_group(tenant, actor, name, description).await
    }

    /// Creates a device group.
    pub async fn create_device_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<DeviceGroup, DirectoryError> {
        self.create_group(tenant, actor, name, description).await
    }

    /// Reads a user group.
    pub async fn user_group(
        &self,
        tenant: TenantId,
        id: UserGroupId,
    ) -> Result<UserGroup, DirectoryError> {
        self.get_record(tenant, id).await
    }

    /// Reads a device group.
    pub async fn device_group(
        &self,
        tenant: TenantId,
        id: DeviceGroupId,
    ) -> Result<DeviceGroup, DirectoryError> {
        self.get_record(tenant, id).await
    }

    /// Every user group of the tenant (`Everyone` included).
    pub async fn user_groups(&self, tenant: TenantId) -> Result<Vec<UserGroup>, DirectoryError> {
        self.list_records(tenant).await
    }

    /// Every device group of the tenant (`Everything` included).
    pub async fn device_groups(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<DeviceGroup>, DirectoryError> {
        self.list_records(tenant).await
    }

    /// Activates or deactivates a user group (an inactive group makes every assignment through
    /// it stop applying; the built-in `Everyone` cannot be deactivated).
    pub async fn set_user_group_active(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: UserGroupId,
        active: bool,
    ) -> Result<(), DirectoryError> {
        self.set_group_active::<UserGroup>(tenant, actor, id, active)
            .await
    }

    /// Activates or deactivates a device group (not the built-in `Everything`).
    pub async fn set_device_group_active(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceGroupId,
        active: bool,
    ) -> Result<(), DirectoryError> {
        self.set_group_active::<DeviceGroup>(tenant, actor, id, active)
            .await
    }

    /// Adds users to a local user group (each membership updated with compare-and-set).
    pub async fn add_users_to_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        group: UserGroupId,
        users: &[UserId],
    ) -> Result<(), DirectoryError> {
        self.edit_group_members::<UserGroup>(tenant, actor, group, users, true)
            .await
    }

    /// Removes users from a local user group.
    pub async fn remove_users_from_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        group: UserGroupId,
        users: &[UserId],
    ) -> Result<(), DirectoryError> {
        self.edit_group_members::<UserGroup>(tenant, actor, group, users, false)
            .await
    }

    /// Adds devices to / removes devices from a device group.
    pub async fn set_devices_in_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        group: DeviceGroupId,
        devices: &[DeviceId],
        add: bool,
    ) -> Result<(), DirectoryError> {
        self.edit_group_members::<DeviceGroup>(tenant, actor, group, devices, add)
            .await
    }

    /// Deletes a user group; its members stay (the group is dropped from their memberships).
    pub async fn delete_user_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: UserGroupId,
    ) -> Result<(), DirectoryError> {
        self.delete_group::<UserGroup>(tenant, actor, id).await
    }

    /// Deletes a device group; its devices stay.
    pub async fn delete_device_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceGroupId,
    ) -> Result<(), DirectoryError> {
        self.delete_group::<DeviceGroup>(tenant, actor, id).await
    }

    /// The members of a user group (explicit memberships; `Everyone` lists every member).
    pub async fn user_group_members(
        &self,
        tenant: TenantId,
        id: UserGroupId,
    ) -> Result<BTreeSet<UserId>, DirectoryError> {
        let g = self.user_group(tenant, id).await?;
        let all = self.list_records::<Membership>(tenant).await?;
        Ok(all
            .into_iter()
            .filter(|m| g.is_everyone() || m.groups.contains(&id))
            .map(|m| m.user)
            .collect())
    }

    async fn create_group<G: GroupKind>(
        &self,
        tenant: TenantId,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<G, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        let name = check_name(name)?;
        let t = self.tenant_rec(tenant).await?.value;
        let group = G::new_local(tenant, name.clone(), description.to_owned());
        let mut tx = Tx::new(scope(tenant)?);
        tx.create(&keys::name(G::NAME_KIND, &name), &group.id())?;
        tx.create(&G::key(group.id()), &group)?;
        let what = format!("{} {name:?} created", G::LABEL);
        self.commit_audited(tx, &t, actor, AuditKind::Group, what)
            .await
            .map_err(duplicate_name(G::KIND, &name))?;
        Ok(group)
    }

    async fn set_group_active<G: GroupKind>(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: G::Id,
        active: bool,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let rec: Rec<G> = self.read_record(&sc, id).await?;
            if rec.value.is_builtin() {
                return Err(DirectoryError::BuiltinGroupImmutable);
            }
            let mut g = rec.value.clone();
            g.set_active(active);
            let mut tx = Tx::new(sc);
            tx.update(&G::key(id), rec.version, &g)?;
            let what = format!("{} {:?} {}", G::LABEL, g.name(), activated(active));
            self.commit_audited(tx, &t, actor, AuditKind::Group, what)
                .await
                .map(|_| ())
        })
        .await
    }

    async fn edit_group_members<G: GroupKind>(
        &self,
        tenant: TenantId,
        actor: &Actor,
        group: G::Id,
        members: &[<G::Member as TenantRecord>::Id],
        add: bool,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::ManageUsersAndDevices)
            .await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let g: Rec<G> = self.read_record(&sc, group).await?;
            g.value.check_manual_membership()?;
            let mut tx = Tx::new(sc.clone());
            // The group must still exist when the members are written.
            tx.expect(&G::key(group), Some(g.version));
            for &id in members {
                let m: Rec<G::Member> = self.read_record(&sc, id).await?;
                let mut m2 = m.value.clone();
                let groups = G::groups_of(&mut m2);
                let changed = if add {
                    groups.insert(group)
                } else {
                    groups.remove(&group)
                };
                if changed {
                    G::touch(&mut m2, self.now(), actor.user_id());
                    tx.update(&G::Member::key(id), m.version, &m2)?;
                }
            }
            let what = format!(
                "{} {} {} {} group {:?}",
                if add { "added" } else { "removed" },
                members.len(),
                G::MEMBERS,
                if add { "to" } else { "from" },
                g.value.name()
            );
            self.commit_audited(tx, &t, actor, AuditKind::Group, what)
                .await
                .map(|_| ())
        })
        .await
    }

    async fn delete_group<G: GroupKind>(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: G::Id,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let g: Rec<G> = self.read_record(&sc, id).await?;
            if g.value.is_builtin() {
                return Err(DirectoryError::BuiltinGroupImmutable);
            }
            let mut tx = Tx::new(sc.clone());
            tx.remove(&G::key(id), g.version);
            tx.delete(&keys::name(G::NAME_KIND, g.value.name()));
            for (k, m) in self.read_records::<G::Member>(&sc).await? {
                let mut m2 = m.value.clone();
                if G::groups_of(&mut m2).remove(&id) {
                    tx.update(&k, m.version, &m2)?;
                }
            }
            let what = format!("{} {:?} deleted", G::LABEL, g.value.name());
            self.commit_audited(tx, &t, actor, AuditKind::Group, what)
                .await
                .map(|_| ())
        })
        .await
    }
}
