//! Deployment packages and enrollment: create (the enrollment key is returned once; only its
//! SHA-256 is stored, with a global index to find the tenant), enroll by key (window, limit,
//! disabled and revoked checks; Pending or Enrolled arrival; target group), revoke (literal
//! `revoke`; every device of the package becomes Revoked), remove (only when it has no devices
//! or is revoked).

use jiff::Timestamp;

use super::audit::append;
use super::codec::{Rec, Tx, read, read_all, read_known};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::{DirectoryError, EnrollmentRefusal, QuotaKind};
use crate::model::{
    ArrivalState, AuditActor, AuditKind, DeploymentPackage, Device, DeviceGroupId, DeviceId,
    DeviceKeys, PackageId, TenantId,
};
use crate::rules::package::{
    arrival_enrollment_state, check_enrollment, check_package_removal, check_revoke_confirmation,
    generate_key, hash_key, revoke,
};
use crate::rules::tenant::{check_quota, usage};
use crate::rules::user_types::Capability;
use crate::store::Scope;

/// What a new package needs.
#[derive(Clone, Debug, Default)]
pub struct NewPackage {
    /// Name (unique in the tenant).
    pub name: String,
    /// Description.
    pub description: String,
    /// Enrollment allowed from (UTC, inclusive).
    pub valid_from: Option<Timestamp>,
    /// Enrollment allowed before (UTC, exclusive); `None`: no expiry.
    pub valid_to: Option<Timestamp>,
    /// Device limit; `None`: unlimited.
    pub device_limit: Option<u32>,
    /// Enabled.
    pub enabled: bool,
    /// Pending (admin review) or Enrolled on arrival.
    pub pending: bool,
    /// "Move to device group".
    pub target_group: Option<DeviceGroupId>,
}

/// What an agent reports when it enrolls.
#[derive(Clone, Debug)]
pub struct Enrollment {
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: String,
    /// Agent version.
    pub agent_version: String,
    /// The device's static public keys.
    pub keys: DeviceKeys,
}

/// Global index entry of an enrollment key.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct KeyIndex {
    tenant: TenantId,
    package: PackageId,
}

