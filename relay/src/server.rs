//! The running relay: listeners, one task per connection, the parked side's wait, the paired
//! session, drain.
//!
//! Per connection: take a handshake permit (`max_handshakes`, else `relay_full`), read the
//! bind (`bind_timeout`), refuse with `draining` during a drain, verify the ticket offline,
//! then let the waiting room decide. A parked side waits in its own task, reading its socket
//! (bytes sent early are kept as leftover; EOF removes it from the room) until the peer is
//! handed over, the waiting-room timeout passes (`waiting_room_timeout`) or a drain starts
//! (`draining`). The parked side's task then answers `Ready` to both and hands the session
//! to a task of its own, which runs the engine and records it. That task holds only what
//! forwarding needs (no acceptor, ticket or handshake buffer), and the handshake and parked
//! phases run as boxed sub-futures, so an idle session costs little memory.
//! A failure touches only its own connection or session.
//!
//! Drain: [`RelayHandle::drain`] refuses new binds and parked sides with `draining`, lets
//! sessions run until `drain_deadline`, then cuts them (close reason `draining`).
//!
//! Kill: [`RelayHandle::kill_session`] (the broker ended the session) cuts one session's
//! pipes at once, parked or paired, and refuses later binds of it (see `kill`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_codec::{
    ErrorCode, IssuedTickets, RelayAcceptor, RelayHandshakeConfig, SessionId, SessionTicket, Side,
    TenantId, TicketVerifier,
};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::RelayConfig;
use crate::engine::{
    EngineKind, ForwardCounters, ForwardLimits, ForwardOutcome, PipePool, SessionJob, SessionRun,
    Transport, forward_session, session_engine,
};
use crate::error::RelayError;
use crate::handshake::{self, BindRead, HANDSHAKE_READ};
use crate::limiter::{TenantLimiters, TokenBucket};
use crate::metrics as m;
use crate::record::{RecordSink, SessionRecord};
use crate::waiting_room::{BindResult, Room, RoomLimits};

use crate::kill::Kills;

/// A connection that has bound with a valid ticket.
#[derive(Debug)]
pub(crate) struct Arrival {
    transport: Transport,
    acceptor: RelayAcceptor,
    ticket: SessionTicket,
    accepted_at: Instant,
}

/// State shared by all tasks of one relay.
#[derive(Debug)]
pub(crate) struct Inner {
    cfg: RelayConfig,
    verifier: TicketVerifier,
    hs_cfg: RelayHandshakeConfig,
    room: Mutex<Room<Arrival>>,
    tenants: TenantLimiters<TenantId>,
    pipes: Arc<PipePool>,
    sink: Arc<dyn RecordSink>,
    handshakes: Arc<Semaphore>,
    /// Cancelled when a drain starts.
    drain: CancellationToken,
    /// Cancelled at the drain deadline: sessions are cut.
    deadline: CancellationToken,
    /// Cancelled to stop listeners.
    stop: CancellationToken,
    /// Signalled whenever a session ends or a parked side leaves.
    changed: Notify,
    /// Per-session kill tokens and tombstones.
    kills: Kills,
}

