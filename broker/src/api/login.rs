//! `POST /api/v1/login`, `POST /api/v1/login/mfa`, `POST /api/v1/logout`.
//!
//! The password step is rate limited per source IP and per username (token buckets, 429
//! `rate_limited`), answers the same `auth_failed` for an unknown user, an unknown tenant, a
//! non-member, a disabled member and a wrong password, and spends the same Argon2id time in
//! each case (an unknown user is verified against a dummy hash). Every attempt is audited in
//! the tenant it names (when there is one). When the member's TOTP is confirmed or the
//! tenant's MFA policy requires it, the answer is `mfa_required` with a short-lived ticket;
//! the second step takes a TOTP code or a recovery code (5 wrong codes end the ticket). When
//! MFA is required but nothing is enrolled, the token issued is good only for enrolling.

use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use switchboard_directory::model::{
    AuditActor, AuditId, AuditKind, AuditOutcome, AuditRecord, TenantId, User, UserId,
};
use switchboard_directory::rules::tenant::mfa_required;

use super::caller::Enrolling;
use super::error::{ApiError, ApiJson, ApiResult};
use super::state::{AdminState, MAX_MFA_ATTEMPTS, MfaPending, TokenOwner};
use crate::metrics::count_login;
use crate::server::PeerAddr;

/// The peer's IP address (unspecified when the server did not record it).
#[derive(Debug, Clone, Copy)]
pub struct PeerIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<PeerAddr>>()
                .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.0.ip()),
        ))
    }
}

/// Password step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Tenant id or name; the user's primary account when absent.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Second step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaRequest {
    /// The ticket from the password step.
    pub ticket: String,
    /// A TOTP code.
    #[serde(default)]
    pub code: Option<String>,
    /// Or a recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// Either a token or an MFA ticket.
#[derive(Debug, Serialize)]
pub struct LoginResponse {
    /// `ok`, `mfa_required` or `mfa_enrolment_required`.
    pub status: &'static str,
    /// Bearer token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Seconds the token or ticket lives.
    pub expires_in: u64,
    /// MFA ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// The tenant the token acts in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// The user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
}

async fn audit_login(
    state: &AdminState,
    tenant: TenantId,
    actor: AuditActor,
    ip: IpAddr,
    what: String,
    outcome: AuditOutcome,
) {
    let record = AuditRecord {
        id: AuditId::new_random(),
        tenant,
        at: state.dir.now(),
        actor,
        kind: AuditKind::SignIn,
        what,
        from: Some(ip),
        outcome,
        device: None,
        session: None,
    };
    if let Err(e) = state.dir.record_audit(record).await {
        tracing::warn!(error = %e, "could not audit a sign-in");
    }
}

