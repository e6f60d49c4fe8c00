//! Simulated Guests: one logged-in technician, `G` control connections, and on them as many
//! concurrent session setups as the scenario asks for (the agent's `request_session` owns its
//! connection for one session; this multiplexes: one reader task per connection routes
//! `SessionCreated` / `SessionDenied` by request id and `RelayAssignment` / `SessionReject` /
//! `SessionCancel` by session id to the waiting opener).
//!
//! An open is: `SessionRequest` → `SessionCreated` (authorized) → `RelayAssignment` (the host
//! accepted, a relay was picked) → relay bind + Noise (`session::establish`) → ready; each
//! phase is timed. It does not decide what runs in the session (the scenario does).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_agent::AgentError;
use switchboard_agent::control::guest::{ACCEPT_WAIT, GuestError, connect_guest, fresh_keys};
use switchboard_agent::control::{ControlClient, ControlSender, Endpoint, Incoming};
use switchboard_agent::session::{Session, SessionPlan};
use switchboard_agent::state::GuestState;
use switchboard_codec::{ControlMessage, DeviceId, ErrorCode, PermissionSet, SessionId, Side};
use tokio::sync::oneshot;

use crate::error::LoadgenError;

/// What an open waits for from the broker.
#[derive(Debug)]
struct Assignment {
    session_id: SessionId,
    relay_addr: String,
    ticket: Bytes,
    peer_static: [u8; 32],
    created_at: Option<Instant>,
}

type Reply = oneshot::Sender<Result<Assignment, GuestError>>;

#[derive(Debug, Default)]
struct Waiting {
    by_request: HashMap<u64, (Reply, Option<SessionId>, Option<Instant>)>,
    by_session: HashMap<SessionId, u64>,
    closed: Option<String>,
}

/// Phase timings of one open.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetupTimings {
    /// Request sent → `SessionCreated` (authorization).
    pub authorized: Option<Duration>,
    /// Request sent → `RelayAssignment` (host accepted, relay picked).
    pub assigned: Duration,
    /// Request sent → the end-to-end session is up (relay bind + Noise done).
    pub ready: Duration,
}

/// An established session opened by a [`GuestPool`].
#[derive(Debug)]
pub struct OpenedSession {
    /// The end-to-end session (open tunnels on it).
    pub session: Session,
    /// How long each phase took.
    pub timings: SetupTimings,
    control: ControlSender,
}

impl OpenedSession {
    /// Ends the session: tells the broker (`SessionCancel`) and the host (goodbye); waits at
    /// most 2 s for the driver to finish.
    pub async fn close(self) {
        let sid = self.session.id();
        let _ = self
            .control
            .send(ControlMessage::SessionCancel {
                session_id: sid,
                code: ErrorCode::Cancelled,
            })
            .await;
        self.session.close();
        let _ = tokio::time::timeout(Duration::from_secs(2), self.session.closed()).await;
    }
}

/// One guest control connection and its routing table.
#[derive(Debug)]
struct Conn {
    sender: ControlSender,
    waiting: Arc<Mutex<Waiting>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// `G` control connections of one technician.
#[derive(Debug)]
pub struct GuestPool {
    conns: Vec<Conn>,
    next: AtomicUsize,
    wanted: PermissionSet,
}

impl GuestPool {
    /// Connects `connections` guest control connections with the technician's token.
    pub async fn connect(
        ep: &Endpoint,
        state: &GuestState,
        connections: usize,
    ) -> Result<Self, LoadgenError> {
        let mut conns = Vec::with_capacity(connections.max(1));
        for _ in 0..connections.max(1) {
            let client = connect_guest(ep, &state.token).await?;
            let waiting = Arc::new(Mutex::new(Waiting::default()));
            let sender = client.sender();
            let reader = tokio::spawn(route(client, waiting.clone()));
            conns.push(Conn {
                sender,
                waiting,
                reader,
            });
        }
        Ok(Self {
            conns,
            next: AtomicUsize::new(0),
            wanted: switchboard_agent::control::guest::tunnel_wanted(),
        })
    }

