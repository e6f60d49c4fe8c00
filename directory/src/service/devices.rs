//! Devices: read and list, approve a pending device ("Enroll"), edit alias/description, remove,
//! and per-user favourites (bulk add / remove).

use super::audit::append;
use super::codec::{Rec, Tx, read, read_all, read_known};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{AuditKind, Device, DeviceId, EnrollmentState, Favourites, TenantId, UserId};
use crate::rules::user_types::Capability;

impl Directory {
    /// Reads a device.
    pub async fn device(&self, tenant: TenantId, id: DeviceId) -> Result<Device, DirectoryError> {
        let sc = scope(tenant)?;
        Ok(
            read_known(&*self.store, &sc, &keys::device(id), DeviceId::KIND, id)
                .await?
                .value,
        )
    }

    /// Every device of the tenant.
    pub async fn devices(&self, tenant: TenantId) -> Result<Vec<Device>, DirectoryError> {
        let all = read_all::<Device>(&*self.store, &scope(tenant)?, "device/").await?;
        Ok(all.into_iter().map(|(_, r)| r.value).collect())
    }

    /// Enrolls a Pending device (the administrator's "Enroll").
    pub async fn approve_device(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceId,
    ) -> Result<(), DirectoryError> {
        self.modify_device(tenant, actor, id, |d| {
            if d.enrollment != EnrollmentState::Pending {
                return Err(DirectoryError::NotAllowed(
                    "only a pending device can be enrolled",
                ));
            }
            d.enrollment = EnrollmentState::Enrolled;
            Ok(format!("pending device {:?} enrolled", d.hostname))
        })
        .await
    }

    /// Sets a device's alias and description.
    pub async fn edit_device(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceId,
        alias: Option<String>,
        description: String,
    ) -> Result<(), DirectoryError> {
        self.modify_device(tenant, actor, id, |d| {
            d.alias = alias.clone();
            d.description = description.clone();
            Ok(format!("device {:?} edited", d.hostname))
        })
        .await
    }

    /// Reads a device, lets `change` edit it (returning the audit sentence, or refusing), and
    /// writes it back with its audit record in one batch conditioned on the version read.
    async fn modify_device(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceId,
        change: impl Fn(&mut Device) -> Result<String, DirectoryError>,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::ManageUsersAndDevices)
            .await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let rec: Rec<Device> =
                read_known(&*self.store, &sc, &keys::device(id), DeviceId::KIND, id).await?;
            let mut d = rec.value.clone();
            let what = change(&mut d)?;
            let mut tx = Tx::new(sc);
            tx.update(&keys::device(id), rec.version, &d)?;
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Device,
                what,
                Some(id),
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// Removes a device (a still-enrolled Host re-enrolls on its next start; revoke the package
    /// to cut it off for good).
    pub async fn remove_device(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceId,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::RemoveDevices)
            .await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let rec: Rec<Device> =
                read_known(&*self.store, &sc, &keys::device(id), DeviceId::KIND, id).await?;
            let mut tx = Tx::new(sc);
            tx.remove(&keys::device(id), rec.version);
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Device,
                format!("device {:?} removed", rec.value.hostname),
                Some(id),
            )?;
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// A user's favourite devices in a tenant.
    pub async fn favourites(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> Result<Favourites, DirectoryError> {
        let rec: Option<Rec<Favourites>> =
            read(&*self.store, &scope(tenant)?, &keys::favourites(user)).await?;
        Ok(rec.map(|r| r.value).unwrap_or_default())
    }

    /// Adds (`add`) or removes devices from a user's favourites; unknown devices are refused.
    pub async fn set_favourites(
        &self,
        tenant: TenantId,
        user: UserId,
        devices: &[DeviceId],
        add: bool,
    ) -> Result<Favourites, DirectoryError> {
        retry(|| async {
            let sc = scope(tenant)?;
            let _member = self.membership(tenant, user).await?;
            let mut tx = Tx::new(sc.clone());
            if add {
                for &d in devices {
                    let rec: Rec<Device> =
                        read_known(&*self.store, &sc, &keys::device(d), DeviceId::KIND, d).await?;
                    tx.expect(&keys::device(d), Some(rec.version));
                }
            }
            let cur: Option<Rec<Favourites>> =
                read(&*self.store, &sc, &keys::favourites(user)).await?;
            let mut fav = cur.as_ref().map(|r| r.value.clone()).unwrap_or_default();
            if add {
                fav.add_all(devices.iter().copied());
            } else {
                fav.remove_all(devices.iter().copied());
            }
            tx.expect(&keys::favourites(user), cur.map(|r| r.version));
            tx.put(&keys::favourites(user), &fav)?;
            tx.commit(&*self.store).await?;
            Ok(fav)
        })
        .await
    }
}
