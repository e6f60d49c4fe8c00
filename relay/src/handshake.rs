//! IO around the codec's `RelayAcceptor`: read until a bind (or failure), write what the
//! acceptor queues, and close a refused connection politely.
//!
//! A refused connection gets its `RelayClose` frame, then a write shutdown, then the relay
//! reads and discards what the client still sends (at most 64 KiB for at most 2 s) before
//! dropping the socket, so unread input does not turn the close into a reset that would
//! destroy the frame in flight. The bind decision itself (ticket, nonce, waiting room) is
//! not here but in `server.rs` and `waiting_room.rs`.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use switchboard_codec::{AcceptorEvent, ErrorCode, RelayAcceptor, Side};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use crate::engine::Transport;

/// Read chunk while handshaking or parked (small: parked connections are many).
pub(crate) const HANDSHAKE_READ: usize = 1024;
const LINGER_BYTES: usize = 64 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What reading the bind produced.
#[derive(Debug)]
pub(crate) enum BindRead {
    /// A bind frame (leftover bytes stay in the acceptor).
    Bind { side: Side, ticket: Bytes },
    /// The acceptor failed the handshake (bad frame, timeout); its close frame is queued.
    Failed(ErrorCode),
    /// The peer went away (EOF or socket error) before binding.
    Gone,
}

/// Reads bytes from the endpoint (`Ok(0)` at EOF).
pub(crate) async fn read_some(t: &mut Transport, buf: &mut [u8]) -> io::Result<usize> {
    match t {
        Transport::Tcp(s) => s.read(buf).await,
        Transport::Quic { recv, .. } => AsyncReadExt::read(recv, buf).await,
    }
}

/// Writes all of `data` to the endpoint.
pub(crate) async fn write_all(t: &mut Transport, data: &[u8]) -> io::Result<()> {
    match t {
        Transport::Tcp(s) => s.write_all(data).await,
        Transport::Quic { send, .. } => AsyncWriteExt::write_all(send, data).await,
    }
}

/// Writes everything the acceptor has queued (bounded by a timeout).
pub(crate) async fn flush(t: &mut Transport, acc: &mut RelayAcceptor) -> io::Result<()> {
    let run = async {
        while let Some(bytes) = acc.poll_transmit() {
            write_all(t, &bytes).await?;
        }
        Ok(())
    };
    tokio::time::timeout(WRITE_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Drives `acc` until a bind or a failure.
pub(crate) async fn read_bind(t: &mut Transport, acc: &mut RelayAcceptor) -> BindRead {
    let mut buf = [0u8; HANDSHAKE_READ];
    loop {
        match acc.poll_event() {
            Some(AcceptorEvent::Bind { side, ticket }) => return BindRead::Bind { side, ticket },
            Some(AcceptorEvent::Failed(code)) => return BindRead::Failed(code),
            None => {}
        }
        let deadline = acc.poll_timeout().map(Instant::from_std);
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = read_some(t, &mut buf) => match r {
                Ok(0) | Err(_) => return BindRead::Gone,
                Ok(n) => {
                    // An error also queues Failed, picked up at the top of the loop.
                    let _ = acc.handle_bytes(buf.get(..n).unwrap_or_default());
                }
            },
            () = sleep => acc.handle_timeout(Instant::now().into_std()),
        }
    }
}

/// Sends what the acceptor queued (its close frame), then closes without a reset.
pub(crate) async fn close(mut t: Transport, acc: &mut RelayAcceptor) {
    let _ = flush(&mut t, acc).await;
    linger(t).await;
}

/// Half-closes, then discards input until EOF (bounded), then drops.
pub(crate) async fn linger(t: Transport) {
    let run = async move {
        let mut buf = [0u8; HANDSHAKE_READ];
        let mut t = t;
        match &mut t {
            Transport::Tcp(s) => {
                let _ = s.shutdown().await;
            }
            Transport::Quic { send, .. } => {
                let _ = send.finish();
            }
        }
        let mut seen = 0usize;
        while seen < LINGER_BYTES {
            match read_some(&mut t, &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen += n,
            }
        }
        if let Transport::Quic { send, .. } = &mut t {
            // Give the peer a moment to acknowledge the stream before the handle goes.
            let _ = tokio::time::timeout(Duration::from_millis(500), send.stopped()).await;
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, run).await;
}
