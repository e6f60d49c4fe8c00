//! `SessionActor`: one per authorized session, running its state machine
//!
//! ```text
//! (requested → authorized: in the hub) → [awaiting confirm] → offered → relay assigned
//!     → both bound → active → ended
//! ```
//!
//! with a timer on every waiting state (confirm: `confirm_timeout`; an offer without
//! confirmation: `device_offline` when the Host never answers; relay assigned: `bind_timeout`),
//! an audit record at every transition and a reason code on every refusal or abort. The relay
//! is taken from the `RelayRegistry`; one ticket per side is signed with the broker's
//! `TicketSigner` and sent in a `RelayAssignment` with the peer's static key. The session ends
//! with the relay's end-of-session record (joined into the final audit record), a cancel from
//! either side, the Host going away before the session is active, or a timeout.
//!
//! It carries control only; session bytes never reach it.

use std::sync::Arc;

use std::sync::atomic::Ordering;
use std::time::Duration;
use tracing::Instrument;

use bytes::Bytes;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use switchboard_codec::{ControlMessage, ErrorCode, RelayId, SessionId, SessionTicket, Side};
use switchboard_directory::model::{AuditActor, AuditKind, AuditOutcome};

use crate::counts::{ActorKind, Envelope, LiveGuard, TaskGuard};
use crate::hub::{
    HostPeer, SessionEntry, SessionSpec, Shared, TenantLimits, guest_identity, outcome_of, try_send,
};
use crate::ids::dir_user;
use crate::metrics;

/// The end-of-session record a relay reports (the broker forwards it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayRecord {
    /// Bytes moved, both directions.
    pub bytes: u64,
    /// How long the pair was connected.
    pub duration: Duration,
    /// Why it ended (`peer_closed` for a normal end).
    pub reason: ErrorCode,
}

/// What the broker forwards to a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The Host sent `SessionAccept` (its local user confirmed, if that was required).
    HostAccepted,
    /// The Host sent `SessionReject` (e.g. `confirm_denied`).
    HostRejected {
        /// Its code.
        code: ErrorCode,
    },
    /// A side sent `SessionCancel` or its connection closed.
    Cancelled {
        /// Who.
        by: Side,
    },
    /// The relay reports that a side presented its ticket.
    RelayBound {
        /// Which side.
        side: Side,
    },
    /// The relay's end-of-session record.
    RelayRecord(RelayRecord),
    /// The Host's control connection went away (ends the session unless it is active).
    HostGone,
    /// The Guest's control connection went away (ends the session unless it is active).
    GuestGone,
}

/// Messages of the session actor.
#[derive(Debug)]
pub(crate) enum SessionMsg {
    Event(SessionEvent),
    /// The broker ends the session (the technician's account was disabled or removed):
    /// both sides are told `code`, the relay cuts the pipes; `done` hears when it is over.
    ForceEnd {
        code: ErrorCode,
        why: String,
        done: tokio::sync::oneshot::Sender<()>,
    },
    Timeout {
        generation: u64,
    },
    /// Test hook for supervision tests (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    InjectPanic,
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPhase {
    /// The Host's local user must confirm.
    AwaitingConfirm,
    /// Offered; waiting for the Host to accept.
    Offered,
    /// Tickets sent; waiting for both binds.
    RelayAssigned {
        /// The relay.
        relay: RelayId,
        /// The Host bound.
        host: bool,
        /// The Guest bound.
        guest: bool,
    },
    /// Both sides paired at the relay.
    Active {
        /// The relay.
        relay: RelayId,
    },
    /// Over.
    Ended,
}

/// What a session actor starts with.
#[derive(Debug)]
pub(crate) struct SessionArgs {
    pub(crate) shared: Arc<Shared>,
    pub(crate) limits: Arc<TenantLimits>,
    pub(crate) id: SessionId,
    pub(crate) spec: SessionSpec,
}

/// Counts the session in its tenant until dropped.
#[derive(Debug)]
struct TenantSlot(Arc<TenantLimits>);

impl Drop for TenantSlot {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// State of a session actor.
#[derive(Debug)]
pub(crate) struct SessionState {
    shared: Arc<Shared>,
    id: SessionId,
    spec: SessionSpec,
    phase: SessionPhase,
    timer_gen: u64,
    timer: TaskGuard,
    /// The relay reported the session's end (no kill needed).
    relay_ended: bool,
    /// When the request was accepted for evaluation (setup latency).
    created: std::time::Instant,
    _watch: TaskGuard,
    _slot: TenantSlot,
    _live: LiveGuard,
}

/// Watches the Guest's connection (and an OnDemand agent's) and reports when one closes.
fn watch_connections(
    shared: &Arc<Shared>,
    myself: &ActorRef<Envelope<SessionMsg>>,
    spec: &SessionSpec,
) -> TaskGuard {
    let guest = spec.guest.tx.clone();
    let agent = match &spec.host {
        HostPeer::Direct(tx) => Some(tx.clone()),
        HostPeer::Device(_) | HostPeer::Remote { .. } => None,
    };
    let me = myself.clone();
    let counts = Arc::clone(&shared.counts);
    let task = tokio::spawn(async move {
        let host_closed = async {
            match &agent {
                Some(tx) => tx.closed().await,
                None => std::future::pending().await,
            }
        };
        let ev = tokio::select! {
            () = guest.closed() => SessionEvent::GuestGone,
            () = host_closed => SessionEvent::HostGone,
        };
        drop(guest);
        drop(agent);
        let _ = me.cast(Envelope::new(
            &counts,
            ActorKind::Session,
            SessionMsg::Event(ev),
        ));
    });
    TaskGuard::new(task.abort_handle())
}

/// The session actor. See the module documentation.
#[derive(Debug)]
pub(crate) struct SessionActor;

impl SessionState {
    fn guest_actor(&self) -> AuditActor {
        AuditActor::User(dir_user(self.spec.guest.user))
    }