async fn resolve_tenant(state: &AdminState, name: &str) -> ApiResult<Option<TenantId>> {
    if let Ok(id) = name.parse::<TenantId>() {
        return Ok(Some(id));
    }
    for id in state.dir.tenants().await? {
        if state
            .dir
            .tenant(id)
            .await?
            .name
            .eq_ignore_ascii_case(name.trim())
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

async fn verify(state: &AdminState, hash: Option<String>, password: String) -> bool {
    let hash = hash.unwrap_or_else(|| state.dummy_hash.clone());
    tokio::task::spawn_blocking(move || {
        switchboard_directory::rules::password::verify_password(&hash, &password)
    })
    .await
    .ok()
    .and_then(Result::ok)
    .unwrap_or(false)
}

fn totp_confirmed(u: &User) -> bool {
    u.credentials
        .totp
        .as_ref()
        .is_some_and(|t| t.last_step.is_some())
}

fn issue(state: &AdminState, owner: TokenOwner) -> ApiResult<LoginResponse> {
    let token = state
        .tokens
        .issue(owner)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(LoginResponse {
        status: if owner.enrol_only {
            "mfa_enrolment_required"
        } else {
            "ok"
        },
        token: Some(token),
        expires_in: state.tokens.ttl().as_secs(),
        ticket: None,
        tenant: Some(owner.tenant),
        user: Some(owner.user),
    })
}

/// `POST /api/v1/login`.
pub async fn login(
    State(state): State<Arc<AdminState>>,
    PeerIp(ip): PeerIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let username = req.username.trim().to_lowercase();
    if let Err(wait) = state.ip_limit.try_take(&ip.to_string()) {
        count_login("password", "rate_limited");
        return Err(ApiError::rate_limited(wait));
    }
    if let Err(wait) = state.user_limit.try_take(&username) {
        count_login("password", "rate_limited");
        return Err(ApiError::rate_limited(wait));
    }
    let user = state.dir.user_by_username(&username).await?;
    let tenant = match &req.tenant {
        Some(t) => resolve_tenant(&state, t).await?,
        None => user.as_ref().map(|u| u.primary_tenant),
    };
    let member = match (&user, tenant) {
        (Some(u), Some(t)) => state.dir.membership(t, u.id).await.ok(),
        _ => None,
    };
    let hash = user
        .as_ref()
        .and_then(|u| u.credentials.password_hash.clone());
    let password_ok = verify(&state, hash, req.password).await;
    let (Some(user), Some(tenant), Some(member)) = (user, tenant, member) else {
        count_login("password", "failed");
        if let Some(t) = tenant {
            audit_login(
                &state,
                t,
                AuditActor::Anonymous(Some(username.clone())),
                ip,
                format!("sign-in of {username:?} refused"),
                AuditOutcome::Denied("auth_failed".into()),
            )
            .await;
        }
        return Err(ApiError::auth_failed());
    };
    if !password_ok || !member.state.is_active() {
        count_login("password", "failed");
        audit_login(
            &state,
            tenant,
            AuditActor::User(user.id),
            ip,
            format!("sign-in of {username:?} refused"),
            AuditOutcome::Denied("auth_failed".into()),
        )
        .await;
        return Err(ApiError::auth_failed());
    }
    let policy = state.dir.tenant(tenant).await?.mfa_policy;
    let enrolled = totp_confirmed(&user);
    if enrolled || mfa_required(policy, &member) {
        if !enrolled {
            count_login("password", "ok");
            audit_login(
                &state,
                tenant,
                AuditActor::User(user.id),
                ip,
                "signed in (enrolment-only: MFA required, none enrolled)".into(),
                AuditOutcome::Success,
            )
            .await;
            return issue(
                &state,
                TokenOwner {
                    user: user.id,
                    tenant,
                    enrol_only: true,
                },
            )
            .map(Json);
        }
        count_login("password", "mfa_required");
        let ticket = state
            .mfa
            .issue(MfaPending {
                user: user.id,
                tenant,
                failures: 0,
            })
            .map_err(|e| ApiError::internal(&e))?;
        return Ok(Json(LoginResponse {
            status: "mfa_required",
            token: None,
            expires_in: state.mfa.ttl().as_secs(),
            ticket: Some(ticket),
            tenant: None,
            user: None,
        }));
    }
    count_login("password", "ok");
    audit_login(
        &state,
        tenant,
        AuditActor::User(user.id),
        ip,
        "signed in".into(),
        AuditOutcome::Success,
    )
    .await;
    issue(
        &state,
        TokenOwner {
            user: user.id,
            tenant,
            enrol_only: false,
        },
    )
    .map(Json)
}

/// `POST /api/v1/login/mfa`.
pub async fn login_mfa(
    State(state): State<Arc<AdminState>>,
    PeerIp(ip): PeerIp,
    ApiJson(req): ApiJson<MfaRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let method = if req.recovery_code.is_some() {
        "recovery_code"
    } else {
        "totp"
    };
    if let Err(wait) = state.ip_limit.try_take(&ip.to_string()) {
        count_login(method, "rate_limited");
        return Err(ApiError::rate_limited(wait));
    }
    let Some(pending) = state.mfa.get(&req.ticket) else {
        count_login(method, "failed");
        return Err(ApiError::auth_failed());
    };
    let result = match (&req.code, &req.recovery_code) {
        (Some(c), None) => state.dir.verify_totp(pending.user, c).await,
        (None, Some(r)) => state.dir.redeem_recovery_code(pending.user, r).await,
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of code and recovery_code",
            ));
        }
    };
    match result {
        Ok(()) => {
            state.mfa.take(&req.ticket);
            count_login(method, "ok");
            audit_login(
                &state,
                pending.tenant,
                AuditActor::User(pending.user),
                ip,
                format!("signed in ({method})"),
                AuditOutcome::Success,
            )
            .await;
            issue(
                &state,
                TokenOwner {
                    user: pending.user,
                    tenant: pending.tenant,
                    enrol_only: false,
                },
            )
            .map(Json)
        }
        Err(switchboard_directory::DirectoryError::InvalidCode) => {
            count_login(method, "failed");
            let mut spent = false;
            state.mfa.update(&req.ticket, |p| {
                p.failures += 1;
                spent = p.failures >= MAX_MFA_ATTEMPTS;
            });
            if spent {
                state.mfa.take(&req.ticket);
            }
            audit_login(
                &state,
                pending.tenant,
                AuditActor::User(pending.user),
                ip,
                format!("second factor refused ({method})"),
                AuditOutcome::Denied("auth_failed".into()),
            )
            .await;
            Err(ApiError::auth_failed())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/logout`: ends the caller's token.
pub async fn logout(
    State(state): State<Arc<AdminState>>,
    Enrolling(caller): Enrolling,
) -> ApiResult<Json<serde_json::Value>> {
    state.tokens.take(&caller.token);
    Ok(Json(serde_json::json!({"status": "ok"})))
}
