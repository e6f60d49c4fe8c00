//! The `uring` engine: io_uring multishot receive with provided buffer rings, thread per core.
//!
//! [`UringEngine::start`] probes io_uring (creates a ring, registers a buffer ring, runs one
//! multishot receive over a socket pair) and starts N ring threads. A paired session's two TCP
//! sockets become std sockets, travel to a ring thread over a bounded channel (an eventfd wakes
//! the thread) and are forwarded there without any tokio involvement; the caller awaits a
//! oneshot [`UringOutcome`]. It does not use `IORING_OP_SPLICE` (its requests run on io-wq
//! worker threads and cost about twice the CPU of plain splice(2)), and it handles TCP only:
//! QUIC endpoints take the user-space copy engine. When io_uring is unavailable (old kernel,
//! seccomp, `io_uring_disabled`), `start` returns why and the caller falls back to splice.
//!
//! Layout: `bufring.rs` (the provided-buffer pool), `session.rs` (per-session books),
//! `user_data.rs` (SQE tags), `worker.rs` (the ring thread's event loop).
#![allow(unsafe_code)]

mod bufring;
mod session;
mod user_data;
mod worker;

use std::fs::File;
use std::io::{self, Write as _};
use std::net::TcpStream;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use io_uring::{cqueue, opcode, types};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::engine::{EngineError, EngineOp, ForwardCounters, ForwardLimits, Peer};

/// Tuning of the ring threads.
#[derive(Debug, Clone)]
pub(crate) struct UringConfig {
    /// Ring threads (0 = one per available core).
    pub(crate) threads: usize,
    /// Submission queue entries per ring (completion queue is 16×).
    pub(crate) sq_entries: u32,
    /// Provided buffers per ring thread (power of two).
    pub(crate) buffers: u16,
    /// Size of one provided buffer.
    pub(crate) buffer_size: u32,
    /// Queued bytes of one direction at which its receive is paused.
    pub(crate) high_water: usize,
    /// Queued bytes below which a paused receive is re-armed.
    pub(crate) low_water: usize,
    /// Sends of at least this many bytes from one buffer use `send_zc` (None = never).
    pub(crate) zero_copy_threshold: Option<usize>,
}

impl Default for UringConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            sq_entries: 1024,
            buffers: 512,
            buffer_size: 64 * 1024,
            high_water: 512 * 1024,
            low_water: 128 * 1024,
            zero_copy_threshold: None,
        }
    }
}

/// One session handed to a ring thread.
#[derive(Debug)]
pub(crate) struct UringJob {
    /// The two paired sockets (index 0 and 1).
    pub(crate) sockets: [TcpStream; 2],
    /// `leftovers[s]`: bytes already read from socket `s`, delivered to the other one first.
    pub(crate) leftovers: [Bytes; 2],
    /// Byte-rate buckets charged before every send (the idle timeout in it is ignored).
    pub(crate) limits: ForwardLimits,
    /// Live counters, updated from the ring thread on every completed send.
    pub(crate) counters: Option<Arc<ForwardCounters>>,
    /// End the session after this long without a byte either way.
    pub(crate) idle_timeout: Option<Duration>,
    /// Cancelled on drain deadline or relay shutdown: the session is cut.
    pub(crate) cancel: CancellationToken,
}

/// A job on its way to a ring thread, with the channel for its outcome.
#[derive(Debug)]
struct Queued {
    job: UringJob,
    done: oneshot::Sender<UringOutcome>,
}

/// Why a uring session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UringEnd {
    /// Both sides sent end of file and everything was delivered.
    Closed,
    /// Socket `side` (0 or 1) failed while reading or writing with OS error `errno`.
    SocketError {
        side: usize,
        op: EngineOp,
        errno: i32,
    },
    /// No byte moved for the idle timeout.
    IdleTimeout,
    /// The cancellation token fired or the caller went away.
    Cancelled,
    /// The engine itself failed.
    Internal(&'static str),
}

/// What a ring thread reports when a session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UringOutcome {
    /// `bytes[s]`: bytes delivered from socket `s` to the other socket.
    pub(crate) bytes: [u64; 2],
    pub(crate) end: UringEnd,
}

/// Why io_uring cannot be used here.
#[derive(Debug, thiserror::Error)]
#[error("io_uring unavailable: {0}")]
pub(crate) struct UringUnavailable(pub String);

struct RingHandle {
    jobs: Option<mpsc::Sender<Queued>>,
    wake: Arc<File>,
}

