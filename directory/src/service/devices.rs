//! Devices: read and list, approve a pending device ("Enroll"), edit alias/description, remove,
//! and per-user favourites (bulk add / remove).

use super::audit::append;
use super::codec::{Rec, Tx, read};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{AuditKind, Device, DeviceId, EnrollmentState, Favourites, TenantId, UserId};
use crate::rules::user_types::Capability;

impl Directory {
    /// Reads a device.
    pub async fn device(&self, tenant: TenantId, id: DeviceId) -> Result<Device, DirectoryError> {
        self.get_record(tenant, id).await
    }

    /// Every device of the tenant.
    pub async fn devices(&self, tenant: TenantId) -> Result<Vec<Device>, DirectoryError> {
        self.list_records(tenant).await
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
        let capability = Capability::ManageUsersAndDevices;
        self.write_device(tenant, actor, capability, id, |rec, tx| {
            let mut d = rec.value.clone();
            let what = change(&mut d)?;
            tx.update(&keys::device(id), rec.version, &d)?;
            Ok(what)
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
        let capability = Capability::RemoveDevices;
        self.write_device(tenant, actor, capability, id, |rec, tx| {
            tx.remove(&keys::device(id), rec.version);
            Ok(format!("device {:?} removed", rec.value.hostname))
        })
        .await
    }

    /// Reads a device, lets `write` add its change to the batch (returning the audit sentence,
    /// or refusing) and commits it with the audit record; starts over on a lost race.
    async fn write_device(
        &self,
        tenant: TenantId,
        actor: &Actor,
        capability: Capability,
        id: DeviceId,
        write: impl Fn(&Rec<Device>, &mut Tx) -> Result<String, DirectoryError>,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, capability).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let rec: Rec<Device> = self.read_record(&sc, id).await?;
            let mut tx = Tx::new(sc);
            let what = write(&rec, &mut tx)?;
            let (now, by) = (self.now(), &actor.audit);
            append(&mut tx, &t, now, by, AuditKind::Device, what, Some(id))?;
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
                    let rec: Rec<Device> = self.read_record(&sc, d).await?;
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
