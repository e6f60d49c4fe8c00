//! Poll-driven TCP↔TCP forwarding for the `splice` and `copy` engines: one small state
//! machine per direction inside one plain future, so an idle session costs a few hundred bytes.
//!
//! A direction waits for its source with `poll_read_ready` (the socket's own waker slot, no
//! waiter node in the future). When the source is readable it borrows a mover — an empty
//! pipe from the [`PipePool`] for `splice`, a 64 KiB buffer from the process-wide pool for
//! `copy` (or for a `splice` direction that could not get a pipe, counted by
//! [`ForwardCounters::mark_fallback`]) — reads one chunk (capped by the rate limit's chunk),
//! waits out the rate limit, then writes the chunk out whole, waiting with `poll_write_ready`.
//! It keeps the mover while the source has data and gives it back, empty, the moment a read
//! would block, so an idle session holds no pipe and no buffer. A pipe that still holds bytes
//! when the direction fails or the future is dropped is closed, never returned.
//!
//! End of file on the source becomes `shutdown(Write)` on the destination; the other
//! direction runs on until its own end of file. The future completes when both directions
//! are done and fails with the first socket error, naming the side. Readiness polls consume
//! tokio's cooperative budget, so a busy session yields to others.
//!
//! It does not run the idle timeout or the drain deadline (see `session_run.rs`), and it
//! serves TCP only: QUIC pairings use the generic pump of `copy.rs`.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::time::Sleep;

use super::copy::{BigBuf, COPY_BUF};
use super::pipe_pool::{Pipe, PipePool};
use super::{Direction, EngineError, ForwardCounters, ForwardLimits, splice};

/// What a direction reads into and writes out of while data is in flight.
#[derive(Debug)]
enum Mover {
    /// A pipe (`splice`): the payload never enters user space.
    Pipe(Pipe),
    /// A pooled user-space buffer (`copy`).
    Buf(BigBuf),
    /// Bytes the source sent after its bind frame, written before anything else.
    Leftover(Bytes),
}

/// Where a direction stands.
#[derive(Debug)]
enum State {
    /// Waiting for the source to be readable, holding nothing.
    Wait,
    /// Holding an empty mover, about to read again.
    Read(Mover),
    /// Writing `mover[off..len]` out, after the rate limit's `delay`.
    Write {
        mover: Mover,
        off: usize,
        len: usize,
        delay: Option<Pin<Box<Sleep>>>,
    },
    /// End of file passed on.
    Done,
}

/// One direction: its state and whether it splices.
#[derive(Debug)]
struct Way {
    dir: Direction,
    state: State,
    splice: bool,
}

/// Forwards a TCP↔TCP session until both directions end or a socket fails. See the module
/// documentation.
#[derive(Debug)]
pub(crate) struct TcpForward {
    /// `[a, b]`: the Host side and the Guest side.
    socks: [TcpStream; 2],
    ways: [Way; 2],
    limits: ForwardLimits,
    counters: Arc<ForwardCounters>,
    pipes: Arc<PipePool>,
}

fn index(peer: super::Peer) -> usize {
    match peer {
        super::Peer::A => 0,
        super::Peer::B => 1,
    }
}

