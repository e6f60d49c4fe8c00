//! Tenant-level rules: creating a tenant with its built-ins, the MFA policy, plan quotas and
//! invitations.
//!
//! Pure functions; counting uses the slices the caller passes.

use crate::error::{DirectoryError, QuotaKind};
use crate::model::{
    Device, DeviceGroup, DeviceGroupId, EVERYONE, EVERYTHING, EnrollmentState, Membership,
    MembershipState, MfaPolicy, Quotas, RemoteControlAction, Role, Tenant, TenantId, UserGroup,
    UserGroupId, UserGroupKind, UserId, UserType,
};
use crate::rules::evaluate::TenantModel;
use crate::rules::roles::system_roles;
use crate::rules::schedule::resolve_time_zone;
use jiff::{SignedDuration, Timestamp};

/// Everything a new tenant starts with.
#[derive(Clone, Debug, PartialEq)]
pub struct NewTenant {
    /// The tenant (version 1, audit on, MFA disabled, product-default remote-control action).
    pub tenant: Tenant,
    /// The owner's membership (type Account owner, active).
    pub owner_membership: Membership,
    /// The built-in `Everyone` user group.
    pub everyone: UserGroup,
    /// The built-in `Everything` device group.
    pub everything: DeviceGroup,
    /// The system roles.
    pub system_roles: Vec<Role>,
}

impl NewTenant {
    /// The new tenant as a [`TenantModel`] (owner membership, built-ins and system roles).
    pub fn into_model(self) -> TenantModel {
        TenantModel {
            tenant: self.tenant,
            memberships: vec![self.owner_membership],
            user_groups: vec![self.everyone],
            device_groups: vec![self.everything],
            devices: Vec::new(),
            roles: self.system_roles,
            assignments: Vec::new(),
            applications: Vec::new(),
        }
    }
}

/// Creates a tenant owned by `owner` (003: "Every publicly registered account automatically
/// gets a team and is its owner. The team starts empty.").
pub fn new_tenant(
    name: &str,
    timezone: &str,
    owner: UserId,
    quotas: Quotas,
    now: Timestamp,
) -> Result<NewTenant, DirectoryError> {
    if name.trim().is_empty() {
        return Err(DirectoryError::NotAllowed("a tenant needs a name"));
    }
    resolve_time_zone(timezone)?;
    let id = TenantId::new_random();
    let tenant = Tenant {
        id,
        name: name.to_owned(),
        contact: String::new(),
        timezone: timezone.to_owned(),
        owner,
        default_remote_control_action: RemoteControlAction::default(),
        mfa_policy: MfaPolicy::Disabled,
        audit_enabled: true,
        quotas,
        expires_at: None,
        trial: false,
        created_at: now,
        version: 1,
    };
    let mut owner_membership = Membership::invited(id, owner, None, now);
    owner_membership.user_type = UserType::AccountOwner;
    owner_membership.state = MembershipState::Active;
    Ok(NewTenant {
        owner_membership,
        everyone: UserGroup {
            id: UserGroupId::new_random(),
            tenant: id,
            name: EVERYONE.to_owned(),
            description: "Every member of the account".to_owned(),
            active: true,
            kind: UserGroupKind::Everyone,
        },
        everything: DeviceGroup {
            id: DeviceGroupId::new_random(),
            tenant: id,
            name: EVERYTHING.to_owned(),
            description: "Every device of the account".to_owned(),
            active: true,
            everything: true,
        },
        system_roles: system_roles(id, now),
        tenant,
    })
}

/// Whether MFA applies to a member under the tenant's policy.
pub fn mfa_required(policy: MfaPolicy, member: &Membership) -> bool {
    match policy {
        MfaPolicy::Disabled => false,
        MfaPolicy::PerUser => member.mfa_enabled,
        MfaPolicy::Enforced => true,
    }
}

/// Checks a change of a member's MFA flag. 002/004: with Enforced "users cannot modify the
/// Multi-Factor authentication settings"; with Disabled it cannot be turned on.
pub fn check_mfa_change(policy: MfaPolicy, enable: bool) -> Result<(), DirectoryError> {
    match (policy, enable) {
        (MfaPolicy::Enforced, _) => Err(DirectoryError::MfaPolicy(
            "multi-factor authentication is enforced for every user",
        )),
        (MfaPolicy::Disabled, true) => Err(DirectoryError::MfaPolicy(
            "multi-factor authentication is disabled for this account",
        )),
        _ => Ok(()),
    }
}

/// Current usage of the plan limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Active members.
    pub users: u32,
    /// Active members with the OnDemand flag.
    pub ondemand_users: u32,
    /// Pending or enrolled devices (revoked ones do not count).
    pub devices: u32,
}

