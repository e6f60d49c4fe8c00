//! `PolicySnapshot`: a tenant's policy compiled for fast, allocation-free evaluation.
//!
//! Built once from a [`PolicyInput`] (the tenant actor rebuilds it when the tenant's version
//! changes), immutable afterwards, `Send + Sync`. Compilation keeps only assignments that can
//! ever apply (active, role present, enabled and of the right purpose, a usable whitelist, a
//! valid schedule, an active group on each side) and numbers them. Then:
//!
//! - per member: a bitset of the assignments reachable through an active user group holding
//!   the member (`Everyone` holds every active member); inactive members have an empty set;
//! - per device: a bitset of the device-access assignments reachable through an active device
//!   group holding the device (`Everything` holds every device);
//! - per assignment: its role's [`Overlay`] and, if scheduled, a [`CompiledSchedule`] (zone
//!   resolved once).
//!
//! `evaluate(user, device, at)` ANDs two bitsets and, for each set bit, checks the schedule (if
//! any) and merges the overlay: two hash lookups, a few word operations, no allocation. Nothing
//! time-dependent is cached: schedules are evaluated at the instant given. The answers equal
//! those of `evaluate::check` (a property test holds them together).

use crate::model::{
    ApplicationId, AssignmentId, DeviceGroup, DeviceGroupId, DeviceId, EnrollmentState,
    RolePurpose, TenantId, UserGroup, UserGroupId, UserId,
};
use crate::rules::access::{Access, Overlay};
use crate::rules::evaluate::{PolicyInput, whitelist_usable};
use crate::rules::schedule::CompiledSchedule;
use crate::rules::zone::ZoneCache;
use jiff::Timestamp;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for random 16-byte ids: folds the bytes with a multiply (ids are v4 UUIDs made by
/// the server, so their bits are already uniform; no DoS concern).
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_usize(&mut self, _len: usize) {
        // Slice length prefixes carry no information for fixed-size ids.
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<K> = HashMap<K, u32, BuildHasherDefault<IdHasher>>;

/// Dense index of a member in a snapshot (resolve once with [`PolicySnapshot::user_index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserIx(u32);

/// Dense index of a device in a snapshot (resolve once with
/// [`PolicySnapshot::device_index`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeviceIx(u32);

#[derive(Debug)]
struct CompiledAssignment {
    id: AssignmentId,
    overlay: Overlay,
    schedule: Option<CompiledSchedule>,
    approver_groups: Vec<UserGroupId>,
    applications: Vec<ApplicationId>,
}

/// Restrictive-overlay details of a session, resolved once at session start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionOverlays {
    /// Groups whose members are emailed for confirm-access approval.
    pub email_approver_groups: Vec<UserGroupId>,
    /// Enabled whitelisted applications.
    pub whitelisted_applications: Vec<ApplicationId>,
}

/// A tenant's compiled policy. See the module documentation.
#[derive(Debug)]
pub struct PolicySnapshot {
    tenant: TenantId,
    version: u64,
    words: usize,
    users: IdMap<UserId>,
    devices: IdMap<DeviceId>,
    device_ids: Vec<DeviceId>,
    device_states: Vec<EnrollmentState>,
    user_masks: Vec<u64>,
    device_masks: Vec<u64>,
    ondemand_mask: Vec<u64>,
    admin_mask: Vec<u64>,
    /// Assignments whose role grants at least one permission.
    granting_mask: Vec<u64>,
    assignments: Vec<CompiledAssignment>,
}

fn set_bit(words: &mut [u64], bit: usize) {
    if let Some(w) = words.get_mut(bit / 64) {
        *w |= 1u64 << (bit % 64);
    }
}

fn or_into(dst: &mut [u64], src: &[u64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d |= *s;
    }
}

impl PolicySnapshot {
    /// Compiles the policy of `input`.
    pub fn build(input: &PolicyInput<'_>) -> Self {
        let tenant = input.tenant.id;
        let tz = input.tenant_time_zone();
        let ug_list: Vec<&UserGroup> = input
            .user_groups
            .iter()
            .filter(|g| g.tenant == tenant)
            .collect();
        let dg_list: Vec<&DeviceGroup> = input
            .device_groups
            .iter()
            .filter(|g| g.tenant == tenant)
            .collect();
        let user_group_ix: HashMap<UserGroupId, usize> =
            ug_list.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
        let device_group_ix: HashMap<DeviceGroupId, usize> =
            dg_list.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
        let user_group =
            |id: &UserGroupId| user_group_ix.get(id).and_then(|i| ug_list.get(*i).copied());
        let device_group = |id: &DeviceGroupId| {
            device_group_ix
                .get(id)
                .and_then(|i| dg_list.get(*i).copied())
        };

        // 1. Keep and number the assignments that can ever apply.
        struct Kept<'m> {
            compiled: CompiledAssignment,
            purpose: RolePurpose,
            user_groups: Vec<&'m UserGroupId>,
            device_groups: Vec<&'m DeviceGroupId>,
        }
        let roles: HashMap<_, _> = input
            .roles
            .iter()
            .filter(|r| r.tenant == tenant)
            .map(|r| (r.id, r))
            .collect();
        let mut kept: Vec<Kept<'_>> = Vec::new();
        let mut zones = ZoneCache::default();
        for a in input
            .assignments
            .iter()
            .filter(|a| a.tenant == tenant && a.active)
        {
            let Some(role) = roles.get(&a.role) else {
                continue;
            };
            if !role.enabled || !whitelist_usable(role, input.applications) {
                continue;
            }
            let schedule = match &a.schedule {
                None => None,
                Some(s) => match CompiledSchedule::compile_cached(
                    s,
                    &input.tenant.timezone,
                    &tz,
                    &mut zones,
                ) {
                    Ok(c) => Some(c),
                    Err(_) => continue, // fail closed, as `Schedule::is_active_at` does
                },
            };
            let ugs: Vec<&UserGroupId> = a
                .user_groups
                .iter()
                .filter(|g| user_group(g).is_some_and(|g| g.active))
                .collect();
            let dgs: Vec<&DeviceGroupId> = a
                .device_groups
                .iter()
                .filter(|g| device_group(g).is_some_and(|g| g.active))
                .collect();
            if ugs.is_empty() || (role.purpose == RolePurpose::DeviceAccess && dgs.is_empty()) {
                continue;
            }
            let mut apps = Vec::new();
            if let Some(w) = &role.whitelist {
                apps = w
                    .applications
                    .iter()
                    .copied()
                    .filter(|id| input.applications.iter().any(|x| x.id == *id && x.enabled))
                    .collect();
            }
            kept.push(Kept {
                compiled: CompiledAssignment {
                    id: a.id,
                    overlay: Overlay::of_role(role),
                    schedule,
                    approver_groups: if role.confirm.email {
                        role.confirm.email_approver_groups.clone()
                    } else {
                        Vec::new()
                    },
                    applications: apps,
                },
                purpose: role.purpose,
                user_groups: ugs,
                device_groups: dgs,
            });
        }
        let words = kept.len().div_ceil(64).max(1);

        // 2. Per group: the assignments reachable through it.
        let mut ug_masks = vec![0u64; user_group_ix.len() * words];
        let mut dg_masks = vec![0u64; device_group_ix.len() * words];
        let mut everyone = vec![0u64; words];
        let mut everything = vec![0u64; words];
        let mut ondemand_mask = vec![0u64; words];
        let mut admin_mask = vec![0u64; words];
        let mut granting_mask = vec![0u64; words];
        for (i, k) in kept.iter().enumerate() {
            match k.purpose {
                RolePurpose::OnDemand => set_bit(&mut ondemand_mask, i),
                RolePurpose::Administration => set_bit(&mut admin_mask, i),
                RolePurpose::DeviceAccess => {}
            }
            if !k.compiled.overlay.permissions.is_empty() {
                set_bit(&mut granting_mask, i);
            }
            for g in &k.user_groups {
                let Some(&gi) = user_group_ix.get(*g) else {
                    continue;
                };
                if user_group(g).is_some_and(|g| g.is_everyone()) {
                    set_bit(&mut everyone, i);
                } else {
                    set_bit(&mut ug_masks[gi * words..(gi + 1) * words], i);
                }
            }
            if k.purpose == RolePurpose::DeviceAccess {
                for g in &k.device_groups {
                    let Some(&gi) = device_group_ix.get(*g) else {
                        continue;
                    };
                    if device_group(g).is_some_and(|g| g.everything) {
                        set_bit(&mut everything, i);
                    } else {
                        set_bit(&mut dg_masks[gi * words..(gi + 1) * words], i);
                    }
                }
            }
        }

        // 3. Per member and per device: the union over its groups.
        let mut users = IdMap::default();
        let mut user_masks = Vec::with_capacity(input.memberships.len() * words);
        for m in input.memberships.iter().filter(|m| m.tenant == tenant) {
            let start = user_masks.len();
            user_masks.resize(start + words, 0);
            if m.state.is_active() {
                let mask = &mut user_masks[start..start + words];
                or_into(mask, &everyone);
                for g in &m.groups {
                    if let Some(&gi) = user_group_ix.get(g) {
                        or_into(mask, &ug_masks[gi * words..(gi + 1) * words]);
                    }
                }
            }
            let ix = u32::try_from(users.len()).unwrap_or(u32::MAX);
            users.insert(m.user, ix);
        }
        let mut devices = IdMap::default();
        let mut device_ids = Vec::with_capacity(input.devices.len());
        let mut device_states = Vec::with_capacity(input.devices.len());
        let mut device_masks = Vec::with_capacity(input.devices.len() * words);
        for d in input.devices.iter().filter(|d| d.tenant == tenant) {
            let start = device_masks.len();
            device_masks.resize(start + words, 0);
            let mask = &mut device_masks[start..start + words];
            or_into(mask, &everything);
            for g in &d.groups {
                if let Some(&gi) = device_group_ix.get(g) {
                    or_into(mask, &dg_masks[gi * words..(gi + 1) * words]);
                }
            }
            let ix = u32::try_from(devices.len()).unwrap_or(u32::MAX);
            devices.insert(d.id, ix);
            device_ids.push(d.id);
            device_states.push(d.enrollment);
        }
        Self {
            tenant,
            version: input.tenant.version,
            words,
            users,
            devices,
            device_ids,
            device_states,
            user_masks,
            device_masks,
            ondemand_mask,
            admin_mask,
            granting_mask,
            assignments: kept.into_iter().map(|k| k.compiled).collect(),
        }
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The tenant version the snapshot was built from.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Number of assignments that can ever apply.
    pub fn assignment_count(&self) -> usize {
        self.assignments.len()
    }

    /// The dense index of a member of the tenant.
    pub fn user_index(&self, user: &UserId) -> Option<UserIx> {
        self.users.get(user).map(|i| UserIx(*i))
    }

    /// The dense index of a device of the tenant.
    pub fn device_index(&self, device: &DeviceId) -> Option<DeviceIx> {
        self.devices.get(device).map(|i| DeviceIx(*i))
    }

    /// The enrollment state of a device known to the snapshot.
    pub fn device_state(&self, device: &DeviceId) -> Option<EnrollmentState> {
        let ix = self.device_index(device)?;
        self.device_states.get(ix.0 as usize).copied()
    }

    fn user_mask(&self, u: UserIx) -> &[u64] {
        let s = u.0 as usize * self.words;
        self.user_masks.get(s..s + self.words).unwrap_or(&[])
    }

    fn device_mask(&self, d: DeviceIx) -> &[u64] {
        let s = d.0 as usize * self.words;
        self.device_masks.get(s..s + self.words).unwrap_or(&[])
    }

    fn applies(&self, i: usize, at: Timestamp) -> Option<&CompiledAssignment> {
        let a = self.assignments.get(i)?;
        match &a.schedule {
            Some(s) if !s.is_active_at(at) => None,
            _ => Some(a),
        }
    }

    /// Calls `f` for each assignment index set in `a & b` that applies at `at`.
    fn for_each_applying(
        &self,
        a: &[u64],
        b: &[u64],
        at: Timestamp,
        mut f: impl FnMut(&CompiledAssignment),
    ) {
        for (w, (x, y)) in a.iter().zip(b).enumerate() {
            let mut m = x & y;
            while m != 0 {
                let bit = m.trailing_zeros() as usize;
                m &= m - 1;
                if let Some(c) = self.applies(w * 64 + bit, at) {
                    f(c);
                }
            }
        }
    }

    /// The access of a member on a device at `at`, by dense indices. Allocation-free.
    pub fn evaluate_ix(&self, user: UserIx, device: DeviceIx, at: Timestamp) -> Access {
        let mut acc = Access::default();
        self.for_each_applying(self.user_mask(user), self.device_mask(device), at, |c| {
            acc.merge(&c.overlay)
        });
        acc
    }

    /// The access of `user` on `device` at `at`: empty when either is unknown to the tenant.
    /// Allocation-free. Ignores the device's enrollment state (see `evaluate`'s module docs).
    pub fn evaluate(&self, user: &UserId, device: &DeviceId, at: Timestamp) -> Access {
        match (self.user_index(user), self.device_index(device)) {
            (Some(u), Some(d)) => self.evaluate_ix(u, d, at),
            _ => Access::default(),
        }
    }

    fn evaluate_purpose(&self, user: &UserId, purpose_mask: &[u64], at: Timestamp) -> Access {
        let mut acc = Access::default();
        if let Some(u) = self.user_index(user) {
            self.for_each_applying(self.user_mask(u), purpose_mask, at, |c| {
                acc.merge(&c.overlay)
            });
        }
        acc
    }

    /// The OnDemand access of `user` at `at` (no device involved).
    pub fn evaluate_ondemand(&self, user: &UserId, at: Timestamp) -> Access {
        self.evaluate_purpose(user, &self.ondemand_mask, at)
    }

    /// The administration-section access of `user` at `at`.
    pub fn evaluate_administration(&self, user: &UserId, at: Timestamp) -> Access {
        self.evaluate_purpose(user, &self.admin_mask, at)
    }

    /// The ids of the assignments that apply to (user, device) at `at`.
    pub fn contributing(
        &self,
        user: &UserId,
        device: &DeviceId,
        at: Timestamp,
    ) -> Vec<AssignmentId> {
        let mut out = Vec::new();
        if let (Some(u), Some(d)) = (self.user_index(user), self.device_index(device)) {
            self.for_each_applying(self.user_mask(u), self.device_mask(d), at, |c| {
                out.push(c.id)
            });
        }
        out
    }

    /// Approver groups and whitelisted applications for a session of (user, device) at `at`.
    pub fn session_overlays(
        &self,
        user: &UserId,
        device: &DeviceId,
        at: Timestamp,
    ) -> SessionOverlays {
        let mut approvers = BTreeSet::new();
        let mut apps = BTreeSet::new();
        if let (Some(u), Some(d)) = (self.user_index(user), self.device_index(device)) {
            self.for_each_applying(self.user_mask(u), self.device_mask(d), at, |c| {
                approvers.extend(c.approver_groups.iter().copied());
                apps.extend(c.applications.iter().copied());
            });
        }
        SessionOverlays {
            email_approver_groups: approvers.into_iter().collect(),
            whitelisted_applications: apps.into_iter().collect(),
        }
    }

    /// "My devices": the enrolled devices on which `user` has a non-empty access at `at`.
    /// Schedules are evaluated once per assignment, then each device costs a few word ANDs.
    pub fn my_devices(&self, user: &UserId, at: Timestamp) -> Vec<DeviceId> {
        let Some(u) = self.user_index(user) else {
            return Vec::new();
        };
        let mut live = vec![0u64; self.words];
        for (w, (x, g)) in self
            .user_mask(u)
            .iter()
            .zip(&self.granting_mask)
            .enumerate()
        {
            let mut m = x & g;
            while m != 0 {
                let bit = m.trailing_zeros() as usize;
                m &= m - 1;
                if self.applies(w * 64 + bit, at).is_some() {
                    set_bit(&mut live, w * 64 + bit);
                }
            }
        }
        let mut out = Vec::new();
        for (i, id) in self.device_ids.iter().enumerate() {
            if self.device_states.get(i) != Some(&EnrollmentState::Enrolled) {
                continue;
            }
            let s = i * self.words;
            let Some(mask) = self.device_masks.get(s..s + self.words) else {
                continue;
            };
            if mask.iter().zip(&live).any(|(d, l)| d & l != 0) {
                out.push(*id);
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
