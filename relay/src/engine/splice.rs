//! The `splice` engine: socket → pipe → socket with non-blocking splice(2), on tokio readiness.
//!
//! Per direction: wait until the source is readable, borrow a pipe, splice as much as the
//! pipe holds (or the rate limit's chunk) from the socket into the pipe, charge the limits,
//! then splice the pipe out to the destination until it is empty, waiting for writability as
//! needed. The pipe is only ever filled when empty, so a `WouldBlock` on the way in always
//! means the socket is drained: the direction then returns the (empty) pipe to the pool before
//! it waits, and an idle session holds no pipe. A pipe that still holds bytes when the
//! direction fails or is cancelled is closed, never returned.
//!
//! EOF on the source becomes `shutdown(Write)` on the destination; the other direction runs
//! on until its own EOF. When the pool cannot lend a pipe (bound reached, kernel pipe budget
//! spent, fd limit) the direction continues with the `copy` pump and the session is counted
//! in `switchboard_relay_splice_fallback_total`.
//!
//! splice(2) into a socket whose peer is gone fails with `EPIPE` and, unlike `send`, does not
//! pass `MSG_NOSIGNAL`: it relies on `SIGPIPE` being ignored, which the Rust runtime does
//! before `main`.

use std::io;
use std::os::fd::AsFd;

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};

use super::pipe_pool::{Pipe, PipePool};
use super::{Direction, EngineError, ForwardCounters, ForwardLimits, copy, splice_sys};

/// Forwards a TCP↔TCP session with `splice`.
pub(crate) async fn forward(
    mut a: TcpStream,
    mut b: TcpStream,
    a_leftover: Bytes,
    b_leftover: Bytes,
    limits: &ForwardLimits,
    counters: &ForwardCounters,
    pipes: &PipePool,
) -> Result<(), EngineError> {
    let (mut ar, mut aw) = a.split();
    let (mut br, mut bw) = b.split();
    let a_to_b = pump(
        &mut ar,
        &mut bw,
        a_leftover,
        Direction::AToB,
        limits,
        counters,
        pipes,
    );
    let b_to_a = pump(
        &mut br,
        &mut aw,
        b_leftover,
        Direction::BToA,
        limits,
        counters,
        pipes,
    );
    tokio::try_join!(a_to_b, b_to_a).map(|_| ())
}

async fn pump(
    src: &mut ReadHalf<'_>,
    dst: &mut WriteHalf<'_>,
    leftover: Bytes,
    dir: Direction,
    limits: &ForwardLimits,
    counters: &ForwardCounters,
    pipes: &PipePool,
) -> Result<(), EngineError> {
    let rd = |e| EngineError::read(dir.source(), e);
    let wr = |e| EngineError::write(dir.sink(), e);
    if !leftover.is_empty() {
        limits.throttle(leftover.len()).await;
        dst.write_all(&leftover).await.map_err(wr)?;
        counters.record(dir, leftover.len());
    }
    drop(leftover);
    let mut held: Option<Pipe> = None;
    loop {
        let s: &TcpStream = src.as_ref();
        s.readable().await.map_err(rd)?;
        let pipe = match held.take() {
            Some(p) => p,
            None => match pipes.take() {
                Ok(p) => p,
                Err(why) => {
                    tracing::debug!(%why, direction = dir.label(), "no pipe, using copy");
                    counters.mark_fallback();
                    // Boxed: the fallback is rare, so idle splice sessions don't carry it.
                    let fallback = copy::pump(src, dst, Bytes::new(), dir, limits, counters);
                    return Box::pin(fallback).await;
                }
            },
        };
        let want = limits.chunk_cap(pipe.capacity());
        let res = s.try_io(Interest::READABLE, || {
            splice_sys::splice(s.as_fd(), pipe.write_end(), want)
        });
        match res {
            Ok(0) => {
                pipes.put(pipe);
                dst.shutdown().await.map_err(wr)?;
                return Ok(());
            }
            Ok(n) => {
                limits.throttle(n).await;
                drain(&pipe, n, dst.as_ref(), dir, counters).await?;
                held = Some(pipe);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => pipes.put(pipe),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => held = Some(pipe),
            Err(e) => return Err(rd(e)),
        }
    }
}

/// Splices `n` bytes out of `pipe` into `dst`, waiting for writability as needed.
async fn drain(
    pipe: &Pipe,
    mut n: usize,
    dst: &TcpStream,
    dir: Direction,
    counters: &ForwardCounters,
) -> Result<(), EngineError> {
    let wr = |e| EngineError::write(dir.sink(), e);
    while n > 0 {
        dst.writable().await.map_err(wr)?;
        let res = dst.try_io(Interest::WRITABLE, || {
            splice_sys::splice(pipe.read_end(), dst.as_fd(), n)
        });
        match res {
            Ok(0) => return Err(wr(io::ErrorKind::WriteZero.into())),
            Ok(k) => {
                n = n.saturating_sub(k);
                counters.record(dir, k);
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(wr(e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{EngineKind, PipePoolConfig};
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    async fn socket_pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    #[tokio::test]
    async fn idle_session_holds_no_pipe() {
        let pool = PipePool::new(PipePoolConfig::default());
        let (mut host, relay_a) = socket_pair().await;
        let (relay_b, mut guest) = socket_pair().await;
        let limits = ForwardLimits::unlimited();
        let counters = ForwardCounters::new(EngineKind::Splice);
        let fwd = forward(
            relay_a,
            relay_b,
            Bytes::new(),
            Bytes::new(),
            &limits,
            &counters,
            &pool,
        );
        tokio::pin!(fwd);
        let data = vec![7u8; 3 << 20];
        let check = async {
            host.write_all(&data).await.unwrap();
            let mut got = vec![0u8; data.len()];
            guest.read_exact(&mut got).await.unwrap();
            assert_eq!(got, data);
            // Data has stopped: every pipe is back in the pool, none lent.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        tokio::select! {
            r = &mut fwd => panic!("forward ended early: {r:?}"),
            () = check => {}
        }
        assert!(pool.alive() >= 1, "splice used a pipe");
        assert_eq!(pool.alive(), pool.idle(), "an idle session pins no pipe");
        // Both EOFs end it.
        host.shutdown().await.unwrap();
        guest.shutdown().await.unwrap();
        fwd.await.unwrap();
        assert_eq!(counters.bytes(Direction::AToB), 3 << 20);
    }
}