/// Handle to a running relay. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RelayHandle {
    inner: Arc<Inner>,
    tcp_addrs: Vec<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    /// QUIC listeners; they stop when the last handle is dropped or the relay stops.
    quic: Arc<Vec<crate::quic::QuicListener>>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl RelayHandle {
    /// Validates `cfg`, binds every TCP listen address (and the metrics address) and starts
    /// serving. Records go to `sink`.
    pub async fn start(cfg: RelayConfig, sink: Arc<dyn RecordSink>) -> Result<Self, RelayError> {
        Self::start_trusting(cfg, sink, None).await
    }

    /// [`RelayHandle::start`] for a relay in the broker's process: tickets found in `issued`
    /// (signed by that broker) are accepted without verifying their signature again.
    pub async fn start_trusting(
        cfg: RelayConfig,
        sink: Arc<dyn RecordSink>,
        issued: Option<Arc<IssuedTickets>>,
    ) -> Result<Self, RelayError> {
        cfg.validate()?;
        if let Some(idle) = cfg.idle_timeout()
            && idle <= switchboard_codec::mux::QUIC_KEEPALIVE_INTERVAL
        {
            tracing::warn!(
                idle_timeout = ?idle,
                quic_keepalive = ?switchboard_codec::mux::QUIC_KEEPALIVE_INTERVAL,
                "limits.idle_timeout is not above the keep-alive interval of endpoints on \
                 QUIC: their idle sessions will be cut"
            );
        }
        let mut verifier =
            TicketVerifier::new(cfg.broker_keys.iter().map(|k| (k.id, k.public_key)))
                .map_err(|e| RelayError::Config(format!("broker_keys: {e}")))?;
        if let Some(issued) = issued {
            verifier = verifier.trusting_issued(issued);
        }
        let tenants = TenantLimiters::new(cfg.limits.tenant_byte_rate, cfg.tenant_overrides()?);
        let room = Room::new(RoomLimits {
            waiting_per_ip: cfg.limits.waiting_per_ip,
            waiting_total: cfg.limits.waiting_total,
            max_sessions: cfg.limits.max_sessions,
            nonce_cache_size: cfg.limits.nonce_cache_size,
        });
        let mut listeners = Vec::new();
        for addr in &cfg.listen {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| RelayError::Listen {
                    addr: *addr,
                    source,
                })?;
            listeners.push(l);
        }
        let metrics_listener = match cfg.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| RelayError::Listen { addr, source })?,
            ),
            None => None,
        };
        let inner = Arc::new(Inner {
            hs_cfg: RelayHandshakeConfig {
                max_frame: cfg.limits.max_frame,
                bind_timeout: cfg.limits.bind_timeout,
            },
            verifier,
            room: Mutex::new(room),
            tenants,
            pipes: PipePool::new(cfg.splice.pool()),
            sink,
            handshakes: Arc::new(Semaphore::new(cfg.limits.max_handshakes)),
            drain: CancellationToken::new(),
            deadline: CancellationToken::new(),
            stop: CancellationToken::new(),
            changed: Notify::new(),
            kills: Kills::default(),
            cfg,
        });
        if inner.cfg.engine != crate::engine::effective_engine(inner.cfg.engine) {
            tracing::warn!(
                engine = %inner.cfg.engine,
                "io_uring unavailable; TCP sessions use splice"
            );
        }
        let mut tcp_addrs = Vec::new();
        for l in listeners {
            tcp_addrs.push(l.local_addr().map_err(|source| RelayError::Io {
                party: crate::error::Party::Relay,
                source,
            })?);
            tokio::spawn(accept_loop(inner.clone(), l));
        }
        let mut metrics_addr = None;
        if let Some(l) = metrics_listener {
            metrics_addr = l.local_addr().ok();
            match crate::metrics_http::prometheus_handle() {
                Some(prom) => {
                    tokio::spawn(crate::metrics_http::serve(l, prom, inner.clone()));
                }
                None => tracing::warn!(
                    "another metrics recorder is installed; the relay does not serve /metrics"
                ),
            }
        }
        metrics::gauge!(m::BUILD_INFO, m::LABEL_VERSION => env!("CARGO_PKG_VERSION")).set(1.0);
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!(m::WAITING_ROOM_CAPACITY).set(inner.cfg.limits.waiting_total as f64);
        // Register the series so dashboards see zeros rather than gaps.
        metrics::gauge!(m::SESSIONS_ACTIVE).increment(0.0);
        metrics::gauge!(m::WAITING_ROOM_SIZE).increment(0.0);
        metrics::counter!(m::SPLICE_FALLBACK_TOTAL).increment(0);
        let mut handle = Self {
            inner,
            tcp_addrs,
            metrics_addr,
            quic: Arc::new(Vec::new()),
        };
        match crate::quic::serve_configured(&handle) {
            Ok(listeners) => handle.quic = Arc::new(listeners),
            Err(e) => {
                handle.inner.stop.cancel();
                return Err(e);
            }
        }
        tracing::info!(relay_id = handle.inner.cfg.relay_id, tcp = ?handle.tcp_addrs,
            quic = ?handle.quic_addrs(), engine = %handle.inner.cfg.engine, "relay started");
        Ok(handle)
    }

    /// The bound UDP (QUIC) addresses.
    pub fn quic_addrs(&self) -> Vec<SocketAddr> {
        self.quic.iter().map(|l| l.local_addr()).collect()
    }

    /// The bound TCP addresses (useful with port 0).
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// The bound metrics address, if serving.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The configuration in force.
    pub fn config(&self) -> &RelayConfig {
        &self.inner.cfg
    }

    /// Starts a drain (idempotent): new binds and parked sides get `draining`; sessions run
    /// until the drain deadline, then are cut.
    pub fn drain(&self) {
        self.inner.start_drain();
    }

    /// Whether a drain has started.
    pub fn is_draining(&self) -> bool {
        self.inner.drain.is_cancelled()
    }

    /// Paired sessions now.
    pub fn active_sessions(&self) -> usize {
        self.inner.room.lock().active_len()
    }

    /// Parked connections now.
    pub fn waiting(&self) -> usize {
        self.inner.room.lock().waiting_len()
    }

    /// Resolves when no session runs and nobody waits.
    pub async fn wait_idle(&self) {
        loop {
            let notified = self.inner.changed.notified();
            if self.active_sessions() == 0 && self.waiting() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Drains, waits for the sessions to end (they are cut at the drain deadline), then stops
    /// the listeners.
    pub async fn shutdown(&self) {
        self.drain();
        let grace = self.inner.cfg.drain_deadline + Duration::from_secs(5);
        let _ = tokio::time::timeout(grace, self.wait_idle()).await;
        self.inner.stop.cancel();
    }

    /// Ends `session` now because the broker ended it: a parked side is refused with
    /// `reason`, a paired session's sockets are closed (both endpoints see EOF) and its record
    /// carries `reason`; a later bind of the session is refused with `reason`. True when the
    /// session was here (parked or paired).
    pub fn kill_session(&self, session: SessionId, reason: ErrorCode) -> bool {
        let found = self.inner.kills.kill(session, reason);
        metrics::counter!(m::KILLS_TOTAL, m::LABEL_OUTCOME => if found { "cut" } else { "absent" })
            .increment(1);
        tracing::debug!(%session, reason = reason.name(), found, "session killed by the broker");
        found
    }

    /// Serves one connection accepted elsewhere (the QUIC listener): spawns its task.
    pub fn serve_transport(&self, transport: Transport, peer: SocketAddr) {
        tokio::spawn(serve_connection(
            self.inner.clone(),
            transport,
            peer,
            Instant::now(),
        ));
    }

    /// Cancelled when the relay stops (for listeners started outside this module).
    pub fn stop_token(&self) -> CancellationToken {
        self.inner.stop.clone()
    }
}

impl Inner {
    pub(crate) fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub(crate) fn start_drain(self: &Arc<Self>) {
        if self.drain.is_cancelled() {
            return;
        }
        tracing::info!(deadline = ?self.cfg.drain_deadline, "relay draining");
        self.drain.cancel();
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(me.cfg.drain_deadline) => me.deadline.cancel(),
                () = me.stop.cancelled() => {}
            }
        });
    }
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let accepted = tokio::select! {
            () = inner.stop.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(
                    inner.clone(),
                    Transport::Tcp(stream),
                    peer,
                    Instant::now(),
                ));
            }
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn count_bind(outcome: &'static str) {
    metrics::counter!(m::BINDS_TOTAL, m::LABEL_OUTCOME => outcome).increment(1);
}

