//! Forwarding engines: move the opaque bytes of one paired session between its two sides.
//!
//! After `Ready` a session is two connections, `a` (the Host side) and `b` (the Guest side).
//! [`forward`] (TCP↔TCP) and [`forward_session`] (any transports) build a [`SessionRun`]
//! (`session_run.rs`): one plain future that owns the session once and resolves when both
//! directions have ended, an error happens, the idle timeout passes or the drain deadline
//! cancels it:
//!
//! - `splice` (Linux default) and `copy` between two TCP sockets run in `tcp_forward.rs`: a
//!   poll-driven state machine per direction that borrows a pipe (`splice.rs`, from the
//!   bounded `pipe_pool.rs`) or a 64 KiB buffer (`copy.rs`) only while data is in flight, so
//!   an idle session holds neither; a `splice` direction without a pipe falls back to a buffer.
//! - `uring` (`uring.rs`): io_uring ring threads. Where io_uring is unavailable, `Uring`
//!   falls back to `splice` with a log line.
//! - Every pairing that involves QUIC runs the generic `copy` pump over
//!   `AsyncRead`/`AsyncWrite` (`copy.rs`).
//!
//! The rules every engine follows: the leftover bytes a side sent after its bind frame go to
//! the other side first; one side's EOF becomes `shutdown(Write)` on the other while the reverse
//! direction keeps going until its own EOF; before writing a chunk the engine charges
//! [`ForwardLimits`] and waits as told; every chunk written is reported to
//! [`ForwardCounters::record`] (which also stamps activity for the idle timeout). Idle timeout
//! and drain are enforced around the engine: an engine may be dropped at any await or poll
//! point and must release its resources (pipes, buffers, sockets) on drop.
//!
//! Engines never look inside the bytes, never parse frames and never sleep except for the
//! rate limit.

mod copy;
pub(crate) mod pipe_pool;
mod session_run;
mod splice;
mod splice_sys;
mod tcp_forward;
mod uring;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::limiter::TokenBucket;
use crate::metrics as m;

pub use pipe_pool::{MIN_PIPE_SIZE, Pipe, PipePool, PipePoolConfig, PipeUnavailable};
pub use session_run::SessionRun;

use session_run::{Body, BoxedEngine};
use tcp_forward::TcpForward;

/// Which engine forwards TCP↔TCP sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EngineKind {
    /// Non-blocking splice(2) through pooled pipes (Linux default).
    #[default]
    Splice,
    /// io_uring (falls back to `splice` where io_uring is unavailable).
    Uring,
    /// Portable user-space copy.
    Copy,
}

impl EngineKind {
    /// The config / label name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Splice => "splice",
            Self::Uring => "uring",
            Self::Copy => "copy",
        }
    }
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An engine name that is not `splice`, `uring` or `copy`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown engine {0:?} (expected splice, uring or copy)")]
pub struct UnknownEngine(pub String);

impl FromStr for EngineKind {
    type Err = UnknownEngine;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "splice" => Ok(Self::Splice),
            "uring" => Ok(Self::Uring),
            "copy" => Ok(Self::Copy),
            other => Err(UnknownEngine(other.to_owned())),
        }
    }
}

/// One side of a forwarded session, as the engines see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// The Host side.
    A,
    /// The Guest side.
    B,
}

impl Peer {
    /// `host` or `guest`.
    pub fn name(self) -> &'static str {
        match self {
            Self::A => "host",
            Self::B => "guest",
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A direction of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From `a` (Host) to `b` (Guest).
    AToB,
    /// From `b` (Guest) to `a` (Host).
    BToA,
}

impl Direction {
    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::AToB => "host_to_guest",
            Self::BToA => "guest_to_host",
        }
    }
    /// The side bytes are read from.
    pub fn source(self) -> Peer {
        match self {
            Self::AToB => Peer::A,
            Self::BToA => Peer::B,
        }
    }
    /// The side bytes are written to.
    pub fn sink(self) -> Peer {
        match self {
            Self::AToB => Peer::B,
            Self::BToA => Peer::A,
        }
    }
}

