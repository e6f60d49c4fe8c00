//! User groups and device groups of the caller's tenant, and their membership.
//!
//! Reading needs Group manager or higher; creating, deleting and changing members needs
//! Account administrator or higher. Every id (group, user, device) is resolved in the caller's
//! tenant first, so another tenant's ids are 404. Listing, creating and deleting are written
//! once over the [`GroupKind`]; the routes name the kind.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::model::{DeviceGroupId, DeviceId, UserGroupId, UserId};
use switchboard_directory::rules::user_types::Capability;

use super::caller::Caller;
use super::error::{ApiJson, ApiResult, parse_id};
use super::group_kind::GroupKind;
use super::known::{known_id, known_ids};
use super::state::AdminState;

/// Body of a group creation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Name (unique in the tenant).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// Body of a membership change of a user group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersBody {
    /// User ids.
    pub users: Vec<String>,
}

/// Body of a membership change of a device group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicesBody {
    /// Device ids.
    pub devices: Vec<String>,
}

/// `GET /api/v1/user-groups/{id}`: the group and its members.
pub async fn get_user_group(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: UserGroupId = parse_id("user group", &id)?;
    let g = state.dir.user_group(caller.tenant, id).await?;
    let members = state.dir.user_group_members(caller.tenant, id).await?;
    Ok(Json(json!({ "group": g, "members": members })))
}

/// `GET /api/v1/user-groups` and `/device-groups`.
pub async fn list<G: GroupKind>(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let groups = json!(G::list(&state.dir, caller.tenant).await?);
    Ok(Json(Value::Object(
        [(G::LIST.to_owned(), groups)].into_iter().collect(),
    )))
}

/// `POST /api/v1/user-groups` and `/device-groups`.
pub async fn create<G: GroupKind>(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(b): ApiJson<NewGroup>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Capability::Administer)?;
    let actor = caller.actor();
    let g = G::create(&state.dir, caller.tenant, &actor, &b.name, &b.description).await?;
    Ok((StatusCode::CREATED, Json(json!(g))))
}

/// `DELETE /api/v1/user-groups/{id}` and `/device-groups/{id}`.
pub async fn delete<G: GroupKind>(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let id: G::Id = known_id(&state, &caller, &id).await?;
    G::delete(&state.dir, caller.tenant, &caller.actor(), id).await?;
    Ok(Json(json!({"status": "deleted"})))
}

async fn change_user_members(
    state: &AdminState,
    caller: &Caller,
    id: &str,
    users: &[String],
    add: bool,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let id: UserGroupId = known_id(state, caller, id).await?;
    let users: Vec<UserId> = known_ids(state, caller, users).await?;
    if add {
        state
            .dir
            .add_users_to_group(caller.tenant, &caller.actor(), id, &users)
            .await?;
    } else {
        state
            .dir
            .remove_users_from_group(caller.tenant, &caller.actor(), id, &users)
            .await?;
    }
    let members = state.dir.user_group_members(caller.tenant, id).await?;
    Ok(Json(json!({ "members": members })))
}

/// `POST /api/v1/user-groups/{id}/members`: adds users.
pub async fn add_user_members(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UsersBody>,
) -> ApiResult<Json<Value>> {
    change_user_members(&state, &caller, &id, &b.users, true).await
}

/// `POST /api/v1/user-groups/{id}/members/remove`: removes users.
pub async fn remove_user_members(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<UsersBody>,
) -> ApiResult<Json<Value>> {
    change_user_members(&state, &caller, &id, &b.users, false).await
}

/// `GET /api/v1/device-groups/{id}`: the group and its devices.
pub async fn get_device_group(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: DeviceGroupId = parse_id("device group", &id)?;
    let g = state.dir.device_group(caller.tenant, id).await?;
    let devices: Vec<DeviceId> = state
        .dir
        .devices(caller.tenant)
        .await?
        .into_iter()
        .filter(|d| g.everything || d.groups.contains(&id))
        .map(|d| d.id)
        .collect();
    Ok(Json(json!({ "group": g, "devices": devices })))
}

async fn change_device_members(
    state: &AdminState,
    caller: &Caller,
    id: &str,
    devices: &[String],
    add: bool,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let id: DeviceGroupId = known_id(state, caller, id).await?;
    let ids: Vec<DeviceId> = known_ids(state, caller, devices).await?;
    state
        .dir
        .set_devices_in_group(caller.tenant, &caller.actor(), id, &ids, add)
        .await?;
    Ok(Json(json!({"status": "ok"})))
}

/// `POST /api/v1/device-groups/{id}/members`: adds devices.
pub async fn add_device_members(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DevicesBody>,
) -> ApiResult<Json<Value>> {
    change_device_members(&state, &caller, &id, &b.devices, true).await
}

/// `POST /api/v1/device-groups/{id}/members/remove`: removes devices.
pub async fn remove_device_members(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<DevicesBody>,
) -> ApiResult<Json<Value>> {
    change_device_members(&state, &caller, &id, &b.devices, false).await
}
