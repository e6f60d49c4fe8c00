//! Minimal Host and Guest endpoints built on the codec, for the flow tests: a TLS control
//! client pinned to the broker's certificate driving `ControlConnector`, and a relay client
//! driving `RelayConnector` and then using the socket as the raw session pipe.
//!
//! Every wait is bounded (`WAIT`): a test fails with a message rather than hanging.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::pki_types::{CertificateDer, ServerName};
use switchboard_codec::control_handshake::device_public_key;
use switchboard_codec::message::{DeviceInfo, EnrollRequest, EnrollResponse};
use switchboard_codec::{
    ConnectorEvent, ControlConfig, ControlConnector, ControlConnectorEvent, ControlCredentials,
    ControlMessage, DeviceId, ErrorCode, RelayConnector, RelayHandshakeConfig, Side,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Longest wait for any one expected message.
pub const WAIT: Duration = Duration::from_secs(10);

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// A byte stream a control connection runs on (TLS over TCP, or a QUIC stream pair).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Which transport a control client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tls,
    Quic,
}

/// A control connection to the broker.
pub struct ControlClient {
    tls: Box<dyn Io>,
    conn: ControlConnector,
    buf: Vec<u8>,
    _quic: Option<(quinn::Endpoint, quinn::Connection)>,
}

/// How a handshake ended.
#[derive(Debug)]
pub enum Outcome {
    Established,
    Enrolled(EnrollResponse),
    Closed(ErrorCode),
}

/// A TLS connection to the control listener, pinned to its certificate.
pub async fn connect_tls(
    addr: SocketAddr,
    cert_der: &[u8],
) -> anyhow::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert_der.to_vec()))?;
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await?)
}

async fn connect_quic(
    addr: SocketAddr,
    cert_der: &[u8],
) -> anyhow::Result<(Box<dyn Io>, quinn::Endpoint, quinn::Connection)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(cert_der.to_vec()))?;
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"switchboard-control/1".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let conn = endpoint.connect(addr, "localhost")?.await?;
    let (send, recv) = conn.open_bi().await?;
    Ok((Box::new(tokio::io::join(recv, send)), endpoint, conn))
}

impl ControlClient {
    /// Connects over TLS and runs the handshake for `creds`.
    pub async fn connect(
        addr: SocketAddr,
        cert_der: &[u8],
        creds: ControlCredentials,
    ) -> anyhow::Result<(Self, Outcome)> {
        Self::connect_over(Transport::Tls, addr, cert_der, creds).await
    }

    /// Connects over `transport` and runs the handshake for `creds`.
    pub async fn connect_over(
        transport: Transport,
        addr: SocketAddr,
        cert_der: &[u8],
        creds: ControlCredentials,
    ) -> anyhow::Result<(Self, Outcome)> {
        let (tls, quic): (Box<dyn Io>, _) = match transport {
            Transport::Tls => (Box::new(connect_tls(addr, cert_der).await?), None),
            Transport::Quic => {
                let (io, e, c) = connect_quic(addr, cert_der).await?;
                (io, Some((e, c)))
            }
        };
        let conn = ControlConnector::new(ControlConfig::default(), creds, "test/1", now())?;
        let mut me = Self {
            tls,
            conn,
            buf: vec![0; 16 * 1024],
            _quic: quic,
        };
        let outcome = tokio::time::timeout(WAIT, me.handshake())
            .await
            .map_err(|_| anyhow::anyhow!("control handshake timed out"))??;
        Ok((me, outcome))
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        while let Some(b) = self.conn.poll_transmit() {
            self.tls.write_all(&b).await?;
        }
        self.tls.flush().await?;
        Ok(())
    }

    async fn handshake(&mut self) -> anyhow::Result<Outcome> {
        loop {
            self.flush().await?;
            if let Some(ev) = self.conn.poll_event() {
                match ev {
                    ControlConnectorEvent::Established { .. } => return Ok(Outcome::Established),
                    ControlConnectorEvent::Enrolled(r) => return Ok(Outcome::Enrolled(r)),
                    ControlConnectorEvent::Closed { code, .. } => return Ok(Outcome::Closed(code)),
                    ControlConnectorEvent::Message(m) => {
                        anyhow::bail!("message before the handshake ended: {m:?}")
                    }
                }
            }
            let n = self.tls.read(&mut self.buf).await?;
            if n == 0 {
                anyhow::bail!("broker closed during the handshake");
            }
            self.conn.handle_bytes(&self.buf[..n], now())?;
        }
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: ControlMessage) -> anyhow::Result<()> {
        self.conn.send(&msg)?;
        self.flush().await
    }

