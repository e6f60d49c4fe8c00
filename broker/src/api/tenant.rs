//! The caller's tenant: `GET /tenant`, `PATCH /tenant` (audit log on/off, MFA policy, name,
//! time zone). The rules and the writes are the directory's; this file maps HTTP to them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::model::MfaPolicy;
use switchboard_directory::rules::schedule::resolve_time_zone;
use switchboard_directory::rules::user_types::Capability;

use super::caller::Caller;
use super::error::{ApiError, ApiJson, ApiResult};
use super::state::AdminState;

/// `GET /api/v1/tenant`.
pub async fn get(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    let t = state.dir.tenant(caller.tenant).await?;
    Ok(Json(json!(t)))
}

/// Body of `PATCH /tenant`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// Audit log on/off (administrator or higher).
    #[serde(default)]
    pub audit_enabled: Option<bool>,
    /// MFA policy: `Disabled`, `PerUser` or `Enforced` (administrator or higher).
    #[serde(default)]
    pub mfa_policy: Option<MfaPolicy>,
    /// Company name (owner only).
    #[serde(default)]
    pub name: Option<String>,
    /// IANA time zone (owner only).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// `PATCH /api/v1/tenant`. `audit_enabled` and `mfa_policy` need an Account administrator or
/// higher; `name` and `timezone` (account configuration) the Account owner. Every field and
/// the caller's rights are checked before anything changes; the fields are then applied one
/// directory call each (audit, MFA policy, then name + time zone together).
pub async fn patch(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(body): ApiJson<TenantPatch>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let profile = body.name.is_some() || body.timezone.is_some();
    if profile {
        caller.require(Capability::ConfigureAccount)?;
        if let Some(z) = &body.timezone {
            resolve_time_zone(z)?;
        }
        if let Some(n) = &body.name
            && (n.trim().is_empty() || n.trim().chars().count() > 200)
        {
            return Err(ApiError::bad_request(
                "an account name needs 1 to 200 characters",
            ));
        }
    }
    if let Some(on) = body.audit_enabled {
        state
            .dir
            .set_audit_enabled(caller.tenant, &caller.actor(), on)
            .await?;
    }
    if let Some(policy) = body.mfa_policy {
        state
            .dir
            .set_mfa_policy(caller.tenant, &caller.actor(), policy)
            .await?;
    }
    if profile {
        state
            .dir
            .set_tenant_profile(
                caller.tenant,
                &caller.actor(),
                body.name.as_deref(),
                body.timezone.as_deref(),
            )
            .await?;
    }
    let t = state.dir.tenant(caller.tenant).await?;
    Ok(Json(json!(t)))
}
