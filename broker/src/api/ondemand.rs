//! OnDemand keys for the caller: create (needs the member's OnDemand flag and an active
//! OnDemand role assignment, checked on the tenant's compiled snapshot) and list the caller's
//! own (a directory query, not a raw key scan).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::model::OnDemandSession;
use switchboard_directory::rules::ondemand_key::check_ondemand_user;

use super::caller::Caller;
use super::error::{ApiQuery, ApiResult};
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

/// `GET /api/v1/ondemand`: the caller's own keys, oldest first (`?live=true`: only those
/// still usable or in progress).
pub async fn list(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Value>> {
    let all = state
        .dir
        .ondemand_sessions(caller.tenant, Some(caller.user), q.live)
        .await?;
    Ok(Json(json!({ "sessions": all })))
}

/// Query of `GET /ondemand`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Leave out finished, rejected and expired sessions.
    #[serde(default)]
    pub live: bool,
}
