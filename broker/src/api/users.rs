//! Users of the caller's tenant: list, get, create (with a password) or invite (without),
//! disable, enable, remove, change the type (or transfer ownership) and the per-user MFA flag.
//! Group manager or higher (a member may set their own MFA flag); the directory applies the
//! hierarchy ("only users with roles below their role" for removal, no editing a higher type).
//! A user id of another tenant is answered 404 like an unknown one.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::DirectoryError;
use switchboard_directory::model::{DisabledReason, UserId, UserType};
use switchboard_directory::rules::user_types::Capability;
use switchboard_directory::service::NewUser;

use super::caller::Caller;
use super::error::{ApiError, ApiJson, ApiResult, parse_id};
use super::known::known_id;
use super::state::AdminState;
use super::views::UserView;

async fn view(state: &AdminState, caller: &Caller, id: UserId) -> ApiResult<UserView> {
    let m = state.dir.membership(caller.tenant, id).await?;
    let u = state.dir.user(id).await?;
    Ok(UserView::of(&u, &m))
}

/// `GET /api/v1/users`.
pub async fn list(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let mut out = Vec::new();
    for m in state.dir.memberships(caller.tenant).await? {
        match state.dir.user(m.user).await {
            Ok(u) => out.push(UserView::of(&u, &m)),
            Err(DirectoryError::UnknownId { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    out.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(Json(json!({ "users": out })))
}

/// `GET /api/v1/users/{id}`.
pub async fn get(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    let id: UserId = parse_id("user", &id)?;
    if id != caller.user {
        caller.require(Capability::ManageUsersAndDevices)?;
    }
    Ok(Json(view(&state, &caller, id).await?))
}

/// Body of `POST /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    /// Login name.
    pub username: String,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default)]
    pub last_name: String,
    /// Email.
    #[serde(default)]
    pub email: String,
    /// Password: given → created active (self-hosted); absent → invited.
    #[serde(default)]
    pub password: Option<String>,
    /// Type (default User).
    #[serde(default, rename = "type")]
    pub user_type: Option<UserType>,
}

/// `POST /api/v1/users`.
pub async fn create(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(b): ApiJson<NewUserBody>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let ty = b.user_type.unwrap_or_default();
    let invite = b.password.is_none();
    let new = NewUser {
        username: b.username,
        first_name: b.first_name,
        last_name: b.last_name,
        email: b.email,
        password: b.password,
        ..NewUser::default()
    };
    let u = if invite {
        if ty != UserType::User {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_request",
                "invited users start as type User; give a password to create another type",
            ));
        }
        state
            .dir
            .invite_user(caller.tenant, &caller.actor(), new)
            .await?
    } else {
        state
            .dir
            .create_user(caller.tenant, &caller.actor(), new, ty)
            .await?
    };
    Ok((
        StatusCode::CREATED,
        Json(view(&state, &caller, u.id).await?),
    ))
}

async fn set_disabled(
    state: &AdminState,
    caller: &Caller,
    id: &str,
    reason: Option<DisabledReason>,
) -> ApiResult<Json<UserView>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: UserId = known_id(state, caller, id).await?;
    state
        .dir
        .set_member_disabled(caller.tenant, &caller.actor(), id, reason)
        .await?;
    if reason.is_some() {
        state
            .tokens
            .revoke_where(|o| o.user == id && o.tenant == caller.tenant);
    }
    Ok(Json(view(state, caller, id).await?))
}

/// `POST /api/v1/users/{id}/disable`.
pub async fn disable(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    set_disabled(&state, &caller, &id, Some(DisabledReason::Manual)).await
}

/// `POST /api/v1/users/{id}/enable`.
pub async fn enable(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<UserView>> {
    set_disabled(&state, &caller, &id, None).await
}

/// `DELETE /api/v1/users/{id}`.
pub async fn remove(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: UserId = known_id(&state, &caller, &id).await?;
    state
        .dir
        .remove_user(caller.tenant, &caller.actor(), id)
        .await?;
    state.tokens.revoke_where(|o| o.user == id);
    Ok(Json(json!({"status": "removed"})))
}

/// Decodes a body read as JSON only after the path's user was found, so an id of another
/// tenant is answered 404 whatever the body (a well-formed but wrong body is a 400).
fn body_of<T: serde::de::DeserializeOwned>(raw: Value) -> ApiResult<T> {
    serde_json::from_value(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// Body of `PUT /users/{id}/type`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeBody {
    /// The new type.
    #[serde(rename = "type")]
    pub user_type: UserType,
}

/// `PUT /api/v1/users/{id}/type` `{type}`. Nobody edits a higher type or grants one above
/// their own (002/004 §2.2). `AccountOwner` transfers ownership: only the owner may, the
/// previous owner becomes an Account administrator and both must log in again (004).
pub async fn set_type(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult<Json<UserView>> {
    caller.require(Capability::ManageUsersAndDevices)?;
    let id: UserId = known_id(&state, &caller, &id).await?;
    let b: TypeBody = body_of(raw)?;
    if b.user_type == UserType::AccountOwner {
        state
            .dir
            .transfer_ownership(caller.tenant, &caller.actor(), id)
            .await?;
        let previous = caller.user;
        state
            .tokens
            .revoke_where(|o| o.tenant == caller.tenant && (o.user == id || o.user == previous));
    } else {
        state
            .dir
            .set_member_type(caller.tenant, &caller.actor(), id, b.user_type)
            .await?;
    }
    Ok(Json(view(&state, &caller, id).await?))
}

/// Body of `PUT /users/{id}/mfa`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaBody {
    /// Per-user MFA on or off.
    pub enabled: bool,
}

/// `PUT /api/v1/users/{id}/mfa` `{enabled}`: the member's own MFA flag. Anyone for themselves,
/// group manager or higher for others (not of a higher type). Refused with `mfa_policy` when
/// the account enforces MFA, or disables it and `enabled` is true (002/004 §1.4).
pub async fn set_mfa(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(raw): ApiJson<Value>,
) -> ApiResult<Json<UserView>> {
    let id: UserId = parse_id("user", &id)?;
    if id != caller.user {
        caller.require(Capability::ManageUsersAndDevices)?;
    }
    state.dir.membership(caller.tenant, id).await?;
    let b: MfaBody = body_of(raw)?;
    state
        .dir
        .set_member_mfa(caller.tenant, &caller.actor(), id, b.enabled)
        .await?;
    Ok(Json(view(&state, &caller, id).await?))
}