/// Counts usage from a tenant's memberships and devices.
pub fn usage(memberships: &[Membership], devices: &[Device]) -> Usage {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let active = || memberships.iter().filter(|m| m.state.is_active());
    Usage {
        users: count(active().count()),
        ondemand_users: count(active().filter(|m| m.ondemand_enabled).count()),
        devices: count(
            devices
                .iter()
                .filter(|d| d.enrollment != EnrollmentState::Revoked)
                .count(),
        ),
    }
}

/// Checks that `adding` more of `kind` stays within the plan (004 counters "Users: 5 / 10").
pub fn check_quota(
    quotas: &Quotas,
    usage: &Usage,
    kind: QuotaKind,
    adding: u32,
) -> Result<(), DirectoryError> {
    let (limit, used) = match kind {
        QuotaKind::Users => (quotas.users, usage.users),
        QuotaKind::OnDemandUsers => (quotas.ondemand_users, usage.ondemand_users),
        QuotaKind::Devices => (quotas.devices, usage.devices),
    };
    match limit {
        Some(limit) if used.saturating_add(adding) > limit => {
            Err(DirectoryError::QuotaExceeded { kind, limit })
        }
        _ => Ok(()),
    }
}

/// The members to disable with reason "plan limit" so that active users fit the quota: the
/// most recently created non-owner active members first (003: "disabled automatically due to
/// exceeding the limits of your subscription plan").
pub fn over_plan_limit(quotas: &Quotas, memberships: &[Membership]) -> Vec<UserId> {
    let Some(limit) = quotas.users else {
        return Vec::new();
    };
    let mut active: Vec<&Membership> = memberships
        .iter()
        .filter(|m| m.state.is_active() && m.user_type != UserType::AccountOwner)
        .collect();
    let owners = memberships
        .iter()
        .filter(|m| m.state.is_active() && m.user_type == UserType::AccountOwner)
        .count();
    let allowed = (limit as usize).saturating_sub(owners);
    if active.len() <= allowed {
        return Vec::new();
    }
    active.sort_by_key(|m| std::cmp::Reverse(m.created_at));
    let excess = active.len() - allowed;
    active.iter().take(excess).map(|m| m.user).collect()
}

/// How many times an invitation may be resent (002/004: "a maximum of 5 times").
pub const MAX_INVITATION_RESENDS: u8 = 5;
/// How long an invitation is valid (002/004: "valid for 7 days").
pub const INVITATION_VALIDITY: SignedDuration = SignedDuration::from_hours(7 * 24);

/// Checks a resend and returns the new state.
pub fn resend_invitation(
    state: MembershipState,
    now: Timestamp,
) -> Result<MembershipState, DirectoryError> {
    match state {
        MembershipState::Invited { resends, .. } if resends < MAX_INVITATION_RESENDS => {
            Ok(MembershipState::Invited {
                sent_at: now,
                resends: resends + 1,
            })
        }
        MembershipState::Invited { .. } => Err(DirectoryError::NotAllowed(
            "the invitation was already resent 5 times",
        )),
        _ => Err(DirectoryError::NotAllowed(
            "the invitation was already accepted",
        )),
    }
}

/// Checks that an invitation can be accepted at `now` (within 7 days of the last sending).
pub fn check_invitation_acceptance(
    state: MembershipState,
    now: Timestamp,
) -> Result<(), DirectoryError> {
    match state {
        MembershipState::Invited { sent_at, .. } => {
            if now.duration_since(sent_at) < INVITATION_VALIDITY {
                Ok(())
            } else {
                Err(DirectoryError::NotAllowed("the invitation has expired"))
            }
        }
        _ => Err(DirectoryError::NotAllowed("there is no pending invitation")),
    }
}

