//! Effective permissions straight from the model: the reference evaluator and the
//! "Check permissions" query (002/004 §5.4).
//!
//! An assignment applies to (user, device, instant) when all of these hold:
//! - the assignment is active, and its role exists, is enabled and has the assignment's purpose
//!   needs (device access for devices, OnDemand for OnDemand, administration for sections);
//! - its schedule, if any, is active at the instant (zone: the schedule's, else the tenant's);
//! - one of its user groups is active and holds the user (`Everyone` holds every member);
//! - for device access, one of its device groups is active and holds the device (`Everything`
//!   holds every device of the tenant);
//! - for a whitelisting role, at least one of its applications is enabled (002/004: the
//!   assignment is auto-disabled when all its applications are disabled).
//!
//! Members that are not active (invited, disabled) get nothing, and neither do users or devices
//! of another tenant. Evaluation ignores a device's enrollment state: it is pure set logic.
//! Pending and revoked devices are refused earlier by the broker (`device_pending`,
//! `device_revoked`), and [`my_devices`] lists enrolled devices only.
//!
//! This module allocates and is linear in the model; hot paths use `snapshot::PolicySnapshot`,
//! which must give the same answers (a property test checks it).

use crate::model::{
    Application, ApplicationId, AssignmentId, Device, DeviceGroup, DeviceId, EnrollmentState,
    Membership, Permission, Role, RoleAssignment, RolePurpose, Tenant, UserGroup, UserGroupId,
    UserId,
};
use crate::rules::access::{Access, Overlay};
use crate::rules::schedule::{CompiledSchedule, resolve_time_zone};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::collections::BTreeSet;

/// A borrowed view of one tenant's model: everything evaluation needs.
#[derive(Clone, Copy, Debug)]
pub struct PolicyInput<'a> {
    /// The tenant (its zone is the schedules' default; its version tags snapshots).
    pub tenant: &'a Tenant,
    /// Its memberships.
    pub memberships: &'a [Membership],
    /// Its user groups, the built-in `Everyone` included.
    pub user_groups: &'a [UserGroup],
    /// Its device groups, the built-in `Everything` included.
    pub device_groups: &'a [DeviceGroup],
    /// Its devices.
    pub devices: &'a [Device],
    /// Its roles.
    pub roles: &'a [Role],
    /// Its role assignments.
    pub assignments: &'a [RoleAssignment],
    /// Its whitelisted-application catalogue.
    pub applications: &'a [Application],
}

impl PolicyInput<'_> {
    /// The tenant's zone; an unknown name falls back to UTC (zones are validated on save).
    pub fn tenant_time_zone(&self) -> TimeZone {
        resolve_time_zone(&self.tenant.timezone).unwrap_or(TimeZone::UTC)
    }
}

/// An owned tenant model, for callers that load everything at once (the service, tests,
/// benchmarks); [`TenantModel::input`] borrows it as a [`PolicyInput`].
#[derive(Clone, Debug, PartialEq)]
pub struct TenantModel {
    /// The tenant.
    pub tenant: Tenant,
    /// Its memberships.
    pub memberships: Vec<Membership>,
    /// Its user groups, `Everyone` included.
    pub user_groups: Vec<UserGroup>,
    /// Its device groups, `Everything` included.
    pub device_groups: Vec<DeviceGroup>,
    /// Its devices.
    pub devices: Vec<Device>,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Its role assignments.
    pub assignments: Vec<RoleAssignment>,
    /// Its application catalogue.
    pub applications: Vec<Application>,
}

impl TenantModel {
    /// Borrows the model for evaluation.
    pub fn input(&self) -> PolicyInput<'_> {
        PolicyInput {
            tenant: &self.tenant,
            memberships: &self.memberships,
            user_groups: &self.user_groups,
            device_groups: &self.device_groups,
            devices: &self.devices,
            roles: &self.roles,
            assignments: &self.assignments,
            applications: &self.applications,
        }
    }
}

