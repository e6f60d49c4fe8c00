//! The QUIC listener: endpoints that dial the relay over QUIC (UDP, default port 5656).
//!
//! Each QUIC connection carries exactly one bidirectional stream, opened by the endpoint. The
//! stream runs the same bind handshake as TCP (the codec's `RelayAcceptor`, driven by
//! `server.rs`) and is handed to the waiting room as [`Transport::Quic`], so a QUIC endpoint
//! pairs with a TCP or QUIC endpoint of the same session; such sessions are forwarded by the
//! generic user-space `copy` engine. The connection is kept until the endpoint closes it (or
//! the relay stops), so bytes the relay wrote on the stream are delivered before it goes.
//!
//! This module builds no crypto provider: `main` installs rustls' ring provider. It takes a
//! `quinn::ServerConfig`; [`server_config`] makes one from the configured PEM files, or from a
//! self-signed certificate (rcgen) when none is configured, with [`transport_config`].
//!
//! Memory: an idle connection costs about 29 KB here, nearly all of it quinn's own fixed state
//! (the connection, its event channel, its driver task, packet keys); the transport config
//! keeps the optional parts off (MTU probing, datagram buffers, extra stream slots) and bounds
//! the flow-control windows, which cost memory only while bytes are in flight. After its
//! stream is open a connection is held by a small task that only waits for the close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::config::QuicConfig;
use crate::engine::Transport;
use crate::error::{Party, RelayError};
use crate::server::RelayHandle;

/// ALPN protocol id of the relay's QUIC endpoints (the codec's `RELAY_ALPN`).
pub const QUIC_ALPN: &[u8] = switchboard_codec::relay_handshake::RELAY_ALPN;

/// How long a new connection has to complete its QUIC handshake and open its stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// QUIC idle timeout; the relay's own session idle timeout applies on top of it.
const QUIC_IDLE: Duration = Duration::from_secs(60);
/// Keep-alive from the relay side, so a quiet session is not lost to the QUIC idle timeout.
const KEEP_ALIVE: Duration = Duration::from_secs(20);
/// Kernel receive and send buffer of a listener's UDP socket (the kernel reports double).
pub const UDP_BUFFER: usize = 16 << 20;
/// Receive window of the one stream, and so of the connection: quinn's default, enough for
/// 100 Mbit/s at 100 ms RTT. Memory is taken only while received bytes wait to be read.
pub const STREAM_WINDOW: u32 = 1_250_000;
/// Bytes written to a stream but not yet acknowledged that quinn buffers per connection
/// (quinn's default is 10 MB): a slow reader on one side costs the relay at most this much.
/// Above the peer's stream window, so it never limits throughput.
pub const SEND_WINDOW: u64 = 2 * 1024 * 1024;
/// UDP payload size used from the start (the codec's, shared by every QUIC endpoint).
pub use switchboard_codec::QUIC_INITIAL_MTU as INITIAL_MTU;

/// A server configuration and the certificate it presents (endpoints pin or trust it).
#[derive(Debug)]
pub struct QuicServerMaterial {
    /// Ready for [`serve`].
    pub server: quinn::ServerConfig,
    /// The leaf certificate (DER), e.g. to hand to the broker or to a test client.
    pub certificate: CertificateDer<'static>,
}

fn config_err(msg: impl std::fmt::Display) -> RelayError {
    RelayError::Config(format!("quic: {msg}"))
}

/// Builds the QUIC server configuration from `tls` (PEM files), or with a fresh self-signed
/// certificate for `localhost` when no file is configured. Uses rustls' default provider.
pub fn server_config(tls: &QuicConfig) -> Result<QuicServerMaterial, RelayError> {
    let (chain, key) = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| config_err(format!("cert_file {}: {e}", cert.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| config_err(format!("cert_file {}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| config_err(format!("key_file {}: {e}", key.display())))?;
            (chain, key)
        }
        (None, None) => {
            let names = vec!["localhost".to_owned(), "switchboard-relay".to_owned()];
            let ck = rcgen::generate_simple_self_signed(names)
                .map_err(|e| config_err(format!("self-signed certificate: {e}")))?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            (vec![ck.cert.der().clone()], key)
        }
        _ => return Err(config_err("cert_file and key_file go together")),
    };
    let certificate = chain
        .first()
        .cloned()
        .ok_or_else(|| config_err("empty cert_file"))?;
    let mut crypto = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| config_err(format!("certificate and key: {e}")))?;
    crypto.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(crypto).map_err(config_err)?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport_config()?));
    Ok(QuicServerMaterial {
        server,
        certificate,
    })
}

/// The relay's QUIC transport: one bidirectional stream opened by the endpoint, no
/// unidirectional stream, no datagrams, bounded windows ([`STREAM_WINDOW`], [`SEND_WINDOW`]),
/// a fixed [`INITIAL_MTU`] instead of MTU discovery, keep-alive 20 s, idle timeout 60 s.
pub fn transport_config() -> Result<quinn::TransportConfig, RelayError> {
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(1u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window(STREAM_WINDOW.into())
        .receive_window(STREAM_WINDOW.into())
        .send_window(SEND_WINDOW)
        .datagram_receive_buffer_size(None)
        .datagram_send_buffer_size(0)
        .mtu_discovery_config(None)
        .initial_mtu(INITIAL_MTU)
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(QUIC_IDLE.try_into().map_err(config_err)?));
    Ok(transport)
}

