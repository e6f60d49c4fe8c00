//! The authenticated caller: `Authorization: Bearer <token>` → user, tenant and membership.
//!
//! The membership is re-read on every request, so a disabled or removed user loses access at
//! once even with a live token. [`Caller::require`] checks the user type's capability
//! (`rules::user_types`) and answers 403 `not_permitted`. [`Enrolling`] accepts also the
//! enrol-only tokens issued when MFA is required but no authenticator is enrolled yet.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use switchboard_directory::DirectoryError;
use switchboard_directory::model::{Membership, TenantId, UserId};
use switchboard_directory::rules::user_types::{Capability, has_capability};
use switchboard_directory::service::Actor;

use super::error::ApiError;
use super::state::{AdminState, TokenOwner};

/// An authenticated, active member acting in their token's tenant.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: UserId,
    /// The tenant.
    pub tenant: TenantId,
    /// The user's membership there.
    pub member: Membership,
    /// The bearer token (for logout).
    pub token: String,
}

impl Caller {
    /// The directory actor.
    pub fn actor(&self) -> Actor {
        Actor::user(self.user)
    }

    /// Refuses with 403 unless the caller's type has `c`.
    pub fn require(&self, c: Capability) -> Result<(), ApiError> {
        if has_capability(self.member.user_type, c) {
            Ok(())
        } else {
            Err(ApiError::forbidden("your user type does not allow this"))
        }
    }
}

fn bearer(parts: &Parts) -> Option<String> {
    let v = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

async fn resolve(parts: &Parts, state: &AdminState) -> Result<(Caller, TokenOwner), ApiError> {
    let token = bearer(parts).ok_or_else(ApiError::auth_failed)?;
    let owner = state.tokens.get(&token).ok_or_else(ApiError::auth_failed)?;
    let member = match state.dir.membership(owner.tenant, owner.user).await {
        Ok(m) => m,
        Err(DirectoryError::UnknownId { .. }) => return Err(ApiError::auth_failed()),
        Err(e) => return Err(e.into()),
    };
    if !member.state.is_active() {
        return Err(ApiError::auth_failed());
    }
    Ok((
        Caller {
            user: owner.user,
            tenant: owner.tenant,
            member,
            token,
        },
        owner,
    ))
}

impl FromRequestParts<Arc<AdminState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AdminState>,
    ) -> Result<Self, Self::Rejection> {
        let (caller, owner) = resolve(parts, state).await?;
        if owner.enrol_only {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "mfa_enrolment_required",
                "enrol an authenticator (POST /api/v1/me/totp) before anything else",
            ));
        }
        Ok(caller)
    }
}

/// A caller that may also hold an enrol-only token.
#[derive(Debug, Clone)]
pub struct Enrolling(pub Caller);

impl FromRequestParts<Arc<AdminState>> for Enrolling {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AdminState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(resolve(parts, state).await?.0))
    }
}
