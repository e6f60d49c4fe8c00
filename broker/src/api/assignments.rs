//! Role assignments of the caller's tenant: list, get, create, activate/deactivate, delete
//! (one or many), and the bulk schedule set/remove. Viewing needs Group manager or higher;
//! changes need Account administrator or higher. Every id is resolved in the caller's tenant
//! first (another tenant's ids are 404).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::model::{
    AssignmentId, DeviceGroupId, RoleAssignment, RoleId, Schedule, UserGroupId,
};
use switchboard_directory::rules::user_types::Capability;
use switchboard_directory::service::NewAssignment;

use super::caller::Caller;
use super::error::{ApiJson, ApiResult, parse_id};
use super::known::{known_id, known_ids};
use super::state::AdminState;

/// Body of assignment creation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignmentBody {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Role id.
    pub role: String,
    /// User group ids.
    pub user_groups: Vec<String>,
    /// Device group ids (none for OnDemand and administration roles).
    #[serde(default)]
    pub device_groups: Vec<String>,
    /// Schedule.
    #[serde(default)]
    pub schedule: Option<Schedule>,
}

/// Body naming assignments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdsBody {
    /// Assignment ids.
    pub ids: Vec<String>,
}

/// Body of the bulk schedule change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// Assignment ids.
    pub ids: Vec<String>,
    /// The schedule to set; `null` removes it.
    pub schedule: Option<Schedule>,
}

/// Body of activation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveBody {
    /// Active or not.
    pub active: bool,
}

/// `GET /api/v1/assignments`.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    Ok(Json(
        json!({ "assignments": state.dir.assignments(caller.tenant).await? }),
    ))
}

/// `GET /api/v1/assignments/{id}`.
pub async fn get(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RoleAssignment>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: AssignmentId = parse_id("role assignment", &id)?;
    Ok(Json(state.dir.assignment(caller.tenant, id).await?))
}

/// `POST /api/v1/assignments`.
pub async fn create(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(b): ApiJson<AssignmentBody>,
) -> ApiResult<(StatusCode, Json<RoleAssignment>)> {
    caller.require(Capability::Administer)?;
    let role: RoleId = known_id(&state, &caller, &b.role).await?;
    let user_groups: BTreeSet<UserGroupId> = known_ids(&state, &caller, &b.user_groups).await?;
    let device_groups: BTreeSet<DeviceGroupId> =
        known_ids(&state, &caller, &b.device_groups).await?;
    let a = state
        .dir
        .create_assignment(
            caller.tenant,
            &caller.actor(),
            NewAssignment {
                name: b.name,
                description: b.description,
                role,
                user_groups,
                device_groups,
                schedule: b.schedule,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// `POST /api/v1/assignments/{id}/active`.
pub async fn set_active(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ActiveBody>,
) -> ApiResult<Json<RoleAssignment>> {
    caller.require(Capability::Administer)?;
    let id: AssignmentId = known_id(&state, &caller, &id).await?;
    state
        .dir
        .set_assignment_active(caller.tenant, &caller.actor(), id, b.active)
        .await?;
    Ok(Json(state.dir.assignment(caller.tenant, id).await?))
}

/// `DELETE /api/v1/assignments/{id}`.
pub async fn delete_one(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let ids = known_ids::<AssignmentId, Vec<_>>(&state, &caller, &[id]).await?;
    state
        .dir
        .delete_assignments(caller.tenant, &caller.actor(), &ids)
        .await?;
    Ok(Json(json!({"status": "deleted"})))
}

/// `POST /api/v1/assignments/delete`: deletes several.
pub async fn delete_many(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(b): ApiJson<IdsBody>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let ids = known_ids::<AssignmentId, Vec<_>>(&state, &caller, &b.ids).await?;
    state
        .dir
        .delete_assignments(caller.tenant, &caller.actor(), &ids)
        .await?;
    Ok(Json(json!({"status": "deleted", "count": ids.len()})))
}

/// `POST /api/v1/assignments/schedule`: sets (or with `null` removes) the schedule of several.
pub async fn set_schedules(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(b): ApiJson<ScheduleBody>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let ids = known_ids::<AssignmentId, Vec<_>>(&state, &caller, &b.ids).await?;
    state
        .dir
        .set_schedules(caller.tenant, &caller.actor(), &ids, b.schedule)
        .await?;
    Ok(Json(json!({"status": "ok", "count": ids.len()})))
}
