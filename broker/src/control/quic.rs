//! The QUIC control listener: the same control protocol as over TLS/TCP, on the first
//! bidirectional stream of a QUIC connection (ALPN [`CONTROL_ALPN`], the broker's control
//! certificate). Connections are bounded like TCP ones (a global semaphore, a per-IP cap, a
//! deadline to open the stream); the stream is then served by `connection::serve_connection`.
//!
//! Dropping the [`QuicControlListener`] closes its endpoints (and their connections).
//!
//! The transport keeps per-connection state small, as the relay's does: one bidirectional
//! stream, no datagrams, small windows (control frames are small), a fixed MTU without
//! probing. An idle control connection still costs about 29 KB of quinn's own state.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use tokio::sync::Semaphore;

use super::ControlContext;
use super::connection::serve_connection;
use super::listener::{ControlLimits, PerIp};
use crate::error::BrokerError;
use crate::metrics as m;

/// ALPN of control connections over QUIC.
pub const CONTROL_ALPN: &[u8] = b"switchboard-control/1";
/// QUIC keep-alive (below the control idle timeout).
const KEEP_ALIVE: Duration = Duration::from_secs(10);
/// QUIC idle timeout (above the control idle timeout, which decides first).
const QUIC_IDLE: Duration = Duration::from_secs(90);
/// After the control connection ends, its last frames get this long to be acknowledged.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Receive window of the control stream (and connection): control frames are small.
const CONTROL_WINDOW: u32 = 256 * 1024;
/// Unacknowledged bytes buffered per connection (quinn's default is 10 MB).
const CONTROL_SEND_WINDOW: u64 = 512 * 1024;

/// The running QUIC control endpoints.
#[derive(Debug)]
pub struct QuicControlListener {
    endpoints: Vec<quinn::Endpoint>,
    addrs: Vec<SocketAddr>,
}

/// The quinn server configuration over the control certificate's rustls configuration.
pub fn server_config(mut tls: rustls::ServerConfig) -> Result<quinn::ServerConfig, BrokerError> {
    tls.alpn_protocols = vec![CONTROL_ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| BrokerError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    let idle = QUIC_IDLE
        .try_into()
        .map_err(|e: quinn::VarIntBoundsExceeded| BrokerError::Tls(e.to_string()))?;
    transport
        .max_concurrent_bidi_streams(1u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window(CONTROL_WINDOW.into())
        .receive_window(CONTROL_WINDOW.into())
        .send_window(CONTROL_SEND_WINDOW)
        .datagram_receive_buffer_size(None)
        .datagram_send_buffer_size(0)
        .mtu_discovery_config(None)
        .initial_mtu(switchboard_codec::QUIC_INITIAL_MTU)
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(idle));
    server.transport_config(Arc::new(transport));
    Ok(server)
}

impl QuicControlListener {
    /// Binds every UDP address and starts accepting.
    pub fn bind(
        addrs: &[SocketAddr],
        server: quinn::ServerConfig,
        ctx: Arc<ControlContext>,
        limits: ControlLimits,
    ) -> Result<Self, BrokerError> {
        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let per_ip = Arc::new(PerIp::default());
        let mut endpoints = Vec::new();
        let mut bound = Vec::new();
        for addr in addrs {
            let endpoint = quinn::Endpoint::server(server.clone(), *addr).map_err(|source| {
                BrokerError::Listen {
                    addr: *addr,
                    source,
                }
            })?;
            let local = endpoint
                .local_addr()
                .map_err(|source| BrokerError::Listen {
                    addr: *addr,
                    source,
                })?;
            bound.push(local);
            tokio::spawn(accept_loop(
                endpoint.clone(),
                Arc::clone(&ctx),
                Arc::clone(&permits),
                Arc::clone(&per_ip),
                limits,
            ));
            endpoints.push(endpoint);
        }
        Ok(Self {
            endpoints,
            addrs: bound,
        })
    }

    /// The bound UDP addresses (port 0 resolved).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
}

impl Drop for QuicControlListener {
    fn drop(&mut self) {
        for e in &self.endpoints {
            e.close(0u32.into(), b"broker stopped");
        }
    }
}

async fn accept_loop(
    endpoint: quinn::Endpoint,
    ctx: Arc<ControlContext>,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    limits: ControlLimits,
) {
    while let Some(incoming) = endpoint.accept().await {
        let peer = incoming.remote_address();
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            metrics::counter!(m::CONTROL_REFUSED_TOTAL, m::LABEL_REASON => "capacity").increment(1);
            incoming.refuse();
            continue;
        };
        let Some(slot) = per_ip.try_take(peer.ip(), limits.max_per_ip) else {
            tracing::debug!(%peer, "QUIC control connection refused: per-IP cap");
            metrics::counter!(m::CONTROL_REFUSED_TOTAL, m::LABEL_REASON => "per_ip").increment(1);
            incoming.refuse();
            continue;
        };
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let _permit = permit;
            let _slot = slot;
            let opened = tokio::time::timeout(limits.tls_timeout, async {
                let conn = incoming.await?;
                let (send, recv) = conn.accept_bi().await?;
                Ok::<_, quinn::ConnectionError>((conn, send, recv))
            })
            .await;
            let (conn, send, recv) = match opened {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "QUIC control connection failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "QUIC control connection opened no stream in time");
                    return;
                }
            };
            let open = metrics::gauge!(m::CONTROL_CONNECTIONS, m::LABEL_TRANSPORT => "quic");
            open.increment(1.0);
            serve_connection(tokio::io::join(recv, send), peer, ctx).await;
            open.decrement(1.0);
            // The writer finished the stream; give the peer a moment to read the last frames.
            let _ = tokio::time::timeout(CLOSE_GRACE, conn.closed()).await;
            conn.close(0u32.into(), b"control connection closed");
        });
    }
}
