//! The admin HTTP API: JSON under `/api/v1`, plus `/metrics`.
//!
//! Layout: `state` (shared state), `error` (the error answer and the one `DirectoryError`
//! mapping, JSON/query extractors), `caller` (bearer-token authentication), `known` (ids
//! resolved in the caller's tenant), `group_kind` (what differs between the two group kinds), `routes` (the
//! route table the OpenAPI document is generated from), `views` (user view without secrets),
//! and one file per resource family: `login`, `me`, `my_devices`, `tenant`, `users`, `groups`, `roles`,
//! `assignments`, `packages`, `devices`, `ondemand`, `check`, `sessions`, `audit`.
//!
//! Every route except login, the OpenAPI document, health and metrics needs a bearer token;
//! each handler checks the caller's user type, resolves every id inside the caller's tenant
//! (another tenant's id is a 404 exactly like an unknown one) and lets the directory audit the
//! change. It serves no control connections: that is the control listeners' job.

pub mod assignments;
pub mod audit;
pub mod caller;
pub mod check;
pub mod devices;
pub mod error;
pub mod group_kind;
pub mod groups;
pub mod known;
pub mod login;
pub mod me;
pub mod my_devices;
pub mod ondemand;
pub mod packages;
pub mod roles;
pub mod routes;
pub mod sessions;
pub mod state;
pub mod tenant;
pub mod users;
pub mod views;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use switchboard_directory::model::{DeviceGroup, UserGroup};

use crate::metrics as m;
pub use error::{ApiError, ApiResult};
pub use routes::{Api, RouteDoc};
pub use state::AdminState;

/// The API prefix.
pub const PREFIX: &str = "/api/v1";

async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let start = tokio::time::Instant::now();
    let resp = next.run(req).await;
    let class = m::status_class(resp.status().as_u16());
    metrics::counter!(m::ADMIN_REQUESTS_TOTAL, m::LABEL_ROUTE => route.clone(), m::LABEL_STATUS_CLASS => class)
        .increment(1);
    metrics::histogram!(m::ADMIN_REQUEST_DURATION_SECONDS, m::LABEL_ROUTE => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such endpoint")
}

async fn metrics_text(State(state): State<Arc<AdminState>>) -> Response {
    match &state.prometheus {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            crate::metrics::render(h),
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal",
            "no metrics recorder in this process",
        )
        .into_response(),
    }
}

