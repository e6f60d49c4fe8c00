//! Devices of the caller's tenant: list, get, approve a pending one (Group manager or
//! higher), delete (Account administrator or higher).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use switchboard_directory::model::{Device, DeviceId};
use switchboard_directory::rules::user_types::Capability;

use super::caller::Caller;
use super::error::{ApiResult, parse_id};
use super::known::known_id;
use super::state::AdminState;

/// `GET /api/v1/devices`.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let mut d = state.dir.devices(caller.tenant).await?;
    d.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Ok(Json(json!({ "devices": d })))
}

/// `GET /api/v1/devices/{id}`.
pub async fn get(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: DeviceId = parse_id("device", &id)?;
    Ok(Json(state.dir.device(caller.tenant, id).await?))
}

/// `POST /api/v1/devices/{id}/approve`.
pub async fn approve(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Device>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: DeviceId = known_id(&state, &caller, &id).await?;
    state
        .dir
        .approve_device(caller.tenant, &caller.actor(), id)
        .await?;
    Ok(Json(state.dir.device(caller.tenant, id).await?))
}

/// `DELETE /api/v1/devices/{id}`.
pub async fn remove(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::RemoveDevices)?;
    let id: DeviceId = known_id(&state, &caller, &id).await?;
    state
        .dir
        .remove_device(caller.tenant, &caller.actor(), id)
        .await?;
    Ok(Json(json!({"status": "removed"})))
}
