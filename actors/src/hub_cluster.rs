//! The hub's side of the cluster: offers to devices held by another broker node, and the
//! routes back.
//!
//! On the owner (the Guest's node): `authorize` finds the device's presence on node B,
//! [`probe`]s B (bounded by `ActorConfig::remote_answer_timeout`; no answer, or B no longer
//! holding the device, is `device_offline`), and the session actor's messages to the Host go
//! out as `ToHost` (see `Shared::send_host`). When the session ends, B is told `SessionOver`.
//!
//! On the device's node: a `ToHost` is delivered to the device actor if the probed connection
//! is still the device's (else the owner hears `HostGone`); an offer records a route
//! `session → owner`, so the Host's answers (`side_of`, `session_event`) and its connection
//! going away reach the owner as `HostEvent`s. Routes are dropped on `SessionOver`, on a
//! cancel, and with the device's connection.
//!
//! Relay reports go to the session wherever it lives ([`Hub::relay_event`]); an admin
//! terminate on a node that does not own the session asks the owner
//! ([`Hub::terminate_anywhere`]). No lock is held across an await.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use switchboard_codec::{ControlMessage, DeviceId, ErrorCode, SessionId, Side, TenantId};
use switchboard_directory::rules::access::HostState;
use tokio::sync::{mpsc, oneshot};

use crate::cluster::{NodeBus, NodeMessage};
use crate::counts::{ActorKind, Envelope, TaskGuard};
use crate::device::DeviceMsg;
use crate::hub::{Hub, Shared};
use crate::metrics;
use crate::session::{SessionEvent, SessionMsg};

/// A session whose Host is connected here and whose actor runs on `owner`.
#[derive(Debug, Clone)]
pub(crate) struct RemoteHost {
    pub(crate) owner: String,
    pub(crate) device: DeviceId,
    pub(crate) conn: u64,
}

/// A probe's answer: the device's connection number and Host state on the asked node.
type ProbeAnswer = Option<(u64, HostState)>;

/// What the cluster needs on each node.
#[derive(Debug)]
pub(crate) struct ClusterState {
    pub(crate) bus: Arc<dyn NodeBus>,
    next: AtomicU64,
    probes: Mutex<HashMap<u64, oneshot::Sender<ProbeAnswer>>>,
    terminations: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    /// Sessions owned elsewhere whose Host is connected here.
    pub(crate) remote_hosts: Mutex<HashMap<SessionId, RemoteHost>>,
    /// Sessions that lived and ended here, so a relay's late report about one is dropped
    /// instead of broadcast to every node.
    ended_here: Mutex<RecentSessions>,
    inbound: Mutex<TaskGuard>,
}

/// Sessions that ended on this node, the newest [`RecentSessions::CAP`] of them. A session
/// lives on one node only, so no other node can use a relay report about one of these.
#[derive(Debug, Default)]
struct RecentSessions {
    ids: HashSet<SessionId>,
    order: VecDeque<SessionId>,
}

impl RecentSessions {
    /// Enough for the relay reports that trail the ends of several seconds of setups.
    const CAP: usize = 16_384;

    fn insert(&mut self, id: SessionId) {
        if !self.ids.insert(id) {
            return;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAP
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
    }

    fn contains(&self, id: &SessionId) -> bool {
        self.ids.contains(id)
    }
}

/// The session id a Host-bound control message is about.
pub(crate) fn session_of(msg: &ControlMessage) -> Option<SessionId> {
    match msg {
        ControlMessage::SessionOffer { session_id, .. }
        | ControlMessage::RelayAssignment { session_id, .. }
        | ControlMessage::SessionCancel { session_id, .. }
        | ControlMessage::SessionReject { session_id, .. } => Some(*session_id),
        _ => None,
    }
}

impl Shared {
    /// The cluster bus, when this node joined one.
    pub(crate) fn cluster(&self) -> Option<&Arc<ClusterState>> {
        self.cluster.get()
    }

    /// Sends `msg` to the Host of a session owned here whose device is on `node`.
    pub(crate) fn send_remote_host(
        &self,
        node: &str,
        tenant: TenantId,
        device: DeviceId,
        conn: u64,
        msg: ControlMessage,
    ) -> bool {
        let (Some(c), Some(session)) = (self.cluster(), session_of(&msg)) else {
            return false;
        };
        c.bus.send(
            node,
            NodeMessage::ToHost {
                session,
                owner: self.config.node.clone(),
                tenant,
                device,
                conn,
                msg,
            },
        );
        true
    }

