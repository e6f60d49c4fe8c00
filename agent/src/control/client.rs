//! `ControlClient`: one control connection to the broker (TLS over TCP, or QUIC with ALPN
//! `switchboard-control/1` on the first bidirectional stream), pinned to the broker's
//! certificate fingerprint and driven by the sans-IO `ControlConnector`.
//!
//! `connect` runs the handshake (bounded by `HANDSHAKE_WAIT`, connect included) and, once
//! established, hands the socket to one driver task that reads, feeds the connector, sends
//! what the caller queues and the heartbeats the connector's timers ask for. The caller sends
//! with `send` and receives `Incoming` items with `recv`. It does not reconnect (the host loop
//! does) and does not interpret session messages.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use switchboard_codec::message::EnrollResponse;
use switchboard_codec::{
    ControlConfig, ControlConnector, ControlConnectorEvent, ControlCredentials, ControlMessage,
    ErrorCode,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::error::AgentError;

/// Bound on connect + TLS/QUIC + control handshake.
pub const HANDSHAKE_WAIT: Duration = Duration::from_secs(15);
/// Bound on writing one batch of bytes.
pub const WRITE_WAIT: Duration = Duration::from_secs(10);
/// The QUIC ALPN of the control protocol.
pub const CONTROL_ALPN: &[u8] = b"switchboard-control/1";
/// Agent version sent in hellos.
pub const AGENT_VERSION: &str = concat!("switchboard-agent/", env!("CARGO_PKG_VERSION"));

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// A byte stream a control connection runs on.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Which transport carries the control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// TLS over TCP.
    #[default]
    Tls,
    /// QUIC.
    Quic,
}

/// Where the broker is and how to trust it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` of the control listener.
    pub server: String,
    /// SHA-256 fingerprint of its certificate.
    pub fingerprint: String,
    /// TLS or QUIC.
    pub transport: Transport,
}

/// What the broker sent, or that the connection is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A message after the handshake.
    Message(ControlMessage),
    /// The connection is over: `code` when the broker (or the connector) gave one, `None`
    /// when the network failed.
    Closed {
        /// The stable code, if any.
        code: Option<ErrorCode>,
        /// A sentence.
        message: String,
    },
}

/// How a handshake ended.
#[derive(Debug)]
pub enum Outcome {
    /// Welcome: the connection is open.
    Established(ControlClient),
    /// Enrollment answered (the connection is over).
    Enrolled(EnrollResponse),
    /// The broker refused.
    Refused {
        /// Why.
        code: ErrorCode,
        /// Its sentence.
        message: String,
    },
}

enum Command {
    Send(ControlMessage),
    Close(ErrorCode, String),
}

/// An established control connection (its driver task ends when this is dropped).
#[derive(Debug)]
pub struct ControlClient {
    tx: mpsc::Sender<Command>,
    rx: mpsc::Receiver<Incoming>,
    server: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ControlClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn control_err(server: &str, m: impl std::fmt::Display) -> AgentError {
    AgentError::Control {
        server: server.to_owned(),
        message: m.to_string(),
    }
}

fn server_name(server: &str) -> Result<ServerName<'static>, AgentError> {
    let host = host_of(server);
    ServerName::try_from(host.to_owned())
        .or_else(|_| ServerName::try_from("switchboard"))
        .map_err(|e| control_err(server, format!("server name: {e}")))
}

/// The host part of `host:port` (brackets of an IPv6 literal removed).
pub fn host_of(server: &str) -> &str {
    let h = server.rsplit_once(':').map_or(server, |(h, _)| h);
    h.trim_start_matches('[').trim_end_matches(']')
}

struct Conn {
    io: Box<dyn Io>,
    conn: ControlConnector,
    buf: Vec<u8>,
    _quic: Option<(quinn::Endpoint, quinn::Connection)>,
}

async fn connect_tls(server: &str, cfg: rustls::ClientConfig) -> Result<Box<dyn Io>, AgentError> {
    let tcp = TcpStream::connect(server)
        .await
        .map_err(|e| control_err(server, e))?;
    let _ = tcp.set_nodelay(true);
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(server_name(server)?, tcp)
        .await
        .map_err(|e| control_err(server, format!("TLS: {e}")))?;
    Ok(Box::new(tls))
}

