//! Live sessions of the caller's tenant, from the [`crate::sessions::SessionRegistry`]: list
//! (Group manager or higher) and terminate (Account administrator or higher; on a cluster, a
//! session owned by another node is ended there).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use switchboard_directory::rules::user_types::Capability;

use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::state::AdminState;

/// `GET /api/v1/sessions`.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    Ok(Json(
        json!({ "sessions": state.sessions.list(caller.tenant) }),
    ))
}

/// `DELETE /api/v1/sessions/{id}`.
pub async fn terminate(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    if state.sessions.terminate(caller.tenant, &id).await {
        Ok(Json(json!({"status": "terminated"})))
    } else {
        Err(ApiError::not_found("session"))
    }
}
