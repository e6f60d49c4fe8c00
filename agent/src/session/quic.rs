//! Dialing the relay over QUIC: one client [`QuicDialer`] (one quinn `Endpoint`, so one UDP
//! socket) shared by every session of a process, and the QUIC connection of one session (one
//! connection, one bidirectional stream, ALPN [`RELAY_ALPN`], as `relay/src/quic.rs` expects).
//!
//! Sharing one socket is what lets a process hold more sessions than its descriptor limit:
//! a TCP session costs one fd here and one at the relay, a QUIC one costs neither. The socket
//! asks for [`UDP_BUFFER`]-byte kernel buffers (capped by `net.core.rmem_max`/`wmem_max`) so
//! bursts of many connections are not dropped at it.
//!
//! Memory: an idle connection costs about 29 KB (quinn's fixed per-connection state); the
//! transport config keeps the optional parts off (MTU probing, datagram buffers, stream slots
//! for streams the relay never opens) and bounds the windows, as the relay's does
//! (`relay/src/quic.rs`).
//!
//! The relay's certificate is NOT verified (only the TLS handshake signature is checked, so
//! the handshake is internally consistent). That is deliberate: the relay is untrusted by
//! design. The ticket authenticates this side to the relay, the Noise KK handshake that runs
//! over the pipe authenticates the peer (its static key comes from the broker), and every
//! session byte is sealed end to end; a relay impostor can only refuse or drop the session,
//! which a genuine but hostile relay can do as well. The assignment carries no certificate to
//! pin; if it ever does, pin it here.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;

use crate::error::AgentError;
use crate::pin::PinnedCert;

/// ALPN of the relay's QUIC listener (one constant in the codec).
pub use switchboard_codec::relay_handshake::RELAY_ALPN;
/// Server name sent in the TLS handshake (the relay's self-signed certificate names it).
const SERVER_NAME: &str = "switchboard-relay";
/// QUIC idle timeout, as the relay's (it sends keep-alives every 20 s; the session's mux
/// pings every 60 s on top over QUIC, `driver::mux_config`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connection receive window: one session carries one stream, so the stream window bounds it.
const STREAM_WINDOW: u32 = 1024 * 1024;
/// Unacknowledged bytes quinn buffers per connection (its default is 10 MB); above the
/// relay's stream window (1.25 MB), so it does not limit throughput.
const SEND_WINDOW: u64 = 2 * 1024 * 1024;
/// Kernel buffers asked for the dialer's one UDP socket (as the relay's listener).
const UDP_BUFFER: usize = 16 << 20;

/// A QUIC client endpoint for dialing relays. Cheap to clone; clones share the one UDP
/// socket. Create it inside the tokio runtime the sessions run on; it lives while a clone or
/// a connection made through it does.
#[derive(Clone)]
pub struct QuicDialer {
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
}

impl std::fmt::Debug for QuicDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicDialer")
            .field("local_addr", &self.endpoint.local_addr().ok())
            .field("open_connections", &self.endpoint.open_connections())
            .finish_non_exhaustive()
    }
}

impl QuicDialer {
    /// A dialer on an ephemeral UDP port of `bind`'s family (`None`: dual-stack `[::]:0`,
    /// else `0.0.0.0:0` where IPv6 is unavailable).
    pub fn new(bind: Option<SocketAddr>) -> Result<Self, AgentError> {
        let quic_err = |e: std::io::Error| AgentError::Session(format!("QUIC client socket: {e}"));
        let endpoint = match bind {
            Some(addr) => client_endpoint(addr).map_err(quic_err)?,
            None => client_endpoint((Ipv6Addr::UNSPECIFIED, 0).into())
                .or_else(|_| client_endpoint((Ipv4Addr::UNSPECIFIED, 0).into()))
                .map_err(quic_err)?,
        };
        Ok(Self {
            endpoint,
            config: client_config()?,
        })
    }

    /// The local UDP address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.endpoint.local_addr().ok()
    }

    /// QUIC connections open through this dialer now.
    pub fn open_connections(&self) -> usize {
        self.endpoint.open_connections()
    }

    /// Opens one connection to `addr` and its one bidirectional stream.
    pub(super) async fn open(
        &self,
        addr: SocketAddr,
    ) -> Result<(quinn::Connection, quinn::SendStream, quinn::RecvStream), String> {
        let addr = self.reachable(addr);
        let connecting = self
            .endpoint
            .connect_with(self.config.clone(), addr, SERVER_NAME)
            .map_err(|e| format!("QUIC connect: {e}"))?;
        let conn = connecting
            .await
            .map_err(|e| format!("QUIC handshake: {e}"))?;
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| format!("QUIC stream: {e}"))?;
        Ok((conn, send, recv))
    }

    /// `addr` as this socket can reach it: an IPv4 target from an IPv6-only bound socket is
    /// not reachable, but a dual-stack one takes the v4-mapped form.
    fn reachable(&self, addr: SocketAddr) -> SocketAddr {
        match (self.endpoint.local_addr(), addr) {
            (Ok(SocketAddr::V6(_)), SocketAddr::V4(v4)) => {
                SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
            }
            _ => addr,
        }
    }
}

/// A client-only endpoint on `addr` whose socket asks for [`UDP_BUFFER`]-byte buffers.
fn client_endpoint(addr: SocketAddr) -> std::io::Result<quinn::Endpoint> {
    let socket = std::net::UdpSocket::bind(addr)?;
    let state = quinn::udp::UdpSocketState::new((&socket).into())?;
    // The kernel silently caps these at net.core.rmem_max / wmem_max.
    state.set_recv_buffer_size((&socket).into(), UDP_BUFFER)?;
    state.set_send_buffer_size((&socket).into(), UDP_BUFFER)?;
    if state.recv_buffer_size((&socket).into())? < UDP_BUFFER {
        tracing::debug!(%addr, "QUIC dialer receive buffer capped by net.core.rmem_max");
    }
    let runtime = quinn::default_runtime()
        .ok_or_else(|| std::io::Error::other("no async runtime for the QUIC endpoint"))?;
    quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)
}

fn client_config() -> Result<quinn::ClientConfig, AgentError> {
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| AgentError::Tls(e.to_string()))?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(PinnedCert::any_certificate()))
    .with_no_client_auth();
    tls.alpn_protocols = vec![RELAY_ALPN.to_vec()];
    let crypto =
        QuicClientConfig::try_from(tls).map_err(|e| AgentError::Tls(format!("QUIC TLS: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(0u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window(STREAM_WINDOW.into())
        .receive_window(STREAM_WINDOW.into())
        .send_window(SEND_WINDOW)
        .datagram_receive_buffer_size(None)
        .datagram_send_buffer_size(0)
        .mtu_discovery_config(None)
        .initial_mtu(switchboard_codec::QUIC_INITIAL_MTU)
        .max_idle_timeout(Some(
            IDLE_TIMEOUT
                .try_into()
                .map_err(|e| AgentError::Session(format!("QUIC idle timeout: {e}")))?,
        ));
    config.transport_config(Arc::new(transport));
    Ok(config)
}
