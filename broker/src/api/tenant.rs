//! The caller's tenant: `GET /tenant`, `PATCH /tenant`.
//!
//! The directory can switch the audit log on and off; it has no operation yet to change the
//! MFA policy or the account configuration, so those fields answer 501 `not_implemented`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::model::MfaPolicy;
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
    /// MFA policy (not yet supported by the directory).
    #[serde(default)]
    pub mfa_policy: Option<MfaPolicy>,
    /// Company name (not yet supported by the directory).
    #[serde(default)]
    pub name: Option<String>,
    /// Time zone (not yet supported by the directory).
    #[serde(default)]
    pub timezone: Option<String>,
}

/// `PATCH /api/v1/tenant`.
pub async fn patch(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(body): ApiJson<TenantPatch>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    if body.mfa_policy.is_some() || body.name.is_some() || body.timezone.is_some() {
        return Err(ApiError::not_implemented(
            "the directory cannot change the MFA policy, name or time zone yet",
        ));
    }
    if let Some(on) = body.audit_enabled {
        state
            .dir
            .set_audit_enabled(caller.tenant, &caller.actor(), on)
            .await?;
    }
    let t = state.dir.tenant(caller.tenant).await?;
    Ok(Json(json!(t)))
}
