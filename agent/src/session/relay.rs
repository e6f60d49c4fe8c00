//! Binding at the relay: the connect over TCP or QUIC (bounded, [`RelayTransport`]), the
//! `RelayConnector` bind with this side's ticket, and the wait for `Ready` (bounded: it
//! includes waiting for the peer to bind).
//!
//! After `Ready` the pipe is a raw byte pipe to the peer; the bytes that arrived behind the
//! `Ready` frame are returned with it. It does not look at those bytes (that is `e2e.rs`).

use std::time::Duration;

use bytes::BytesMut;
use switchboard_codec::{ConnectorEvent, RelayConnector, RelayHandshakeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::pipe::Pipe;
use super::{RelayTransport, SessionPlan};
use crate::error::AgentError;

/// How long the connect to the relay (TCP, or the QUIC handshake and stream) may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the relay may take to answer `Ready` (the peer must bind too).
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Connects to the relay and binds; returns the pipe and the bytes already read past `Ready`.
pub(super) async fn bind(
    plan: &SessionPlan,
    transport: &RelayTransport,
) -> Result<(Pipe, BytesMut), AgentError> {
    let addr = match transport {
        RelayTransport::Quic {
            addr: Some(quic), ..
        } => quic.to_string(),
        _ => plan.relay_addr.clone(),
    };
    let relay_err = |message: String| AgentError::RelayConnect {
        addr: addr.clone(),
        message,
    };
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, connect(transport, &addr)).await {
        Ok(Ok(pipe)) => pipe,
        Ok(Err(e)) => return Err(relay_err(e)),
        Err(_) => {
            return Err(relay_err(format!(
                "connect timed out after {} s",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
    };

    let cfg = RelayHandshakeConfig {
        bind_timeout: READY_TIMEOUT,
        ..RelayHandshakeConfig::default()
    };
    let now = tokio::time::Instant::now().into_std();
    let mut connector = RelayConnector::new(plan.side, plan.ticket.clone(), cfg, now);
    while let Some(bytes) = connector.poll_transmit() {
        stream
            .write_all(&bytes)
            .await
            .map_err(|e| relay_err(format!("sending the bind: {e}")))?;
    }
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        if let Some(event) = connector.poll_event() {
            return match event {
                ConnectorEvent::Ready { leftover } => {
                    let mut rest =
                        BytesMut::with_capacity(leftover.len().max(super::driver::READ_START));
                    rest.extend_from_slice(&leftover);
                    Ok((stream, rest))
                }
                ConnectorEvent::Closed { code, message } => {
                    Err(AgentError::RelayRefused { code, message })
                }
            };
        }
        let deadline = connector
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + READY_TIMEOUT);
        buf.clear();
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) => {
                return Err(relay_err(
                    "the relay closed the connection before answering the bind".to_owned(),
                ));
            }
            Ok(Ok(_)) => {
                // A violation also queues a `Closed` event, which the loop returns.
                let _ = connector.handle_bytes(&buf);
            }
            Ok(Err(e)) => return Err(relay_err(format!("reading the relay's answer: {e}"))),
            Err(_) => connector.handle_timeout(tokio::time::Instant::now().into_std()),
        }
    }
}

/// TCP connect (with `TCP_NODELAY`), or a QUIC connection and stream through the dialer.
async fn connect(transport: &RelayTransport, addr: &str) -> Result<Pipe, String> {
    match transport {
        RelayTransport::Tcp => {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect failed: {e}"))?;
            stream
                .set_nodelay(true)
                .map_err(|e| format!("set TCP_NODELAY: {e}"))?;
            Ok(Pipe::Tcp(stream))
        }
        RelayTransport::Quic { dialer, .. } => {
            let target = tokio::net::lookup_host(addr)
                .await
                .map_err(|e| format!("resolving: {e}"))?
                .next()
                .ok_or_else(|| "resolving: no address".to_owned())?;
            let (conn, send, recv) = dialer.open(target).await?;
            Ok(Pipe::Quic { conn, send, recv })
        }
    }
}