/// What an engine was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineOp {
    /// Reading from (or splicing out of) a socket.
    Read,
    /// Writing to (or splicing into) a socket.
    Write,
}

/// An engine failure, naming the side whose socket failed.
#[derive(Debug, thiserror::Error)]
#[error("{peer} side {op:?} failed: {source}")]
pub struct EngineError {
    /// The side whose socket failed.
    pub peer: Peer,
    /// Read or write.
    pub op: EngineOp,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

impl EngineError {
    /// A read error on `peer`.
    pub fn read(peer: Peer, source: std::io::Error) -> Self {
        Self {
            peer,
            op: EngineOp::Read,
            source,
        }
    }
    /// A write error on `peer`.
    pub fn write(peer: Peer, source: std::io::Error) -> Self {
        Self {
            peer,
            op: EngineOp::Write,
            source,
        }
    }
}

/// Why a forwarded session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both directions reached EOF.
    Completed,
    /// No byte moved in either direction for the idle timeout.
    IdleTimeout,
    /// The relay's drain deadline passed.
    Draining,
    /// A socket of this side failed (reset, broken pipe, ...).
    PeerError(Peer),
}

impl CloseReason {
    /// Stable snake_case name used in records and metric labels (matches the codec's error
    /// code names where one exists).
    pub fn name(self) -> &'static str {
        match self {
            Self::Completed => "peer_closed",
            Self::IdleTimeout => "idle_timeout",
            Self::Draining => "draining",
            Self::PeerError(Peer::A) => "host_error",
            Self::PeerError(Peer::B) => "guest_error",
        }
    }
}

/// Limits applied while forwarding one session.
#[derive(Debug, Clone, Default)]
pub struct ForwardLimits {
    /// The session's own bucket (from the ticket's `byte_rate_limit`), shared by both
    /// directions.
    pub session: Option<Arc<TokenBucket>>,
    /// The tenant's bucket on this relay, shared by all of its sessions.
    pub tenant: Option<Arc<TokenBucket>>,
    /// Close after this long without a byte in either direction.
    pub idle_timeout: Option<Duration>,
}

impl ForwardLimits {
    /// No rate limit, no idle timeout.
    pub fn unlimited() -> Self {
        Self::default()
    }

    /// The lowest rate that applies, if any.
    pub fn rate(&self) -> Option<u64> {
        let s = self.session.as_ref().map(|b| b.rate());
        let t = self.tenant.as_ref().map(|b| b.rate());
        match (s, t) {
            (Some(s), Some(t)) => Some(s.min(t)),
            (s, t) => s.or(t),
        }
    }

    /// The largest chunk an engine should move at once, given its natural chunk `max`: with a
    /// rate limit, 1/20 s of the rate (at least 4 KiB), so the limit holds smoothly.
    pub fn chunk_cap(&self, max: usize) -> usize {
        match self.rate() {
            None => max,
            Some(rate) => {
                let per = usize::try_from(rate / 20).unwrap_or(usize::MAX);
                per.clamp(4096, max.max(4096)).min(max.max(1))
            }
        }
    }

    /// How long to wait before writing `n` bytes at `now` (charges every bucket). For engines
    /// that cannot await (a dedicated thread); async engines use [`Self::throttle`].
    pub fn reserve(&self, n: usize, now: Instant) -> Duration {
        let n = n as u64;
        let s = self
            .session
            .as_ref()
            .map_or(Duration::ZERO, |b| b.consume(n, now));
        let t = self
            .tenant
            .as_ref()
            .map_or(Duration::ZERO, |b| b.consume(n, now));
        s.max(t)
    }