/// Why an assignment that involves the user and the device does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotApplying {
    /// The assignment is not active.
    AssignmentInactive,
    /// Its role no longer exists.
    RoleMissing,
    /// Its role is disabled.
    RoleDisabled,
    /// Its role has another purpose than the one asked.
    OtherPurpose,
    /// Its schedule is not active at the instant ("Not active, due to schedule").
    OutsideSchedule,
    /// Every user group of it holding the user is inactive.
    UserGroupInactive,
    /// Every device group of it holding the device is inactive.
    DeviceGroupInactive,
    /// All applications of its whitelisting role are disabled.
    ApplicationsDisabled,
    /// The member is invited or disabled.
    MemberNotActive,
}

/// One row of the "Check permissions" overview: an assignment involving both the user's groups
/// and the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvolvedAssignment {
    /// The assignment.
    pub id: AssignmentId,
    /// Its name.
    pub name: String,
    /// `None` if it applies, else why not.
    pub not_applying: Option<NotApplying>,
}

/// The answer of "Check permissions" for (user, device, instant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionCheck {
    /// The combined access.
    pub access: Access,
    /// Each permission with Yes/No, in [`Permission::ALL`] order.
    pub granted: Vec<(Permission, bool)>,
    /// Every assignment that involves the user's groups (and the device's, for device access),
    /// applying or not.
    pub involved: Vec<InvolvedAssignment>,
    /// Groups whose members are emailed for confirm-access approval (union).
    pub email_approver_groups: Vec<UserGroupId>,
    /// Enabled whitelisted applications of the applying assignments (union).
    pub whitelisted_applications: Vec<ApplicationId>,
}

impl PermissionCheck {
    /// The ids of the applying assignments.
    pub fn contributing(&self) -> impl Iterator<Item = AssignmentId> + '_ {
        self.involved
            .iter()
            .filter(|i| i.not_applying.is_none())
            .map(|i| i.id)
    }
}

/// What a query is about: a device, or a purpose that names no device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Device access on this device.
    Device(&'a Device),
    /// OnDemand sessions (no device).
    OnDemand,
    /// Administration sections (no device).
    Administration,
}

impl Target<'_> {
    fn purpose(&self) -> RolePurpose {
        match self {
            Self::Device(_) => RolePurpose::DeviceAccess,
            Self::OnDemand => RolePurpose::OnDemand,
            Self::Administration => RolePurpose::Administration,
        }
    }
}

/// Whether a whitelisting role still has an enabled application.
pub(crate) fn whitelist_usable(role: &Role, apps: &[Application]) -> bool {
    match &role.whitelist {
        None => true,
        Some(w) => w
            .applications
            .iter()
            .any(|id| apps.iter().any(|a| a.id == *id && a.enabled)),
    }
}

/// Checks one assignment for `member` and `target`; `None` when it does not involve them at all.
fn assess(
    input: &PolicyInput<'_>,
    tz: &TimeZone,
    a: &RoleAssignment,
    member: &Membership,
    target: Target<'_>,
    at: Timestamp,
) -> Option<Result<Overlay, NotApplying>> {
    let role = input.roles.iter().find(|r| r.id == a.role);
    if let Some(r) = role
        && r.purpose != target.purpose()
    {
        return None;
    }
    // Involvement: a user group holding the user, and for devices a device group holding it.
    let user_groups: Vec<&UserGroup> = a
        .user_groups
        .iter()
        .filter_map(|g| input.user_groups.iter().find(|x| x.id == *g))
        .filter(|g| g.is_everyone() || member.groups.contains(&g.id))
        .collect();
    if user_groups.is_empty() {
        return None;
    }
    let device_groups: Vec<&DeviceGroup> = match target {
        Target::Device(d) => {
            let v: Vec<&DeviceGroup> = a
                .device_groups
                .iter()
                .filter_map(|g| input.device_groups.iter().find(|x| x.id == *g))
                .filter(|g| g.everything || d.groups.contains(&g.id))
                .collect();
            if v.is_empty() {
                return None;
            }
            v
        }
        _ => Vec::new(),
    };
    Some((|| {
        if !member.state.is_active() {
            return Err(NotApplying::MemberNotActive);
        }
        if !a.active {
            return Err(NotApplying::AssignmentInactive);
        }
        let role = role.ok_or(NotApplying::RoleMissing)?;
        if !role.enabled {
            return Err(NotApplying::RoleDisabled);
        }
        if !user_groups.iter().any(|g| g.active) {
            return Err(NotApplying::UserGroupInactive);
        }
        if matches!(target, Target::Device(_)) && !device_groups.iter().any(|g| g.active) {
            return Err(NotApplying::DeviceGroupInactive);
        }
        if !whitelist_usable(role, input.applications) {
            return Err(NotApplying::ApplicationsDisabled);
        }
        if let Some(s) = &a.schedule {
            let active = CompiledSchedule::compile(s, tz).is_ok_and(|c| c.is_active_at(at));
            if !active {
                return Err(NotApplying::OutsideSchedule);
            }
        }
        Ok(Overlay::of_role(role))
    })())
}

