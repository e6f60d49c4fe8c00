//! Making connected pairs through the relay under test.
//!
//! A pair is two endpoints whose bytes travel through the target: `client` and `server`.
//! - `direct`: the client connects straight to the driver's own listener (no relay).
//! - `proxy` (HAProxy, socat): the client connects to the proxy, which connects to the
//!   driver's listener; the client's first 8 bytes name the pair so the listener can match it.
//! - `switchboard`: both sides connect to the relay and bind with tickets the driver signs
//!   (guest = client, host = server) until `Ready`.
//! - `quic`: like `switchboard`, but the guest dials the relay over QUIC.
//!
//! Client connections rotate over source addresses 127.0.0.2–127.0.0.9 so tens of thousands
//! of connections to one port do not run out of ephemeral ports.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use switchboard_codec::{
    ConnectorEvent, PermissionSet, RelayConnector, RelayHandshakeConfig, RelayId, SessionId,
    SessionTicket, Side, TenantId, TicketSigner,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Mutex, oneshot};

pub(crate) type BoxRead = Box<dyn AsyncRead + Unpin + Send>;
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Unpin + Send>;

/// One endpoint of a pair: its read and write halves (and what keeps a QUIC connection up).
pub(crate) struct End {
    pub(crate) r: BoxRead,
    pub(crate) w: BoxWrite,
    pub(crate) _keep: Option<quinn::Connection>,
}

fn tcp_end(s: TcpStream) -> End {
    let _ = s.set_nodelay(true);
    let (r, w) = s.into_split();
    End {
        r: Box::new(r),
        w: Box::new(w),
        _keep: None,
    }
}

/// How pairs are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Direct,
    Proxy,
    Switchboard,
    Quic,
}

type Waiters = Mutex<HashMap<u64, oneshot::Sender<TcpStream>>>;

/// Makes pairs for one target.
pub(crate) struct Dialer {
    mode: Mode,
    /// Where clients connect (proxy or relay TCP address; the backend for `direct`).
    target: SocketAddr,
    quic_target: Option<SocketAddr>,
    quic: Option<quinn::Endpoint>,
    waiters: Arc<Waiters>,
    signer: TicketSigner,
    relay_id: u64,
    next: AtomicU64,
}

/// Settings to build a [`Dialer`].
pub(crate) struct DialerConfig {
    pub(crate) mode: Mode,
    pub(crate) target: Option<SocketAddr>,
    pub(crate) backend: SocketAddr,
    pub(crate) quic_target: Option<SocketAddr>,
    pub(crate) quic_cert_der: Option<Vec<u8>>,
    pub(crate) key_id: u32,
    pub(crate) secret: [u8; 32],
    pub(crate) relay_id: u64,
}

impl Dialer {
    pub(crate) async fn new(cfg: DialerConfig) -> anyhow::Result<Self> {
        let waiters: Arc<Waiters> = Arc::new(Mutex::new(HashMap::new()));
        let mut target = cfg.target.unwrap_or(cfg.backend);
        if matches!(cfg.mode, Mode::Direct | Mode::Proxy) {
            let l = bind_listener(cfg.backend)?;
            if cfg.mode == Mode::Direct {
                target = l.local_addr()?;
            }
            tokio::spawn(accept_loop(l, waiters.clone()));
        }
        let quic = match cfg.mode {
            Mode::Quic => {
                let der = cfg
                    .quic_cert_der
                    .context("quic needs the relay certificate")?;
                Some(quic_client(der)?)
            }
            _ => None,
        };
        Ok(Self {
            mode: cfg.mode,
            target,
            quic_target: cfg.quic_target,
            quic,
            waiters,
            signer: TicketSigner::new(cfg.key_id, cfg.secret),
            relay_id: cfg.relay_id,
            next: AtomicU64::new(1),
        })
    }

    /// Opens one pair: (client, server).
    pub(crate) async fn pair(&self) -> anyhow::Result<(End, End)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let fut = async {
            match self.mode {
                Mode::Direct | Mode::Proxy => self.pair_backend(n).await,
                Mode::Switchboard | Mode::Quic => self.pair_relay(n).await,
            }
        };
        tokio::time::timeout(Duration::from_secs(60), fut)
            .await
            .context("pairing took more than 60 s")?
    }

    async fn pair_backend(&self, n: u64) -> anyhow::Result<(End, End)> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().await.insert(n, tx);
        let mut client = connect_from(self.target, n).await?;
        client.write_all(&n.to_be_bytes()).await?;
        let server = rx.await.context("backend listener stopped")?;
        Ok((tcp_end(client), tcp_end(server)))
    }

    fn ticket(&self, session: [u8; 16], side: Side, n: u64) -> Bytes {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&n.to_be_bytes());
        nonce[8] = side as u8;
        nonce[9..].copy_from_slice(&session[..7]);
        let ticket = SessionTicket {
            key_id: self.signer_key_id(),
            session_id: SessionId(session),
            tenant_id: TenantId([1; 16]),
            side,
            relay_id: RelayId(self.relay_id),
            permissions: PermissionSet::default(),
            byte_rate_limit: 0,
            expires_at_unix_ms: unix_ms() + 3_600_000,
            nonce,
        };
        self.signer.sign(&ticket)
    }

    fn signer_key_id(&self) -> u32 {
        KEY_ID
    }

    async fn pair_relay(&self, n: u64) -> anyhow::Result<(End, End)> {
        let mut session = [0u8; 16];
        getrandom_bytes(&mut session, n);
        let host_ticket = self.ticket(session, Side::Host, n);
        let guest_ticket = self.ticket(session, Side::Guest, n);
        let host = async {
            let s = connect_from(self.target, n).await?;
            let mut e = tcp_end(s);
            bind(&mut e, Side::Host, host_ticket).await?;
            Ok::<_, anyhow::Error>(e)
        };
        let guest = async {
            match (&self.quic, self.quic_target) {
                (Some(ep), Some(addr)) => {
                    let conn = ep.connect(addr, "localhost")?.await?;
                    let (send, recv) = conn.open_bi().await?;
                    let mut e = End {
                        r: Box::new(recv),
                        w: Box::new(send),
                        _keep: Some(conn),
                    };
                    bind(&mut e, Side::Guest, guest_ticket).await?;
                    Ok(e)
                }
                _ => {
                    let s = connect_from(self.target, n + 1).await?;
                    let mut e = tcp_end(s);
                    bind(&mut e, Side::Guest, guest_ticket).await?;
                    Ok(e)
                }
            }
        };
        let (h, g) = tokio::try_join!(host, guest)?;
        Ok((g, h))
    }
}