async fn serve_connection(
    inner: Arc<Inner>,
    mut transport: Transport,
    peer: SocketAddr,
    accepted_at: Instant,
) {
    let mut acc = RelayAcceptor::new(inner.hs_cfg, accepted_at.into_std());
    let Ok(permit) = inner.handshakes.clone().try_acquire_owned() else {
        acc.refuse(ErrorCode::RelayFull, "too many connections in handshake");
        count_bind(ErrorCode::RelayFull.name());
        Box::pin(handshake::close(transport, &mut acc)).await;
        return;
    };
    // Boxed sub-futures keep this task small: its allocation is sized by its largest state.
    let (side, ticket_bytes) = match Box::pin(handshake::read_bind(&mut transport, &mut acc)).await
    {
        BindRead::Bind { side, ticket } => (side, ticket),
        BindRead::Failed(code) => {
            tracing::debug!(%peer, code = code.name(), "handshake failed");
            count_bind(code.name());
            Box::pin(handshake::close(transport, &mut acc)).await;
            return;
        }
        BindRead::Gone => return,
    };
    drop(permit);
    let decision = if inner.drain.is_cancelled() {
        Err((ErrorCode::Draining, "relay is draining"))
    } else {
        let now_ms = unix_ms();
        inner
            .verifier
            .verify(&ticket_bytes, inner.cfg.relay(), side, now_ms)
            .map_err(|e| (e.code(), e.code().sentence()))
            .and_then(|t| match inner.kills.reason(&t.session_id) {
                // The broker ended this session already.
                Some(code) => Err((code, code.sentence())),
                None => Ok(t),
            })
    };
    let ticket = match decision {
        Ok(t) => t,
        Err((code, msg)) => {
            tracing::debug!(%peer, code = code.name(), "bind refused");
            count_bind(code.name());
            acc.refuse(code, msg);
            Box::pin(handshake::close(transport, &mut acc)).await;
            return;
        }
    };
    let ip: IpAddr = peer.ip().to_canonical();
    let session = ticket.session_id;
    let arrival = Arrival {
        transport,
        acceptor: acc,
        ticket,
        accepted_at,
    };
    let ticket_copy = arrival.ticket.clone();
    let result = inner.room.lock().bind(&ticket_copy, ip, unix_ms(), arrival);
    match result {
        BindResult::Paired => count_bind("paired"),
        BindResult::Refused {
            code,
            message,
            arrival,
        } => {
            tracing::debug!(%peer, %session, code = code.name(), "bind refused");
            count_bind(code.name());
            let Arrival {
                transport,
                mut acceptor,
                ..
            } = arrival;
            acceptor.refuse(code, message);
            Box::pin(handshake::close(transport, &mut acceptor)).await;
        }
        BindResult::Parked { id, rx, arrival } => {
            count_bind("parked");
            Box::pin(park(inner, id, rx, arrival)).await;
        }
    }
}