    async fn audit(&self, kind: AuditKind, what: String, outcome: AuditOutcome) {
        self.shared
            .audit(
                self.spec.tenant,
                self.guest_actor(),
                kind,
                what,
                outcome,
                self.spec.device,
                Some(self.id),
            )
            .await;
    }

    fn arm(&mut self, myself: &ActorRef<Envelope<SessionMsg>>, after: Duration) {
        self.timer_gen += 1;
        let generation = self.timer_gen;
        let me = myself.clone();
        let counts = Arc::clone(&self.shared.counts);
        let task = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = me.cast(Envelope::new(
                &counts,
                ActorKind::Session,
                SessionMsg::Timeout { generation },
            ));
        });
        self.timer = TaskGuard::new(task.abort_handle());
    }

    fn disarm(&mut self) {
        self.timer_gen += 1;
        self.timer.cancel();
    }

    fn send_guest(&self, msg: ControlMessage) {
        try_send(&self.spec.guest.tx, msg);
    }

    fn send_host(&self, msg: ControlMessage) {
        self.shared.send_host(&self.spec.host, msg);
    }

    fn relay(&self) -> Option<RelayId> {
        match self.phase {
            SessionPhase::RelayAssigned { relay, .. } | SessionPhase::Active { relay } => {
                Some(relay)
            }
            _ => None,
        }
    }

    /// Setup latency from the request to both sides bound (`ok`), or to the code that ended
    /// the session before it became active.
    fn record_setup(&self, outcome: &'static str) {
        let elapsed = tokio::time::Instant::now().into_std() - self.created;
        ::metrics::histogram!(metrics::SESSION_SETUP_SECONDS, "outcome" => outcome)
            .record(elapsed.as_secs_f64());
    }

    /// Ends the session: tells the sides that need telling, releases the relay, audits, and
    /// stops the actor.
    async fn end(
        &mut self,
        myself: &ActorRef<Envelope<SessionMsg>>,
        code: ErrorCode,
        tell: &[Side],
        what: String,
    ) {
        if self.phase == SessionPhase::Ended {
            return;
        }
        self.disarm();
        let relay = self.relay();
        if !matches!(self.phase, SessionPhase::Active { .. }) {
            self.record_setup(code.name());
        }
        self.phase = SessionPhase::Ended;
        // The relay's own record ended it: nothing to cut there.
        let kill = (!self.relay_ended).then_some(code);
        for side in tell {
            let msg = ControlMessage::SessionCancel {
                session_id: self.id,
                code,
            };
            match side {
                Side::Guest => self.send_guest(msg),
                Side::Host => self.send_host(msg),
            }
        }
        finish(
            &self.shared,
            self.id,
            myself.get_id(),
            relay,
            kill,
            self.spec.tenant,
            self.spec.ondemand,
        )
        .await;
        ::metrics::counter!(metrics::SESSIONS_ENDED_TOTAL, "code" => code.name()).increment(1);
        let outcome = match code {
            ErrorCode::PeerClosed | ErrorCode::Cancelled => AuditOutcome::Success,
            c => outcome_of(c),
        };
        self.audit(AuditKind::Session, what, outcome).await;
        // The session's lines are durable before its actor stops; its setup did not wait.
        self.shared.audit_flush().await;
        myself.stop(Some(code.name().into()));
    }