/// A running QUIC listener; it stops with the relay (its stop token) or when dropped.
#[derive(Debug)]
pub struct QuicListener {
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
}

impl QuicListener {
    /// The bound UDP address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for QuicListener {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"relay stopped");
    }
}

/// Binds `addr` (UDP) and serves QUIC endpoints into `relay`'s waiting room.
pub fn serve(
    relay: &RelayHandle,
    addr: SocketAddr,
    server: quinn::ServerConfig,
) -> Result<QuicListener, RelayError> {
    let socket = udp_socket(addr).map_err(|source| RelayError::Listen { addr, source })?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| config_err("no async runtime for the QUIC endpoint"))?;
    let endpoint = quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        runtime,
    )
    .map_err(|source| RelayError::Listen { addr, source })?;
    let bound = endpoint.local_addr().map_err(|source| RelayError::Io {
        party: Party::Relay,
        source,
    })?;
    tokio::spawn(accept_loop(endpoint.clone(), relay.clone()));
    tracing::info!(addr = %bound, "QUIC listener started");
    Ok(QuicListener {
        endpoint,
        addr: bound,
    })
}

/// Binds a QUIC endpoint's UDP socket (the listener's; a client's too) asking for [`UDP_BUFFER`]-byte kernel buffers (capped by
/// `net.core.rmem_max` / `wmem_max`; warns when that cap bites). With the kernel's default
/// (about 208 KiB) a burst from many connections overflows the one socket all of them share,
/// and the losses stall every connection.
pub fn udp_socket(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Like quinn's own endpoint: an IPv6 listener also takes IPv4 where it can.
        let _ = socket.set_only_v6(false);
    }
    // The kernel caps these at net.core.rmem_max / wmem_max without an error.
    socket.set_recv_buffer_size(UDP_BUFFER)?;
    socket.set_send_buffer_size(UDP_BUFFER)?;
    socket.bind(&addr.into())?;
    let (rcv, snd) = (socket.recv_buffer_size()?, socket.send_buffer_size()?);
    // Linux reports twice the size it was asked for (bookkeeping overhead).
    if rcv < UDP_BUFFER {
        tracing::warn!(%addr, wanted = UDP_BUFFER, got = rcv,
            "QUIC receive buffer capped by net.core.rmem_max; raise it for many sessions");
    }
    tracing::debug!(%addr, recv_buffer = rcv, send_buffer = snd, "QUIC socket");
    Ok(socket.into())
}

/// Starts one listener per `quic_listen` address of the relay's configuration (none when the
/// list is empty), with the configured or a self-signed certificate.
pub fn serve_configured(relay: &RelayHandle) -> Result<Vec<QuicListener>, RelayError> {
    let cfg = relay.config();
    if cfg.quic_listen.is_empty() {
        return Ok(Vec::new());
    }
    let material = server_config(&cfg.quic)?;
    let addrs = cfg.quic_listen.clone();
    addrs
        .into_iter()
        .map(|addr| serve(relay, addr, material.server.clone()))
        .collect()
}

async fn accept_loop(endpoint: quinn::Endpoint, relay: RelayHandle) {
    let stop = relay.stop_token();
    loop {
        let incoming = tokio::select! {
            () = stop.cancelled() => break,
            i = endpoint.accept() => i,
        };
        let Some(incoming) = incoming else { break };
        tokio::spawn(serve_connection(incoming, relay.clone()));
    }
    endpoint.close(0u32.into(), b"relay stopped");
}

/// Opens the connection and its stream, hands the stream to the relay and leaves the
/// connection to [`hold`]; this task (and its large handshake state) then ends.
async fn serve_connection(incoming: quinn::Incoming, relay: RelayHandle) {
    let peer = incoming.remote_address();
    let opened = tokio::time::timeout(OPEN_TIMEOUT, async {
        let conn = incoming.await?;
        let (send, recv) = conn.accept_bi().await?;
        Ok::<_, quinn::ConnectionError>((conn, send, recv))
    })
    .await;
    let (conn, send, recv) = match opened {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "QUIC connection failed before its stream");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "QUIC connection opened no stream in time");
            return;
        }
    };
    let transport = Transport::Quic {
        send,
        recv,
        conn: conn.clone(),
    };
    relay.serve_transport(transport, peer);
    tokio::spawn(hold(conn));
}

/// Holds the connection until the endpoint closes it, so the relay's last bytes and its
/// stream FIN are delivered rather than discarded by an immediate close. When the relay stops,
/// `accept_loop` closes the endpoint, which closes this connection too. Kept small: one of
/// these lives per connection for the whole session.
async fn hold(conn: quinn::Connection) {
    conn.closed().await;
}
