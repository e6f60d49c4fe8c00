//! The OnDemand queue of a tenant (002/004 §6.2), run inside the tenant actor.
//!
//! An end user's agent joins with a key and waits (at most `ondemand_queue_limit`, 1 h by
//! default, then it is told `ondemand_queue_timeout` and disconnected); one waiting connection
//! per key. A technician sees the queue (own invitations, or all with "All Invitations"), and
//! starts a session (the key is used up; the end user must still allow it) or rejects it (the
//! agent is disconnected and the key disabled). Key validity (24 h) and the one-connection rule
//! are also enforced by the directory, whose clock decides expiry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorRef;
use switchboard_codec::message::DeviceInfo;
use switchboard_codec::{ControlMessage, ErrorCode, SessionId, UserId};
use switchboard_directory::model::{
    AuditActor, AuditKind, AuditOutcome, OnDemandSession, PermissionSet,
};
use switchboard_directory::rules::ondemand_key::{can_see_session, check_ondemand_user};
use switchboard_directory::rules::wire::to_wire;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::counts::{ActorKind, Envelope, TaskGuard};
use crate::hub::{GuestLink, HostPeer, SessionSpec, try_send};
use crate::hub_ondemand::ondemand_code;
use crate::ids::{dir_user, new_session_id, wire_user};
use crate::metrics;
use crate::tenant::{TenantMsg, TenantState};

/// An end user's agent that joined with an OnDemand key.
#[derive(Debug, Clone)]
pub struct OnDemandAgent {
    /// What the agent reported.
    pub info: DeviceInfo,
    /// The agent's static X25519 key (sent to the technician for Noise).
    pub static_key: [u8; 32],
    /// The agent connection's writer.
    pub tx: mpsc::Sender<ControlMessage>,
}

/// One waiting agent as a technician sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    /// The key it joined with.
    pub key: String,
    /// The technician who created the key.
    pub created_by: UserId,
    /// Host name reported by the agent.
    pub hostname: String,
    /// How long it has waited.
    pub waiting: Duration,
}

/// The queue as one technician sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueView {
    /// Visible waiting agents, longest waiting first.
    pub items: Vec<QueueItem>,
    /// The viewer's OnDemand permission set (own vs all invitations, and the session actions).
    pub permissions: PermissionSet,
}

#[derive(Debug)]
struct Waiting {
    session: OnDemandSession,
    agent: OnDemandAgent,
    joined: Instant,
    generation: u64,
    _timer: TaskGuard,
}

/// Waiting agents by key.
#[derive(Debug, Default)]
pub(crate) struct OnDemandQueue {
    waiting: HashMap<String, Waiting>,
    next_gen: u64,
}

impl OnDemandQueue {
    fn gauge(&self) {
        ::metrics::gauge!(metrics::ONDEMAND_QUEUED).set(self.waiting.len() as f64);
    }
}

pub(crate) async fn join(
    state: &mut TenantState,
    myself: &ActorRef<Envelope<TenantMsg>>,
    key: String,
    agent: OnDemandAgent,
) -> Result<u32, ErrorCode> {
    // 002/004: "valid only for one remote connection".
    if state.queue.waiting.contains_key(&key) {
        return Err(ErrorCode::OndemandKeyInvalid);
    }
    let shared = Arc::clone(&state.hub.shared);
    if state.queue.waiting.len() >= shared.config.ondemand_queue_cap {
        return Err(ErrorCode::QuotaExceeded);
    }
    let session = shared
        .directory
        .join_ondemand(&key)
        .await
        .map_err(|e| ondemand_code(&e))?;
    state.queue.next_gen += 1;
    let generation = state.queue.next_gen;
    let limit = shared.config.ondemand_queue_limit;
    let me = myself.clone();
    let counts = Arc::clone(&shared.counts);
    let watched = agent.tx.clone();
    let timer_key = key.clone();
    let task = tokio::spawn(async move {
        let agent_left = tokio::select! {
            () = tokio::time::sleep(limit) => false,
            () = watched.closed() => true,
        };
        drop(watched);
        let _ = me.cast(Envelope::new(
            &counts,
            ActorKind::Tenant,
            TenantMsg::QueueTimeout {
                key: timer_key,
                generation,
                agent_left,
            },
        ));
    });
    let position = u32::try_from(state.queue.waiting.len() + 1).unwrap_or(u32::MAX);
    try_send(&agent.tx, ControlMessage::OnDemandQueued { position });
    state.queue.waiting.insert(
        key,
        Waiting {
            session,
            agent,
            joined: Instant::now(),
            generation,
            _timer: TaskGuard::new(task.abort_handle()),
        },
    );
    state.queue.gauge();
    Ok(position)
}

