//! The admin API's shared state: the directory, token stores, limiters, sessions, metrics.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use switchboard_directory::model::{TenantId, UserId};
use switchboard_directory::service::Directory;

use crate::auth::{RateLimiter, SecretStore};
use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::sessions::SessionRegistry;

/// Most live bearer tokens / MFA tickets held.
pub const MAX_TOKENS: usize = 100_000;
/// Most keys per login limiter.
pub const MAX_LIMITER_KEYS: usize = 100_000;
/// Wrong codes allowed on one MFA ticket.
pub const MAX_MFA_ATTEMPTS: u32 = 5;

/// Who a bearer token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOwner {
    /// The user.
    pub user: UserId,
    /// The tenant the token acts in.
    pub tenant: TenantId,
    /// Only good for enrolling an authenticator (MFA required but none enrolled yet).
    pub enrol_only: bool,
}

/// A password step that still needs its second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaPending {
    /// The user.
    pub user: UserId,
    /// The tenant.
    pub tenant: TenantId,
    /// Wrong codes so far.
    pub failures: u32,
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AdminState {
    /// The directory.
    pub dir: Directory,
    /// Bearer tokens.
    pub tokens: SecretStore<TokenOwner>,
    /// MFA tickets.
    pub mfa: SecretStore<MfaPending>,
    /// Login attempts per source IP.
    pub ip_limit: RateLimiter,
    /// Login attempts per username.
    pub user_limit: RateLimiter,
    /// An Argon2id hash verified for unknown users, so they cost the same time.
    pub dummy_hash: String,
    /// Live sessions.
    pub sessions: Arc<dyn SessionRegistry>,
    /// The process's Prometheus handle (`None`: `/metrics` answers 503).
    pub prometheus: Option<PrometheusHandle>,
    /// Largest request body.
    pub max_body_bytes: usize,
}

impl AdminState {
    /// State for `dir` from the configuration's admin and login sections.
    pub async fn new(
        dir: Directory,
        cfg: &BrokerConfig,
        sessions: Arc<dyn SessionRegistry>,
        prometheus: Option<PrometheusHandle>,
    ) -> Result<Arc<Self>, BrokerError> {
        let dummy_hash =
            tokio::task::spawn_blocking(switchboard_directory::rules::password::dummy_hash)
                .await
                .map_err(|e| BrokerError::Generate(e.to_string()))??;
        Ok(Arc::new(Self {
            dir,
            tokens: SecretStore::new(cfg.token_ttl()?, MAX_TOKENS),
            mfa: SecretStore::new(cfg.mfa_ticket_ttl()?, MAX_TOKENS),
            ip_limit: RateLimiter::new(
                cfg.login.per_ip_burst,
                cfg.login.per_ip_per_minute,
                MAX_LIMITER_KEYS,
            ),
            user_limit: RateLimiter::new(
                cfg.login.per_user_burst,
                cfg.login.per_user_per_minute,
                MAX_LIMITER_KEYS,
            ),
            dummy_hash,
            sessions,
            prometheus,
            max_body_bytes: cfg.admin.max_body_bytes,
        }))
    }

    /// Bearer-token lifetime.
    pub fn token_ttl(&self) -> Duration {
        self.tokens.ttl()
    }
}
