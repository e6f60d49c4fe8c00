//! Deployment packages and enrollment: create (the enrollment key is returned once; only its
//! SHA-256 is stored, with a global index to find the tenant), enroll by key (window, limit,
//! disabled and revoked checks; Pending or Enrolled arrival; target group), revoke (literal
//! `revoke`; every device of the package becomes Revoked), remove (only when it has no devices
//! or is revoked).

use jiff::Timestamp;
use sha2::{Digest, Sha256};

use super::audit::append;
use super::codec::{Rec, Tx, read, read_all, read_known};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::{DirectoryError, EnrollmentRefusal, QuotaKind};
use crate::model::{
    ArrivalState, AuditActor, AuditKind, DeploymentPackage, Device, DeviceGroupId, DeviceId,
    DeviceKeys, EnrollmentState, PackageId, TenantId,
};
use crate::rules::tenant::{check_quota, usage};
use crate::store::Scope;

/// Characters of an enrollment key (32, like the 004 screenshot's masked key).
const KEY_LEN: usize = 32;
const KEY_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

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

/// SHA-256 of an enrollment key.
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.trim().as_bytes()).into()
}

fn new_key() -> Result<String, DirectoryError> {
    let mut raw = [0u8; KEY_LEN];
    getrandom::fill(&mut raw).map_err(|e| DirectoryError::Random(e.to_string()))?;
    let n = KEY_ALPHABET.len();
    Ok(raw
        .iter()
        .map(|b| char::from(KEY_ALPHABET.get(usize::from(*b) % n).copied().unwrap_or(b'A')))
        .collect())
}