    async fn assign_relay(&mut self, myself: &ActorRef<Envelope<SessionMsg>>) {
        let Some(choice) = self.shared.relays.acquire(self.spec.region.as_deref()) else {
            self.end(
                myself,
                ErrorCode::RelayFull,
                &[Side::Guest, Side::Host],
                "session aborted: no relay available".into(),
            )
            .await;
            return;
        };
        if let Some(e) = self.shared.sessions.lock().get_mut(&self.id) {
            e.relay = Some(choice.id);
        }
        self.phase = SessionPhase::RelayAssigned {
            relay: choice.id,
            host: false,
            guest: false,
        };
        let expires = self.shared.directory.now().as_millisecond()
            + i64::try_from(self.shared.config.ticket_lifetime.as_millis()).unwrap_or(i64::MAX);
        let expires = u64::try_from(expires).unwrap_or(0);
        let guest_key = self.spec.guest.static_key;
        let host_key = self.spec.host_static_key;
        for (side, peer_key) in [(Side::Host, guest_key), (Side::Guest, host_key)] {
            let mut nonce = [0u8; 16];
            if getrandom::fill(&mut nonce).is_err() {
                self.end(
                    myself,
                    ErrorCode::Internal,
                    &[Side::Guest, Side::Host],
                    "session aborted: no randomness for a ticket".into(),
                )
                .await;
                return;
            }
            let ticket = SessionTicket {
                key_id: self.shared.signer.key_id(),
                session_id: self.id,
                tenant_id: self.spec.tenant,
                side,
                relay_id: choice.id,
                permissions: self.spec.granted,
                byte_rate_limit: self.shared.config.ticket_byte_rate_limit,
                expires_at_unix_ms: expires,
                nonce,
            };
            let signed: Bytes = self.shared.signer.sign(&ticket);
            let msg = ControlMessage::RelayAssignment {
                session_id: self.id,
                relay_addr: choice.addr.clone(),
                ticket: signed,
                peer_static_key: peer_key,
            };
            match side {
                Side::Host => self.send_host(msg),
                Side::Guest => self.send_guest(msg),
            }
        }
        self.arm(myself, self.shared.config.bind_timeout);
        self.audit(
            AuditKind::Session,
            format!(
                "the Host accepted; relay {} assigned, tickets issued",
                choice.id
            ),
            AuditOutcome::Success,
        )
        .await;
    }