async fn health() -> axum::Json<Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Every route of the admin API, in one table.
pub fn table() -> Api {
    use routes::Api;
    Api::new()
        .public(
            "post",
            "/api/v1/login",
            "Password step of login",
            login::login,
        )
        .public(
            "post",
            "/api/v1/login/mfa",
            "Second factor (TOTP or recovery code)",
            login::login_mfa,
        )
        .post("/api/v1/logout", "End the caller's token", login::logout)
        .public("get", "/api/v1/health", "Liveness", health)
        .public("get", "/metrics", "Prometheus metrics", metrics_text)
        .get("/api/v1/me", "The caller and their tenant", me::me)
        .get(
            "/api/v1/me/devices",
            "My devices: where the caller may open a session now",
            my_devices::list,
        )
        .post("/api/v1/me/totp", "Start TOTP enrolment", me::totp_enrol)
        .post(
            "/api/v1/me/totp/confirm",
            "Confirm TOTP with a code",
            me::totp_confirm,
        )
        .post(
            "/api/v1/me/recovery-codes",
            "New set of 10 recovery codes",
            me::recovery_codes,
        )
        .post(
            "/api/v1/me/password",
            "Change the caller's password",
            me::change_password,
        )
        .get("/api/v1/tenant", "The caller's tenant", tenant::get)
        .patch(
            "/api/v1/tenant",
            "Change tenant settings (audit log)",
            tenant::patch,
        )
        .get("/api/v1/users", "List users", users::list)
        .post(
            "/api/v1/users",
            "Create (with password) or invite a user",
            users::create,
        )
        .get("/api/v1/users/{id}", "Get a user", users::get)
        .delete("/api/v1/users/{id}", "Remove a user", users::remove)
        .post(
            "/api/v1/users/{id}/disable",
            "Disable a user",
            users::disable,
        )
        .post("/api/v1/users/{id}/enable", "Enable a user", users::enable)
        .put(
            "/api/v1/users/{id}/type",
            "Change a user's type (AccountOwner: transfer ownership)",
            users::set_type,
        )
        .put(
            "/api/v1/users/{id}/mfa",
            "Turn a user's own MFA flag on or off",
            users::set_mfa,
        )
        .get(
            "/api/v1/user-groups",
            "List user groups",
            groups::list::<UserGroup>,
        )
        .post(
            "/api/v1/user-groups",
            "Create a user group",
            groups::create::<UserGroup>,
        )
        .get(
            "/api/v1/user-groups/{id}",
            "Get a user group and its members",
            groups::get_user_group,
        )
        .delete(
            "/api/v1/user-groups/{id}",
            "Delete a user group",
            groups::delete::<UserGroup>,
        )
        .post(
            "/api/v1/user-groups/{id}/members",
            "Add users to a group",
            groups::add_user_members,
        )
        .post(
            "/api/v1/user-groups/{id}/members/remove",
            "Remove users from a group",
            groups::remove_user_members,
        )
        .get(
            "/api/v1/device-groups",
            "List device groups",
            groups::list::<DeviceGroup>,
        )
        .post(
            "/api/v1/device-groups",
            "Create a device group",
            groups::create::<DeviceGroup>,
        )
        .get(
            "/api/v1/device-groups/{id}",
            "Get a device group and its devices",
            groups::get_device_group,
        )
        .delete(
            "/api/v1/device-groups/{id}",
            "Delete a device group",
            groups::delete::<DeviceGroup>,
        )
        .post(
            "/api/v1/device-groups/{id}/members",
            "Add devices to a group",
            groups::add_device_members,
        )
        .post(
            "/api/v1/device-groups/{id}/members/remove",
            "Remove devices from a group",
            groups::remove_device_members,
        )
        .get("/api/v1/roles", "List roles", roles::list)
        .post("/api/v1/roles", "Create a role", roles::create)
        .get("/api/v1/roles/{id}", "Get a role", roles::get)
        .put("/api/v1/roles/{id}", "Update a role", roles::update)
        .delete(
            "/api/v1/roles/{id}",
            "Delete a role (answers the assignments it disabled)",
            roles::delete,
        )
        .post("/api/v1/roles/{id}/copy", "Copy a role", roles::copy)
        .get(
            "/api/v1/assignments",
            "List role assignments",
            assignments::list,
        )
        .post(
            "/api/v1/assignments",
            "Create a role assignment",
            assignments::create,
        )
        .post(
            "/api/v1/assignments/delete",
            "Delete several role assignments",
            assignments::delete_many,
        )
        .post(
            "/api/v1/assignments/schedule",
            "Set or remove the schedule of several assignments",
            assignments::set_schedules,
        )
        .get(
            "/api/v1/assignments/{id}",
            "Get a role assignment",
            assignments::get,
        )
        .delete(
            "/api/v1/assignments/{id}",
            "Delete a role assignment",
            assignments::delete_one,
        )
        .post(
            "/api/v1/assignments/{id}/active",
            "Activate or deactivate an assignment",
            assignments::set_active,
        )
        .get(
            "/api/v1/packages",
            "List deployment packages",
            packages::list,
        )
        .post(
            "/api/v1/packages",
            "Create a deployment package (key shown once)",
            packages::create,
        )
        .get(
            "/api/v1/packages/{id}",
            "Get a deployment package",
            packages::get,
        )
        .delete(
            "/api/v1/packages/{id}",
            "Remove a deployment package",
            packages::remove,
        )
        .post(
            "/api/v1/packages/{id}/revoke",
            "Revoke a package ({\"confirm\":\"revoke\"})",
            packages::revoke,
        )
        .get("/api/v1/devices", "List devices", devices::list)
        .get("/api/v1/devices/{id}", "Get a device", devices::get)
        .delete("/api/v1/devices/{id}", "Delete a device", devices::remove)
        .post(
            "/api/v1/devices/{id}/approve",
            "Approve a pending device",
            devices::approve,
        )
        .get(
            "/api/v1/ondemand",
            "The caller's OnDemand keys",
            ondemand::list,
        )
        .post(
            "/api/v1/ondemand",
            "Create an OnDemand key",
            ondemand::create,
        )
        .get(
            "/api/v1/check",
            "Check permissions of a user on a device",
            check::get,
        )
        .get("/api/v1/sessions", "Active sessions", sessions::list)
        .delete(
            "/api/v1/sessions/{id}",
            "Terminate a session",
            sessions::terminate,
        )
        .get(
            "/api/v1/audit",
            "Query the audit log (format=csv for a report)",
            audit::query,
        )
}

/// The router over `state`, with `/api/v1/openapi.json` generated from the same table.
pub fn router(state: Arc<AdminState>) -> (Router, Vec<RouteDoc>) {
    let doc: Arc<OnceLock<Value>> = Arc::new(OnceLock::new());
    let served = doc.clone();
    let api = table().public(
        "get",
        "/api/v1/openapi.json",
        "This OpenAPI document",
        move || {
            let v = served.get().cloned().unwrap_or(Value::Null);
            async move { axum::Json(v) }
        },
    );
    let (router, docs) = api.finish();
    let _ = doc.set(routes::openapi(&docs));
    let body_limit = state.max_body_bytes;
    let router = router
        .route_layer(axum::middleware::from_fn(track))
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state);
    (router, docs)
}
