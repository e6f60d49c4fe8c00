//! The byte pipe to the peer through the relay, over TCP or over one QUIC stream, and its two
//! halves for the driver.
//!
//! Both kinds are plain `AsyncRead`/`AsyncWrite`; the differences stay here: a TCP write half
//! can be tried without waiting, and a QUIC pipe owns its connection, which must outlive the
//! stream (dropping the last handle closes it at once, discarding unsent bytes), so closing
//! waits (bounded) until the relay acknowledged what was written, then closes the connection.
//! It does not know what flows through it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Application close code sent when a session's QUIC connection is closed.
const QUIC_CLOSE_CODE: u32 = 0;

/// The pipe to the peer as `relay::bind` returns it.
#[derive(Debug)]
pub(super) enum Pipe {
    /// A TCP connection to the relay.
    Tcp(TcpStream),
    /// One QUIC connection to the relay and its one bidirectional stream.
    Quic {
        conn: quinn::Connection,
        send: quinn::SendStream,
        recv: quinn::RecvStream,
    },
}

impl Pipe {
    /// `tcp` or `quic`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::Tcp(_) => "tcp",
            Self::Quic { .. } => "quic",
        }
    }

    /// Splits into halves that can be used at the same time.
    pub(super) fn into_split(self) -> (PipeReader, PipeWriter) {
        match self {
            Self::Tcp(s) => {
                let (r, w) = s.into_split();
                (PipeReader::Tcp(r), PipeWriter::Tcp(w))
            }
            Self::Quic { conn, send, recv } => {
                (PipeReader::Quic(recv), PipeWriter::Quic { send, conn })
            }
        }
    }
}

/// The read half.
#[derive(Debug)]
pub(super) enum PipeReader {
    Tcp(OwnedReadHalf),
    Quic(quinn::RecvStream),
}

/// The write half (a QUIC one holds the connection).
#[derive(Debug)]
pub(super) enum PipeWriter {
    Tcp(OwnedWriteHalf),
    Quic {
        send: quinn::SendStream,
        conn: quinn::Connection,
    },
}

impl PipeWriter {
    /// Writes what fits without waiting. A QUIC stream is always written through the
    /// awaited path (`WouldBlock` here), which registers the task for writability.
    pub(super) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(w) => w.try_write(buf),
            Self::Quic { .. } => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// After the last bytes and the shutdown: a QUIC connection waits until the relay
    /// acknowledged the stream (the caller bounds the wait), then is closed.
    pub(super) async fn finish(&mut self) {
        if let Self::Quic { send, conn } = self {
            let _ = send.stopped().await;
            conn.close(QUIC_CLOSE_CODE.into(), b"session over");
        }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        // The session is over: a QUIC connection is closed now rather than when the relay's
        // keep-alive-driven idle timeout never comes.
        if let Self::Quic { conn, .. } = self {
            conn.close(QUIC_CLOSE_CODE.into(), b"session over");
        }
    }
}

impl AsyncRead for Pipe {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => AsyncRead::poll_read(Pin::new(s), cx, buf),
            Self::Quic { recv, .. } => AsyncRead::poll_read(Pin::new(recv), cx, buf),
        }
    }
}

impl AsyncWrite for Pipe {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => AsyncWrite::poll_write(Pin::new(s), cx, buf),
            Self::Quic { send, .. } => AsyncWrite::poll_write(Pin::new(send), cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => AsyncWrite::poll_flush(Pin::new(s), cx),
            Self::Quic { send, .. } => AsyncWrite::poll_flush(Pin::new(send), cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => AsyncWrite::poll_shutdown(Pin::new(s), cx),
            Self::Quic { send, .. } => AsyncWrite::poll_shutdown(Pin::new(send), cx),
        }
    }
}

impl AsyncRead for PipeReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(r) => AsyncRead::poll_read(Pin::new(r), cx, buf),
            Self::Quic(r) => AsyncRead::poll_read(Pin::new(r), cx, buf),
        }
    }
}

impl AsyncWrite for PipeWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(w) => AsyncWrite::poll_write(Pin::new(w), cx, buf),
            Self::Quic { send, .. } => AsyncWrite::poll_write(Pin::new(send), cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(w) => AsyncWrite::poll_flush(Pin::new(w), cx),
            Self::Quic { send, .. } => AsyncWrite::poll_flush(Pin::new(send), cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(w) => AsyncWrite::poll_shutdown(Pin::new(w), cx),
            Self::Quic { send, .. } => AsyncWrite::poll_shutdown(Pin::new(send), cx),
        }
    }
}