/// Why a parked side stopped waiting.
#[derive(Debug, Clone, Copy)]
enum LeaveWhy {
    Timeout,
    Draining,
    Violation,
    Gone,
    Killed,
}

async fn park(inner: Arc<Inner>, id: u64, mut rx: oneshot::Receiver<Arrival>, mut me: Arrival) {
    let session = me.ticket.session_id;
    let killed = inner.kills.watch(session, &inner.deadline);
    let timeout = tokio::time::sleep(inner.cfg.limits.waiting_room_timeout);
    tokio::pin!(timeout);
    let mut buf = [0u8; HANDSHAKE_READ];
    let why = loop {
        tokio::select! {
            biased;
            peer = &mut rx => match peer {
                Ok(peer) => return Box::pin(run_session(inner, me, peer)).await,
                Err(_) => break LeaveWhy::Gone,
            },
            () = &mut timeout => break LeaveWhy::Timeout,
            () = inner.drain.cancelled() => break LeaveWhy::Draining,
            () = killed.cancelled() => break LeaveWhy::Killed,
            r = handshake::read_some(&mut me.transport, &mut buf) => match r {
                Ok(0) | Err(_) => break LeaveWhy::Gone,
                Ok(n) => {
                    if me.acceptor.handle_bytes(buf.get(..n).unwrap_or_default()).is_err() {
                        break LeaveWhy::Violation;
                    }
                }
            },
        }
    };
    let left = inner.room.lock().leave(&session, id);
    inner.changed.notify_waiters();
    if !left {
        // A peer was handed over while we decided to leave: it is in the channel.
        if let Ok(peer) = rx.try_recv() {
            return Box::pin(run_session(inner, me, peer)).await;
        }
        inner.kills.forget(&session);
        return;
    }
    inner.kills.forget(&session);
    let code = match why {
        LeaveWhy::Gone => return,
        LeaveWhy::Killed => inner.kills.reason(&session).unwrap_or(ErrorCode::Cancelled),
        LeaveWhy::Timeout => ErrorCode::WaitingRoomTimeout,
        LeaveWhy::Draining => ErrorCode::Draining,
        LeaveWhy::Violation => ErrorCode::ProtocolViolation,
    };
    tracing::debug!(%session, code = code.name(), "parked side leaves");
    count_bind(code.name());
    let Arrival {
        transport,
        mut acceptor,
        ..
    } = me;
    acceptor.refuse(code, code.sentence());
    Box::pin(handshake::close(transport, &mut acceptor)).await;
}