impl TcpForward {
    /// A session between `a` and `b`; with `splice`, directions move bytes through pipes from
    /// `pipes`, else through pooled buffers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        a: TcpStream,
        b: TcpStream,
        a_leftover: Bytes,
        b_leftover: Bytes,
        limits: ForwardLimits,
        counters: Arc<ForwardCounters>,
        pipes: Arc<PipePool>,
        splice: bool,
    ) -> Self {
        let way = |dir: Direction, leftover: Bytes| {
            let state = if leftover.is_empty() {
                State::Wait
            } else {
                let len = leftover.len();
                State::Write {
                    delay: limits.delay(len),
                    mover: Mover::Leftover(leftover),
                    off: 0,
                    len,
                }
            };
            Way { dir, state, splice }
        };
        let ways = [
            way(Direction::AToB, a_leftover),
            way(Direction::BToA, b_leftover),
        ];
        Self {
            socks: [a, b],
            ways,
            limits,
            counters,
            pipes,
        }
    }

    /// Drives direction `i` as far as it goes without blocking.
    fn poll_way(&mut self, i: usize, cx: &mut Context<'_>) -> Poll<Result<(), EngineError>> {
        let Self {
            socks,
            ways,
            limits,
            counters,
            pipes,
        } = self;
        let Some(way) = ways.get_mut(i) else {
            return Poll::Ready(Ok(()));
        };
        let dir = way.dir;
        let (Some(src), Some(dst)) = (socks.get(index(dir.source())), socks.get(index(dir.sink())))
        else {
            return Poll::Ready(Ok(()));
        };
        let rd = |e| EngineError::read(dir.source(), e);
        let wr = |e| EngineError::write(dir.sink(), e);
        loop {
            match std::mem::replace(&mut way.state, State::Done) {
                State::Done => return Poll::Ready(Ok(())),
                held @ (State::Wait | State::Read(_)) => {
                    match src.poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(rd(e))),
                        Poll::Pending => {
                            // Nothing to read: give back what we hold, wait with nothing.
                            if let State::Read(mover) = held {
                                release(pipes, mover);
                            }
                            way.state = State::Wait;
                            return Poll::Pending;
                        }
                    }
                    let mut mover = match held {
                        State::Read(m) => m,
                        _ => acquire(way, pipes, counters),
                    };
                    match read(src, &mut mover, limits) {
                        Ok(0) => {
                            release(pipes, mover);
                            socket2::SockRef::from(dst)
                                .shutdown(Shutdown::Write)
                                .map_err(wr)?;
                            return Poll::Ready(Ok(()));
                        }
                        Ok(len) => {
                            way.state = State::Write {
                                delay: limits.delay(len),
                                mover,
                                off: 0,
                                len,
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            release(pipes, mover);
                            way.state = State::Wait;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                            way.state = State::Read(mover);
                        }
                        Err(e) => return Poll::Ready(Err(rd(e))),
                    }
                }
                State::Write {
                    mover,
                    mut off,
                    len,
                    mut delay,
                } => {
                    if let Some(sleep) = delay.as_mut()
                        && sleep.as_mut().poll(cx).is_pending()
                    {
                        way.state = State::Write {
                            mover,
                            off,
                            len,
                            delay,
                        };
                        return Poll::Pending;
                    }
                    match dst.poll_write_ready(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(wr(e))),
                        Poll::Pending => {
                            way.state = State::Write {
                                mover,
                                off,
                                len,
                                delay: None,
                            };
                            return Poll::Pending;
                        }
                    }
                    match write(dst, &mover, off, len) {
                        Ok(0) => return Poll::Ready(Err(wr(io::ErrorKind::WriteZero.into()))),
                        Ok(k) => {
                            off = off.saturating_add(k).min(len);
                            counters.record(dir, k);
                        }
                        Err(e)
                            if e.kind() == io::ErrorKind::WouldBlock
                                || e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Poll::Ready(Err(wr(e))),
                    }
                    way.state = if off < len {
                        State::Write {
                            mover,
                            off,
                            len,
                            delay: None,
                        }
                    } else {
                        match mover {
                            Mover::Leftover(_) => State::Wait,
                            m => State::Read(m),
                        }
                    };
                }
            }
        }
    }
}

/// Borrows a mover for `way`: a pipe when it splices and one can be had, else a buffer.
fn acquire(way: &mut Way, pipes: &PipePool, counters: &ForwardCounters) -> Mover {
    if way.splice {
        match pipes.take() {
            Ok(p) => return Mover::Pipe(p),
            Err(why) => {
                tracing::debug!(%why, direction = way.dir.label(), "no pipe, using copy");
                counters.mark_fallback();
                way.splice = false;
            }
        }
    }
    Mover::Buf(BigBuf::take())
}

/// Gives an EMPTY mover back to its pool.
fn release(pipes: &PipePool, mover: Mover) {
    match mover {
        Mover::Pipe(p) => pipes.put(p),
        Mover::Buf(b) => drop(b),
        Mover::Leftover(_) => {}
    }
}

/// Reads one chunk from `src` into the (empty) mover.
fn read(src: &TcpStream, mover: &mut Mover, limits: &ForwardLimits) -> io::Result<usize> {
    match mover {
        Mover::Pipe(p) => {
            let want = limits.chunk_cap(p.capacity());
            splice::fill(src, p, want)
        }
        Mover::Buf(b) => {
            let want = limits.chunk_cap(COPY_BUF);
            let buf = b.bytes_mut();
            let len = want.min(buf.len());
            src.try_read(buf.get_mut(..len).unwrap_or_default())
        }
        Mover::Leftover(_) => Err(io::Error::other("leftover bytes are never read into")),
    }
}

/// Writes `mover[off..len]` to `dst` once.
fn write(dst: &TcpStream, mover: &Mover, off: usize, len: usize) -> io::Result<usize> {
    let chunk = |b: &[u8]| {
        b.get(off..len)
            .map(|chunk| dst.try_write(chunk))
            .unwrap_or_else(|| Err(io::Error::other("write past the chunk")))
    };
    match mover {
        Mover::Pipe(p) => splice::drain(p, dst, len.saturating_sub(off)),
        Mover::Buf(b) => chunk(b.bytes()),
        Mover::Leftover(bytes) => chunk(bytes),
    }
}

impl Future for TcpForward {
    type Output = Result<(), EngineError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = self.get_mut();
        let a_to_b = me.poll_way(0, cx)?;
        let b_to_a = me.poll_way(1, cx)?;
        ready!(a_to_b);
        ready!(b_to_a);
        Poll::Ready(Ok(()))
    }
}