    /// The session owned here ended: its Host's node forgets the route.
    pub(crate) fn remote_session_over(&self, node: &str, session: SessionId) {
        if let Some(c) = self.cluster() {
            c.bus.send(node, NodeMessage::SessionOver { session });
        }
    }

    /// Sessions owned elsewhere whose Host was `device` on connection `conn`: their owners
    /// hear `HostGone` and the routes are dropped.
    pub(crate) fn remote_hosts_gone(&self, device: DeviceId, conn: u64) {
        let Some(c) = self.cluster() else { return };
        let gone: Vec<(SessionId, String)> = {
            let mut m = c.remote_hosts.lock();
            let ids: Vec<SessionId> = m
                .iter()
                .filter(|(_, r)| r.device == device && r.conn == conn)
                .map(|(s, _)| *s)
                .collect();
            ids.into_iter()
                .filter_map(|s| m.remove(&s).map(|r| (s, r.owner)))
                .collect()
        };
        for (session, owner) in gone {
            c.bus.send(
                &owner,
                NodeMessage::HostEvent {
                    session,
                    event: SessionEvent::HostGone,
                },
            );
        }
    }

    /// A session that lived here ended (see `ClusterState::ended_here`).
    pub(crate) fn session_ended_here(&self, session: SessionId) {
        if let Some(c) = self.cluster() {
            c.ended_here.lock().insert(session);
        }
    }

    fn cast_session(&self, session: SessionId, msg: SessionMsg) -> bool {
        let actor = self.sessions.lock().get(&session).map(|e| e.actor.clone());
        actor.is_some_and(|a| {
            a.cast(Envelope::new(&self.counts, ActorKind::Session, msg))
                .is_ok()
        })
    }
}

impl Hub {
    /// Joins a cluster: `bus` carries this node's messages to the others, `inbound` yields
    /// theirs (until the hub shuts down). Call once, before control connections are accepted;
    /// later calls are ignored.
    pub fn join_cluster(&self, bus: Arc<dyn NodeBus>, mut inbound: mpsc::Receiver<NodeMessage>) {
        let state = Arc::new(ClusterState {
            bus,
            next: AtomicU64::new(1),
            probes: Mutex::new(HashMap::new()),
            terminations: Mutex::new(HashMap::new()),
            remote_hosts: Mutex::new(HashMap::new()),
            ended_here: Mutex::new(RecentSessions::default()),
            inbound: Mutex::new(TaskGuard::default()),
        });
        if self.shared.cluster.set(Arc::clone(&state)).is_err() {
            return;
        }
        let hub = self.clone();
        let task = tokio::spawn(async move {
            while let Some(m) = inbound.recv().await {
                hub.on_node_message(m);
            }
        });
        *state.inbound.lock() = TaskGuard::new(task.abort_handle());
    }

    /// Stops handling other nodes' messages (shutdown).
    pub(crate) fn leave_cluster(&self) {
        if let Some(c) = self.shared.cluster() {
            c.inbound.lock().cancel();
        }
    }

    /// Sessions owned by other nodes whose Host is connected here.
    pub fn remote_host_sessions(&self) -> usize {
        self.shared
            .cluster()
            .map_or(0, |c| c.remote_hosts.lock().len())
    }

