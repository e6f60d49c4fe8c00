//! The live-session view the admin API needs: list a tenant's active sessions and terminate
//! one.
//!
//! The actors crate implements [`SessionRegistry`] over its `SessionActor`s; until the control
//! listeners are wired, the broker uses [`NoSessions`], which has none.

use serde::Serialize;
use switchboard_directory::model::TenantId;

/// One active session as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActiveSession {
    /// Session id.
    pub id: String,
    /// The technician (user id).
    pub user: String,
    /// The device id, or the OnDemand session id.
    pub target: String,
    /// Start instant (RFC 3339).
    pub started_at: String,
    /// The relay carrying it.
    pub relay: Option<u64>,
}

/// Active sessions of the tenants this broker holds.
pub trait SessionRegistry: Send + Sync + std::fmt::Debug {
    /// The tenant's active sessions.
    fn list(&self, tenant: TenantId) -> Vec<ActiveSession>;
    /// Ends a session of the tenant; `false` if the tenant has no such session.
    fn terminate(&self, tenant: TenantId, session: &str) -> bool;
}

/// No sessions at all (until the actors are wired in).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSessions;

impl SessionRegistry for NoSessions {
    fn list(&self, _tenant: TenantId) -> Vec<ActiveSession> {
        Vec::new()
    }

    fn terminate(&self, _tenant: TenantId, _session: &str) -> bool {
        false
    }
}
