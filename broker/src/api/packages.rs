//! Deployment packages of the caller's tenant (Account administrator or higher): create (the
//! enrollment key is in this answer only), list, get, revoke (`{"confirm": "revoke"}`; answers
//! the devices cut off), remove.
//!
//! Lists and reads answer the directory's `PackageSummary`: the key hash never leaves the
//! directory.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::jiff::Timestamp;
use switchboard_directory::model::{DeviceGroupId, PackageId};
use switchboard_directory::rules::user_types::Capability;
use switchboard_directory::service::{NewPackage, PackageSummary};

use super::caller::Caller;
use super::error::{ApiJson, ApiResult, parse_id};
use super::known::known_id;
use super::state::AdminState;

/// Body of package creation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageBody {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Valid from (UTC).
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    /// Valid to (UTC, exclusive).
    #[serde(default)]
    pub valid_to: Option<Timestamp>,
    /// Device limit.
    #[serde(default)]
    pub device_limit: Option<u32>,
    /// Enabled (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// New devices wait for approval.
    #[serde(default)]
    pub pending: bool,
    /// Device group new devices join.
    #[serde(default)]
    pub target_group: Option<String>,
}

fn yes() -> bool {
    true
}

/// Body of revocation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Must be `revoke`.
    pub confirm: String,
}

/// `GET /api/v1/packages`: every package with its device count, never a key or key hash.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let p = state.dir.packages(caller.tenant, &caller.actor()).await?;
    Ok(Json(json!({ "packages": p })))
}

/// `GET /api/v1/packages/{id}`.
pub async fn get(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<PackageSummary>> {
    caller.require(Capability::Administer)?;
    let id: PackageId = parse_id("deployment package", &id)?;
    Ok(Json(
        state
            .dir
            .package_summary(caller.tenant, &caller.actor(), id)
            .await?,
    ))
}

/// `POST /api/v1/packages`: the answer carries the enrollment key, shown this once.
pub async fn create(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(b): ApiJson<PackageBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.require(Capability::Administer)?;
    let target_group: Option<DeviceGroupId> = match &b.target_group {
        Some(s) => Some(known_id(&state, &caller, s).await?),
        None => None,
    };
    let (p, key) = state
        .dir
        .create_package(
            caller.tenant,
            &caller.actor(),
            NewPackage {
                name: b.name,
                description: b.description,
                valid_from: b.valid_from,
                valid_to: b.valid_to,
                device_limit: b.device_limit,
                enabled: b.enabled,
                pending: b.pending,
                target_group,
            },
        )
        .await?;
    let shown = state
        .dir
        .package_summary(caller.tenant, &caller.actor(), p.id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "package": shown, "enrollment_key": key })),
    ))
}

/// `POST /api/v1/packages/{id}/revoke`.
pub async fn revoke(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RevokeBody>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let id: PackageId = known_id(&state, &caller, &id).await?;
    let devices = state
        .dir
        .revoke_package(caller.tenant, &caller.actor(), id, &b.confirm)
        .await?;
    Ok(Json(json!({ "status": "revoked", "devices": devices })))
}

/// `DELETE /api/v1/packages/{id}`.
pub async fn remove(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::Administer)?;
    let id: PackageId = known_id(&state, &caller, &id).await?;
    state
        .dir
        .remove_package(caller.tenant, &caller.actor(), id)
        .await?;
    Ok(Json(json!({"status": "removed"})))
}
