//! The state of one forwarded session inside a ring thread, without any io_uring call.
//!
//! A session is two sockets and two directions; direction `s` carries what socket `s` received
//! to socket `1 - s`. Each direction keeps a queue of received chunks (provided buffers, or the
//! bytes the handshake read past the bind frame), whether its multishot receive is armed, and
//! whether its source reached end of file. The worker (`worker.rs`) turns these flags into
//! SQEs; this file only keeps the books.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{UringEnd, UringOutcome};
use crate::engine::{ForwardCounters, ForwardLimits};

/// Most chunks gathered into one `sendmsg`.
pub(super) const MAX_IOV: usize = 16;

/// One piece of received data waiting to be sent on.
#[derive(Debug)]
pub(super) enum Chunk {
    /// `len` bytes at `offset` of provided buffer `bid`.
    Buf { bid: u16, offset: u32, len: u32 },
    /// Bytes read by the handshake after the bind frame.
    Owned { data: Bytes },
}

impl Chunk {
    pub(super) fn len(&self) -> usize {
        match self {
            Chunk::Buf { len, .. } => *len as usize,
            Chunk::Owned { data } => data.len(),
        }
    }
}

/// Stable memory for a gathered send: it must not move while the SQE is in flight, so it
/// lives in a `Box` (the session itself may move when the slab grows).
pub(super) struct GatherStorage {
    pub(super) iov: [libc::iovec; MAX_IOV],
    pub(super) msg: libc::msghdr,
}

impl std::fmt::Debug for GatherStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatherStorage").finish_non_exhaustive()
    }
}

/// One direction: data received from socket `s`, to be sent to socket `1 - s`.
#[derive(Debug, Default)]
pub(super) struct Direction {
    pub(super) queue: VecDeque<Chunk>,
    /// Bytes in `queue`.
    pub(super) queued: usize,
    /// A multishot receive on the source is armed.
    pub(super) recv_armed: bool,
    /// An `AsyncCancel` for that receive is in flight (backpressure).
    pub(super) cancel_inflight: bool,
    /// The receive ended for lack of buffers; re-arm when the pool has some again.
    pub(super) starved: bool,
    /// The source sent end of file.
    pub(super) eof: bool,
    /// We shut down the write half of the destination.
    pub(super) shut: bool,
    /// A send on the destination is in flight, with this many bytes.
    pub(super) sending: Option<usize>,
    /// Sends are held back by the byte-rate limit until this instant.
    pub(super) throttled_until: Option<Instant>,
    /// Bytes already charged to the rate limit but not yet sent.
    pub(super) credit: usize,
    /// Bytes delivered to the destination.
    pub(super) bytes: u64,
    /// Gathered-send storage, allocated on first use (idle sessions never need it).
    pub(super) gather: Option<Box<GatherStorage>>,
}

impl Direction {
    /// Nothing more will ever go this way.
    pub(super) fn finished(&self) -> bool {
        self.eof && self.shut && self.queue.is_empty() && self.sending.is_none()
    }
}

/// Element `side` (0 or 1) of a pair, without indexing.
pub(super) fn pick<T>(pair: &[T; 2], side: usize) -> &T {
    let [first, second] = pair;
    if side == 0 { first } else { second }
}

/// Mutable element `side` (0 or 1) of a pair, without indexing.
pub(super) fn pick_mut<T>(pair: &mut [T; 2], side: usize) -> &mut T {
    let [first, second] = pair;
    if side == 0 { first } else { second }
}

/// One forwarded session on a ring thread.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) generation: u32,
    pub(super) sockets: [TcpStream; 2],
    pub(super) dirs: [Direction; 2],
    /// SQEs whose completions we still expect (including zero-copy notifications).
    pub(super) inflight: u32,
    /// Set once the session is being torn down.
    pub(super) closing: Option<UringEnd>,
    pub(super) last_active: Instant,
    pub(super) idle_timeout: Option<Duration>,
    /// Byte-rate buckets (session and tenant); `None` when unlimited.
    pub(super) limits: Option<ForwardLimits>,
    pub(super) counters: Option<Arc<ForwardCounters>>,
    pub(super) cancel: CancellationToken,
    pub(super) done: Option<oneshot::Sender<UringOutcome>>,
}

impl Session {
    /// Both directions are done and nothing is in flight.
    pub(super) fn complete(&self) -> bool {
        self.inflight == 0
            && (self.closing.is_some() || (self.dirs[0].finished() && self.dirs[1].finished()))
    }

    /// How the session ended (normal close when no reason was recorded).
    pub(super) fn end(&self) -> UringEnd {
        self.closing.clone().unwrap_or(UringEnd::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_finished_needs_eof_shut_and_empty_queue() {
        let mut d = Direction {
            eof: true,
            shut: true,
            ..Direction::default()
        };
        assert!(d.finished());
        d.queue.push_back(Chunk::Owned {
            data: Bytes::from_static(b"x"),
        });
        assert!(!d.finished());
    }
}