impl Directory {
    /// Creates a package; returns it and its enrollment key (shown once, never stored).
    pub async fn create_package(
        &self,
        tenant: TenantId,
        actor: &Actor,
        new: NewPackage,
    ) -> Result<(DeploymentPackage, String), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        let name = new.name.trim().to_owned();
        if name.is_empty() {
            return Err(DirectoryError::NotAllowed(
                "a deployment package needs a name",
            ));
        }
        if let (Some(f), Some(t)) = (new.valid_from, new.valid_to)
            && f >= t
        {
            return Err(DirectoryError::NotAllowed(
                "valid from must be before valid to",
            ));
        }
        let t = self.tenant_rec(tenant).await?.value;
        let sc = scope(tenant)?;
        let mut tx = Tx::new(sc.clone());
        if let Some(g) = new.target_group {
            let rec: Rec<crate::model::DeviceGroup> =
                read_known(&*self.store, &sc, &keys::dgroup(g), DeviceGroupId::KIND, g).await?;
            tx.expect(&keys::dgroup(g), Some(rec.version));
        }
        if read::<PackageId>(&*self.store, &sc, &keys::name("package", &name))
            .await?
            .is_some()
        {
            return Err(DirectoryError::DuplicateName {
                kind: PackageId::KIND,
                name,
            });
        }
        let (key, key_hash) = generate_key()?;
        let now = self.now();
        let p = DeploymentPackage {
            id: PackageId::new_random(),
            tenant,
            name: name.clone(),
            description: new.description,
            key_hash,
            valid_from: new.valid_from,
            valid_to: new.valid_to,
            device_limit: new.device_limit,
            enabled: new.enabled,
            arrival_state: if new.pending {
                ArrivalState::Pending
            } else {
                ArrivalState::Enrolled
            },
            target_group: new.target_group,
            license_key: None,
            revoked_at: None,
            created_at: now,
        };
        // Global index first (an orphan index entry only ever points at a missing package).
        let mut g = Tx::new(Scope::global());
        g.create(
            &keys::package_key(&p.key_hash),
            &KeyIndex {
                tenant,
                package: p.id,
            },
        )?;
        g.commit(&*self.store).await?;
        tx.create(&keys::name("package", &name), &p.id)?;
        tx.create(&keys::package(p.id), &p)?;
        tx.create(&keys::package_count(p.id), &0u32)?;
        append(
            &mut tx,
            &t,
            now,
            &actor.audit,
            AuditKind::Package,
            format!("deployment package {name:?} created"),
            None,
        )?;
        match tx.commit(&*self.store).await {
            Ok(_) => Ok((p, key)),
            Err(e) => {
                let _ = self
                    .store
                    .delete(&Scope::global(), &keys::package_key(&p.key_hash))
                    .await;
                Err(match e {
                    DirectoryError::Conflict { ref key, .. } if key.starts_with("name/") => {
                        DirectoryError::DuplicateName {
                            kind: PackageId::KIND,
                            name,
                        }
                    }
                    e => e,
                })
            }
        }
    }

    /// Reads a package.
    pub async fn package(
        &self,
        tenant: TenantId,
        id: PackageId,
    ) -> Result<DeploymentPackage, DirectoryError> {
        let sc = scope(tenant)?;
        Ok(
            read_known(&*self.store, &sc, &keys::package(id), PackageId::KIND, id)
                .await?
                .value,
        )
    }

    /// Enrolls a device with an enrollment key. The device limit is a counter updated with
    /// compare-and-set, so concurrent enrollments never exceed it.
    pub async fn enroll_device(
        &self,
        key: &str,
        info: Enrollment,
    ) -> Result<Device, DirectoryError> {
        let idx: Option<Rec<KeyIndex>> = read(
            &*self.store,
            &Scope::global(),
            &keys::package_key(&hash_key(key)),
        )
        .await?;
        let Some(idx) = idx else {
            return Err(DirectoryError::EnrollmentRefused(
                EnrollmentRefusal::UnknownKey,
            ));
        };
        let KeyIndex { tenant, package } = idx.value;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?;
            let sc = scope(tenant)?;
            let Some(p) =
                read::<DeploymentPackage>(&*self.store, &sc, &keys::package(package)).await?
            else {
                return Err(DirectoryError::EnrollmentRefused(
                    EnrollmentRefusal::UnknownKey,
                ));
            };
            let count: Rec<u32> = read_known(
                &*self.store,
                &sc,
                &keys::package_count(package),
                PackageId::KIND,
                package,
            )
            .await?;
            let now = self.now();
            let arrival = check_enrollment(&p.value, now, count.value)?;
            let devices: Vec<Device> = read_all::<Device>(&*self.store, &sc, "device/")
                .await?
                .into_iter()
                .map(|(_, r)| r.value)
                .collect();
            check_quota(
                &t.value.quotas,
                &usage(&[], &devices),
                QuotaKind::Devices,
                1,
            )?;
            let device = Device {
                id: DeviceId::new_random(),
                tenant,
                hostname: info.hostname.clone(),
                alias: None,
                description: String::new(),
                os: info.os.clone(),
                agent_version: info.agent_version.clone(),
                logged_in_user: None,
                last_seen: None,
                enrollment: arrival_enrollment_state(arrival),
                package: Some(package),
                groups: p.value.target_group.into_iter().collect(),
                keys: info.keys,
                enrolled_at: now,
            };
            let mut tx = Tx::new(sc);
            tx.expect(keys::TENANT, Some(t.version));
            tx.expect(&keys::package(package), Some(p.version));
            tx.update(
                &keys::package_count(package),
                count.version,
                &(count.value + 1),
            )?;
            tx.create(&keys::device(device.id), &device)?;
            append(
                &mut tx,
                &t.value,
                now,
                &AuditActor::Device(device.id),
                AuditKind::Device,
                format!(
                    "device {:?} enrolled through package {:?} ({:?})",
                    device.hostname, p.value.name, device.enrollment
                ),
                Some(device.id),
            )?;
            tx.commit(&*self.store).await?;
            Ok(device)
        })
        .await
    }

    /// Revokes a package: `confirmation` must be the literal `revoke`. New enrollments stop and
    /// every device enrolled through it becomes Revoked (listed, not reachable).
    pub async fn revoke_package(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: PackageId,
        confirmation: &str,
    ) -> Result<Vec<DeviceId>, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        // 002/004: "Type 'revoke' to confirm" (checked before any read).
        check_revoke_confirmation(confirmation)?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let p: Rec<DeploymentPackage> =
                read_known(&*self.store, &sc, &keys::package(id), PackageId::KIND, id).await?;
            let now = self.now();
            let all = read_all::<Device>(&*self.store, &sc, "device/").await?;
            let mut devices: Vec<Device> = all.iter().map(|(_, r)| r.value.clone()).collect();
            let mut p2 = p.value.clone();
            let revoked = revoke(&mut p2, &mut devices, confirmation, now)?;
            let mut tx = Tx::new(sc.clone());
            tx.update(&keys::package(id), p.version, &p2)?;
            for ((k, old), new) in all.iter().zip(&devices) {
                if old.value != *new {
                    tx.update(k, old.version, new)?;
                }
            }
            append(
                &mut tx,
                &t,
                now,
                &actor.audit,
                AuditKind::Package,
                format!(
                    "deployment package {:?} revoked; {} device(s) revoked",
                    p.value.name,
                    revoked.len()
                ),
                None,
            )?;
            tx.commit(&*self.store).await?;
            Ok(revoked)
        })
        .await
    }

    /// Removes a package: "You can only remove deployment packages that have no devices
    /// associated or which are revoked."
    pub async fn remove_package(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: PackageId,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let p: Rec<DeploymentPackage> =
                read_known(&*self.store, &sc, &keys::package(id), PackageId::KIND, id).await?;
            let count: Option<Rec<u32>> = read(&*self.store, &sc, &keys::package_count(id)).await?;
            let associated = read_all::<Device>(&*self.store, &sc, "device/")
                .await?
                .iter()
                .filter(|(_, d)| d.value.package == Some(id))
                .count();
            check_package_removal(&p.value, associated)?;
            let mut tx = Tx::new(sc);
            tx.remove(&keys::package(id), p.version);
            tx.delete(&keys::name("package", &p.value.name));
            if let Some(c) = count {
                tx.remove(&keys::package_count(id), c.version);
            }
            append(
                &mut tx,
                &t,
                self.now(),
                &actor.audit,
                AuditKind::Package,
                format!("deployment package {:?} removed", p.value.name),
                None,
            )?;
            tx.commit(&*self.store).await?;
            self.store
                .delete(&Scope::global(), &keys::package_key(&p.value.key_hash))
                .await?;
            Ok(())
        })
        .await
    }
}
