//! Deployment packages and enrollment: create (the enrollment key is returned once; only its
//! SHA-256 is stored, with a global index to find the tenant), enroll by key (window, limit,
//! disabled and revoked checks; Pending or Enrolled arrival; target group), revoke (literal
//! `revoke`; every device of the package becomes Revoked), remove (only when it has no devices
//! or is revoked), and the package list (without key hashes).

use jiff::Timestamp;

use super::audit::append;
use super::codec::{Rec, Tx, duplicate_name, read, read_all, read_known};
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

/// A deployment package as shown to administrators: every field except the enrollment key's
/// hash (which never leaves the directory), plus how many devices it enrolled (the 004 list's
/// "Devices" column).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PackageSummary {
    /// Its id.
    pub id: PackageId,
    /// Name.
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
    pub arrival_state: ArrivalState,
    /// "Move to device group".
    pub target_group: Option<DeviceGroupId>,
    /// Whether a license key is set (the key itself is not shown in lists).
    pub has_license_key: bool,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Devices currently associated with it (any enrollment state, revoked included).
    pub devices: u32,
    /// Enrollments made with its key so far (what the device limit counts).
    pub enrollments: u32,
}

impl PackageSummary {
    fn of(p: &DeploymentPackage, devices: u32, enrollments: u32) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            description: p.description.clone(),
            valid_from: p.valid_from,
            valid_to: p.valid_to,
            device_limit: p.device_limit,
            enabled: p.enabled,
            arrival_state: p.arrival_state,
            target_group: p.target_group,
            has_license_key: p.license_key.is_some(),
            revoked_at: p.revoked_at,
            created_at: p.created_at,
            devices,
            enrollments,
        }
    }
}

/// Per-tenant enrollment sequence: every enrollment replaces it in the same batch that creates
/// the device (compare-and-set), so two concurrent enrollments of one tenant cannot both pass
/// the plan's device quota on the same count: the second one conflicts, re-reads the devices
/// and checks again. (Key shape kept here with its only user; `keys.rs` lists the rest.)
const ENROLLMENT_SEQUENCE: &str = "devseq";

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
            let rec: Rec<crate::model::DeviceGroup> = self.read_record(&sc, g).await?;
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
                Err(duplicate_name(PackageId::KIND, &name)(e))
            }
        }
    }

    /// Reads a package.
    pub async fn package(
        &self,
        tenant: TenantId,
        id: PackageId,
    ) -> Result<DeploymentPackage, DirectoryError> {
        self.get_record(tenant, id).await
    }

    /// Every deployment package of the tenant, by name, without key hashes (Account
    /// administrator or higher, 002/004 §4.2).
    pub async fn packages(
        &self,
        tenant: TenantId,
        actor: &Actor,
    ) -> Result<Vec<PackageSummary>, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        let sc = scope(tenant)?;
        let packages = self.read_records::<DeploymentPackage>(&sc).await?;
        let counts: std::collections::HashMap<String, u32> =
            read_all::<u32>(&*self.store, &sc, "pkgcount/")
                .await?
                .into_iter()
                .map(|(k, c)| (k, c.value))
                .collect();
        let mut per_package: std::collections::HashMap<PackageId, u32> =
            std::collections::HashMap::new();
        for (_, d) in self.read_records::<Device>(&sc).await? {
            if let Some(p) = d.value.package {
                *per_package.entry(p).or_default() += 1;
            }
        }
        let mut out: Vec<PackageSummary> = packages
            .iter()
            .map(|(_, p)| {
                let p = &p.value;
                let enrolled = counts.get(&keys::package_count(p.id)).copied().unwrap_or(0);
                let n = per_package.get(&p.id).copied().unwrap_or(0);
                PackageSummary::of(p, n, enrolled)
            })
            .collect();
        out.sort_by_key(|p| p.name.to_lowercase());
        Ok(out)
    }

    /// One deployment package without its key hash (Account administrator or higher).
    pub async fn package_summary(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: PackageId,
    ) -> Result<PackageSummary, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        let sc = scope(tenant)?;
        let p = self.package(tenant, id).await?;
        let enrolled = read::<u32>(&*self.store, &sc, &keys::package_count(id))
            .await?
            .map_or(0, |c| c.value);
        let n = self
            .read_records::<Device>(&sc)
            .await?
            .iter()
            .filter(|(_, d)| d.value.package == Some(id))
            .count();
        Ok(PackageSummary::of(
            &p,
            u32::try_from(n).unwrap_or(u32::MAX),
            enrolled,
        ))
    }

    /// Enrolls a device with an enrollment key. The package's device limit is a counter updated
    /// with compare-and-set, and a per-tenant enrollment sequence is replaced in the same batch,
    /// so concurrent enrollments never exceed the package limit nor the plan's device quota.
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
            // Read before the devices: a concurrent enrollment that commits after this read
            // makes our batch fail its precondition, so the quota is checked again.
            let seq: Option<Rec<u64>> = read(&*self.store, &sc, ENROLLMENT_SEQUENCE).await?;
            let devices: Vec<Device> = self
                .read_records::<Device>(&sc)
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
            tx.expect(ENROLLMENT_SEQUENCE, seq.as_ref().map(|r| r.version));
            tx.put(
                ENROLLMENT_SEQUENCE,
                &seq.map_or(1, |r| r.value.wrapping_add(1)),
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
            let p: Rec<DeploymentPackage> = self.read_record(&sc, id).await?;
            let now = self.now();
            let all = self.read_records::<Device>(&sc).await?;
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
            let p: Rec<DeploymentPackage> = self.read_record(&sc, id).await?;
            let count: Option<Rec<u32>> = read(&*self.store, &sc, &keys::package_count(id)).await?;
            let associated = self
                .read_records::<Device>(&sc)
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
            let what = format!("deployment package {:?} removed", p.value.name);
            self.commit_audited(tx, &t, actor, AuditKind::Package, what)
                .await?;
            self.store
                .delete(&Scope::global(), &keys::package_key(&p.value.key_hash))
                .await?;
            Ok(())
        })
        .await
    }
}