pub(crate) fn view(state: &TenantState, viewer: UserId) -> QueueView {
    let policy = state.handle.policy();
    let at = state.hub.shared.directory.now();
    let access = policy.snapshot.evaluate_ondemand(&dir_user(viewer), at);
    let now = Instant::now();
    let mut items: Vec<(Instant, QueueItem)> = state
        .queue
        .waiting
        .iter()
        .filter(|(_, w)| can_see_session(dir_user(viewer), &access, &w.session))
        .map(|(k, w)| {
            (
                w.joined,
                QueueItem {
                    key: k.clone(),
                    created_by: wire_user(w.session.created_by),
                    hostname: w.agent.info.hostname.clone(),
                    waiting: now.saturating_duration_since(w.joined),
                },
            )
        })
        .collect();
    items.sort_by_key(|(joined, _)| *joined);
    QueueView {
        items: items.into_iter().map(|(_, i)| i).collect(),
        permissions: access.permissions,
    }
}

/// Whether `technician` may act on the session waiting on `key`.
fn may_act(state: &TenantState, technician: UserId, key: &str) -> Result<PermissionSet, ErrorCode> {
    let policy = state.handle.policy();
    let u = dir_user(technician);
    let access = policy
        .snapshot
        .evaluate_ondemand(&u, state.hub.shared.directory.now());
    let member = policy.members.get(&u).ok_or(ErrorCode::NotPermitted)?;
    check_ondemand_user(member, &access).map_err(|_| ErrorCode::NotPermitted)?;
    let w = state
        .queue
        .waiting
        .get(key)
        .ok_or(ErrorCode::OndemandKeyInvalid)?;
    if !can_see_session(u, &access, &w.session) {
        return Err(ErrorCode::NotPermitted);
    }
    Ok(access.permissions)
}

pub(crate) async fn start(
    state: &mut TenantState,
    key: String,
    technician: GuestLink,
    region: Option<String>,
) -> Result<SessionId, ErrorCode> {
    let permissions = may_act(state, technician.user, &key)?;
    let w = state
        .queue
        .waiting
        .remove(&key)
        .ok_or(ErrorCode::OndemandKeyInvalid)?;
    state.queue.gauge();
    let shared = Arc::clone(&state.hub.shared);
    if let Err(e) = shared.directory.start_ondemand(&key).await {
        let code = ondemand_code(&e);
        try_send(&w.agent.tx, ControlMessage::OnDemandRejected { code });
        return Err(code);
    }
    let id = new_session_id();
    try_send(
        &w.agent.tx,
        ControlMessage::OnDemandStarted { session_id: id },
    );
    let spec = SessionSpec {
        tenant: state.tenant,
        request_id: 0,
        guest: technician,
        host: HostPeer::Direct(w.agent.tx.clone()),
        host_static_key: w.agent.static_key,
        device: None,
        host_conn: None,
        granted: to_wire(permissions),
        // 002/004 §6.2: the end user must allow the session.
        confirm_required: true,
        region,
        ondemand: Some(w.session.id),
    };
    state
        .hub
        .spawn_session_with_id(id, spec)
        .await
        .map_err(|e| e.code())
}

pub(crate) async fn reject(
    state: &mut TenantState,
    key: String,
    viewer: UserId,
) -> Result<(), ErrorCode> {
    may_act(state, viewer, &key)?;
    let w = state
        .queue
        .waiting
        .remove(&key)
        .ok_or(ErrorCode::OndemandKeyInvalid)?;
    state.queue.gauge();
    // 002/004: "A new OnDemand session is necessary": the key is disabled.
    if let Err(e) = state.hub.shared.directory.reject_ondemand(&key).await {
        tracing::warn!(error = %e, "OnDemand reject not stored");
    }
    try_send(
        &w.agent.tx,
        ControlMessage::OnDemandRejected {
            code: ErrorCode::OndemandRejected,
        },
    );
    // Dropping `w` drops the last sender this actor holds: the agent is disconnected.
    Ok(())
}

pub(crate) async fn timeout(
    state: &mut TenantState,
    key: String,
    generation: u64,
    agent_left: bool,
) {
    if state
        .queue
        .waiting
        .get(&key)
        .is_none_or(|w| w.generation != generation)
    {
        return;
    }
    let Some(w) = state.queue.waiting.remove(&key) else {
        return;
    };
    state.queue.gauge();
    let what = if agent_left {
        "OnDemand agent left the queue"
    } else {
        try_send(
            &w.agent.tx,
            ControlMessage::OnDemandRejected {
                code: ErrorCode::OndemandQueueTimeout,
            },
        );
        "OnDemand agent waited too long in the queue"
    };
    state
        .hub
        .shared
        .audit(
            state.tenant,
            AuditActor::System,
            AuditKind::OnDemand,
            what.to_owned(),
            if agent_left {
                AuditOutcome::Success
            } else {
                AuditOutcome::Denied(ErrorCode::OndemandQueueTimeout.name().to_owned())
            },
            None,
            None,
        )
        .await;
}