    async fn on_event(&mut self, myself: &ActorRef<Envelope<SessionMsg>>, ev: SessionEvent) {
        match (ev, self.phase) {
            (_, SessionPhase::Ended) => {}
            (SessionEvent::HostAccepted, SessionPhase::AwaitingConfirm) => {
                self.disarm();
                self.audit(
                    AuditKind::ConfirmAccess,
                    "the local user accepted the session".into(),
                    AuditOutcome::Success,
                )
                .await;
                self.assign_relay(myself).await;
            }
            (SessionEvent::HostAccepted, SessionPhase::Offered) => {
                self.disarm();
                self.assign_relay(myself).await;
            }
            (
                SessionEvent::HostRejected { code },
                SessionPhase::AwaitingConfirm | SessionPhase::Offered,
            ) => {
                let code = if self.phase == SessionPhase::AwaitingConfirm {
                    ErrorCode::ConfirmDenied
                } else {
                    code
                };
                self.send_guest(ControlMessage::SessionReject {
                    session_id: self.id,
                    code,
                    message: code.sentence().to_owned(),
                });
                let kind = if code == ErrorCode::ConfirmDenied {
                    AuditKind::ConfirmAccess
                } else {
                    AuditKind::Session
                };
                self.audit(kind, format!("the Host refused: {code}"), outcome_of(code))
                    .await;
                self.end(
                    myself,
                    code,
                    &[],
                    format!("session refused by the Host: {code}"),
                )
                .await;
            }
            (SessionEvent::Cancelled { by }, _) => {
                self.end(
                    myself,
                    ErrorCode::Cancelled,
                    &[by.peer()],
                    format!("session cancelled by the {by}"),
                )
                .await;
            }
            (SessionEvent::HostGone | SessionEvent::GuestGone, SessionPhase::Active { .. }) => {}
            (SessionEvent::GuestGone, _) => {
                self.end(
                    myself,
                    ErrorCode::Cancelled,
                    &[Side::Host],
                    "session abandoned: the Guest disconnected".into(),
                )
                .await;
            }
            (SessionEvent::HostGone, _) => {
                self.end(
                    myself,
                    ErrorCode::DeviceOffline,
                    &[Side::Guest],
                    "session aborted: the Host disconnected".into(),
                )
                .await;
            }
            (
                SessionEvent::RelayBound { side },
                SessionPhase::RelayAssigned { relay, host, guest },
            ) => {
                let (host, guest) = match side {
                    Side::Host => (true, guest),
                    Side::Guest => (host, true),
                };
                self.phase = SessionPhase::RelayAssigned { relay, host, guest };
                // One line when both are bound; a side that never binds is named at the end.
                if host && guest {
                    self.disarm();
                    self.phase = SessionPhase::Active { relay };
                    ::metrics::counter!(metrics::SESSIONS_ACTIVE_TOTAL).increment(1);
                    self.record_setup("ok");
                    self.audit(
                        AuditKind::Session,
                        format!("session active: both sides bound at relay {relay}"),
                        AuditOutcome::Success,
                    )
                    .await;
                }
            }
            (SessionEvent::RelayRecord(rec), _) => {
                self.relay_ended = true;
                let what = format!(
                    "session ended: {}; {} bytes in {} ms",
                    rec.reason,
                    rec.bytes,
                    rec.duration.as_millis()
                );
                self.end(myself, rec.reason, &[], what).await;
            }
            (ev, phase) => {
                tracing::debug!(session = %self.id, ?ev, ?phase, "event ignored in this phase");
            }
        }
    }

    async fn on_timeout(&mut self, myself: &ActorRef<Envelope<SessionMsg>>) {
        let (code, what) = match self.phase {
            SessionPhase::AwaitingConfirm => (
                ErrorCode::ConfirmTimeout,
                "the local user did not answer in time",
            ),
            SessionPhase::Offered => (
                ErrorCode::DeviceOffline,
                "the Host did not answer the offer",
            ),
            SessionPhase::RelayAssigned { host, guest, .. } => (
                ErrorCode::BindTimeout,
                match (host, guest) {
                    (true, false) => "the Guest did not bind at the relay in time",
                    (false, true) => "the Host did not bind at the relay in time",
                    _ => "neither side bound at the relay in time",
                },
            ),
            SessionPhase::Active { .. } | SessionPhase::Ended => return,
        };
        if code == ErrorCode::ConfirmTimeout {
            self.audit(AuditKind::ConfirmAccess, what.into(), outcome_of(code))
                .await;
        }
        self.end(
            myself,
            code,
            &[Side::Guest, Side::Host],
            format!("session aborted: {what}"),
        )
        .await;
    }
}

/// Clears a session's traces: its table entry (if still this actor's), its relay slot (with
/// `kill`, the relay is told to cut the session's pipes: the broker ended it, not the relay),
/// and its OnDemand key. Used by `end` and by the supervisor after a panic.
pub(crate) async fn finish(
    shared: &Shared,
    id: SessionId,
    actor: ractor::ActorId,
    relay: Option<RelayId>,
    kill: Option<ErrorCode>,
    tenant: switchboard_codec::TenantId,
    ondemand: Option<switchboard_directory::model::OnDemandId>,
) {
    let entry = shared.remove_session(id, actor);
    if let Some(HostPeer::Remote { node, .. }) = entry.as_ref().map(|e| &e.host) {
        shared.remote_session_over(node, id);
    }
    let relay = relay.or(entry.as_ref().and_then(|e| e.relay));
    if entry.is_some()
        && let Some(r) = relay
    {
        shared.relays.release(r);
        if let Some(reason) = kill {
            shared.kill_at_relay(r, id, reason);
        }
    }
    if entry.is_some()
        && let Some(od) = ondemand
        && let Err(e) = shared
            .directory
            .finish_ondemand(crate::ids::dir_tenant(tenant), od)
            .await
    {
        tracing::warn!(error = %e, "OnDemand session not marked finished");
    }
}

