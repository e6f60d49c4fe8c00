//! The admin API's error response and its one mapping from `DirectoryError`.
//!
//! Every refusal is JSON `{"code": "...", "message": "..."}` with an HTTP status. Codes are the
//! codec's `ErrorCode` machine names where one fits (`auth_failed`, `rate_limited`,
//! `not_permitted`, `mfa_required`, `quota_exceeded`, `internal`) and otherwise the directory
//! error kind (`not_found`, `duplicate_name`, `password_policy`, ...). Ids of another tenant are
//! answered exactly like unknown ids (404 `not_found`). Store failures are logged and answered
//! with a generic sentence. Also here: the JSON and query extractors that turn a malformed
//! body into a 400 with a clear message.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_codec::ErrorCode;
use switchboard_directory::DirectoryError;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Human sentence.
    pub message: String,
    /// Seconds for `Retry-After` (rate limits).
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        r
    }
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn from_code(status: StatusCode, code: ErrorCode) -> Self {
        Self::new(status, code.name(), code.sentence())
    }

    /// 400 with a sentence.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 404, the same for unknown ids and ids of another tenant.
    pub fn not_found(kind: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {kind}"),
        )
    }

    /// 401 `auth_failed` (wrong or unknown user, wrong password, bad token).
    pub fn auth_failed() -> Self {
        Self::from_code(StatusCode::UNAUTHORIZED, ErrorCode::AuthFailed)
    }

    /// 403 `not_permitted`.
    pub fn forbidden(message: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            ErrorCode::NotPermitted.name(),
            message,
        )
    }

    /// 429 `rate_limited`.
    pub fn rate_limited(retry_after: std::time::Duration) -> Self {
        let mut e = Self::from_code(StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited);
        e.retry_after = Some(retry_after.as_secs().max(1));
        e
    }

    /// 500 `internal` (the detail goes to the log, not the client).
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "admin API internal error");
        Self::from_code(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
    }

    /// 501: the directory has no operation for this yet.
    pub fn not_implemented(message: &str) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "not_implemented", message)
    }
}

impl From<DirectoryError> for ApiError {
    fn from(e: DirectoryError) -> Self {
        use DirectoryError as D;
        let unprocessable = |code: &'static str, e: &D| {
            Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
        };
        match &e {
            D::UnknownId { kind, .. } => Self::not_found(kind),
            D::DuplicateName { .. } => {
                Self::new(StatusCode::CONFLICT, "duplicate_name", e.to_string())
            }
            D::PasswordPolicy(_) => unprocessable("password_policy", &e),
            D::NotAllowed(m) => Self::forbidden(m),
            D::SystemRoleImmutable => unprocessable("system_role_immutable", &e),
            D::RolePurposeImmutable => unprocessable("role_purpose_immutable", &e),
            D::PermissionNotForPurpose => unprocessable("permission_not_for_purpose", &e),
            D::BuiltinGroupImmutable => unprocessable("builtin_group_immutable", &e),
            D::GroupMembershipManaged => unprocessable("group_membership_managed", &e),
            D::OnDemandRoleWithDeviceGroups => {
                unprocessable("ondemand_role_with_device_groups", &e)
            }
            D::AdministrationRoleWithDeviceGroups => {
                unprocessable("administration_role_with_device_groups", &e)
            }
            D::InvalidAssignment(_) => unprocessable("invalid_assignment", &e),
            D::InvalidSchedule(_) => unprocessable("invalid_schedule", &e),
            D::UnknownTimeZone(_) => unprocessable("unknown_time_zone", &e),
            D::RevokeConfirmationMismatch => unprocessable("revoke_confirmation_mismatch", &e),
            D::PackageHasDevices => {
                Self::new(StatusCode::CONFLICT, "package_has_devices", e.to_string())
            }
            D::EnrollmentRefused(r) => unprocessable(r.code(), &e),
            D::OnDemandRefused(_) => unprocessable("ondemand_refused", &e),
            D::QuotaExceeded { .. } => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::QuotaExceeded.name(),
                e.to_string(),
            ),
            D::MfaPolicy(_) => unprocessable("mfa_policy", &e),
            D::InvalidCode => unprocessable("invalid_code", &e),
            D::ExternalAuthentication => unprocessable("external_authentication", &e),
            D::Conflict { .. } => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the object changed concurrently; retry",
            ),
            _ => Self::internal(&e),
        }
    }
}

/// `axum::Json` whose rejection is a 400 `bad_request` with the parser's sentence.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(r) => Err(json_rejection(&r)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    let status = r.status();
    let mut e = ApiError::bad_request(format!("invalid JSON body: {}", r.body_text()));
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        e.status = status;
        e.code = "payload_too_large";
    } else if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        e.message = "send the body as JSON with Content-Type: application/json".into();
    }
    e
}

/// `axum::extract::Query` whose rejection is a 400 `bad_request`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(r) => Err(query_rejection(&r)),
        }
    }
}

fn query_rejection(r: &QueryRejection) -> ApiError {
    ApiError::bad_request(format!("invalid query string: {}", r.body_text()))
}

/// Parses a path id; a malformed one is answered as unknown (404), like another tenant's.
pub fn parse_id<T: std::str::FromStr>(kind: &str, s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|_| ApiError::not_found(kind))
}

/// The result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
