//! The caller's own account: `GET /me`, TOTP enrolment and confirmation, recovery codes,
//! password change. TOTP and recovery-code changes are audited here (the directory's
//! credential edits do not audit).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use switchboard_directory::model::{AuditActor, AuditId, AuditKind, AuditOutcome, AuditRecord};
use switchboard_directory::rules::totp::totp_uri;

use super::caller::{Caller, Enrolling};
use super::error::{ApiError, ApiJson, ApiResult};
use super::state::AdminState;
use super::views::UserView;

/// Appends an audit record of the caller's own action.
pub(crate) async fn audit_self(state: &AdminState, caller: &Caller, what: &str) {
    let r = AuditRecord {
        id: AuditId::new_random(),
        tenant: caller.tenant,
        at: state.dir.now(),
        actor: AuditActor::User(caller.user),
        kind: AuditKind::User,
        what: what.to_owned(),
        from: None,
        outcome: AuditOutcome::Success,
        device: None,
        session: None,
    };
    if let Err(e) = state.dir.record_audit(r).await {
        tracing::warn!(error = %e, "could not audit");
    }
}

/// `GET /api/v1/me`.
pub async fn me(State(state): State<Arc<AdminState>>, caller: Caller) -> ApiResult<Json<Value>> {
    let u = state.dir.user(caller.user).await?;
    Ok(Json(json!({
        "user": UserView::of(&u, &caller.member),
        "tenant": caller.tenant,
    })))
}

/// `POST /api/v1/me/totp`: a new (unconfirmed) TOTP secret. Replacing a confirmed
/// authenticator needs a current code from it (`{"code": "..."}`), so a stolen token alone
/// cannot move the second factor to another device.
pub async fn totp_enrol(
    State(state): State<Arc<AdminState>>,
    Enrolling(caller): Enrolling,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let u = state.dir.user(caller.user).await?;
    let confirmed = u
        .credentials
        .totp
        .as_ref()
        .is_some_and(|t| t.last_step.is_some());
    if confirmed {
        let code: Option<CodeBody> = if body.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?,
            )
        };
        let Some(code) = code else {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "totp_enrolled",
                "an authenticator is already confirmed; send {\"code\"} from it to replace it",
            ));
        };
        state.dir.verify_totp(caller.user, &code.code).await?;
    }
    let st = state.dir.enroll_totp(caller.user).await?;
    audit_self(&state, &caller, "TOTP enrolment started").await;
    Ok(Json(json!({
        "otpauth_uri": totp_uri(&st, "Switchboard", &u.username),
        "secret_hex": hex::encode(&st.secret),
    })))
}

/// Body of `POST /me/totp/confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeBody {
    /// A current TOTP code.
    pub code: String,
}

/// `POST /api/v1/me/totp/confirm`: the first good code confirms the authenticator (and lifts
/// an enrol-only token to a full one).
pub async fn totp_confirm(
    State(state): State<Arc<AdminState>>,
    Enrolling(caller): Enrolling,
    ApiJson(body): ApiJson<CodeBody>,
) -> ApiResult<Json<Value>> {
    state.dir.verify_totp(caller.user, &body.code).await?;
    state.tokens.update(&caller.token, |o| o.enrol_only = false);
    audit_self(&state, &caller, "TOTP authenticator confirmed").await;
    Ok(Json(json!({"status": "ok"})))
}

/// `POST /api/v1/me/recovery-codes`: a new set of 10 (the old set stops working).
pub async fn recovery_codes(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    let codes = state.dir.new_recovery_codes(caller.user).await?;
    audit_self(&state, &caller, "recovery codes generated").await;
    Ok(Json(json!({ "recovery_codes": codes })))
}

/// Body of `POST /me/password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// Current password.
    pub current: String,
    /// New password (policy: 8+, upper, lower, digit).
    pub new: String,
}

/// `POST /api/v1/me/password`.
pub async fn change_password(
    State(state): State<Arc<AdminState>>,
    caller: Caller,
    ApiJson(body): ApiJson<PasswordBody>,
) -> ApiResult<Json<Value>> {
    if !state.dir.verify_password(caller.user, body.current).await? {
        return Err(ApiError::auth_failed());
    }
    state.dir.set_password(caller.user, body.new).await?;
    audit_self(&state, &caller, "password changed").await;
    Ok(Json(json!({"status": "ok"})))
}