async fn connect_quic(
    server: &str,
    mut cfg: rustls::ClientConfig,
) -> Result<(Box<dyn Io>, quinn::Endpoint, quinn::Connection), AgentError> {
    let addr = tokio::net::lookup_host(server)
        .await
        .map_err(|e| control_err(server, e))?
        .next()
        .ok_or_else(|| control_err(server, "no address"))?;
    cfg.alpn_protocols = vec![CONTROL_ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(cfg)
        .map_err(|e| control_err(server, format!("QUIC TLS: {e}")))?;
    let local: std::net::SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let mut endpoint = quinn::Endpoint::client(local).map_err(|e| control_err(server, e))?;
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let host = host_of(server).to_owned();
    let name = if ServerName::try_from(host.clone()).is_ok() {
        host
    } else {
        "switchboard".to_owned()
    };
    let conn = endpoint
        .connect(addr, &name)
        .map_err(|e| control_err(server, format!("QUIC: {e}")))?
        .await
        .map_err(|e| control_err(server, format!("QUIC: {e}")))?;
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| control_err(server, format!("QUIC stream: {e}")))?;
    Ok((Box::new(tokio::io::join(recv, send)), endpoint, conn))
}

/// Connects with a verifier that only records the server certificate's fingerprint (the
/// handshake is then aborted): what `--trust-on-first-use` and the refusal message show.
pub async fn probe_fingerprint(server: &str) -> Result<String, AgentError> {
    let seen = Arc::new(parking_lot::Mutex::new(None::<String>));
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| AgentError::Tls(e.to_string()))?
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(Recorder(seen.clone())))
    .with_no_client_auth();
    let attempt = tokio::time::timeout(HANDSHAKE_WAIT, connect_tls(server, cfg)).await;
    if let Some(fp) = seen.lock().take() {
        return Ok(fp);
    }
    match attempt {
        Err(_) => Err(control_err(server, "no TLS answer within 15 s")),
        Ok(Err(e)) => Err(e),
        Ok(Ok(_)) => Err(control_err(server, "no certificate seen")),
    }
}

#[derive(Debug)]
struct Recorder(Arc<parking_lot::Mutex<Option<String>>>);

impl rustls::client::danger::ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        *self.0.lock() = Some(crate::pin::fingerprint(end_entity));
        Err(rustls::Error::General("fingerprint recorded".into()))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("probe only".into()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("probe only".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl ControlClient {
    /// Connects to `ep` and runs the handshake for `creds`, all within `HANDSHAKE_WAIT`.
    pub async fn connect(ep: &Endpoint, creds: ControlCredentials) -> Result<Outcome, AgentError> {
        Self::connect_with(ep, creds, ControlConfig::default()).await
    }

    /// As `connect`, with the connector's limits and timers.
    pub async fn connect_with(
        ep: &Endpoint,
        creds: ControlCredentials,
        cfg: ControlConfig,
    ) -> Result<Outcome, AgentError> {
        tokio::time::timeout(HANDSHAKE_WAIT, Self::connect_inner(ep, creds, cfg))
            .await
            .map_err(|_| control_err(&ep.server, "no answer within 15 s"))?
    }

    async fn connect_inner(
        ep: &Endpoint,
        creds: ControlCredentials,
        cfg: ControlConfig,
    ) -> Result<Outcome, AgentError> {
        let tls = crate::pin::pinned_client_config(&ep.fingerprint)?;
        let (io, quic) = match ep.transport {
            Transport::Tls => (connect_tls(&ep.server, tls).await?, None),
            Transport::Quic => {
                let (io, e, c) = connect_quic(&ep.server, tls).await?;
                (io, Some((e, c)))
            }
        };
        let conn = ControlConnector::new(cfg, creds, AGENT_VERSION, now())
            .map_err(|e| control_err(&ep.server, e))?;
        let mut c = Conn {
            io,
            conn,
            buf: vec![0; 16 * 1024],
            _quic: quic,
        };
        let server = ep.server.clone();
        loop {
            c.flush().await.map_err(|e| control_err(&server, e))?;
            if let Some(ev) = c.conn.poll_event() {
                return match ev {
                    ControlConnectorEvent::Established { .. } => {
                        let (tx, cmd_rx) = mpsc::channel(64);
                        let (ev_tx, rx) = mpsc::channel(256);
                        let task = tokio::spawn(drive(c, cmd_rx, ev_tx));
                        Ok(Outcome::Established(Self {
                            tx,
                            rx,
                            server,
                            task,
                        }))
                    }
                    ControlConnectorEvent::Enrolled(r) => Ok(Outcome::Enrolled(r)),
                    ControlConnectorEvent::Closed { code, message } => {
                        Ok(Outcome::Refused { code, message })
                    }
                    ControlConnectorEvent::Message(m) => Err(control_err(
                        &server,
                        format!(
                            "message {:#06x} before the handshake ended",
                            m.type_number()
                        ),
                    )),
                };
            }
            let n =
                c.io.read(&mut c.buf)
                    .await
                    .map_err(|e| control_err(&server, e))?;
            if n == 0 {
                return Err(control_err(
                    &server,
                    "the broker closed the connection during the handshake",
                ));
            }
            // A violation shows up as a Closed event.
            let _ = c.conn.handle_bytes(&c.buf[..n], now());
        }
    }

    /// The broker address.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Queues one message (fails when the connection is over).
    pub async fn send(&self, msg: ControlMessage) -> Result<(), AgentError> {
        self.tx
            .send(Command::Send(msg))
            .await
            .map_err(|_| control_err(&self.server, "the control connection is closed"))
    }

    /// A sender that other tasks can use to queue messages on this connection.
    pub fn sender(&self) -> ControlSender {
        ControlSender {
            tx: self.tx.clone(),
        }
    }

    /// The next item; `Closed` once the connection is over (and on every later call).
    pub async fn recv(&mut self) -> Incoming {
        self.rx.recv().await.unwrap_or(Incoming::Closed {
            code: None,
            message: "the control connection ended".into(),
        })
    }

    /// The next item within `wait`, else `None`.
    pub async fn recv_timeout(&mut self, wait: Duration) -> Option<Incoming> {
        tokio::time::timeout(wait, self.recv()).await.ok()
    }

    /// Closes, telling the broker why (best effort, bounded).
    pub async fn close(self, code: ErrorCode, message: &str) {
        let _ = self.tx.send(Command::Close(code, message.to_owned())).await;
        let mut me = self;
        let _ = tokio::time::timeout(WRITE_WAIT, &mut me.task).await;
    }
}

/// Queues messages on a control connection from another task.
#[derive(Debug, Clone)]
pub struct ControlSender {
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Send(m) => write!(f, "Send({:#06x})", m.type_number()),
            Self::Close(c, _) => write!(f, "Close({c})"),
        }
    }
}

