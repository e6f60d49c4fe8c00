//! Audit query: `GET /api/v1/audit?from=&to=&user=&device=&kind=&limit=&format=csv` (Group
//! manager or higher; the seed's "view and generate log reports"). Times are RFC 3339; `from`
//! defaults to 30 days ago, `to` to now. `format=csv` answers the directory's CSV report.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use switchboard_directory::jiff::{SignedDuration, Timestamp};
use switchboard_directory::model::{AuditKind, DeviceId, UserId};
use switchboard_directory::rules::user_types::Capability;
use switchboard_directory::service::{AuditQuery, MAX_AUDIT_QUERY, to_csv};

use super::caller::Caller;
use super::error::{ApiError, ApiQuery, ApiResult, parse_id};
use super::state::AdminState;

/// Default number of records.
pub const DEFAULT_LIMIT: usize = 1000;

/// Query of `GET /audit`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// From (inclusive).
    #[serde(default)]
    pub from: Option<String>,
    /// To (exclusive).
    #[serde(default)]
    pub to: Option<String>,
    /// Actor user id.
    #[serde(default)]
    pub user: Option<String>,
    /// Device id.
    #[serde(default)]
    pub device: Option<String>,
    /// Kind (`SignIn`, `User`, `Role`, ...).
    #[serde(default)]
    pub kind: Option<String>,
    /// Most records.
    #[serde(default)]
    pub limit: Option<usize>,
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

fn time(name: &str, s: &Option<String>, default: Timestamp) -> ApiResult<Timestamp> {
    match s {
        Some(s) => s
            .parse()
            .map_err(|e| ApiError::bad_request(format!("{name}: {e}"))),
        None => Ok(default),
    }
}

/// `GET /api/v1/audit`.
pub async fn query(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let now = state.dir.now();
    let from = time("from", &p.from, now - SignedDuration::from_hours(24 * 30))?;
    let to = time("to", &p.to, now + SignedDuration::from_secs(1))?;
    let mut q = AuditQuery::range(from, to);
    q.limit = p.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_AUDIT_QUERY);
    if let Some(u) = &p.user {
        let id: UserId = parse_id("user", u)?;
        q.user = Some(id);
    }
    if let Some(d) = &p.device {
        let id: DeviceId = parse_id("device", d)?;
        q.device = Some(id);
    }
    if let Some(k) = &p.kind {
        let kind: AuditKind = serde_json::from_value(json!(k))
            .map_err(|_| ApiError::bad_request(format!("kind: unknown audit kind {k:?}")))?;
        q.kind = Some(kind);
    }
    if let Some(hub) = state.sessions.hub() {
        // Session transitions are written behind; the reader sees every one before its query.
        hub.flush_audit().await;
    }
    let records = state.dir.query_audit(caller.tenant, &q).await?;
    match p.format.as_deref() {
        None | Some("json") => Ok(Json(json!({ "records": records })).into_response()),
        Some("csv") => Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&records),
        )
            .into_response()),
        Some(other) => Err(ApiError::bad_request(format!(
            "format: {other:?} is neither json nor csv"
        ))),
    }
}