    /// Opens one session to `device` on the next connection (round robin).
    pub async fn open(&self, device: DeviceId) -> Result<OpenedSession, GuestError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        let conn = &self.conns[i];
        let keys = fresh_keys()?;
        let mut rid = [0u8; 8];
        let _ = getrandom::fill(&mut rid);
        let request_id = u64::from_le_bytes(rid);
        let (tx, rx) = oneshot::channel();
        {
            let mut w = conn.waiting.lock();
            if let Some(why) = &w.closed {
                return Err(GuestError::Disconnected {
                    what: "guest_control_closed".into(),
                    message: why.clone(),
                });
            }
            w.by_request.insert(request_id, (tx, None, None));
        }
        let t0 = Instant::now();
        let sent = conn
            .sender
            .send(ControlMessage::SessionRequest {
                request_id,
                device_id: device,
                wanted: self.wanted,
                guest_static_key: keys.public,
            })
            .await;
        if !sent {
            conn.waiting.lock().by_request.remove(&request_id);
            return Err(control_closed());
        }
        let a = match tokio::time::timeout(ACCEPT_WAIT, rx).await {
            Ok(Ok(Ok(a))) => a,
            Ok(Ok(Err(e))) => return Err(e),
            Ok(Err(_)) => return Err(control_closed()),
            Err(_) => {
                conn.waiting.lock().by_request.remove(&request_id);
                return Err(GuestError::Refused {
                    code: ErrorCode::ConfirmTimeout,
                    message: "no assignment in time".into(),
                });
            }
        };
        let assigned = t0.elapsed();
        let plan = SessionPlan {
            session_id: a.session_id,
            side: Side::Guest,
            relay_addr: a.relay_addr,
            ticket: a.ticket,
            local_static: keys,
            peer_static: a.peer_static,
        };
        let session = match switchboard_agent::session::establish(plan).await {
            Ok(s) => s,
            Err(e) => {
                let _ = conn
                    .sender
                    .send(ControlMessage::SessionCancel {
                        session_id: a.session_id,
                        code: ErrorCode::Cancelled,
                    })
                    .await;
                return Err(e.into());
            }
        };
        let timings = SetupTimings {
            authorized: a.created_at.map(|t| t.duration_since(t0)),
            assigned,
            ready: t0.elapsed(),
        };
        Ok(OpenedSession {
            session,
            timings,
            control: conn.sender.clone(),
        })
    }
}

fn control_closed() -> GuestError {
    GuestError::Disconnected {
        what: "guest_control_closed".into(),
        message: "the guest control connection ended".into(),
    }
}

fn refused(code: ErrorCode, message: String) -> GuestError {
    GuestError::Refused { code, message }
}

/// The reader of one connection: routes answers to the waiting openers.
async fn route(mut client: ControlClient, waiting: Arc<Mutex<Waiting>>) {
    loop {
        let msg = match client.recv().await {
            Incoming::Message(m) => m,
            Incoming::Closed { code, message } => {
                let mut w = waiting.lock();
                w.closed = Some(message.clone());
                for (_, (reply, _, _)) in w.by_request.drain() {
                    let _ = reply.send(Err(match code {
                        Some(c) => refused(c, message.clone()),
                        None => GuestError::Other(AgentError::Control {
                            server: client.server().to_owned(),
                            message: message.clone(),
                        }),
                    }));
                }
                return;
            }
        };
        let mut w = waiting.lock();
        match msg {
            ControlMessage::SessionCreated {
                request_id,
                session_id,
                ..
            } => {
                if let Some(entry) = w.by_request.get_mut(&request_id) {
                    entry.1 = Some(session_id);
                    entry.2 = Some(Instant::now());
                    w.by_session.insert(session_id, request_id);
                }
            }
            ControlMessage::SessionDenied {
                request_id,
                code,
                message,
            } => {
                if let Some((reply, ..)) = w.by_request.remove(&request_id) {
                    let _ = reply.send(Err(refused(code, message)));
                }
            }
            ControlMessage::SessionReject {
                session_id,
                code,
                message,
            } => {
                if let Some(rid) = w.by_session.remove(&session_id)
                    && let Some((reply, ..)) = w.by_request.remove(&rid)
                {
                    let _ = reply.send(Err(refused(code, message)));
                }
            }
            ControlMessage::SessionCancel { session_id, code } => {
                if let Some(rid) = w.by_session.remove(&session_id)
                    && let Some((reply, ..)) = w.by_request.remove(&rid)
                {
                    let _ = reply.send(Err(refused(code, code.sentence().to_owned())));
                }
            }
            ControlMessage::RelayAssignment {
                session_id,
                relay_addr,
                ticket,
                peer_static_key,
            } => {
                if let Some(rid) = w.by_session.remove(&session_id)
                    && let Some((reply, _, created_at)) = w.by_request.remove(&rid)
                {
                    let _ = reply.send(Ok(Assignment {
                        session_id,
                        relay_addr,
                        ticket,
                        peer_static: peer_static_key,
                        created_at,
                    }));
                }
            }
            other => tracing::debug!(kind = other.type_number(), "guest: message ignored"),
        }
    }
}