impl ControlSender {
    /// Queues `msg`; false when the connection is over.
    pub async fn send(&self, msg: ControlMessage) -> bool {
        self.tx.send(Command::Send(msg)).await.is_ok()
    }
}

impl Conn {
    async fn flush(&mut self) -> std::io::Result<()> {
        let mut wrote = false;
        while let Some(b) = self.conn.poll_transmit() {
            tokio::time::timeout(WRITE_WAIT, self.io.write_all(&b))
                .await
                .map_err(|_| std::io::Error::other("write timed out"))??;
            wrote = true;
        }
        if wrote {
            tokio::time::timeout(WRITE_WAIT, self.io.flush())
                .await
                .map_err(|_| std::io::Error::other("write timed out"))??;
        }
        Ok(())
    }
}

/// The driver task: reads, writes, heartbeats; ends after sending `Closed`.
async fn drive(mut c: Conn, mut cmds: mpsc::Receiver<Command>, events: mpsc::Sender<Incoming>) {
    let closed = |code: Option<ErrorCode>, message: String| Incoming::Closed { code, message };
    loop {
        if let Err(e) = c.flush().await {
            let _ = events.send(closed(None, format!("write: {e}"))).await;
            return;
        }
        while let Some(ev) = c.conn.poll_event() {
            match ev {
                ControlConnectorEvent::Message(m) => {
                    if events.send(Incoming::Message(m)).await.is_err() {
                        return;
                    }
                }
                ControlConnectorEvent::Closed { code, message } => {
                    let _ = c.flush().await;
                    let _ = c.io.shutdown().await;
                    let _ = events.send(closed(Some(code), message)).await;
                    return;
                }
                other => tracing::debug!(?other, "control event ignored"),
            }
        }
        let deadline = c.conn.poll_timeout().map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            tokio::time::Instant::from_std,
        );
        tokio::select! {
            r = c.io.read(&mut c.buf) => match r {
                Ok(0) => {
                    let _ = events
                        .send(closed(None, "the broker closed the connection".into()))
                        .await;
                    return;
                }
                Ok(n) => {
                    let _ = c.conn.handle_bytes(&c.buf[..n], now());
                }
                Err(e) => {
                    let _ = events.send(closed(None, format!("read: {e}"))).await;
                    return;
                }
            },
            cmd = cmds.recv() => match cmd {
                Some(Command::Send(m)) => {
                    if let Err(e) = c.conn.send(&m) {
                        tracing::warn!(error = %e, "control message not sent");
                    }
                }
                Some(Command::Close(code, message)) => {
                    c.conn.close(code, &message);
                    let _ = c.flush().await;
                    let _ = c.io.shutdown().await;
                    return;
                }
                None => {
                    c.conn.close(ErrorCode::Cancelled, "the agent is shutting down");
                    let _ = c.flush().await;
                    let _ = c.io.shutdown().await;
                    return;
                }
            },
            () = tokio::time::sleep_until(deadline) => c.conn.handle_timeout(now()),
        }
    }
}
