//! OnDemand keys for the caller: create (needs the member's OnDemand flag and an active
//! OnDemand role assignment, checked on the tenant's compiled snapshot) and list the caller's
//! own.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use switchboard_directory::model::OnDemandSession;
use switchboard_directory::rules::ondemand_key::check_ondemand_user;

use super::caller::Caller;
use super::error::ApiResult;
use super::packages::scan_records;
use super::state::AdminState;

/// `POST /api/v1/ondemand`: a new 9-digit key (valid 24 h).
pub async fn create(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<OnDemandSession>)> {
    let snapshot = state.dir.load_snapshot(caller.tenant).await?;
    let access = snapshot.evaluate_ondemand(&caller.user, state.dir.now());
    check_ondemand_user(&caller.member, &access)?;
    let s = state
        .dir
        .create_ondemand(caller.tenant, &caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// `GET /api/v1/ondemand`: the caller's own keys.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    let mut all: Vec<OnDemandSession> = scan_records(&state, &caller, "ondemand/").await?;
    all.retain(|s| s.created_by == caller.user);
    all.sort_by_key(|s| s.created_at);
    Ok(Json(json!({ "sessions": all })))
}
