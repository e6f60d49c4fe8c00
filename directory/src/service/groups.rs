//! User groups and device groups: create (unique names), rename, (de)activate, delete, and
//! membership. Membership is stored on the member (`Membership::groups`, `Device::groups`), so
//! deleting a group keeps every member; the deletion also drops the group from its members.

use std::collections::BTreeSet;

use super::audit::append;
use super::codec::{Rec, Tx, read_all, read_known};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{
    AuditKind, Device, DeviceGroup, DeviceGroupId, DeviceId, Membership, TenantId, UserGroup,
    UserGroupId, UserGroupKind, UserId,
};
use crate::rules::groups::check_manual_membership;
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

fn duplicate(kind: &'static str, name: &str) -> impl FnOnce(DirectoryError) -> DirectoryError {
    let name = name.to_owned();
    move |e| match e {
        DirectoryError::Conflict { ref key, .. } if key.starts_with("name/") => {
            DirectoryError::DuplicateName { kind, name }
        }
        e => e,
    }
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
        self.require(tenant, actor, Capability::Administer).await?;
        let name = check_name(name)?;
        let t = self.tenant_rec(tenant).await?.value;
        let group = UserGroup {
            id: UserGroupId::new_random(),
            tenant,
            name: name.clone(),
            description: description.to_owned(),
            active: true,
            kind: UserGroupKind::Local,
        };
        let mut tx = Tx::new(scope(tenant)?);
        tx.create(&keys::name("ugroup", &name), &group.id)?;
        tx.create(&keys::ugroup(group.id), &group)?;
        append(
            &mut tx,
            &t,
            self.now(),
            &actor.audit,
            AuditKind::Group,
            format!("user group {name:?} created"),
            None,
        )?;
        tx.commit(&*self.store)
            .await
            .map_err(duplicate(UserGroupId::KIND, &name))?;
        Ok(group)
    }

    /// Creates a device group.
    pub async fn create_device_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<DeviceGroup, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        let name = check_name(name)?;
        let t = self.tenant_rec(tenant).await?.value;
        let group = DeviceGroup {
            id: DeviceGroupId::new_random(),
            tenant,
            name: name.clone(),
            description: description.to_owned(),
            active: true,
            everything: false,
        };
        let mut tx = Tx::new(scope(tenant)?);
        tx.create(&keys::name("dgroup", &name), &group.id)?;
        tx.create(&keys::dgroup(group.id), &group)?;
        append(
            &mut tx,
            &t,
            self.now(),
            &actor.audit,
            AuditKind::Group,
            format!("device group {name:?} created"),
            None,
        )?;
        tx.commit(&*self.store)
            .await
            .map_err(duplicate(DeviceGroupId::KIND, &name))?;
        Ok(group)
    }

    /// Reads a user group.
    pub async fn user_group(
        &self,
        tenant: TenantId,
        id: UserGroupId,
    ) -> Result<UserGroup, DirectoryError> {
        let sc = scope(tenant)?;
        Ok(
            read_known(&*self.store, &sc, &keys::ugroup(id), UserGroupId::KIND, id)
                .await?
                .value,
        )
    }

    /// Reads a device group.
    pub async fn device_group(
        &self,
        tenant: TenantId,
        id: DeviceGroupId,
    ) -> Result<DeviceGroup, DirectoryError> {
        let sc = scope(tenant)?;
        Ok(read_known(
            &*self.store,
            &sc,
            &keys::dgroup(id),
            DeviceGroupId::KIND,
            id,
        )
        .await?
        .value)
    }

    /// Every user group of the tenant (`Everyone` included).
    pub async fn user_groups(&self, tenant: TenantId) -> Result<Vec<UserGroup>, DirectoryError> {
        let all = read_all::<UserGroup>(&*self.store, &scope(tenant)?, "ugroup/").await?;
        Ok(all.into_iter().map(|(_, r)| r.value).collect())
    }

    /// Every device group of the tenant (`Everything` included).
    pub async fn device_groups(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<DeviceGroup>, DirectoryError> {
        let all = read_all::<DeviceGroup>(&*self.store, &scope(tenant)?, "dgroup/").await?;
        Ok(all.into_iter().map(|(_, r)| r.value).collect())
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
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let rec: Rec<UserGroup> =
                read_known(&*self.store, &sc, &keys::ugroup(id), UserGroupId::KIND, id).await?;
            if rec.value.is_everyone() {
                return Err(DirectoryError::BuiltinGroupImmutable);
            }
            let mut g = rec.value.clone();
            g.active = active;
            let mut tx = Tx::new(sc);
            tx.update(&keys::ugroup(id), rec.version, &g)?;
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Group,
                format!(
                    "user group {:?} {}",
                    g.name,
                    if active { "activated" } else { "deactivated" }
                ),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
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
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let rec: Rec<DeviceGroup> = read_known(
                &*self.store,
                &sc,
                &keys::dgroup(id),
                DeviceGroupId::KIND,
                id,
            )
            .await?;
            if rec.value.everything {
                return Err(DirectoryError::BuiltinGroupImmutable);
            }
            let mut g = rec.value.clone();
            g.active = active;
            let mut tx = Tx::new(sc);
            tx.update(&keys::dgroup(id), rec.version, &g)?;
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Group,
                format!(
                    "device group {:?} {}",
                    g.name,
                    if active { "activated" } else { "deactivated" }
                ),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
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
        self.edit_user_group_members(tenant, actor, group, users, true)
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
        self.edit_user_group_members(tenant, actor, group, users, false)
            .await
    }

    async fn edit_user_group_members(
        &self,
        tenant: TenantId,
        actor: &Actor,
        group: UserGroupId,
        users: &[UserId],
        add: bool,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::ManageUsersAndDevices)
            .await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let g: Rec<UserGroup> = read_known(
                &*self.store,
                &sc,
                &keys::ugroup(group),
                UserGroupId::KIND,
                group,
            )
            .await?;
            // Built-ins have no stored members; directory groups sync their own.
            check_manual_membership(&g.value)?;
            let mut tx = Tx::new(sc.clone());
            // The group must still exist when the members are written.
            tx.expect(&keys::ugroup(group), Some(g.version));
            for &u in users {
                let m: Rec<Membership> =
                    read_known(&*self.store, &sc, &keys::member(u), UserId::KIND, u).await?;
                let mut m2 = m.value.clone();
                let changed = if add {
                    m2.groups.insert(group)
                } else {
                    m2.groups.remove(&group)
                };
                if changed {
                    m2.modified_at = self.now();
                    m2.modified_by = actor.user_id();
                    tx.update(&keys::member(u), m.version, &m2)?;
                }
            }
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Group,
                format!(
                    "{} {} user(s) {} group {:?}",
                    if add { "added" } else { "removed" },
                    users.len(),
                    if add { "to" } else { "from" },
                    g.value.name
                ),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
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
        self.require(tenant, actor, Capability::ManageUsersAndDevices)
            .await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let g: Rec<DeviceGroup> = read_known(
                &*self.store,
                &sc,
                &keys::dgroup(group),
                DeviceGroupId::KIND,
                group,
            )
            .await?;
            if g.value.everything {
                return Err(DirectoryError::BuiltinGroupImmutable);
            }
            let mut tx = Tx::new(sc.clone());
            tx.expect(&keys::dgroup(group), Some(g.version));
            for &d in devices {
                let rec: Rec<Device> =
                    read_known(&*self.store, &sc, &keys::device(d), DeviceId::KIND, d).await?;
                let mut dev = rec.value.clone();
                let changed = if add {
                    dev.groups.insert(group)
                } else {
                    dev.groups.remove(&group)
                };
                if changed {
                    tx.update(&keys::device(d), rec.version, &dev)?;
                }
            }
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Group,
                format!(
                    "{} {} device(s) {} group {:?}",
                    if add { "added" } else { "removed" },
                    devices.len(),
                    if add { "to" } else { "from" },
                    g.value.name
                ),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// Deletes a user group; its members stay (the group is dropped from their memberships).
    pub async fn delete_user_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: UserGroupId,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let g: Rec<UserGroup> =
                read_known(&*self.store, &sc, &keys::ugroup(id), UserGroupId::KIND, id).await?;
            if g.value.is_everyone() {
                return Err(DirectoryError::BuiltinGroupImmutable);
            }
            let mut tx = Tx::new(sc.clone());
            tx.remove(&keys::ugroup(id), g.version);
            tx.delete(&keys::name("ugroup", &g.value.name));
            for (k, m) in read_all::<Membership>(&*self.store, &sc, "member/").await? {
                if m.value.groups.contains(&id) {
                    let mut m2 = m.value.clone();
                    m2.groups.remove(&id);
                    tx.update(&k, m.version, &m2)?;
                }
            }
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Group,
                format!("user group {:?} deleted", g.value.name),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// Deletes a device group; its devices stay.
    pub async fn delete_device_group(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceGroupId,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let g: Rec<DeviceGroup> = read_known(
                &*self.store,
                &sc,
                &keys::dgroup(id),
                DeviceGroupId::KIND,
                id,
            )
            .await?;
            if g.value.everything {
                return Err(DirectoryError::BuiltinGroupImmutable);
            }
            let mut tx = Tx::new(sc.clone());
            tx.remove(&keys::dgroup(id), g.version);
            tx.delete(&keys::name("dgroup", &g.value.name));
            for (k, d) in read_all::<Device>(&*self.store, &sc, "device/").await? {
                if d.value.groups.contains(&id) {
                    let mut d2 = d.value.clone();
                    d2.groups.remove(&id);
                    tx.update(&k, d.version, &d2)?;
                }
            }
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Group,
                format!("device group {:?} deleted", g.value.name),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// The members of a user group (explicit memberships; `Everyone` lists every member).
    pub async fn user_group_members(
        &self,
        tenant: TenantId,
        id: UserGroupId,
    ) -> Result<BTreeSet<UserId>, DirectoryError> {
        let g = self.user_group(tenant, id).await?;
        let all = read_all::<Membership>(&*self.store, &scope(tenant)?, "member/").await?;
        Ok(all
            .into_iter()
            .filter(|(_, m)| g.is_everyone() || m.value.groups.contains(&id))
            .map(|(_, m)| m.value.user)
            .collect())
    }
}