    /// Asks `node` whether it holds `device`: its connection and Host state, or `None` (no
    /// answer in time counts as `None`).
    pub(crate) async fn probe(
        &self,
        node: &str,
        tenant: TenantId,
        device: DeviceId,
    ) -> Option<(u64, HostState)> {
        let c = self.shared.cluster()?;
        let probe = c.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        c.probes.lock().insert(probe, tx);
        let started = tokio::time::Instant::now();
        c.bus.send(
            node,
            NodeMessage::Probe {
                probe,
                reply_to: self.shared.config.node.clone(),
                tenant,
                device,
            },
        );
        let answer = tokio::time::timeout(self.shared.config.remote_answer_timeout, rx).await;
        c.probes.lock().remove(&probe);
        match answer {
            Ok(Ok(a)) => {
                ::metrics::histogram!(metrics::CLUSTER_PROBE_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                a
            }
            _ => {
                ::metrics::counter!(metrics::CLUSTER_PROBE_TIMEOUTS_TOTAL).increment(1);
                tracing::info!(%device, %node, "the node holding the device did not answer");
                None
            }
        }
    }

    /// A relay reported `event` (`RelayBound`, `RelayRecord`) about `session`: to its actor
    /// here, else to its owner (known when its Host is here, else every node is asked).
    /// False when it is neither live here nor could be sent on, or it ended here: the
    /// relay's record of a session this node already ended (its Guest left, say) is usual
    /// and goes nowhere.
    pub fn relay_event(&self, session: SessionId, event: SessionEvent) -> bool {
        if self.session_event_local(session, event.clone()) {
            return true;
        }
        let Some(c) = self.shared.cluster() else {
            return false;
        };
        if c.ended_here.lock().contains(&session) {
            return false;
        }
        let msg = NodeMessage::Relay { session, event };
        let owner = c.remote_hosts.lock().get(&session).map(|r| r.owner.clone());
        match owner {
            Some(o) => c.bus.send(&o, msg),
            None => c.bus.broadcast(msg),
        }
        true
    }

    /// An administrator of `tenant` ends `session`, which is not live on this node: its owner
    /// (if any node owns it) ends it for both sides. True when the owner confirmed within
    /// `remote_answer_timeout`.
    pub async fn terminate_anywhere(&self, tenant: TenantId, session: SessionId) -> bool {
        let Some(c) = self.shared.cluster() else {
            return false;
        };
        let request = c.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        c.terminations.lock().insert(request, tx);
        c.bus.broadcast(NodeMessage::Terminate {
            request,
            reply_to: self.shared.config.node.clone(),
            tenant,
            session,
        });
        let done = tokio::time::timeout(self.shared.config.remote_answer_timeout, rx).await;
        c.terminations.lock().remove(&request);
        matches!(done, Ok(Ok(())))
    }

    /// Ends a session live here for both sides (`cancelled`, as an administrator's
    /// terminate). False when it is not live here (or not the tenant's).
    pub fn terminate_local(&self, tenant: TenantId, session: SessionId) -> bool {
        let ours = self
            .shared
            .sessions
            .lock()
            .get(&session)
            .is_some_and(|e| e.tenant == tenant);
        if !ours {
            return false;
        }
        let (done, _) = oneshot::channel();
        self.shared.cast_session(
            session,
            SessionMsg::ForceEnd {
                code: ErrorCode::Cancelled,
                why: "terminated by an administrator".into(),
                done,
            },
        )
    }

    /// Ends every session live here whose relay vanished (its registry entry expired: it
    /// died): both sides are told `internal`, the end is audited. Returns how many.
    pub fn end_sessions_on_relay(&self, relay: switchboard_codec::RelayId) -> usize {
        let on_it: Vec<SessionId> = self
            .shared
            .sessions
            .lock()
            .iter()
            .filter(|(_, e)| e.relay == Some(relay))
            .map(|(s, _)| *s)
            .collect();
        let mut ended = 0;
        for s in on_it {
            let (done, _) = oneshot::channel();
            if self.shared.cast_session(
                s,
                SessionMsg::ForceEnd {
                    code: ErrorCode::Internal,
                    why: format!("its relay {relay} is gone"),
                    done,
                },
            ) {
                ended += 1;
            }
        }
        ended
    }

    /// One message from another node.
    fn on_node_message(&self, m: NodeMessage) {
        let Some(c) = self.shared.cluster() else {
            return;
        };
        let me = &self.shared.config.node;
        match m {
            NodeMessage::Probe {
                probe,
                reply_to,
                tenant,
                device,
            } => {
                let host = self
                    .shared
                    .devices
                    .lock()
                    .get(&device)
                    .filter(|e| e.tenant == tenant)
                    .map(|e| (e.conn, e.host_state));
                c.bus
                    .send(&reply_to, NodeMessage::ProbeAnswer { probe, host });
            }
            NodeMessage::ProbeAnswer { probe, host } => {
                if let Some(tx) = c.probes.lock().remove(&probe) {
                    let _ = tx.send(host);
                }
            }
            NodeMessage::ToHost {
                session,
                owner,
                tenant,
                device,
                conn,
                msg,
            } => self.deliver_remote(c, session, owner, tenant, device, conn, msg),
            NodeMessage::HostEvent { session, event } => {
                // Only what a Host can say about its own session.
                if matches!(
                    event,
                    SessionEvent::HostAccepted
                        | SessionEvent::HostRejected { .. }
                        | SessionEvent::Cancelled { by: Side::Host }
                        | SessionEvent::HostGone
                        | SessionEvent::RelayBound { .. }
                        | SessionEvent::RelayRecord(_)
                ) {
                    self.session_event_local(session, event);
                }
            }
            NodeMessage::SessionOver { session } => {
                c.remote_hosts.lock().remove(&session);
            }
            NodeMessage::Relay { session, event } => {
                if matches!(
                    event,
                    SessionEvent::RelayBound { .. } | SessionEvent::RelayRecord(_)
                ) {
                    self.session_event_local(session, event);
                }
            }
            NodeMessage::Terminate {
                request,
                reply_to,
                tenant,
                session,
            } => {
                if &reply_to != me && self.terminate_local(tenant, session) {
                    c.bus.send(&reply_to, NodeMessage::Terminated { request });
                }
            }
            NodeMessage::Terminated { request } => {
                if let Some(tx) = c.terminations.lock().remove(&request) {
                    let _ = tx.send(());
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn deliver_remote(
        &self,
        c: &ClusterState,
        session: SessionId,
        owner: String,
        tenant: TenantId,
        device: DeviceId,
        conn: u64,
        msg: ControlMessage,
    ) {
        let here = self
            .shared
            .devices
            .lock()
            .get(&device)
            .is_some_and(|e| e.tenant == tenant && e.conn == conn);
        if !here {
            c.remote_hosts.lock().remove(&session);
            c.bus.send(
                &owner,
                NodeMessage::HostEvent {
                    session,
                    event: SessionEvent::HostGone,
                },
            );
            return;
        }
        match &msg {
            ControlMessage::SessionOffer { .. } => {
                c.remote_hosts.lock().insert(
                    session,
                    RemoteHost {
                        owner,
                        device,
                        conn,
                    },
                );
            }
            ControlMessage::SessionCancel { .. } => {
                c.remote_hosts.lock().remove(&session);
            }
            _ => {}
        }
        self.shared.send_device(device, DeviceMsg::Deliver(msg));
    }

    /// `session_event` for a session whose actor runs here.
    pub(crate) fn session_event_local(&self, session: SessionId, event: SessionEvent) -> bool {
        self.shared.cast_session(session, SessionMsg::Event(event))
    }

    /// The route of a session whose Host is `device` here and whose owner is another node.
    pub(crate) fn remote_host_of(&self, session: SessionId) -> Option<RemoteHost> {
        self.shared
            .cluster()?
            .remote_hosts
            .lock()
            .get(&session)
            .cloned()
    }

    /// Sends a Host's event about a session owned elsewhere to its owner.
    pub(crate) fn forward_host_event(&self, session: SessionId, event: SessionEvent) -> bool {
        let Some(c) = self.shared.cluster() else {
            return false;
        };
        let owner = {
            let mut m = c.remote_hosts.lock();
            let owner = m.get(&session).map(|r| r.owner.clone());
            if matches!(event, SessionEvent::Cancelled { .. }) {
                m.remove(&session);
            }
            owner
        };
        match owner {
            Some(o) => {
                c.bus.send(&o, NodeMessage::HostEvent { session, event });
                true
            }
            None => false,
        }
    }
}

/// How long the hub waits for another node by default.
pub(crate) const REMOTE_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(n: usize) -> SessionId {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(n as u64).to_le_bytes());
        SessionId(b)
    }

    #[test]
    fn recent_sessions_forget_the_oldest_past_the_cap() {
        let mut r = RecentSessions::default();
        for n in 0..RecentSessions::CAP {
            r.insert(sid(n));
        }
        r.insert(sid(0));
        assert!(r.contains(&sid(0)) && r.contains(&sid(RecentSessions::CAP - 1)));
        r.insert(sid(RecentSessions::CAP));
        assert!(!r.contains(&sid(0)), "the oldest goes first");
        assert!(r.contains(&sid(1)) && r.contains(&sid(RecentSessions::CAP)));
        assert_eq!(r.order.len(), RecentSessions::CAP);
        assert_eq!(r.ids.len(), RecentSessions::CAP);
    }
}
