//! The supervisor every tenant, device and session actor is linked to.
//!
//! It restarts nothing (a session cannot be resumed, a Host reconnects by itself, a tenant
//! actor is started again on next use); it cleans up after a failure so nothing leaks and
//! nobody waits forever:
//!
//! - a failed session actor: both sides are sent `SessionCancel` with `internal`, the relay slot
//!   is released, the OnDemand key finished, and the abort is audited;
//! - a failed device actor: its table entry and presence are cleared (its state, and with it
//!   the connection's sender, was dropped by the panic, so the broker's writer ends), and its
//!   sessions that are not active yet are cancelled;
//! - a failed tenant actor: its handle is removed.
//!
//! Other actors are not disturbed: the default ractor behaviour of stopping the supervisor when
//! a child exits is overridden.

use std::sync::Arc;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use switchboard_codec::{ControlMessage, ErrorCode, Side};
use switchboard_directory::model::{AuditActor, AuditKind, AuditOutcome};

use crate::counts::ActorKind;
use crate::device::release_device;
use crate::hub::{SessionEntry, Shared, try_send};
use crate::ids::dir_user;
use crate::metrics;
use crate::session::finish;

/// Messages of the supervisor (none besides supervision events).
#[derive(Debug)]
pub(crate) enum SupervisorMsg {}

/// The supervisor actor.
#[derive(Debug)]
pub(crate) struct Supervisor;

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = Arc<Shared>;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        shared: Arc<Shared>,
    ) -> Result<Arc<Shared>, ActorProcessingErr> {
        Ok(shared)
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        shared: &mut Arc<Shared>,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, err) = event {
            let id = cell.get_id();
            tracing::error!(actor = %id, error = %err, "actor failed");
            on_failure(shared, id).await;
        }
        Ok(())
    }
}

async fn on_failure(shared: &Shared, id: ActorId) {
    let session = shared
        .sessions
        .lock()
        .iter()
        .find(|(_, e)| e.actor_id == id)
        .map(|(s, e)| (*s, e.clone()));
    if let Some((sid, entry)) = session {
        shared.counts.failed(ActorKind::Session);
        session_failed(shared, sid, entry).await;
        return;
    }
    let device = shared
        .devices
        .lock()
        .iter()
        .find(|(_, e)| e.actor.get_id() == id)
        .map(|(d, e)| (*d, e.tenant, e.conn));
    if let Some((device, tenant, conn)) = device {
        shared.counts.failed(ActorKind::Device);
        release_device(shared, tenant, device, conn).await;
        return;
    }
    let mut tenants = shared.tenants.lock();
    let tenant = tenants
        .iter()
        .find(|(_, h)| h.actor.get_id() == id)
        .map(|(t, _)| *t);
    if let Some(t) = tenant {
        shared.counts.failed(ActorKind::Tenant);
        tenants.remove(&t);
    }
}

async fn session_failed(shared: &Shared, sid: switchboard_codec::SessionId, e: SessionEntry) {
    let code = ErrorCode::Internal;
    let cancel = ControlMessage::SessionCancel {
        session_id: sid,
        code,
    };
    try_send(&e.guest_tx, cancel.clone());
    shared.send_host(&e.host, cancel);
    finish(
        shared,
        sid,
        e.actor_id,
        e.relay,
        Some(code),
        e.tenant,
        e.ondemand,
    )
    .await;
    ::metrics::counter!(metrics::SESSIONS_ENDED_TOTAL, "code" => code.name()).increment(1);
    shared
        .audit(
            e.tenant,
            AuditActor::User(dir_user(e.user)),
            AuditKind::Session,
            format!(
                "session aborted after an internal failure; both sides ({} and {}) told",
                Side::Guest,
                Side::Host
            ),
            AuditOutcome::Failure(code.name().to_owned()),
            e.device,
            Some(sid),
        )
        .await;
}
