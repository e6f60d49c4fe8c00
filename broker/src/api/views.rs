//! JSON views of directory records that must not be shown whole (a user's credentials).

use serde::Serialize;
use switchboard_directory::jiff::Timestamp;
use switchboard_directory::model::{
    AuthMethod, Membership, MembershipState, User, UserGroupId, UserId, UserType,
};

/// A member as the admin API shows it: identity without secrets, plus the membership.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Email.
    pub email: String,
    /// Authentication method.
    pub auth_method: AuthMethod,
    /// Type in this tenant.
    #[serde(rename = "type")]
    pub user_type: UserType,
    /// State in this tenant.
    pub state: MembershipState,
    /// User groups.
    pub groups: Vec<UserGroupId>,
    /// Per-member MFA flag.
    pub mfa_enabled: bool,
    /// A confirmed TOTP authenticator exists.
    pub totp_enrolled: bool,
    /// OnDemand sessions flag.
    pub ondemand_enabled: bool,
    /// Created.
    pub created_at: Timestamp,
    /// Modified.
    pub modified_at: Timestamp,
}

impl UserView {
    /// Joins an identity and a membership.
    pub fn of(u: &User, m: &Membership) -> Self {
        Self {
            id: u.id,
            username: u.username.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            auth_method: u.auth_method.clone(),
            user_type: m.user_type,
            state: m.state,
            groups: m.groups.iter().copied().collect(),
            mfa_enabled: m.mfa_enabled,
            totp_enrolled: u
                .credentials
                .totp
                .as_ref()
                .is_some_and(|t| t.last_step.is_some()),
            ondemand_enabled: m.ondemand_enabled,
            created_at: m.created_at,
            modified_at: m.modified_at.max(u.modified_at),
        }
    }
}