/// 002/004 §4.2: refused before "valid from", after "valid to", beyond the device count, while
/// disabled, once revoked.
fn check_enrollment(
    p: &DeploymentPackage,
    enrolled: u32,
    now: Timestamp,
) -> Result<(), EnrollmentRefusal> {
    if p.revoked_at.is_some() {
        return Err(EnrollmentRefusal::Revoked);
    }
    if !p.enabled {
        return Err(EnrollmentRefusal::Disabled);
    }
    if p.valid_from.is_some_and(|f| now < f) {
        return Err(EnrollmentRefusal::NotYetValid);
    }
    if p.valid_to.is_some_and(|t| now >= t) {
        return Err(EnrollmentRefusal::Expired);
    }
    if p.device_limit.is_some_and(|l| enrolled >= l) {
        return Err(EnrollmentRefusal::DeviceLimitReached);
    }
    Ok(())
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
        let name = new.name.trim().to_owned();
        if name.is_empty() {
            return Err(DirectoryError::NotAllowed("a deployment package needs a name"));
        }
        if let (Some(f), Some(t)) = (new.valid_from, new.valid_to)
            && f >= t
        {
            return Err(DirectoryError::NotAllowed("valid from must be before valid to"));
        }
        let t = self.tenant_rec(tenant).await?.value;
        let sc = scope(tenant)?;
        let mut tx = Tx::new(sc.clone());
        if let Some(g) = new.target_group {
            let rec: Rec<crate::model::DeviceGroup> =
                read_known(&*self.store, &sc, &keys::dgroup(g), DeviceGroupId::KIND, g).await?;
            tx.expect(&keys::dgroup(g), Some(rec.version));
        }
        if read::<PackageId>(&*self.store, &sc, &keys::name("package", &name)).await?.is_some() {
            return Err(DirectoryError::DuplicateName { kind: PackageId::KIND, name });
        }
        let key = new_key()?;
        let now = self.now();
        let p = DeploymentPackage {
            id: PackageId::new_random(),
            tenant,
            name: name.clone(),
            description: new.description,
            key_hash: key_hash(&key),
            valid_from: new.valid_from,
            valid_to: new.valid_to,
            device_limit: new.device_limit,
            enabled: new.enabled,
            arrival_state: if new.pending { ArrivalState::Pending } else { ArrivalState::Enrolled },
            target_group: new.target_group,
            license_key: None,
            revoked_at: None,
            created_at: now,
        };
        // Global index first (an orphan index entry only ever points at a missing package).
        let mut g = Tx::new(Scope::global());
        g.create(&keys::package_key(&p.key_hash), &KeyIndex { tenant, package: p.id })?;
        g.commit(&*self.store).await?;
        tx.create(&keys::name("package", &name), &p.id)?;
        tx.create(&keys::package(p.id), &p)?;
        tx.create(&keys::package_count(p.id), &0u32)?;
        append(&mut tx, &t, now, &actor.audit, AuditKind::Package,
            format!("deployment package {name:?} created"), None)?;
        match tx.commit(&*self.store).await {
            Ok(_) => Ok((p, key)),
            Err(e) => {
                let _ = self.store.delete(&Scope::global(), &keys::package_key(&p.key_hash)).await;
                Err(match e {
                    DirectoryError::Conflict { ref key, .. } if key.starts_with("name/") => {
                        DirectoryError::DuplicateName { kind: PackageId::KIND, name }
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
        Ok(read_known(&*self.store, &sc, &keys::package(id), PackageId::KIND, id).await?.value)
    }

    /// Enrolls a device with an enrollment key. The device limit is a counter updated with
    /// compare-and-set, so concurrent enrollments never exceed it.
    pub async fn enroll_device(&self, key: &str, info: Enrollment) -> Result<Device, DirectoryError> {
        let idx: Option<Rec<KeyIndex>> =
            read(&*self.store, &Scope::global(), &keys::package_key(&key_hash(key))).await?;
        let Some(idx) = idx else {
            return Err(DirectoryError::EnrollmentRefused(EnrollmentRefusal::UnknownKey));
        };
        let KeyIndex { tenant, package } = idx.value;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?;
            let sc = scope(tenant)?;
            let Some(p) = read::<DeploymentPackage>(&*self.store, &sc, &keys::package(package)).await? else {
                return Err(DirectoryError::EnrollmentRefused(EnrollmentRefusal::UnknownKey));
            };
            let count: Rec<u32> = read_known(&*self.store, &sc, &keys::package_count(package), PackageId::KIND, package).await?;
            let now = self.now();
            check_enrollment(&p.value, count.value, now).map_err(DirectoryError::EnrollmentRefused)?;
            let devices: Vec<Device> = read_all::<Device>(&*self.store, &sc, "device/").await?
                .into_iter().map(|(_, r)| r.value).collect();
            check_quota(&t.value.quotas, &usage(&[], &devices), QuotaKind::Devices, 1)?;
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
                enrollment: match p.value.arrival_state {
                    ArrivalState::Pending => EnrollmentState::Pending,
                    ArrivalState::Enrolled => EnrollmentState::Enrolled,
                },
                package: Some(package),
                groups: p.value.target_group.into_iter().collect(),
                keys: info.keys,
                enrolled_at: now,
            };
            let mut tx = Tx::new(sc);
            tx.expect(keys::TENANT, Some(t.version));
            tx.expect(&keys::package(package), Some(p.version));
            tx.update(&keys::package_count(package), count.version, &(count.value + 1))?;
            tx.create(&keys::device(device.id), &device)?;
            append(&mut tx, &t.value, now, &AuditActor::Device(device.id), AuditKind::Device,
                format!("device {:?} enrolled through package {:?} ({:?})", device.hostname, p.value.name, device.enrollment),
                Some(device.id))?;
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
        // 002/004: "Type 'revoke' to confirm".
        if confirmation != "revoke" {
            return Err(DirectoryError::RevokeConfirmationMismatch);
        }
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let p: Rec<DeploymentPackage> =
                read_known(&*self.store, &sc, &keys::package(id), PackageId::KIND, id).await?;
            let now = self.now();
            let mut p2 = p.value.clone();
            p2.revoked_at.get_or_insert(now);
            let mut tx = Tx::new(sc.clone());
            tx.update(&keys::package(id), p.version, &p2)?;
            let mut revoked = Vec::new();
            for (k, d) in read_all::<Device>(&*self.store, &sc, "device/").await? {
                if d.value.package == Some(id) && d.value.enrollment != EnrollmentState::Revoked {
                    let mut d2 = d.value.clone();
                    d2.enrollment = EnrollmentState::Revoked;
                    tx.update(&k, d.version, &d2)?;
                    revoked.push(d2.id);
                }
            }
            append(&mut tx, &t, now, &actor.audit, AuditKind::Package,
                format!("deployment package {:?} revoked; {} device(s) revoked", p.value.name, revoked.len()), None)?;
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
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let p: Rec<DeploymentPackage> =
                read_known(&*self.store, &sc, &keys::package(id), PackageId::KIND, id).await?;
            let count: Option<Rec<u32>> = read(&*self.store, &sc, &keys::package_count(id)).await?;
            let has_devices = read_all::<Device>(&*self.store, &sc, "device/")
                .await?
                .iter()
                .any(|(_, d)| d.value.package == Some(id));
            if has_devices && p.value.revoked_at.is_none() {
                return Err(DirectoryError::PackageHasDevices);
            }
            let mut tx = Tx::new(sc);
            tx.remove(&keys::package(id), p.version);
            tx.delete(&keys::name("package", &p.value.name));
            if let Some(c) = count {
                tx.remove(&keys::package_count(id), c.version);
            }
            append(&mut tx, &t, self.now(), &actor.audit, AuditKind::Package,
                format!("deployment package {:?} removed", p.value.name), None)?;
            tx.commit(&*self.store).await?;
            self.store.delete(&Scope::global(), &keys::package_key(&p.value.key_hash)).await?;
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_32_chars_and_differ() {
        let (a, b) = (new_key().unwrap(), new_key().unwrap());
        assert_eq!(a.len(), KEY_LEN);
        assert_ne!(a, b);
        assert_eq!(key_hash(&a), key_hash(&format!(" {a} ")));
    }
}
