//! The live-session view the admin API needs: list a tenant's active sessions and terminate
//! one.
//!
//! [`HubSessions`] implements [`SessionRegistry`] over the actor layer: Guest connections
//! `track` each session the hub created for them, the hub stays the authority on whether it
//! is still live (entries whose session actor is gone are pruned on every read), and
//! `terminate` cancels through the hub like a Guest's `SessionCancel` would. [`NoSessions`]
//! (none at all) remains for tests of the admin API alone.
//!
//! Terminating tells both sides `SessionCancel`, and the session actor's end tells the relay
//! to cut the session's pipes (the in-process relay at once, through the hub's `RelayKill`
//! hook). On a cluster, a session this node does not track (its Guest is on another node,
//! only its Host here) is terminated by its owner node (`Hub::terminate_anywhere`, a bounded
//! wait for the owner's confirmation).

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use serde::Serialize;
use switchboard_actors::{Hub, SessionEvent};
use switchboard_codec::{ControlMessage, ErrorCode, SessionId, Side, UserId};
use switchboard_directory::model::TenantId;
use tokio::sync::mpsc;

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

/// What [`SessionRegistry::terminate`] returns.
pub type TerminateFuture<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

/// Active sessions of the tenants this broker holds.
pub trait SessionRegistry: Send + Sync + std::fmt::Debug {
    /// The tenant's active sessions.
    fn list(&self, tenant: TenantId) -> Vec<ActiveSession>;
    /// Ends a session of the tenant; `false` if the tenant has no such session.
    fn terminate<'a>(&'a self, tenant: TenantId, session: &'a str) -> TerminateFuture<'a>;
    /// The actor layer, when it runs in this process (live policy and presence for
    /// "my devices"); `None` by default.
    fn hub(&self) -> Option<Hub> {
        None
    }
}

/// No sessions at all (the admin API on its own, in tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSessions;

impl SessionRegistry for NoSessions {
    fn list(&self, _tenant: TenantId) -> Vec<ActiveSession> {
        Vec::new()
    }

    fn terminate<'a>(&'a self, _tenant: TenantId, _session: &'a str) -> TerminateFuture<'a> {
        Box::pin(async { false })
    }
}

/// Prune ended sessions every this many `track` calls (so an unread view stays bounded).
const PRUNE_EVERY: usize = 256;

#[derive(Debug, Clone)]
struct Tracked {
    tenant: TenantId,
    user: UserId,
    view: ActiveSession,
    guest_tx: mpsc::Sender<ControlMessage>,
}

/// [`SessionRegistry`] over the hub. Created before the hub (the admin API needs it first);
/// [`HubSessions::attach`] hands it the hub once started.
#[derive(Debug, Default)]
pub struct HubSessions {
    hub: OnceLock<Hub>,
    live: DashMap<SessionId, Tracked>,
    tracked: AtomicUsize,
}

impl HubSessions {
    /// An empty view, not attached yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Gives the view its hub (once; later calls are ignored).
    pub fn attach(&self, hub: Hub) {
        let _ = self.hub.set(hub);
    }

    /// A Guest connection got session `id` for `user` on `target`.
    pub fn track(
        &self,
        id: SessionId,
        tenant: TenantId,
        user: UserId,
        target: String,
        guest_tx: mpsc::Sender<ControlMessage>,
    ) {
        let started_at = self
            .hub
            .get()
            .map(|h| h.directory().now().to_string())
            .unwrap_or_default();
        self.live.insert(
            id,
            Tracked {
                tenant,
                user,
                view: ActiveSession {
                    id: id.to_string(),
                    user: user.to_string(),
                    target,
                    started_at,
                    relay: None,
                },
                guest_tx,
            },
        );
        if self.tracked.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.prune();
        }
    }

    /// The relay a session was assigned to.
    pub fn set_relay(&self, id: SessionId, relay: u64) {
        if let Some(mut e) = self.live.get_mut(&id) {
            e.view.relay = Some(relay);
        }
    }

    /// The session is over (its relay record arrived, or it was refused).
    pub fn forget(&self, id: SessionId) {
        self.live.remove(&id);
    }

    /// Sessions tracked now (ended ones included until the next prune).
    pub fn tracked_len(&self) -> usize {
        self.live.len()
    }

    /// Drops entries whose session actor is gone.
    fn prune(&self) {
        let Some(hub) = self.hub.get() else {
            return;
        };
        self.live.retain(|id, t| hub.session_guest_is(*id, t.user));
    }
}

impl SessionRegistry for HubSessions {
    fn hub(&self) -> Option<Hub> {
        self.hub.get().cloned()
    }

    fn list(&self, tenant: TenantId) -> Vec<ActiveSession> {
        self.prune();
        let hub = self.hub.get();
        let mut out: Vec<ActiveSession> = self
            .live
            .iter()
            .filter(|e| e.tenant == tenant)
            .map(|e| {
                let mut v = e.view.clone();
                v.relay = v
                    .relay
                    .or_else(|| hub.and_then(|h| h.session_relay(*e.key())).map(|r| r.0));
                v
            })
            .collect();
        out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        out
    }

    fn terminate<'a>(&'a self, tenant: TenantId, session: &'a str) -> TerminateFuture<'a> {
        Box::pin(async move {
            let Ok(id) = session.parse::<SessionId>() else {
                return false;
            };
            let Some(hub) = self.hub.get() else {
                return false;
            };
            if self.live.get(&id).is_none_or(|t| t.tenant != tenant) {
                // Owned by another node of the cluster (or by nobody).
                let wire = switchboard_codec::TenantId(*tenant.as_bytes());
                return hub.terminate_anywhere(wire, id).await;
            }
            self.terminate_tracked(hub, tenant, id)
        })
    }
}

impl HubSessions {
    fn terminate_tracked(&self, hub: &Hub, tenant: TenantId, id: SessionId) -> bool {
        let Some(t) = self
            .live
            .get(&id)
            .filter(|t| t.tenant == tenant)
            .map(|t| t.clone())
        else {
            return false;
        };
        // Cancelled by the Guest's side tells the Host; the Guest is told here.
        let delivered = hub.session_event(id, SessionEvent::Cancelled { by: Side::Guest });
        if delivered {
            let _ = t.guest_tx.try_send(ControlMessage::SessionCancel {
                session_id: id,
                code: ErrorCode::Cancelled,
            });
        }
        self.live.remove(&id);
        delivered
    }
}
