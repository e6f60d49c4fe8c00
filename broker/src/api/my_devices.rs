//! "My devices": `GET /api/v1/me/devices`, the devices a technician may open a session on now.
//!
//! A device is listed when the caller's effective permission set on it, at this instant, is
//! not empty, evaluated on the tenant's compiled policy snapshot exactly as a session request
//! is (the hub's own snapshot when the actors run in this process, else one compiled from the
//! directory with the same rules), so the list and the session decision cannot disagree.
//! Permissions are the session actions a session would be granted (codec names). Each entry
//! also carries the hostname, presence, enrollment state and device-group names. Any active
//! member may call it; it changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::{Value, json};
use switchboard_actors::ids::{wire_device, wire_tenant};
use switchboard_actors::policy::CompiledPolicy;
use switchboard_codec::PermissionSet;
use switchboard_directory::model::EnrollmentState;
use switchboard_directory::rules::wire::to_wire;

use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::state::AdminState;

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MyDevice {
    /// Device id.
    pub id: String,
    /// Host name.
    pub name: String,
    /// Holds a control connection now.
    pub online: bool,
    /// `enrolled`, `pending` or `revoked`.
    pub state: &'static str,
    /// Session actions the caller would be granted (codec permission names).
    pub permissions: Vec<&'static str>,
    /// Device-group names (the built-in `Everything` is implicit and not listed).
    pub groups: Vec<String>,
}

fn state_name(s: EnrollmentState) -> &'static str {
    match s {
        EnrollmentState::Enrolled => "enrolled",
        EnrollmentState::Pending => "pending",
        EnrollmentState::Revoked => "revoked",
    }
}

/// `GET /api/v1/me/devices`.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    let hub = state.sessions.hub();
    let tenant = wire_tenant(caller.tenant);
    let policy: Arc<CompiledPolicy> = match &hub {
        Some(h) => h.policy(tenant).await.map_err(|e| ApiError::internal(&e))?,
        None => Arc::new(
            CompiledPolicy::load(&state.dir, caller.tenant)
                .await
                .map_err(|e| ApiError::internal(&e))?,
        ),
    };
    let groups: HashMap<_, _> = state
        .dir
        .device_groups(caller.tenant)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let at = state.dir.now();
    let mut out = Vec::new();
    for d in state.dir.devices(caller.tenant).await? {
        let access = policy.snapshot.evaluate(&caller.user, &d.id, at);
        let granted = to_wire(access.permissions).intersection(PermissionSet::all_known());
        if granted.is_empty() {
            continue;
        }
        let online = match &hub {
            Some(h) => h.device_online(tenant, wire_device(d.id)).await,
            None => false,
        };
        let mut group_names: Vec<String> = d
            .groups
            .iter()
            .filter_map(|g| groups.get(g).cloned())
            .collect();
        group_names.sort();
        out.push(MyDevice {
            id: d.id.to_string(),
            name: d.hostname,
            online,
            state: state_name(d.enrollment),
            permissions: granted.iter().map(|p| p.name()).collect(),
            groups: group_names,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    Ok(Json(json!({ "devices": out })))
}