    /// The next message from the broker (`Err` if it closed or `WAIT` passed).
    pub async fn recv(&mut self) -> anyhow::Result<ControlMessage> {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(ev) = self.conn.poll_event() {
                    match ev {
                        ControlConnectorEvent::Message(m) => return Ok(m),
                        ControlConnectorEvent::Closed { code, message } => {
                            anyhow::bail!("control connection closed: {code} {message}")
                        }
                        other => anyhow::bail!("unexpected {other:?}"),
                    }
                }
                let n = self.tls.read(&mut self.buf).await?;
                if n == 0 {
                    anyhow::bail!("broker closed the connection");
                }
                self.conn.handle_bytes(&self.buf[..n], now())?;
                self.flush().await?;
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no control message within {WAIT:?}"))?
    }
}

/// The static X25519 key every test Host enrolls with (end-to-end Noise).
pub const HOST_STATIC_KEY: [u8; 32] = [9; 32];
/// The static X25519 key the test Guest sends with its session requests.
pub const GUEST_STATIC_KEY: [u8; 32] = [0x47; 32];

/// A device's keys and identity, as an enrolled Host keeps them.
pub struct HostIdentity {
    pub signing_key: [u8; 32],
    pub device_id: DeviceId,
    pub credential: Bytes,
}

/// Enrolls a new Host with a package key over the control connection.
pub async fn enroll(
    addr: SocketAddr,
    cert_der: &[u8],
    key: &str,
    hostname: &str,
) -> anyhow::Result<(EnrollResponse, [u8; 32])> {
    let mut signing_key = [0u8; 32];
    getrandom::fill(&mut signing_key).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let req = EnrollRequest {
        enrollment_key: key.to_owned(),
        device: DeviceInfo {
            hostname: hostname.to_owned(),
            os: "Linux".into(),
            agent_version: "test/1".into(),
            logged_in_user: String::new(),
        },
        device_public_key: device_public_key(&signing_key),
        device_static_key: HOST_STATIC_KEY,
    };
    let (_c, outcome) =
        ControlClient::connect(addr, cert_der, ControlCredentials::Enroll(req)).await?;
    match outcome {
        Outcome::Enrolled(r) => Ok((r, signing_key)),
        other => anyhow::bail!("enrollment: {other:?}"),
    }
}

/// Connects as an enrolled Host.
pub async fn host(
    addr: SocketAddr,
    cert_der: &[u8],
    id: &HostIdentity,
) -> anyhow::Result<(ControlClient, Outcome)> {
    ControlClient::connect(
        addr,
        cert_der,
        ControlCredentials::Device {
            device_id: id.device_id,
            credential: id.credential.clone(),
            signing_key: id.signing_key,
        },
    )
    .await
}

/// Connects as a Guest with an access token.
pub async fn guest(
    addr: SocketAddr,
    cert_der: &[u8],
    token: &str,
) -> anyhow::Result<(ControlClient, Outcome)> {
    guest_over(Transport::Tls, addr, cert_der, token).await
}

/// Connects as a Guest over `transport`.
pub async fn guest_over(
    transport: Transport,
    addr: SocketAddr,
    cert_der: &[u8],
    token: &str,
) -> anyhow::Result<(ControlClient, Outcome)> {
    ControlClient::connect_over(
        transport,
        addr,
        cert_der,
        ControlCredentials::Guest {
            access_token: token.to_owned(),
        },
    )
    .await
}

/// Binds at the relay with a ticket; the raw session pipe once `Ready`.
pub async fn bind(
    relay_addr: &str,
    side: Side,
    ticket: Bytes,
) -> anyhow::Result<(TcpStream, Bytes)> {
    let mut tcp = TcpStream::connect(relay_addr).await?;
    let mut c = RelayConnector::new(side, ticket, RelayHandshakeConfig::default(), now());
    if let Some(b) = c.poll_transmit() {
        tcp.write_all(&b).await?;
    }
    let mut buf = vec![0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(ev) = c.poll_event() {
                return match ev {
                    ConnectorEvent::Ready { leftover } => Ok(leftover),
                    ConnectorEvent::Closed { code, message } => {
                        anyhow::bail!("relay refused the {side}: {code} {message}")
                    }
                };
            }
            let n = tcp.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "relay closed before Ready");
            let _ = c.handle_bytes(&buf[..n]);
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("no Ready within {WAIT:?}"))?
    .map(|leftover| (tcp, leftover))
}