    /// Charges `n` bytes and returns the timer to wait on before writing them, if over a
    /// limit (for poll-driven engines; boxed: a timer is rare and would otherwise sit in every
    /// idle session).
    pub(crate) fn delay(&self, n: usize) -> Option<std::pin::Pin<Box<tokio::time::Sleep>>> {
        if self.session.is_none() && self.tenant.is_none() {
            return None;
        }
        let wait = self.reserve(n, Instant::now());
        (!wait.is_zero()).then(|| Box::pin(tokio::time::sleep(wait)))
    }

    /// Charges `n` bytes and sleeps while over a limit. Call before writing a chunk.
    pub async fn throttle(&self, n: usize) {
        if self.session.is_none() && self.tenant.is_none() {
            return;
        }
        let wait = self.reserve(n, Instant::now());
        if !wait.is_zero() {
            // Boxed: a timer is rare here and would otherwise sit in every idle session.
            Box::pin(tokio::time::sleep(wait)).await;
        }
    }
}

/// Live counters of one session, readable while it runs (drain, metrics, records).
#[derive(Debug)]
pub struct ForwardCounters {
    a_to_b: AtomicU64,
    b_to_a: AtomicU64,
    origin: Instant,
    last_activity_ms: AtomicU64,
    fell_back: AtomicBool,
    metric_a_to_b: metrics::Counter,
    metric_b_to_a: metrics::Counter,
}

impl ForwardCounters {
    /// Counters whose byte metrics carry the `engine` label of `engine`.
    pub fn new(engine: EngineKind) -> Self {
        let counter = |d: Direction| {
            metrics::counter!(m::BYTES_TOTAL,
                m::LABEL_DIRECTION => d.label(),
                m::LABEL_ENGINE => engine.name())
        };
        Self {
            a_to_b: AtomicU64::new(0),
            b_to_a: AtomicU64::new(0),
            origin: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            fell_back: AtomicBool::new(false),
            metric_a_to_b: counter(Direction::AToB),
            metric_b_to_a: counter(Direction::BToA),
        }
    }

    /// Reports `n` bytes written in `dir` and stamps activity.
    pub fn record(&self, dir: Direction, n: usize) {
        let n = n as u64;
        match dir {
            Direction::AToB => {
                self.a_to_b.fetch_add(n, Ordering::Relaxed);
                self.metric_a_to_b.increment(n);
            }
            Direction::BToA => {
                self.b_to_a.fetch_add(n, Ordering::Relaxed);
                self.metric_b_to_a.increment(n);
            }
        }
        self.touch();
    }

    /// Stamps activity without bytes.
    pub fn touch(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Bytes written so far in `dir`.
    pub fn bytes(&self, dir: Direction) -> u64 {
        match dir {
            Direction::AToB => self.a_to_b.load(Ordering::Relaxed),
            Direction::BToA => self.b_to_a.load(Ordering::Relaxed),
        }
    }

    /// Time since the last byte moved (or since creation) at `now`.
    pub fn idle_for(&self, now: Instant) -> Duration {
        let last =
            self.origin + Duration::from_millis(self.last_activity_ms.load(Ordering::Relaxed));
        now.saturating_duration_since(last)
    }

    /// Marks that a `splice` session used `copy` for at least one direction and counts it.
    pub fn mark_fallback(&self) {
        if !self.fell_back.swap(true, Ordering::Relaxed) {
            metrics::counter!(m::SPLICE_FALLBACK_TOTAL).increment(1);
        }
    }

    /// Whether [`Self::mark_fallback`] was called.
    pub fn fell_back(&self) -> bool {
        self.fell_back.load(Ordering::Relaxed)
    }
}

/// One TCP↔TCP session to forward.
#[derive(Debug)]
pub struct ForwardJob {
    /// The Host side.
    pub a: TcpStream,
    /// The Guest side.
    pub b: TcpStream,
    /// Bytes `a` sent after its bind frame (written to `b` first).
    pub a_leftover: Bytes,
    /// Bytes `b` sent after its bind frame (written to `a` first).
    pub b_leftover: Bytes,
    /// Rate limits and idle timeout.
    pub limits: ForwardLimits,
    /// Cancelled at the drain deadline: the session closes with `Draining`.
    pub shutdown: CancellationToken,
    /// Live byte counters.
    pub counters: Arc<ForwardCounters>,
    /// Pipes for `splice`.
    pub pipes: Arc<PipePool>,
}

impl ForwardJob {
    /// A job with no leftovers, no limits, a fresh shutdown token, fresh counters and the
    /// process-wide default pipe pool.
    pub fn new(kind: EngineKind, a: TcpStream, b: TcpStream) -> Self {
        Self {
            a,
            b,
            a_leftover: Bytes::new(),
            b_leftover: Bytes::new(),
            limits: ForwardLimits::unlimited(),
            shutdown: CancellationToken::new(),
            counters: Arc::new(ForwardCounters::new(kind)),
            pipes: PipePool::shared_default(),
        }
    }
}

/// How a forwarded session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardOutcome {
    /// Bytes written to `b`.
    pub bytes_a_to_b: u64,
    /// Bytes written to `a`.
    pub bytes_b_to_a: u64,
    /// Why it ended.
    pub reason: CloseReason,
    /// The engine that ran (`Copy` for QUIC pairings; `Splice` for `Uring` without io_uring).
    pub engine: EngineKind,
    /// Whether `splice` had to fall back to `copy` for lack of pipes.
    pub fell_back: bool,
}

