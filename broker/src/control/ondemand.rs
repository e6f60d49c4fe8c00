//! An OnDemand agent's control connection: the join with a nine-digit key (it then waits in
//! its tenant's queue, told its position), and its answers to the session a technician starts.
//!
//! The hub has no device id for an agent, so the connection remembers the sessions it was
//! told about (`OnDemandStarted`) and only forwards answers about those.

use std::collections::HashSet;

use switchboard_actors::{Hub, OnDemandAgent, SessionEvent};
use switchboard_codec::message::OnDemandJoin;
use switchboard_codec::{ControlMessage, ErrorCode, SessionId, Side};
use tokio::sync::mpsc;

/// Puts the agent in the queue; `tx` is its connection's writer (the queue position and the
/// technician's start go there).
pub(crate) async fn join(
    hub: &Hub,
    join: &OnDemandJoin,
    tx: mpsc::Sender<ControlMessage>,
) -> Result<u32, ErrorCode> {
    let agent = OnDemandAgent {
        info: join.device.clone(),
        static_key: join.static_key,
        tx,
    };
    hub.ondemand_join(&join.key.to_string(), agent)
        .await
        .map_err(|e| e.code())
}

/// The sessions an agent connection was started for.
#[derive(Debug, Default)]
pub(crate) struct AgentSessions {
    ids: HashSet<SessionId>,
}

/// An agent holds at most this many sessions in memory (one connection, one session: the
/// bound only guards against a misbehaving hub).
const MAX_AGENT_SESSIONS: usize = 16;

impl AgentSessions {
    /// Notes sessions the hub tells the agent about.
    pub(crate) fn observe_outbound(&mut self, msg: &ControlMessage) {
        if let ControlMessage::OnDemandStarted { session_id }
        | ControlMessage::SessionOffer { session_id, .. } = msg
            && self.ids.len() < MAX_AGENT_SESSIONS
        {
            self.ids.insert(*session_id);
        }
    }

    /// The agent's message: answers about its own sessions go to the hub.
    pub(crate) fn on_agent_message(&self, hub: &Hub, msg: ControlMessage) {
        let (session, event) = match msg {
            ControlMessage::SessionAccept { session_id } => {
                (session_id, SessionEvent::HostAccepted)
            }
            ControlMessage::SessionReject {
                session_id, code, ..
            } => (session_id, SessionEvent::HostRejected { code }),
            ControlMessage::SessionCancel { session_id, .. } => {
                (session_id, SessionEvent::Cancelled { by: Side::Host })
            }
            other => {
                tracing::debug!(kind = other.type_number(), "OnDemand agent message ignored");
                return;
            }
        };
        if self.ids.contains(&session) {
            hub.session_event(session, event);
        }
    }
}
