//! Shared helpers of the relay's black-box tests: keys and tickets, a relay on 127.0.0.1:0,
//! endpoints that bind with the codec's `RelayConnector`, pattern streams, a private
//! redis-server.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use bytes::Bytes;
use switchboard_codec::{
    ConnectorEvent, ErrorCode, PermissionSet, RelayConnector, RelayHandshakeConfig, RelayId,
    SessionId, SessionTicket, Side, TenantId, TicketSigner,
};
use switchboard_relay::config::BrokerKey;
use switchboard_relay::{ChannelSink, EngineKind, RelayConfig, RelayHandle, SessionRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

pub const RELAY_ID: u64 = 42;
pub const KEY_ID: u32 = 1;
pub const SECRET: [u8; 32] = [7; 32];

pub fn signer() -> TicketSigner {
    TicketSigner::new(KEY_ID, SECRET)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A config for tests: loopback, no QUIC, short timeouts, the given engine.
pub fn config(engine: EngineKind) -> RelayConfig {
    let mut cfg = RelayConfig::new(
        RELAY_ID,
        vec![BrokerKey {
            id: KEY_ID,
            public_key: signer().public_key(),
        }],
    );
    cfg.listen = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.quic_listen = vec![];
    cfg.engine = engine;
    cfg.limits.bind_timeout = Duration::from_secs(5);
    cfg.limits.waiting_room_timeout = Duration::from_secs(10);
    cfg.drain_deadline = Duration::from_secs(5);
    cfg
}

pub struct TestRelay {
    pub handle: RelayHandle,
    pub records: mpsc::Receiver<SessionRecord>,
}

impl TestRelay {
    pub async fn start(cfg: RelayConfig) -> Self {
        let (sink, records) = ChannelSink::new(1024);
        let handle = RelayHandle::start(cfg, std::sync::Arc::new(sink))
            .await
            .expect("relay starts");
        Self { handle, records }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.tcp_addrs()[0]
    }

    pub async fn next_record(&mut self) -> SessionRecord {
        tokio::time::timeout(Duration::from_secs(15), self.records.recv())
            .await
            .expect("a session record within 15 s")
            .expect("record channel open")
    }
}

static NEXT_SESSION: AtomicU8 = AtomicU8::new(1);

/// A fresh session's two tickets.
pub struct Session {
    pub id: SessionId,
    pub tenant: TenantId,
    pub rate: u64,
}

impl Session {
    pub fn new() -> Self {
        let mut id = [0u8; 16];
        getrandom_fill(&mut id);
        id[0] = NEXT_SESSION.fetch_add(1, Ordering::Relaxed);
        Self {
            id: SessionId(id),
            tenant: TenantId([3; 16]),
            rate: 0,
        }
    }

    pub fn with_rate(mut self, rate: u64) -> Self {
        self.rate = rate;
        self
    }

    pub fn with_tenant(mut self, t: u8) -> Self {
        self.tenant = TenantId([t; 16]);
        self
    }

    pub fn ticket(&self, side: Side) -> SessionTicket {
        let mut nonce = [0u8; 16];
        getrandom_fill(&mut nonce);
        SessionTicket {
            key_id: KEY_ID,
            session_id: self.id,
            tenant_id: self.tenant,
            side,
            relay_id: RelayId(RELAY_ID),
            permissions: PermissionSet::default(),
            byte_rate_limit: self.rate,
            expires_at_unix_ms: now_ms() + 60_000,
            nonce,
        }
    }

    pub fn signed(&self, side: Side) -> Bytes {
        signer().sign(&self.ticket(side))
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    // Tests only need distinct values; mix time and a counter.
    static CTR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let mut x = now_ms() ^ CTR.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    for b in buf.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

/// A connected endpoint after `Ready`.
pub struct Endpoint {
    pub stream: TcpStream,
    pub leftover: Bytes,
}

/// Connects from `src_ip` (e.g. 127.0.0.2) or the default loopback.
pub async fn connect(addr: SocketAddr, src_ip: Option<&str>) -> TcpStream {
    match src_ip {
        None => TcpStream::connect(addr).await.unwrap(),
        Some(ip) => {
            let s = TcpSocket::new_v4().unwrap();
            s.bind(format!("{ip}:0").parse().unwrap()).unwrap();
            s.connect(addr).await.unwrap()
        }
    }
}

/// Sends a bind on `stream` and drives the connector until Ready or Closed.
pub async fn handshake(
    mut stream: TcpStream,
    side: Side,
    ticket: Bytes,
) -> Result<Endpoint, (ErrorCode, String)> {
    let cfg = RelayHandshakeConfig {
        max_frame: 64 * 1024,
        bind_timeout: Duration::from_secs(30),
    };
    let mut conn = RelayConnector::new(side, ticket, cfg, tokio::time::Instant::now().into_std());
    while let Some(b) = conn.poll_transmit() {
        stream.write_all(&b).await.unwrap();
    }
    let mut buf = vec![0u8; 4096];
    loop {
        if let Some(ev) = conn.poll_event() {
            return match ev {
                ConnectorEvent::Ready { leftover } => Ok(Endpoint { stream, leftover }),
                ConnectorEvent::Closed { code, message } => Err((code, message)),
            };
        }
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("relay answers within 30 s")
            .unwrap_or(0);
        if n == 0 {
            return Err((ErrorCode::PeerClosed, "relay closed without a frame".into()));
        }
        let _ = conn.handle_bytes(&buf[..n]);
    }
}

pub async fn bind(
    addr: SocketAddr,
    side: Side,
    ticket: Bytes,
) -> Result<Endpoint, (ErrorCode, String)> {
    handshake(connect(addr, None).await, side, ticket).await
}

/// Binds both sides of `s` concurrently and returns (host, guest).
pub async fn pair(addr: SocketAddr, s: &Session) -> (TcpStream, TcpStream) {
    let (h, g) = tokio::join!(
        bind(addr, Side::Host, s.signed(Side::Host)),
        bind(addr, Side::Guest, s.signed(Side::Guest))
    );
    let h = h.expect("host paired");
    let g = g.expect("guest paired");
    assert!(h.leftover.is_empty() && g.leftover.is_empty());
    (h.stream, g.stream)
}

/// Expects the relay to refuse this bind with `code`.
pub async fn expect_refused(addr: SocketAddr, side: Side, ticket: Bytes, code: ErrorCode) {
    match bind(addr, side, ticket).await {
        Ok(_) => panic!("bind should have been refused with {code:?}, but paired"),
        Err((got, msg)) => assert_eq!(got, code, "refusal message: {msg}"),
    }
}

/// Waits until `f` holds (polling), at most `within`.
pub async fn eventually(within: Duration, mut f: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + within;
    while !f() {
        assert!(
            tokio::time::Instant::now() < end,
            "condition not met in {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A deterministic byte pattern with a prime period; `seed` makes directions differ.
pub struct Pattern {
    table: Vec<u8>,
}

pub const PERIOD: usize = 65_521;

impl Pattern {
    pub fn new(seed: u8) -> Self {
        let mut x: u32 = 0x1234_5678 ^ u32::from(seed) << 24 | 1;
        let mut table = Vec::with_capacity(PERIOD + 128 * 1024);
        for _ in 0..PERIOD {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            table.push(x as u8);
        }
        for i in 0..128 * 1024 {
            table.push(table[i % PERIOD]);
        }
        Self { table }
    }

    /// The pattern bytes at stream offset `off`, `len` ≤ 64 KiB.
    pub fn at(&self, off: u64, len: usize) -> &[u8] {
        let i = (off % PERIOD as u64) as usize;
        &self.table[i..i + len]
    }

    /// Writes `total` pattern bytes (the write side stays open).
    pub async fn write<W: AsyncWriteExt + Unpin>(
        &self,
        w: &mut W,
        total: u64,
    ) -> anyhow::Result<()> {
        let mut off = 0u64;
        while off < total {
            let len = (total - off).min(64 * 1024) as usize;
            w.write_all(self.at(off, len)).await?;
            off += len as u64;
        }
        Ok(())
    }

    /// Writes `total` pattern bytes, then shuts down the write side.
    pub async fn write_then_close<W: AsyncWriteExt + Unpin>(
        &self,
        w: &mut W,
        total: u64,
    ) -> anyhow::Result<()> {
        self.write(w, total).await?;
        w.shutdown().await?;
        Ok(())
    }

    /// Reads to EOF, checking every byte; returns the count.
    pub async fn check<R: AsyncReadExt + Unpin>(&self, r: &mut R) -> anyhow::Result<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 0u64;
        loop {
            let n = r.read(&mut buf).await?;
            if n == 0 {
                return Ok(off);
            }
            if buf[..n] != *self.at(off, n) {
                bail!("pattern mismatch in the chunk at offset {off}");
            }
            off += n as u64;
        }
    }
}