/// Key id the driver signs with (the relay config names the same).
pub(crate) const KEY_ID: u32 = 1;

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn getrandom_bytes(buf: &mut [u8; 16], n: u64) {
    // Session ids must be distinct, not secret: process-unique counter plus time.
    let t = unix_ms();
    buf[..8].copy_from_slice(&n.to_be_bytes());
    buf[8..].copy_from_slice(&t.to_be_bytes());
}

fn bind_listener(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let s = TcpSocket::new_v4()?;
    s.set_reuseaddr(true)?;
    s.bind(addr)?;
    Ok(s.listen(8192)?)
}

async fn accept_loop(l: TcpListener, waiters: Arc<Waiters>) {
    loop {
        let Ok((s, _)) = l.accept().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let waiters = waiters.clone();
        tokio::spawn(async move {
            let mut s = s;
            let mut id = [0u8; 8];
            if s.read_exact(&mut id).await.is_err() {
                return;
            }
            let tx = waiters.lock().await.remove(&u64::from_be_bytes(id));
            if let Some(tx) = tx {
                let _ = tx.send(s);
            }
        });
    }
}

/// Connects to `target` from 127.0.0.(2 + n % 8).
async fn connect_from(target: SocketAddr, n: u64) -> anyhow::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    let src: SocketAddr = SocketAddr::from(([127, 0, 0, 2 + (n % 8) as u8], 0));
    s.bind(src)?;
    let stream = s
        .connect(target)
        .await
        .with_context(|| format!("connect {target}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Runs the relay bind handshake on `e` until `Ready`.
async fn bind(e: &mut End, side: Side, ticket: Bytes) -> anyhow::Result<()> {
    let cfg = RelayHandshakeConfig {
        max_frame: 64 * 1024,
        bind_timeout: Duration::from_secs(30),
    };
    let now = tokio::time::Instant::now().into_std();
    let mut hs = RelayConnector::new(side, ticket, cfg, now);
    while let Some(b) = hs.poll_transmit() {
        e.w.write_all(&b).await?;
    }
    e.w.flush().await?;
    let mut buf = [0u8; 1024];
    for _ in 0..1000 {
        if let Some(ev) = hs.poll_event() {
            return match ev {
                ConnectorEvent::Ready { leftover } if leftover.is_empty() => Ok(()),
                ConnectorEvent::Ready { .. } => bail!("unexpected bytes after Ready"),
                ConnectorEvent::Closed { code, message } => {
                    bail!("relay refused: {} ({message})", code.name())
                }
            };
        }
        let n = e.r.read(&mut buf).await?;
        if n == 0 {
            bail!("relay closed during the bind");
        }
        let _ = hs.handle_bytes(&buf[..n]);
    }
    bail!("no Ready after 1000 reads")
}

fn quic_client(cert_der: Vec<u8>) -> anyhow::Result<quinn::Endpoint> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(rustls::pki_types::CertificateDer::from(cert_der))?;
    let mut crypto = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    crypto.alpn_protocols = vec![switchboard_codec::relay_handshake::RELAY_ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    // As the agent's relay client: the relay opens no stream, no datagrams, the relay's
    // windows and fixed MTU (no probing), so a held QUIC pair costs what an agent's would.
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(0u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .stream_receive_window(switchboard_relay::quic::STREAM_WINDOW.into())
        .receive_window(switchboard_relay::quic::STREAM_WINDOW.into())
        .send_window(switchboard_relay::quic::SEND_WINDOW)
        .datagram_receive_buffer_size(None)
        .datagram_send_buffer_size(0)
        .mtu_discovery_config(None)
        .initial_mtu(switchboard_relay::quic::INITIAL_MTU)
        .keep_alive_interval(Some(Duration::from_secs(10)));
    cfg.transport_config(Arc::new(transport));
    // One UDP socket carries every QUIC session of the run: large kernel buffers, like the
    // relay's listener, so a burst of many connections is not dropped at the socket.
    let socket = switchboard_relay::quic::udp_socket("127.0.0.1:0".parse()?)?;
    let runtime = quinn::default_runtime().context("no async runtime")?;
    let mut ep = quinn::Endpoint::new(quinn::EndpointConfig::default(), None, socket, runtime)?;
    ep.set_default_client_config(cfg);
    Ok(ep)
}
