//! The `splice` mode's system calls: socket → pipe → socket with non-blocking splice(2).
//!
//! `tcp_forward.rs` drives them on tokio readiness: when a direction's source is readable
//! it borrows an empty pipe from the [`PipePool`](super::PipePool), [`fill`]s it with as much
//! as the pipe holds (or the rate limit's chunk), then [`drain`]s it into the destination
//! until it is empty. The pipe is only ever filled when empty, so a `WouldBlock` on the way in
//! always means the socket is drained: the direction then returns the (empty) pipe to the
//! pool before it waits, and an idle session holds no pipe. When the pool cannot lend a pipe
//! (bound reached, kernel pipe budget spent, fd limit) the direction continues with a `copy`
//! buffer and the session is counted in `switchboard_relay_splice_fallback_total`.
//!
//! splice(2) into a socket whose peer is gone fails with `EPIPE` and, unlike `send`, does not
//! pass `MSG_NOSIGNAL`: it relies on `SIGPIPE` being ignored, which the Rust runtime does
//! before `main`.

use std::io;
use std::os::fd::AsFd;

use tokio::io::Interest;
use tokio::net::TcpStream;

use super::pipe_pool::Pipe;
use super::splice_sys;

/// Splices at most `want` bytes from `src` into the empty `pipe` (`WouldBlock` clears the
/// socket's read readiness).
pub(crate) fn fill(src: &TcpStream, pipe: &Pipe, want: usize) -> io::Result<usize> {
    src.try_io(Interest::READABLE, || {
        splice_sys::splice(src.as_fd(), pipe.write_end(), want)
    })
}

/// Splices at most `n` bytes from `pipe` into `dst` (`WouldBlock` clears the socket's write
/// readiness).
pub(crate) fn drain(pipe: &Pipe, dst: &TcpStream, n: usize) -> io::Result<usize> {
    dst.try_io(Interest::WRITABLE, || {
        splice_sys::splice(pipe.read_end(), dst.as_fd(), n)
    })
}

#[cfg(test)]
mod tests {
    use crate::engine::{
        CloseReason, Direction, EngineKind, ForwardCounters, ForwardJob, ForwardLimits, PipePool,
        PipePoolConfig, forward,
    };
    use bytes::Bytes;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::sync::CancellationToken;

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
        let counters = Arc::new(ForwardCounters::new(EngineKind::Splice));
        let fwd = forward(
            EngineKind::Splice,
            ForwardJob {
                a: relay_a,
                b: relay_b,
                a_leftover: Bytes::new(),
                b_leftover: Bytes::new(),
                limits: ForwardLimits::unlimited(),
                shutdown: CancellationToken::new(),
                counters: counters.clone(),
                pipes: pool.clone(),
            },
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
        let outcome = fwd.await;
        assert_eq!(outcome.reason, CloseReason::Completed);
        assert!(!outcome.fell_back);
        assert_eq!(counters.bytes(Direction::AToB), 3 << 20);
    }
}