/// The instant of a "Check permissions" query given as date, time and IANA zone (002/004
/// §5.4: "User, Device, Date, Time, Timezone"). A local time skipped by a DST change resolves
/// to the instant after the gap; a repeated one to its first occurrence (jiff's "compatible"
/// rule).
pub fn instant_of(
    date: jiff::civil::Date,
    time: jiff::civil::Time,
    zone: &str,
) -> Result<Timestamp, crate::DirectoryError> {
    let tz = resolve_time_zone(zone)?;
    tz.to_timestamp(date.to_datetime(time))
        .map_err(|_| crate::DirectoryError::InvalidSchedule("that local time cannot be resolved"))
}

/// "Check permissions": the access of `user` for `target` at `at`, each permission Yes/No and
/// the assignments involved, with why each does or does not apply.
pub fn check(
    input: &PolicyInput<'_>,
    user: UserId,
    target: Target<'_>,
    at: Timestamp,
) -> PermissionCheck {
    let mut out = PermissionCheck {
        access: Access::default(),
        granted: Vec::new(),
        involved: Vec::new(),
        email_approver_groups: Vec::new(),
        whitelisted_applications: Vec::new(),
    };
    let member = input
        .memberships
        .iter()
        .find(|m| m.user == user && m.tenant == input.tenant.id);
    let device_ok = match target {
        Target::Device(d) => d.tenant == input.tenant.id,
        _ => true,
    };
    if let (Some(member), true) = (member, device_ok) {
        let tz = input.tenant_time_zone();
        let mut approvers = BTreeSet::new();
        let mut apps = BTreeSet::new();
        for a in input.assignments {
            let Some(result) = assess(input, &tz, a, member, target, at) else {
                continue;
            };
            if let Ok(overlay) = &result {
                out.access.merge(overlay);
                if let Some(role) = input.roles.iter().find(|r| r.id == a.role) {
                    if role.confirm.email {
                        approvers.extend(role.confirm.email_approver_groups.iter().copied());
                    }
                    if let Some(w) = &role.whitelist {
                        apps.extend(w.applications.iter().copied().filter(|id| {
                            input.applications.iter().any(|x| x.id == *id && x.enabled)
                        }));
                    }
                }
            }
            out.involved.push(InvolvedAssignment {
                id: a.id,
                name: a.name.clone(),
                not_applying: result.err(),
            });
        }
        out.email_approver_groups = approvers.into_iter().collect();
        out.whitelisted_applications = apps.into_iter().collect();
    }
    out.granted = Permission::ALL
        .iter()
        .map(|p| (*p, out.access.allows(*p)))
        .collect();
    out
}

/// The access of `user` on `device` at `at` (the reference for `PolicySnapshot::evaluate`).
pub fn evaluate(input: &PolicyInput<'_>, user: UserId, device: &Device, at: Timestamp) -> Access {
    check(input, user, Target::Device(device), at).access
}

/// "My devices": the enrolled devices on which `user` has a non-empty access at `at`.
pub fn my_devices(input: &PolicyInput<'_>, user: UserId, at: Timestamp) -> Vec<DeviceId> {
    input
        .devices
        .iter()
        .filter(|d| d.enrollment == EnrollmentState::Enrolled)
        .filter(|d| !evaluate(input, user, d, at).is_empty())
        .map(|d| d.id)
        .collect()
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