impl Drop for RingHandle {
    fn drop(&mut self) {
        // Close the channel first, then wake the thread so it sees the closed channel.
        self.jobs = None;
        let _ = (&*self.wake).write(&1u64.to_ne_bytes());
    }
}

/// Handle to the ring threads; dropping it lets them exit once their sessions end.
pub(crate) struct UringEngine {
    rings: Vec<RingHandle>,
    next: AtomicUsize,
}

impl std::fmt::Debug for UringEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringEngine")
            .field("threads", &self.rings.len())
            .finish()
    }
}

fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with constant flags; no pointers involved.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by eventfd(2) and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl UringEngine {
    /// Probes io_uring and starts the ring threads.
    pub(crate) fn start(cfg: UringConfig) -> Result<Self, UringUnavailable> {
        probe(&cfg).map_err(|e| UringUnavailable(e.to_string()))?;
        let threads = if cfg.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            cfg.threads
        };
        let mut rings = Vec::with_capacity(threads);
        for i in 0..threads {
            let (tx, rx) = mpsc::channel(1024);
            let wake_fd = eventfd().map_err(|e| UringUnavailable(format!("eventfd: {e}")))?;
            let wake_dup = wake_fd
                .try_clone()
                .map_err(|e| UringUnavailable(format!("dup eventfd: {e}")))?;
            let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<io::Result<()>>(1);
            let cfg = cfg.clone();
            std::thread::Builder::new()
                .name(format!("relay-uring-{i}"))
                .spawn(move || match worker::Worker::new(cfg, rx, wake_dup) {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w.run();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                })
                .map_err(|e| UringUnavailable(format!("spawn ring thread: {e}")))?;
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(UringUnavailable(format!("ring thread: {e}"))),
                Err(_) => return Err(UringUnavailable("ring thread exited".into())),
            }
            rings.push(RingHandle {
                jobs: Some(tx),
                wake: Arc::new(File::from(wake_fd)),
            });
        }
        Ok(Self {
            rings,
            next: AtomicUsize::new(0),
        })
    }

    /// Number of ring threads.
    pub(crate) fn threads(&self) -> usize {
        self.rings.len()
    }

    /// Hands a session to a ring thread (round robin) and waits until it ends.
    pub(crate) async fn forward(&self, job: UringJob) -> UringOutcome {
        let (bytes, cancel_end) = ([0, 0], UringEnd::Internal("uring engine stopped"));
        let n = self.rings.len().max(1);
        let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let Some(ring) = self.rings.get(i) else {
            return UringOutcome {
                bytes,
                end: cancel_end,
            };
        };
        let Some(jobs) = ring.jobs.as_ref() else {
            return UringOutcome {
                bytes,
                end: cancel_end,
            };
        };
        let (done_tx, done_rx) = oneshot::channel();
        if jobs.send(Queued { job, done: done_tx }).await.is_err() {
            return UringOutcome {
                bytes,
                end: cancel_end,
            };
        }
        if let Err(e) = (&*ring.wake).write(&1u64.to_ne_bytes()) {
            tracing::warn!(error = %e, "could not wake a ring thread");
        }
        done_rx.await.unwrap_or(UringOutcome {
            bytes,
            end: cancel_end,
        })
    }
}

impl UringConfig {
    /// Defaults, with overrides from the environment for benchmarking:
    /// `SWITCHBOARD_URING_THREADS` and `SWITCHBOARD_URING_SEND_ZC` (byte threshold for
    /// zero-copy sends; unset or 0 = never).
    pub(crate) fn from_env() -> Self {
        let num = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
        };
        let mut cfg = Self::default();
        if let Some(t) = num("SWITCHBOARD_URING_THREADS") {
            cfg.threads = t;
        }
        cfg.zero_copy_threshold = num("SWITCHBOARD_URING_SEND_ZC").filter(|&t| t > 0);
        cfg
    }
}

static SHARED: OnceLock<Option<UringEngine>> = OnceLock::new();

/// The process-wide engine, started (and probed) on first use; `None` when io_uring is not
/// usable here, logged once.
pub(crate) fn shared() -> Option<&'static UringEngine> {
    SHARED
        .get_or_init(|| match UringEngine::start(UringConfig::from_env()) {
            Ok(engine) => {
                tracing::info!(threads = engine.threads(), "uring engine started");
                Some(engine)
            }
            Err(e) => {
                tracing::warn!("{e}; engine uring falls back to splice");
                None
            }
        })
        .as_ref()
}

