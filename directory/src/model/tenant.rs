//! A tenant ("account" in 002/004, "team" in 003) and its account-level settings.
//!
//! Only data and small accessors live here; the rules that use the settings (MFA policy,
//! quotas, ownership) are in `rules`. A tenant is created together with its built-in groups and
//! system roles by `rules::tenant::new_tenant`.

use crate::model::ids::{TenantId, UserId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How a user starts a remote-control session by default (002/004 §6.1). The product default
/// is [`RemoteControlAction::Browser`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RemoteControlAction {
    /// "Control through Guest" (installed Guest / Support Console).
    Guest,
    /// "Control through browser" (Browser Based Support Console), the product default.
    #[default]
    Browser,
}

/// Account-level multi-factor policy (002/004 §1.4: "Disabled / Enabled (it can be enabled per
/// user) / Enforced (it will be enabled for all users)").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MfaPolicy {
    /// Nobody uses a second factor; per-user MFA cannot be turned on.
    #[default]
    Disabled,
    /// Each membership's MFA flag decides.
    PerUser,
    /// Every user must use a second factor; per-user changes are refused.
    Enforced,
}

/// Plan limits (004 title-bar counters "Users", "OnDemand users", "Devices"). `None` = no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quotas {
    /// Active (non-invited, non-disabled) members.
    pub users: Option<u32>,
    /// Members with the OnDemand Sessions flag on.
    pub ondemand_users: Option<u32>,
    /// Enrolled or pending devices (revoked devices do not count).
    pub devices: Option<u32>,
}

/// A tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Company / account / team name.
    pub name: String,
    /// Free-form contact details.
    pub contact: String,
    /// IANA time zone name (e.g. `Europe/Bucharest`); default zone of schedules.
    pub timezone: String,
    /// The account owner (exactly one).
    pub owner: UserId,
    /// Default remote-control action for members that did not choose one.
    pub default_remote_control_action: RemoteControlAction,
    /// MFA policy.
    pub mfa_policy: MfaPolicy,
    /// Whether audit logging is on (002/004: enabled by default).
    pub audit_enabled: bool,
    /// Plan limits.
    pub quotas: Quotas,
    /// Subscription expiry, if any.
    pub expires_at: Option<Timestamp>,
    /// Whether the subscription is a trial (expiry warning at 7 days instead of 15).
    pub trial: bool,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Bumped on every change to anything the policy snapshot depends on; the actor layer
    /// recompiles its `PolicySnapshot` when it sees a newer version.
    pub version: u64,
}