/// Days before expiry from which the owner is warned (002/004: 15 regular, 7 trial).
pub fn expiry_warning_due(tenant: &Tenant, now: Timestamp) -> bool {
    let Some(exp) = tenant.expires_at else {
        return false;
    };
    let days = if tenant.trial { 7 } else { 15 };
    exp.duration_since(now) <= SignedDuration::from_hours(days * 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn new_tenant_has_builtins_owner_and_defaults() {
        let owner = UserId::new_random();
        let t = new_tenant(
            "Acme",
            "Europe/Bucharest",
            owner,
            Quotas::default(),
            ts("2026-01-01T00:00Z"),
        )
        .unwrap();
        // 002/004 §9: audit logging "Enabled by default".
        assert!(t.tenant.audit_enabled);
        // 002/004 §6.1: the product default is Control through browser.
        assert_eq!(
            t.tenant.default_remote_control_action,
            RemoteControlAction::Browser
        );
        assert_eq!(t.owner_membership.user_type, UserType::AccountOwner);
        assert!(t.owner_membership.state.is_active());
        assert_eq!(t.everyone.name, "Everyone");
        assert!(t.everything.everything);
        assert!(t.system_roles.iter().all(|r| r.tenant == t.tenant.id));
        assert!(matches!(
            new_tenant(
                "Acme",
                "Nowhere/City",
                owner,
                Quotas::default(),
                Timestamp::UNIX_EPOCH
            ),
            Err(DirectoryError::UnknownTimeZone(_))
        ));
    }

    #[test]
    fn mfa_policy_rules() {
        // 002/004: Enforced "users cannot modify the Multi-Factor authentication settings".
        let mut m = Membership::invited(
            TenantId::new_random(),
            UserId::new_random(),
            None,
            Timestamp::UNIX_EPOCH,
        );
        assert!(!mfa_required(MfaPolicy::PerUser, &m));
        m.mfa_enabled = true;
        assert!(mfa_required(MfaPolicy::PerUser, &m));
        assert!(!mfa_required(MfaPolicy::Disabled, &m));
        m.mfa_enabled = false;
        assert!(mfa_required(MfaPolicy::Enforced, &m));
        assert!(check_mfa_change(MfaPolicy::Enforced, false).is_err());
        assert!(check_mfa_change(MfaPolicy::Disabled, true).is_err());
        assert!(check_mfa_change(MfaPolicy::Disabled, false).is_ok());
        assert!(check_mfa_change(MfaPolicy::PerUser, true).is_ok());
    }

    #[test]
    fn quotas_refuse_past_the_limit() {
        // 004: "Users: 5 / 10", "OnDemand users: 5 / 10", "Devices: 7 / 50".
        let q = Quotas {
            users: Some(10),
            ondemand_users: Some(10),
            devices: Some(50),
        };
        let u = Usage {
            users: 9,
            ondemand_users: 10,
            devices: 7,
        };
        check_quota(&q, &u, QuotaKind::Users, 1).unwrap();
        assert!(matches!(
            check_quota(&q, &u, QuotaKind::Users, 2),
            Err(DirectoryError::QuotaExceeded {
                kind: QuotaKind::Users,
                limit: 10
            })
        ));
        assert!(check_quota(&q, &u, QuotaKind::OnDemandUsers, 1).is_err());
        check_quota(&q, &u, QuotaKind::Devices, 43).unwrap();
        check_quota(&Quotas::default(), &u, QuotaKind::Devices, 1_000_000).unwrap();
    }

    #[test]
    fn plan_limit_disables_newest_non_owners() {
        let t = TenantId::new_random();
        let mk = |secs: i64, ty: UserType| {
            let mut m = Membership::invited(
                t,
                UserId::new_random(),
                None,
                Timestamp::from_second(secs).unwrap(),
            );
            m.state = MembershipState::Active;
            m.user_type = ty;
            m
        };
        let ms = vec![
            mk(1, UserType::AccountOwner),
            mk(2, UserType::User),
            mk(3, UserType::User),
            mk(4, UserType::GroupManager),
        ];
        let q = Quotas {
            users: Some(2),
            ..Quotas::default()
        };
        let out = over_plan_limit(&q, &ms);
        assert_eq!(out, vec![ms[3].user, ms[2].user]);
        assert!(over_plan_limit(&Quotas::default(), &ms).is_empty());
    }

    #[test]
    fn invitations_resend_five_times_and_last_seven_days() {
        // 002/004: "The invitation email can be resent for a maximum of 5 times and is valid
        // for 7 days."
        let t0 = ts("2026-01-01T00:00Z");
        let mut s = MembershipState::Invited {
            sent_at: t0,
            resends: 0,
        };
        for _ in 0..5 {
            s = resend_invitation(s, t0).unwrap();
        }
        assert!(resend_invitation(s, t0).is_err());
        check_invitation_acceptance(s, ts("2026-01-07T23:59:59Z")).unwrap();
        assert!(check_invitation_acceptance(s, ts("2026-01-08T00:00Z")).is_err());
        assert!(check_invitation_acceptance(MembershipState::Active, t0).is_err());
    }

    #[test]
    fn expiry_warning_at_15_or_7_days() {
        let owner = UserId::new_random();
        let mut t = new_tenant("A", "UTC", owner, Quotas::default(), Timestamp::UNIX_EPOCH)
            .unwrap()
            .tenant;
        t.expires_at = Some(ts("2026-02-16T00:00Z"));
        assert!(expiry_warning_due(&t, ts("2026-02-01T00:00Z")));
        assert!(!expiry_warning_due(&t, ts("2026-01-31T23:59Z")));
        t.trial = true;
        assert!(!expiry_warning_due(&t, ts("2026-02-01T00:00Z")));
        assert!(expiry_warning_due(&t, ts("2026-02-09T00:00Z")));
    }
}