/// Forwards one TCP↔TCP session on the shared ring threads (the `forward` entry point of
/// `engine/mod.rs`). Idle timeout and drain are enforced by the caller's supervisor; the
/// shutdown token is also handed to the ring thread so a drained session closes at once.
pub(crate) async fn forward_tcp(
    a: tokio::net::TcpStream,
    b: tokio::net::TcpStream,
    a_leftover: Bytes,
    b_leftover: Bytes,
    limits: &ForwardLimits,
    counters: &Arc<ForwardCounters>,
    shutdown: &CancellationToken,
) -> Result<(), EngineError> {
    let a = a.into_std().map_err(|e| EngineError::read(Peer::A, e))?;
    let b = b.into_std().map_err(|e| EngineError::read(Peer::B, e))?;
    let Some(engine) = shared() else {
        return Err(EngineError::read(
            Peer::A,
            io::Error::other("uring engine unavailable"),
        ));
    };
    let job = UringJob {
        sockets: [a, b],
        leftovers: [a_leftover, b_leftover],
        limits: ForwardLimits {
            idle_timeout: None,
            ..limits.clone()
        },
        counters: Some(counters.clone()),
        idle_timeout: None,
        cancel: shutdown.clone(),
    };
    let outcome = engine.forward(job).await;
    let peer = |side: usize| if side == 0 { Peer::A } else { Peer::B };
    match outcome.end {
        UringEnd::Closed => Ok(()),
        UringEnd::SocketError { side, op, errno } => Err(EngineError {
            peer: peer(side),
            op,
            source: io::Error::from_raw_os_error(errno),
        }),
        // The supervisor's own drain / idle branch resolves; never report these as an end.
        UringEnd::IdleTimeout | UringEnd::Cancelled => std::future::pending().await,
        UringEnd::Internal(msg) => Err(EngineError::read(Peer::A, io::Error::other(msg))),
    }
}

/// Checks that this kernel and sandbox allow everything the engine needs, by doing it once:
/// a ring with our flags, a provided buffer ring, the opcodes, and one multishot receive.
fn probe(cfg: &UringConfig) -> io::Result<()> {
    let ring_res = worker::build_ring(8);
    let mut ring = ring_res?;
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    for (code, name) in [
        (opcode::RecvMulti::CODE, "recv"),
        (opcode::Send::CODE, "send"),
        (opcode::SendMsg::CODE, "sendmsg"),
        (opcode::AsyncCancel::CODE, "async_cancel"),
        (opcode::Read::CODE, "read"),
    ] {
        if !probe.is_supported(code) {
            return Err(io::Error::other(format!("opcode {name} not supported")));
        }
    }
    if cfg.zero_copy_threshold.is_some() && !probe.is_supported(opcode::SendZc::CODE) {
        return Err(io::Error::other("opcode send_zc not supported"));
    }
    let bufs = bufring::BufRing::register(&ring, 2, 4096, 7)?;
    let result = probe_receive(&mut ring, &bufs);
    // The ring goes first: the kernel may write into `bufs` until the ring is gone.
    drop(ring);
    drop(bufs);
    result
}

fn probe_receive(ring: &mut io_uring::IoUring, bufs: &bufring::BufRing) -> io::Result<()> {
    let (a, mut b) = std::os::unix::net::UnixStream::pair()?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&a);
    let sqe = opcode::RecvMulti::new(types::Fd(fd), bufs.group())
        .build()
        .user_data(42);
    // SAFETY: the receive writes only into the registered buffer ring, which the caller drops
    // after the ring itself.
    unsafe { ring.submission().push(&sqe) }
        .map_err(|_| io::Error::other("submission queue full"))?;
    b.write_all(b"x")?;
    let ts = types::Timespec::new().sec(1);
    let args = types::SubmitArgs::new().timespec(&ts);
    match ring.submitter().submit_with_args(1, &args) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
        Err(e) => return Err(e),
    }
    let cqe = ring.completion().next();
    match cqe {
        Some(c) if c.result() == 1 && cqueue::buffer_select(c.flags()).is_some() => {
            if cqueue::more(c.flags()) {
                Ok(())
            } else {
                Err(io::Error::other(
                    "receive is not multishot (kernel older than 6.0?)",
                ))
            }
        }
        Some(c) => Err(io::Error::other(format!(
            "probe receive returned {}",
            c.result()
        ))),
        None => Err(io::Error::other("probe receive did not complete")),
    }
}

#[cfg(test)]
mod tests;
