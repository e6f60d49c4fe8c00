//! Users: one identity, many tenant memberships.
//!
//! A `User` is the identity (username, names, email, credentials). A `Membership` holds what
//! is per account (002/004 §2.1, 004 "Account Membership"): type, groups, MFA flag, OnDemand
//! flag, alias, state. The type hierarchy rules are in `rules::user_types`.

use crate::model::credentials::{AuthMethod, Credentials};
use crate::model::ids::{TenantId, UserGroupId, UserId};
use crate::model::tenant::RemoteControlAction;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// User type, lowest to highest (002/004 §2.2). The derived order is the hierarchy.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum UserType {
    /// "view assigned devices and manage your profile".
    #[default]
    User,
    /// User + manage users and devices, view roles and assignments, logs.
    GroupManager,
    /// Manage users, devices, groups, roles, assignments, auth methods, packages.
    AccountAdministrator,
    /// Administrator + account configuration. Exactly one per tenant.
    AccountOwner,
}

/// Why a membership is disabled (003: manual, or "automatically due to exceeding the limits of
/// your subscription plan", shown distinctly).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisabledReason {
    /// An administrator turned "Active" off.
    Manual,
    /// The plan's user quota was exceeded.
    PlanLimit,
}

/// Lifecycle state of a membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MembershipState {
    /// Invitation sent, not accepted: can be configured, cannot log in or connect (003).
    Invited {
        /// When the (last) invitation was sent.
        sent_at: Timestamp,
        /// How many times it was resent (at most 5, 002/004).
        resends: u8,
    },
    /// Working state.
    Active,
    /// Cannot log in; memberships and grants are kept.
    Disabled(DisabledReason),
}

impl MembershipState {
    /// Whether the member may log in and be granted access.
    pub fn is_active(self) -> bool {
        matches!(self, Self::Active)
    }
}

/// A user identity (global across tenants).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: UserId,
    /// Login name: unique, immutable (002/004: "non-editable").
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email: notifications and MFA codes go here.
    pub email: String,
    /// How the user authenticates.
    pub auth_method: AuthMethod,
    /// Secrets (hashes only).
    pub credentials: Credentials,
    /// The account the user was first invited to ("primary account").
    pub primary_tenant: TenantId,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Last modification instant.
    pub modified_at: Timestamp,
}

/// A user's membership in one tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The tenant.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// Type in this tenant.
    pub user_type: UserType,
    /// Lifecycle state.
    pub state: MembershipState,
    /// Explicit user-group memberships (the built-in `Everyone` is implicit and never listed).
    pub groups: BTreeSet<UserGroupId>,
    /// Per-membership MFA flag (default off on invite).
    pub mfa_enabled: bool,
    /// OnDemand Sessions flag (default on on invite).
    pub ondemand_enabled: bool,
    /// Account alias chosen by the user.
    pub alias: Option<String>,
    /// 000 "Force custom server security": only server-side permissions authorise this user.
    pub force_custom_server_security: bool,
    /// The member's own default remote-control action; `None` = the tenant's.
    pub default_remote_control_action: Option<RemoteControlAction>,
    /// Who created the membership (inviter), if a user did.
    pub created_by: Option<UserId>,
    /// Creation instant.
    pub created_at: Timestamp,
    /// Who last modified it.
    pub modified_by: Option<UserId>,
    /// Last modification instant.
    pub modified_at: Timestamp,
}

impl Membership {
    /// A new invited membership with the 002/004 invite defaults: type User, OnDemand on,
    /// MFA off, remote-control action = the account default, no groups.
    pub fn invited(tenant: TenantId, user: UserId, by: Option<UserId>, now: Timestamp) -> Self {
        Self {
            tenant,
            user,
            user_type: UserType::User,
            state: MembershipState::Invited {
                sent_at: now,
                resends: 0,
            },
            groups: BTreeSet::new(),
            mfa_enabled: false,
            ondemand_enabled: true,
            alias: None,
            force_custom_server_security: false,
            default_remote_control_action: None,
            created_by: by,
            created_at: now,
            modified_by: by,
            modified_at: now,
        }
    }
}