/// Both sides are here: answer `Ready`, forward, record.
async fn run_session(inner: Arc<Inner>, mine: Arrival, theirs: Arrival) {
    let setup = theirs.accepted_at.elapsed();
    let (mut host, mut guest) = if mine.ticket.side == Side::Host {
        (mine, theirs)
    } else {
        (theirs, mine)
    };
    let ticket = host.ticket.clone();
    host.acceptor.accept();
    guest.acceptor.accept();
    let ready = host.acceptor.is_ready() && guest.acceptor.is_ready();
    let written = if ready {
        let (h, g) = tokio::join!(
            handshake::flush(&mut host.transport, &mut host.acceptor),
            handshake::flush(&mut guest.transport, &mut guest.acceptor),
        );
        h.is_ok() && g.is_ok()
    } else {
        false
    };
    if !written {
        // One side broke before Ready (it sent garbage while parked, or its socket failed):
        // tell the other one and close both.
        tracing::debug!(session = %ticket.session_id, "session failed before ready");
        for mut side in [host, guest] {
            side.acceptor
                .refuse(ErrorCode::PeerClosed, "the peer left before ready");
            Box::pin(handshake::close(side.transport, &mut side.acceptor)).await;
        }
        inner.room.lock().end_session(&ticket.session_id);
        inner.kills.forget(&ticket.session_id);
        inner.changed.notify_waiters();
        return;
    }
    metrics::histogram!(m::SETUP_SECONDS).record(setup.as_secs_f64());
    inner.sink.paired(ticket.session_id);
    let now = Instant::now();
    let rate = [host.ticket.byte_rate_limit, guest.ticket.byte_rate_limit]
        .into_iter()
        .filter(|r| *r > 0)
        .min();
    let limits = ForwardLimits {
        session: rate.map(|r| Arc::new(TokenBucket::new(r, now))),
        tenant: inner.tenants.bucket(&ticket.tenant_id, now),
        idle_timeout: inner.cfg.idle_timeout(),
    };
    let engine: EngineKind = session_engine(inner.cfg.engine, &host.transport, &guest.transport);
    let counters = Arc::new(ForwardCounters::new(engine));
    let a_leftover = compact(host.acceptor.take_leftover());
    let b_leftover = compact(guest.acceptor.take_leftover());
    let started_ms = unix_ms();
    let job = SessionJob {
        a: host.transport,
        b: guest.transport,
        a_leftover,
        b_leftover,
        limits,
        // Cut at the drain deadline or when the broker kills the session.
        shutdown: inner.kills.watch(ticket.session_id, &inner.deadline),
        counters,
        pipes: inner.pipes.clone(),
    };
    tracing::debug!(session = %ticket.session_id, %engine, "session ready");
    // The session gets a task of its own, sized for forwarding only: this task (sized for
    // handshake buffers and the wait) ends here and frees its memory, with the acceptors and
    // tickets, which the session no longer needs.
    tokio::spawn(SessionTask {
        run: forward_session(inner.cfg.engine, job),
        inner,
        session_id: ticket.session_id,
        tenant_id: ticket.tenant_id,
        since: now,
        started_ms,
    });
}

