//! "Check permissions": `GET /api/v1/check?user=&device=[&at=]` → each permission yes/no and
//! every assignment involved, with why it does or does not apply (Group manager or higher).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::jiff::Timestamp;
use switchboard_directory::model::{DeviceId, UserId};
use switchboard_directory::rules::evaluate::{Target, check};
use switchboard_directory::rules::user_types::Capability;

use super::caller::Caller;
use super::error::{ApiError, ApiQuery, ApiResult, parse_id};
use super::state::AdminState;

/// Query of `GET /check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckQuery {
    /// User id.
    pub user: String,
    /// Device id.
    pub device: String,
    /// Instant (RFC 3339); now when absent.
    #[serde(default)]
    pub at: Option<String>,
}

/// `GET /api/v1/check`.
pub async fn get(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<CheckQuery>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let user: UserId = parse_id("user", &q.user)?;
    let device: DeviceId = parse_id("device", &q.device)?;
    let at: Timestamp = match &q.at {
        Some(s) => s
            .parse()
            .map_err(|e| ApiError::bad_request(format!("at: {e}")))?,
        None => state.dir.now(),
    };
    state.dir.membership(caller.tenant, user).await?;
    let model = state.dir.load_model(caller.tenant).await?;
    let Some(d) = model.devices.iter().find(|d| d.id == device) else {
        return Err(ApiError::not_found("device"));
    };
    let c = check(&model.input(), user, Target::Device(d), at);
    let granted: Vec<Value> = c
        .granted
        .iter()
        .map(|(p, yes)| json!({"permission": p, "granted": yes}))
        .collect();
    let involved: Vec<Value> = c
        .involved
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "name": i.name,
                "applies": i.not_applying.is_none(),
                "reason": i.not_applying.map(|r| format!("{r:?}")),
            })
        })
        .collect();
    let contributing: Vec<_> = c.contributing().collect();
    Ok(Json(json!({
        "user": user,
        "device": device,
        "at": at,
        "permissions": granted,
        "involved": involved,
        "contributing": contributing,
    })))
}
