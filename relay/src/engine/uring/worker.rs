//! One ring thread: an io_uring, a provided-buffer ring and the sessions it forwards.
//!
//! Every socket has one multishot receive armed that takes buffers from the thread's pool.
//! Received chunks queue per direction and leave with one `send` (or a gathered `sendmsg`,
//! or `send_zc` for large single buffers) at a time, so order is kept and a short send simply
//! resends the rest. When a direction's queue passes the high-water mark its receive is
//! cancelled (the peer's slowness never costs the other direction or other sessions buffers);
//! it is re-armed below the low-water mark. End of file is passed on as `shutdown(SHUT_WR)`.
//! Errors, idle timeouts and cancellation shut both sockets, cancel their requests and
//! finish the session once no completion is outstanding. This file does not accept
//! connections, check tickets or choose engines.

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use io_uring::types::{CancelBuilder, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode, squeue};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::bufring::BufRing;
use super::session::{Chunk, Direction, GatherStorage, MAX_IOV, Session, pick, pick_mut};
use super::user_data::{OP_CANCEL, OP_RECV, OP_SEND, OP_SEND_ZC, OP_WAKE, decode, user_data};
use super::{Queued, UringConfig, UringEnd, UringOutcome};
use crate::engine::{Direction as Way, EngineOp};

/// Most bytes handed to one send SQE.
const MAX_SEND: usize = 1 << 20;
/// How often idle timeouts, cancellation and abandoned callers are checked.
const TICK: Duration = Duration::from_millis(200);

/// Creates a ring with the flags the engine uses.
pub(super) fn build_ring(entries: u32) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    builder
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(entries.saturating_mul(16));
    match builder.build(entries) {
        Ok(ring) => Ok(ring),
        // Older kernels without DEFER_TASKRUN: plain ring.
        Err(_) => IoUring::builder()
            .setup_cqsize(entries.saturating_mul(16))
            .build(entries),
    }
}

/// The state of one ring thread.
pub(super) struct Worker {
    /// Declared first so it is dropped (and its buffer group unregistered) before `bufs`.
    ring: IoUring,
    bufs: BufRing,
    cfg: UringConfig,
    sessions: Vec<Option<Session>>,
    free: Vec<usize>,
    live: usize,
    generation: u32,
    jobs: mpsc::Receiver<Queued>,
    jobs_closed: bool,
    wake_fd: OwnedFd,
    wake_buf: Box<u64>,
    wake_armed: bool,
    cqes: Vec<(u64, i32, u32)>,
    throttled: Vec<(usize, u32, usize, Instant)>,
    any_starved: bool,
    next_tick: Instant,
    /// Read once per loop turn: activity stamps and rate-limit decisions need no finer time.
    now: Instant,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("live", &self.live)
            .field("bufs", &self.bufs)
            .finish()
    }
}

impl Worker {
    /// Builds the ring and its buffer pool on the calling (ring) thread.
    pub(super) fn new(
        cfg: UringConfig,
        jobs: mpsc::Receiver<Queued>,
        wake_fd: OwnedFd,
    ) -> io::Result<Self> {
        let ring = build_ring(cfg.sq_entries)?;
        let bufs = BufRing::register(&ring, cfg.buffers, cfg.buffer_size, 0)?;
        Ok(Self {
            ring,
            bufs,
            cfg,
            sessions: Vec::new(),
            free: Vec::new(),
            live: 0,
            generation: 0,
            jobs,
            jobs_closed: false,
            wake_fd,
            wake_buf: Box::new(0),
            wake_armed: false,
            cqes: Vec::with_capacity(256),
            throttled: Vec::new(),
            any_starved: false,
            next_tick: Instant::now() + TICK,
            now: Instant::now(),
        })
    }

