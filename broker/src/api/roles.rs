//! Roles of the caller's tenant: list, get, create, copy, update, delete (delete answers the
//! names of the role assignments it disabled). Viewing needs Group manager or higher; changes
//! need Account administrator or higher. System roles are refused by the directory.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::model::{
    ConfirmAccess, PermissionSet, Role, RoleId, RolePurpose, Whitelist,
};
use switchboard_directory::rules::user_types::Capability;

use super::caller::Caller;
use super::error::{ApiJson, ApiResult, parse_id};
use super::known::known_id;
use super::state::AdminState;

/// Body of role creation and update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Purpose (fixed at creation).
    pub purpose: RolePurpose,
    /// Enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Permission names.
    #[serde(default)]
    pub permissions: PermissionSet,
    /// Confirm-access overlay.
    #[serde(default)]
    pub confirm: ConfirmAccess,
    /// Whitelisting overlay.
    #[serde(default)]
    pub whitelist: Option<Whitelist>,
}

fn yes() -> bool {
    true
}

/// `GET /api/v1/roles`.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    Ok(Json(
        json!({ "roles": state.dir.roles(caller.tenant).await? }),
    ))
}

/// `GET /api/v1/roles/{id}`.
pub async fn get(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Role>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: RoleId = parse_id("role", &id)?;
    Ok(Json(state.dir.role(caller.tenant, id).await?))
}

/// `POST /api/v1/roles`.
pub async fn create(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<(StatusCode, Json<Role>)> {
    caller.require(Capability::Administer)?;
    let role = Role {
        id: RoleId::new_random(),
        tenant: caller.tenant,
        name: b.name,
        description: b.description,
        purpose: b.purpose,
        enabled: b.enabled,
        permissions: b.permissions,
        confirm: b.confirm,
        whitelist: b.whitelist,
        system: None,
        created_at: state.dir.now(),
    };
    let r = state
        .dir
        .create_role(caller.tenant, &caller.actor(), role)
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// `PUT /api/v1/roles/{id}`.
pub async fn update(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RoleBody>,
) -> ApiResult<Json<Role>> {
    caller.require(Capability::Administer)?;
    let id: RoleId = parse_id("role", &id)?;
    let mut role = state.dir.role(caller.tenant, id).await?;
    role.name = b.name;
    role.description = b.description;
    role.purpose = b.purpose;
    role.enabled = b.enabled;
    role.permissions = b.permissions;
    role.confirm = b.confirm;
    role.whitelist = b.whitelist;
    Ok(Json(
        state
            .dir
            .update_role(caller.tenant, &caller.actor(), role)
            .await?,
    ))
}

/// Body of `POST /roles/{id}/copy`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyBody {
    /// Name of the copy (default "Copy of ...").
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/roles/{id}/copy`.
pub async fn copy(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<CopyBody>,
) -> ApiResult<(StatusCode, Json<Role>)> {
    caller.require(Capability::Administer)?;
    let id: RoleId = known_id(&state, &caller, &id).await?;
    let r = state
        .dir
        .copy_role(caller.tenant, &caller.actor(), id, b.name.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// `DELETE /api/v1/roles/{id}`: answers the names of the assignments it disabled.
pub async fn delete(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let id: RoleId = known_id(&state, &caller, &id).await?;
    let disabled = state
        .dir
        .delete_role(caller.tenant, &caller.actor(), id)
        .await?;
    Ok(Json(
        json!({ "status": "deleted", "disabled_assignments": disabled }),
    ))
}