/// The engine that actually runs when `kind` is configured.
pub fn effective_engine(kind: EngineKind) -> EngineKind {
    match kind {
        EngineKind::Uring if uring::shared().is_none() => EngineKind::Splice,
        other => other,
    }
}

/// Forwards one TCP↔TCP session with engine `kind`; await the returned [`SessionRun`] for
/// how it ended.
pub fn forward(kind: EngineKind, job: ForwardJob) -> SessionRun {
    let ForwardJob {
        a,
        b,
        a_leftover,
        b_leftover,
        limits,
        shutdown,
        counters,
        pipes,
    } = job;
    let engine = effective_engine(kind);
    if kind != engine {
        tracing::debug!(wanted = %kind, using = %engine, "engine not built in, falling back");
    }
    let idle_timeout = limits.idle_timeout;
    let body = match engine {
        EngineKind::Copy | EngineKind::Splice => Body::Tcp(TcpForward::new(
            a,
            b,
            a_leftover,
            b_leftover,
            limits,
            counters.clone(),
            pipes,
            engine == EngineKind::Splice,
        )),
        EngineKind::Uring => {
            let (c, token) = (counters.clone(), shutdown.clone());
            let run: BoxedEngine = Box::pin(async move {
                uring::forward_tcp(a, b, a_leftover, b_leftover, &limits, &c, &token).await
            });
            Body::Boxed(run)
        }
    };
    SessionRun::new(body, engine, counters, idle_timeout, shutdown)
}

/// One side of a session as the waiting room holds it.
#[derive(Debug)]
pub enum Transport {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A QUIC bidirectional stream.
    Quic {
        /// Relay → endpoint.
        send: quinn::SendStream,
        /// Endpoint → relay.
        recv: quinn::RecvStream,
        /// The connection, held so it lives as long as the session (dropping the last handle
        /// closes it at once, losing unsent data).
        conn: quinn::Connection,
    },
}

impl Transport {
    /// `tcp` or `quic`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Tcp(_) => "tcp",
            Self::Quic { .. } => "quic",
        }
    }

    fn into_halves(self) -> (BoxRead, BoxWrite) {
        match self {
            Self::Tcp(s) => {
                let (r, w) = s.into_split();
                (Box::new(r), Box::new(w))
            }
            Self::Quic { send, recv, conn } => {
                (Box::new(recv), Box::new(QuicWrite { send, _conn: conn }))
            }
        }
    }
}