    /// Runs until the engine is dropped and every session has finished.
    pub(super) fn run(mut self) {
        self.arm_wake();
        loop {
            if self.jobs_closed && self.live == 0 {
                break;
            }
            let now = Instant::now();
            let mut deadline = self.next_tick;
            for t in &self.throttled {
                deadline = deadline.min(t.3);
            }
            let wait = deadline.saturating_duration_since(now);
            let ts = Timespec::new()
                .sec(wait.as_secs())
                .nsec(wait.subsec_nanos());
            let args = SubmitArgs::new().timespec(&ts);
            if let Err(e) = self.ring.submitter().submit_with_args(1, &args) {
                match e.raw_os_error() {
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) => {}
                    _ => {
                        tracing::error!(error = %e, "io_uring wait failed; ending this ring's sessions");
                        self.fail_all();
                        break;
                    }
                }
            }
            let now = Instant::now();
            self.now = now;
            self.drain_completions();
            if !self.throttled.is_empty() {
                self.wake_throttled(now);
            }
            if now >= self.next_tick {
                self.next_tick = now + TICK;
                self.tick(now);
            }
            if self.any_starved {
                self.rearm_starved();
            }
            self.bufs.publish();
        }
    }

    /// Pushes one SQE, flushing the submission queue when it is full.
    ///
    /// The caller guarantees that every buffer the SQE points at stays valid and unmoved
    /// until its completion (and notification, for zero-copy sends) has been reaped.
    fn push(&mut self, sqe: squeue::Entry) {
        for _ in 0..64 {
            // SAFETY: per this function's contract, the SQE's buffers outlive the request:
            // provided buffers are held by a reference until the completion, owned chunks and
            // gather storage live in the session, which is only dropped when `inflight == 0`.
            let pushed = unsafe { self.ring.submission().push(&sqe) };
            if pushed.is_ok() {
                return;
            }
            if let Err(e) = self.ring.submit() {
                tracing::warn!(error = %e, "io_uring submit failed while the queue was full");
            }
        }
        tracing::error!("io_uring submission queue stayed full; request dropped");
    }

    fn arm_wake(&mut self) {
        if self.wake_armed || self.jobs_closed {
            return;
        }
        let ptr = std::ptr::from_mut::<u64>(&mut self.wake_buf).cast::<u8>();
        let sqe = opcode::Read::new(Fd(self.wake_fd.as_raw_fd()), ptr, 8)
            .build()
            .user_data(OP_WAKE);
        self.wake_armed = true;
        self.push(sqe);
    }

    fn drain_completions(&mut self) {
        let mut cqes = std::mem::take(&mut self.cqes);
        for _ in 0..64 {
            cqes.clear();
            cqes.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            if cqes.is_empty() {
                break;
            }
            for &(ud, res, flags) in &cqes {
                self.handle(ud, res, flags);
            }
            // New SQEs go out with the next `submit_with_args`, which also waits: one
            // syscall per loop turn (with DEFER_TASKRUN nothing completes in between).
            self.bufs.publish();
        }
        self.cqes = cqes;
    }

    fn handle(&mut self, ud: u64, res: i32, flags: u32) {
        let d = decode(ud);
        if d.op == OP_WAKE {
            self.wake_armed = false;
            self.accept_jobs();
            self.arm_wake();
            return;
        }
        if d.op == OP_RECV
            && let Some(bid) = cqueue::buffer_select(flags)
        {
            self.bufs.take(bid);
        }
        let live = matches!(
            self.sessions.get(d.slot),
            Some(Some(s)) if s.generation == d.generation
        );
        if !live {
            // Cannot happen (a slot is freed only with nothing in flight); never leak a buffer.
            if d.op == OP_RECV
                && let Some(bid) = cqueue::buffer_select(flags)
            {
                self.bufs.release(bid);
            }
            return;
        }
        match d.op {
            OP_RECV => self.on_recv(d.slot, d.side, res, flags),
            OP_SEND => self.on_send(d.slot, d.side, res, None, flags),
            OP_SEND_ZC => {
                if cqueue::notif(flags) {
                    self.bufs.release(d.bid);
                    if let Some(s) = self.session(d.slot) {
                        s.inflight = s.inflight.saturating_sub(1);
                    }
                } else {
                    self.on_send(d.slot, d.side, res, Some(d.bid), flags);
                }
            }
            OP_CANCEL => {
                if let Some(s) = self.session(d.slot) {
                    s.inflight = s.inflight.saturating_sub(1);
                    pick_mut(&mut s.dirs, d.side).cancel_inflight = false;
                }
                self.maybe_rearm(d.slot, d.side);
            }
            _ => {}
        }
        self.maybe_finish(d.slot);
    }

    fn session(&mut self, slot: usize) -> Option<&mut Session> {
        self.sessions.get_mut(slot).and_then(Option::as_mut)
    }

    fn accept_jobs(&mut self) {
        // The read SQE already consumed the eventfd counter.
        for _ in 0..4096 {
            match self.jobs.try_recv() {
                Ok(job) => self.start(job),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.jobs_closed = true;
                    return;
                }
            }
        }
    }

    fn start(&mut self, queued: Queued) {
        let Queued { job, done } = queued;
        let now = Instant::now();
        for s in &job.sockets {
            // io_uring arms its own poll; blocking mode keeps sends whole where possible.
            if let Err(e) = s.set_nonblocking(false) {
                tracing::debug!(error = %e, "could not set a socket to blocking mode");
            }
        }
        self.generation = self.generation.wrapping_add(1) & 0x7_ffff;
        let [left0, left1] = job.leftovers;
        let mut session = Session {
            generation: self.generation,
            sockets: job.sockets,
            dirs: [Direction::default(), Direction::default()],
            inflight: 0,
            closing: None,
            last_active: now,
            idle_timeout: job.idle_timeout,
            limits: job.limits.rate().is_some().then_some(job.limits),
            counters: job.counters,
            cancel: job.cancel,
            done: Some(done),
        };
        for (side, data) in [(0usize, left0), (1, left1)] {
            if !data.is_empty() {
                pick_mut(&mut session.dirs, side).queued += data.len();
                pick_mut(&mut session.dirs, side)
                    .queue
                    .push_back(Chunk::Owned { data });
            }
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.sessions.push(None);
                self.sessions.len() - 1
            }
        };
        if let Some(entry) = self.sessions.get_mut(slot) {
            *entry = Some(session);
        }
        self.live += 1;
        for side in 0..2 {
            self.maybe_rearm(slot, side);
            self.pump(slot, side);
        }
    }

    fn arm_recv(&mut self, slot: usize, side: usize) {
        let group = self.bufs.group();
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let fd = pick(&s.sockets, side).as_raw_fd();
        let ud = user_data(OP_RECV, side, 0, slot, s.generation);
        pick_mut(&mut s.dirs, side).recv_armed = true;
        pick_mut(&mut s.dirs, side).starved = false;
        s.inflight += 1;
        let sqe = opcode::RecvMulti::new(Fd(fd), group).build().user_data(ud);
        self.push(sqe);
    }

    /// Arms the receive of `side` when its queue has room and nothing forbids it.
    fn maybe_rearm(&mut self, slot: usize, side: usize) {
        let low = self.cfg.low_water;
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let d = pick(&s.dirs, side);
        if s.closing.is_none()
            && !d.recv_armed
            && !d.cancel_inflight
            && !d.eof
            && !d.starved
            && d.queued < low
        {
            self.arm_recv(slot, side);
        }
    }

    fn on_recv(&mut self, slot: usize, side: usize, res: i32, flags: u32) {
        let more = cqueue::more(flags);
        let bid = cqueue::buffer_select(flags);
        let high = self.cfg.high_water;
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if !more {
            pick_mut(&mut s.dirs, side).recv_armed = false;
            s.inflight = s.inflight.saturating_sub(1);
        }
        if res > 0 {
            let Some(bid) = bid else {
                self.close(
                    slot,
                    UringEnd::Internal("receive completion without a buffer"),
                );
                return;
            };
            if s.closing.is_some() {
                self.bufs.release(bid);
                return;
            }
            let len = res as u32;
            pick_mut(&mut s.dirs, side).queue.push_back(Chunk::Buf {
                bid,
                offset: 0,
                len,
            });
            pick_mut(&mut s.dirs, side).queued += len as usize;
            s.last_active = self.now;
            let d = pick(&s.dirs, side);
            let pause = d.queued >= high && d.recv_armed && !d.cancel_inflight;
            self.pump(slot, side);
            if pause {
                self.pause_recv(slot, side);
            }
            if !more {
                self.maybe_rearm(slot, side);
            }
            return;
        }
        if let Some(bid) = bid {
            self.bufs.release(bid);
        }
        if res == 0 {
            pick_mut(&mut s.dirs, side).eof = true;
            self.after_progress(slot, side);
            return;
        }
        match -res {
            libc::ENOBUFS => {
                pick_mut(&mut s.dirs, side).starved = true;
                self.any_starved = true;
            }
            libc::ECANCELED | libc::EINTR | libc::EAGAIN => self.maybe_rearm(slot, side),
            errno => {
                let end = UringEnd::SocketError {
                    side,
                    op: EngineOp::Read,
                    errno,
                };
                self.close(slot, end);
            }
        }
    }

    /// Backpressure: stop receiving on `side` until its queue drains.
    fn pause_recv(&mut self, slot: usize, side: usize) {
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let target = user_data(OP_RECV, side, 0, slot, s.generation);
        let ud = user_data(OP_CANCEL, side, 0, slot, s.generation);
        pick_mut(&mut s.dirs, side).cancel_inflight = true;
        s.inflight += 1;
        let sqe = opcode::AsyncCancel::new(target).build().user_data(ud);
        self.push(sqe);
    }

    /// Starts the next send of direction `side` if none is in flight.
    fn pump(&mut self, slot: usize, side: usize) {
        let zc_threshold = self.cfg.zero_copy_threshold;
        let now = self.now;
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let generation = s.generation;
        let fd = pick(&s.sockets, 1 - side).as_raw_fd();
        let d = pick_mut(&mut s.dirs, side);
        if d.sending.is_some() || d.queue.is_empty() || s.closing.is_some() {
            return;
        }
        if let Some(until) = d.throttled_until
            && until > now
        {
            return;
        }
        d.throttled_until = None;
        let mut budget = d.queued.min(MAX_SEND);
        if let Some(limits) = s.limits.as_ref() {
            if d.credit == 0 {
                let n = limits.chunk_cap(MAX_SEND).min(d.queued);
                let wait = limits.reserve(n, now);
                d.credit = n;
                if !wait.is_zero() {
                    let at = now + wait;
                    d.throttled_until = Some(at);
                    self.throttled.push((slot, generation, side, at));
                    return;
                }
            }
            budget = budget.min(d.credit);
        }
        let single = d.queue.len() == 1 || d.queue.front().is_some_and(|c| c.len() >= budget);
        let (sqe, sent) = if single {
            let Some(front) = d.queue.front() else { return };
            let len = front.len().min(budget);
            match front {
                Chunk::Buf { bid, offset, .. } => {
                    let ptr = self.bufs.ptr(*bid, *offset);
                    if zc_threshold.is_some_and(|t| len >= t) {
                        let ud = user_data(OP_SEND_ZC, side, *bid, slot, generation);
                        self.bufs.add_ref(*bid);
                        (
                            opcode::SendZc::new(Fd(fd), ptr, len as u32)
                                .build()
                                .user_data(ud),
                            len,
                        )
                    } else {
                        let ud = user_data(OP_SEND, side, 0, slot, generation);
                        (
                            opcode::Send::new(Fd(fd), ptr, len as u32)
                                .build()
                                .user_data(ud),
                            len,
                        )
                    }
                }
                Chunk::Owned { data } => {
                    let ud = user_data(OP_SEND, side, 0, slot, generation);
                    (
                        opcode::Send::new(Fd(fd), data.as_ptr(), len as u32)
                            .build()
                            .user_data(ud),
                        len,
                    )
                }
            }
        } else {
            let gather = d.gather.get_or_insert_with(|| {
                Box::new(GatherStorage {
                    iov: [libc::iovec {
                        iov_base: std::ptr::null_mut(),
                        iov_len: 0,
                    }; MAX_IOV],
                    // SAFETY: `msghdr` is plain old data; all-zero is a valid empty header.
                    msg: unsafe { std::mem::zeroed() },
                })
            });
            let mut n = 0;
            let mut total = 0;
            for chunk in d.queue.iter().take(MAX_IOV) {
                if total >= budget {
                    break;
                }
                let len = chunk.len().min(budget - total);
                let ptr = match chunk {
                    Chunk::Buf { bid, offset, .. } => self.bufs.ptr(*bid, *offset),
                    Chunk::Owned { data } => data.as_ptr(),
                };
                if let Some(slot_iov) = gather.iov.get_mut(n) {
                    *slot_iov = libc::iovec {
                        iov_base: ptr.cast_mut().cast(),
                        iov_len: len,
                    };
                }
                n += 1;
                total += len;
            }
            gather.msg.msg_iov = gather.iov.as_mut_ptr();
            gather.msg.msg_iovlen = n as _;
            let ud = user_data(OP_SEND, side, 0, slot, generation);
            let msg = std::ptr::from_ref(&gather.msg);
            (
                opcode::SendMsg::new(Fd(fd), msg).build().user_data(ud),
                total,
            )
        };
        d.sending = Some(sent);
        s.inflight += 1;
        self.push(sqe);
    }

    fn on_send(&mut self, slot: usize, side: usize, res: i32, zc_bid: Option<u16>, flags: u32) {
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        s.inflight = s.inflight.saturating_sub(1);
        if let Some(bid) = zc_bid {
            if cqueue::more(flags) {
                // The notification releases the extra reference later.
                s.inflight += 1;
            } else {
                self.bufs.release(bid);
            }
        }
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        pick_mut(&mut s.dirs, side).sending = None;
        if res < 0 {
            if s.closing.is_none() {
                let end = UringEnd::SocketError {
                    side: 1 - side,
                    op: EngineOp::Write,
                    errno: -res,
                };
                self.close(slot, end);
            }
            return;
        }
        let mut sent = res as usize;
        s.last_active = self.now;
        if let Some(c) = s.counters.as_ref() {
            c.record(if side == 0 { Way::AToB } else { Way::BToA }, sent);
        }
        let d = pick_mut(&mut s.dirs, side);
        d.credit = d.credit.saturating_sub(sent);
        d.bytes += sent as u64;
        d.queued = d.queued.saturating_sub(sent);
        let mut released = Vec::new();
        while sent > 0 {
            let Some(front) = d.queue.front_mut() else {
                break;
            };
            let len = front.len();
            if sent >= len {
                sent -= len;
                if let Some(Chunk::Buf { bid, .. }) = d.queue.pop_front() {
                    released.push(bid);
                }
            } else {
                match front {
                    Chunk::Buf { offset, len, .. } => {
                        *offset += sent as u32;
                        *len -= sent as u32;
                    }
                    Chunk::Owned { data } => {
                        let _ = data.split_to(sent);
                    }
                }
                sent = 0;
            }
        }
        for bid in released {
            self.bufs.release(bid);
        }
        self.after_progress(slot, side);
    }

    /// After a send completed or end of file arrived: send more, pass on EOF, re-arm.
    fn after_progress(&mut self, slot: usize, side: usize) {
        self.pump(slot, side);
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let d = pick(&s.dirs, side);
        if d.eof && !d.shut && d.queue.is_empty() && d.sending.is_none() && s.closing.is_none() {
            // Half-close: the peer sees end of file but may keep sending the other way.
            let _ = pick(&s.sockets, 1 - side).shutdown(Shutdown::Write);
            pick_mut(&mut s.dirs, side).shut = true;
        }
        self.maybe_rearm(slot, side);
    }

    /// Tears the session down: shut both sockets and cancel their requests.
    fn close(&mut self, slot: usize, end: UringEnd) {
        let Some(s) = self.sessions.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if s.closing.is_some() {
            return;
        }
        s.closing = Some(end);
        let generation = s.generation;
        let fds = [
            pick(&s.sockets, 0).as_raw_fd(),
            pick(&s.sockets, 1).as_raw_fd(),
        ];
        for sock in &s.sockets {
            let _ = sock.shutdown(Shutdown::Both);
        }
        let armed: Vec<usize> = (0..2)
            .filter(|&i| pick(&s.dirs, i).recv_armed || pick(&s.dirs, i).sending.is_some())
            .collect();
        for side in armed {
            if let Some(s) = self.session(slot) {
                s.inflight += 1;
                pick_mut(&mut s.dirs, side).cancel_inflight = true;
            }
            let ud = user_data(OP_CANCEL, side, 0, slot, generation);
            let sqe = opcode::AsyncCancel2::new(CancelBuilder::fd(Fd(*pick(&fds, side))).all())
                .build()
                .user_data(ud);
            self.push(sqe);
        }
    }

    /// Frees the slot and answers the caller once nothing is in flight.
    fn maybe_finish(&mut self, slot: usize) {
        let done = matches!(self.sessions.get(slot), Some(Some(s)) if s.complete());
        if !done {
            return;
        }
        let Some(mut s) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return;
        };
        for d in &mut s.dirs {
            for chunk in d.queue.drain(..) {
                if let Chunk::Buf { bid, .. } = chunk {
                    self.bufs.release(bid);
                }
            }
        }
        let outcome = UringOutcome {
            bytes: [pick(&s.dirs, 0).bytes, pick(&s.dirs, 1).bytes],
            end: s.end(),
        };
        if let Some(done) = s.done.take() {
            let _ = done.send(outcome);
        }
        self.free.push(slot);
        self.live = self.live.saturating_sub(1);
        // Dropping `s` closes both sockets.
    }

    fn tick(&mut self, now: Instant) {
        let mut to_close = Vec::new();
        for (slot, entry) in self.sessions.iter().enumerate() {
            let Some(s) = entry else { continue };
            if s.closing.is_some() {
                continue;
            }
            if s.cancel.is_cancelled() || s.done.as_ref().is_none_or(|d| d.is_closed()) {
                to_close.push((slot, UringEnd::Cancelled));
            } else if let Some(idle) = s.idle_timeout
                && now.saturating_duration_since(s.last_active) >= idle
            {
                to_close.push((slot, UringEnd::IdleTimeout));
            }
        }
        for (slot, end) in to_close {
            self.close(slot, end);
            self.maybe_finish(slot);
        }
    }

    fn wake_throttled(&mut self, now: Instant) {
        let due: Vec<(usize, u32, usize, Instant)> = self
            .throttled
            .iter()
            .copied()
            .filter(|t| t.3 <= now)
            .collect();
        if due.is_empty() {
            return;
        }
        self.throttled.retain(|t| t.3 > now);
        for (slot, generation, side, _) in due {
            let live =
                matches!(self.sessions.get(slot), Some(Some(s)) if s.generation == generation);
            if live {
                if let Some(s) = self.session(slot) {
                    pick_mut(&mut s.dirs, side).throttled_until = None;
                }
                self.after_progress(slot, side);
            }
        }
    }

    fn rearm_starved(&mut self) {
        // Only when a useful share of the pool is back, so we do not spin on ENOBUFS.
        if self.bufs.held() + self.bufs.count() / 8 > self.bufs.count() {
            return;
        }
        self.any_starved = false;
        let starved: Vec<(usize, usize)> = self
            .sessions
            .iter()
            .enumerate()
            .filter_map(|(slot, e)| e.as_ref().map(|s| (slot, s)))
            .flat_map(|(slot, s)| {
                (0..2)
                    .filter(move |&i| pick(&s.dirs, i).starved)
                    .map(move |i| (slot, i))
            })
            .collect();
        for (slot, side) in starved {
            if let Some(s) = self.session(slot) {
                pick_mut(&mut s.dirs, side).starved = false;
            }
            self.maybe_rearm(slot, side);
        }
    }

    /// The ring itself failed: answer every caller (sockets close when dropped).
    fn fail_all(&mut self) {
        for entry in &mut self.sessions {
            if let Some(mut s) = entry.take()
                && let Some(done) = s.done.take()
            {
                let outcome = UringOutcome {
                    bytes: [pick(&s.dirs, 0).bytes, pick(&s.dirs, 1).bytes],
                    end: UringEnd::Internal("io_uring ring failed"),
                };
                let _ = done.send(outcome);
            }
        }
        self.live = 0;
    }
}