/// Copies leftover bytes out of the acceptor's read buffer, so the session does not pin it.
fn compact(leftover: Bytes) -> Bytes {
    if leftover.is_empty() {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(&leftover)
    }
}

/// A ready session's task: its engine, then its record. A plain struct rather than an async
/// fn, so the task holds each piece of the session once (an idle session's memory is this
/// task, its sockets and a few table entries).
#[derive(Debug)]
struct SessionTask {
    run: SessionRun,
    inner: Arc<Inner>,
    session_id: SessionId,
    tenant_id: TenantId,
    since: Instant,
    started_ms: u64,
}

impl std::future::Future for SessionTask {
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let me = self.get_mut();
        let outcome = std::task::ready!(std::pin::Pin::new(&mut me.run).poll(cx));
        me.finish(outcome);
        std::task::Poll::Ready(())
    }
}

impl SessionTask {
    /// Records the ended session and releases its room entry.
    fn finish(&self, outcome: ForwardOutcome) {
        let (inner, session_id) = (&self.inner, self.session_id);
        let duration = self.since.elapsed();
        // A kill shows as the engine's shutdown (`draining`): report the broker's reason.
        let reason = match inner.kills.reason(&session_id) {
            Some(code) if outcome.reason == crate::engine::CloseReason::Draining => code.name(),
            _ => outcome.reason.name(),
        };
        inner.kills.forget(&session_id);
        metrics::histogram!(m::SESSION_DURATION_SECONDS).record(duration.as_secs_f64());
        metrics::counter!(m::SESSIONS_CLOSED_TOTAL, m::LABEL_REASON => reason).increment(1);
        tracing::debug!(session = %session_id, reason,
            a_to_b = outcome.bytes_a_to_b, b_to_a = outcome.bytes_b_to_a, "session ended");
        inner.sink.submit(SessionRecord {
            session_id: session_id.to_string(),
            tenant_id: self.tenant_id.to_string(),
            relay_id: inner.cfg.relay_id,
            bytes_host_to_guest: outcome.bytes_a_to_b,
            bytes_guest_to_host: outcome.bytes_b_to_a,
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            close_reason: reason.to_owned(),
            engine: outcome.engine.name().to_owned(),
            splice_fallback: outcome.fell_back,
            started_at_unix_ms: self.started_ms,
            ended_at_unix_ms: unix_ms(),
        });
        inner.room.lock().end_session(&session_id);
        inner.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret_size<A, B, C, D, F>(_: impl Fn(A, B, C, D) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    fn ret_size3<A, B, C, F>(_: impl Fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// An idle paired session costs its task, its two sockets' registrations and a few table
    /// entries; the task stays one small plain struct (the budget is 4 KiB of relay
    /// memory per idle session; heaptrack put the async-fn version of this task at about 3.3 KiB).
    #[test]
    fn idle_session_task_stays_small() {
        assert!(std::mem::size_of::<SessionTask>() <= 512);
        assert!(std::mem::size_of::<SessionRun>() <= 384);
    }

    /// Prints the inline size of the per-connection futures (a task's allocation is sized by
    /// its future's largest state, for the task's whole life). Figures only, no assertion:
    /// run by hand with `--ignored --nocapture`.
    #[test]
    #[ignore = "prints figures only"]
    fn print_session_future_sizes() {
        println!("serve_connection future: {} B", ret_size(serve_connection));
        println!("park future: {} B", ret_size(park));
        println!("run_session future: {} B", ret_size3(run_session));
        println!(
            "SessionTask (the idle session's task): {} B",
            std::mem::size_of::<SessionTask>()
        );
        println!("Arrival: {} B", std::mem::size_of::<Arrival>());
        println!("RelayAcceptor: {} B", std::mem::size_of::<RelayAcceptor>());
    }
}