/// A QUIC send stream that keeps its connection alive while it is written.
struct QuicWrite {
    send: quinn::SendStream,
    _conn: quinn::Connection,
}

impl AsyncWrite for QuicWrite {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        AsyncWrite::poll_write(std::pin::Pin::new(&mut self.send), cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        AsyncWrite::poll_flush(std::pin::Pin::new(&mut self.send), cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        AsyncWrite::poll_shutdown(std::pin::Pin::new(&mut self.send), cx)
    }
}

type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// One paired session over any transports.
#[derive(Debug)]
pub struct SessionJob {
    /// The Host side.
    pub a: Transport,
    /// The Guest side.
    pub b: Transport,
    /// Bytes `a` sent after its bind frame.
    pub a_leftover: Bytes,
    /// Bytes `b` sent after its bind frame.
    pub b_leftover: Bytes,
    /// Rate limits and idle timeout.
    pub limits: ForwardLimits,
    /// Cancelled at the drain deadline.
    pub shutdown: CancellationToken,
    /// Live byte counters (create them with the engine [`session_engine`] returns).
    pub counters: Arc<ForwardCounters>,
    /// Pipes for `splice`.
    pub pipes: Arc<PipePool>,
}

/// The engine a pairing of these transports will use: `kind` for TCP↔TCP, `copy` otherwise.
pub fn session_engine(kind: EngineKind, a: &Transport, b: &Transport) -> EngineKind {
    match (a, b) {
        (Transport::Tcp(_), Transport::Tcp(_)) => effective_engine(kind),
        _ => EngineKind::Copy,
    }
}

/// Forwards a session over any transports: TCP↔TCP goes to `kind`, anything involving QUIC
/// to the generic `copy` pump. Await the returned [`SessionRun`] for how it ended.
pub fn forward_session(kind: EngineKind, job: SessionJob) -> SessionRun {
    let SessionJob {
        a,
        b,
        a_leftover,
        b_leftover,
        limits,
        shutdown,
        counters,
        pipes,
    } = job;
    match (a, b) {
        (Transport::Tcp(a), Transport::Tcp(b)) => {
            let job = ForwardJob {
                a,
                b,
                a_leftover,
                b_leftover,
                limits,
                shutdown,
                counters,
                pipes,
            };
            forward(kind, job)
        }
        (a, b) => {
            let idle_timeout = limits.idle_timeout;
            let c = counters.clone();
            let run: BoxedEngine = Box::pin(async move {
                let (mut ar, mut aw) = a.into_halves();
                let (mut br, mut bw) = b.into_halves();
                copy::forward_halves(
                    (&mut ar, &mut aw),
                    (&mut br, &mut bw),
                    a_leftover,
                    b_leftover,
                    &limits,
                    &c,
                )
                .await
            });
            SessionRun::new(
                Body::Boxed(run),
                EngineKind::Copy,
                counters,
                idle_timeout,
                shutdown,
            )
        }
    }
}

fn outcome(counters: &ForwardCounters, reason: CloseReason, engine: EngineKind) -> ForwardOutcome {
    ForwardOutcome {
        bytes_a_to_b: counters.bytes(Direction::AToB),
        bytes_b_to_a: counters.bytes(Direction::BToA),
        reason,
        engine,
        fell_back: counters.fell_back(),
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Prints the inline size of a session's future and its engine body. Figures only, no
    /// assertion: run by hand with `--ignored --nocapture`.
    #[test]
    #[ignore = "prints figures only"]
    fn print_engine_future_sizes() {
        println!("SessionRun: {} B", std::mem::size_of::<SessionRun>());
        println!("TcpForward: {} B", std::mem::size_of::<TcpForward>());
        println!(
            "ForwardCounters: {} B",
            std::mem::size_of::<ForwardCounters>()
        );
        println!("Transport: {} B", std::mem::size_of::<Transport>());
        println!("TcpStream: {} B", std::mem::size_of::<TcpStream>());
    }
}