impl Actor for SessionActor {
    type Msg = Envelope<SessionMsg>;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        a: SessionArgs,
    ) -> Result<SessionState, ActorProcessingErr> {
        let live = LiveGuard::new(&a.shared.counts, ActorKind::Session);
        a.limits.sessions.fetch_add(1, Ordering::Relaxed);
        let slot = TenantSlot(a.limits);
        a.shared.total_sessions.fetch_add(1, Ordering::Relaxed);
        let myself_for_watch = myself.clone();
        a.shared.sessions.lock().insert(
            a.id,
            SessionEntry {
                actor_id: myself.get_id(),
                actor: myself,
                tenant: a.spec.tenant,
                device: a.spec.device,
                host_conn: a.spec.host_conn,
                user: a.spec.guest.user,
                guest_tx: a.spec.guest.tx.clone(),
                host: a.spec.host.clone(),
                relay: None,
                ondemand: a.spec.ondemand,
            },
        );
        let watch = watch_connections(&a.shared, &myself_for_watch, &a.spec);
        Ok(SessionState {
            shared: a.shared,
            id: a.id,
            phase: if a.spec.confirm_required {
                SessionPhase::AwaitingConfirm
            } else {
                SessionPhase::Offered
            },
            spec: a.spec,
            timer_gen: 0,
            timer: TaskGuard::default(),
            relay_ended: false,
            created: tokio::time::Instant::now().into_std(),
            _watch: watch,
            _slot: slot,
            _live: live,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        let s = &state.spec;
        state.send_guest(ControlMessage::SessionCreated {
            request_id: s.request_id,
            session_id: state.id,
            granted: s.granted,
            confirm_required: s.confirm_required,
        });
        let offer = ControlMessage::SessionOffer {
            session_id: state.id,
            guest: guest_identity(&s.guest),
            granted: s.granted,
            confirm_required: s.confirm_required,
        };
        let offered = state.shared.send_host(&s.host, offer);
        if offered {
            // The wait starts when the offer leaves, before any await.
            let wait = if state.spec.confirm_required {
                state.shared.config.confirm_timeout
            } else {
                state.shared.config.offer_timeout
            };
            state.arm(&myself, wait);
        }
        let s = &state.spec;
        state
            .audit(
                AuditKind::Session,
                format!(
                    "session authorized ({} permissions){}; offered to the Host",
                    s.granted.iter().count(),
                    if s.confirm_required {
                        ", confirmation required"
                    } else {
                        ""
                    }
                ),
                AuditOutcome::Success,
            )
            .await;
        if !offered {
            state
                .end(
                    &myself,
                    ErrorCode::DeviceOffline,
                    &[Side::Guest],
                    "session aborted: the Host is not connected".into(),
                )
                .await;
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped from outside (broker shutdown) before it ended: release what it holds.
        if state.phase != SessionPhase::Ended {
            let relay = state.relay();
            state.phase = SessionPhase::Ended;
            finish(
                &state.shared,
                state.id,
                myself.get_id(),
                relay,
                // Broker shutdown: the relay drains on its own; nothing to cut here.
                None,
                state.spec.tenant,
                state.spec.ondemand,
            )
            .await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        let span =
            tracing::info_span!("session", session_id = %state.id, tenant = %state.spec.tenant);
        async { state.on_message(&myself, msg.msg).await }
            .instrument(span)
            .await;
        Ok(())
    }
}

impl SessionState {
    /// One message, inside the session's span.
    async fn on_message(&mut self, myself: &ActorRef<Envelope<SessionMsg>>, msg: SessionMsg) {
        match msg {
            SessionMsg::Event(ev) => self.on_event(myself, ev).await,
            SessionMsg::ForceEnd { code, why, done } => {
                self.end(
                    myself,
                    code,
                    &[Side::Guest, Side::Host],
                    format!("session ended by the broker: {why}"),
                )
                .await;
                let _ = done.send(());
            }
            SessionMsg::Timeout { generation } if generation == self.timer_gen => {
                self.on_timeout(myself).await;
            }
            SessionMsg::Timeout { .. } => {}
            #[cfg(feature = "test-hooks")]
            SessionMsg::InjectPanic => inject_panic(),
        }
    }
}

#[cfg(feature = "test-hooks")]
#[allow(clippy::panic)] // The supervision tests need a real panic inside an actor.
fn inject_panic() {
    panic!("injected session actor panic (test hook)");
}
