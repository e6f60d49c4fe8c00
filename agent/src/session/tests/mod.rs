//! Session tests over real loopback sockets and a real `switchboard-relay`: a harness that
//! starts a relay, mints both tickets, builds both plans and establishes Host and Guest, plus
//! small target servers (echo, checksum, firehose, black hole, reply-after-EOF).

mod flow;
mod quic;
mod refusal;
mod security;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use switchboard_codec::noise::{StaticKeypair, generate_static_keypair};
use switchboard_codec::{
    Permission, PermissionSet, RelayId, SessionId, SessionTicket, Side, TenantId, TicketSigner,
};
use switchboard_relay::config::BrokerKey;
use switchboard_relay::{NullSink, RelayConfig, RelayHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{AllowList, HostPolicy, Session, SessionPlan, establish};
use crate::error::AgentError;

const RELAY_ID: u64 = 7;
const KEY_ID: u32 = 1;
const SECRET: [u8; 32] = [9; 32];
/// Liveness bound of every wait in these tests (not a performance assertion).
pub(super) const WAIT: Duration = Duration::from_secs(25);

fn signer() -> TicketSigner {
    TicketSigner::new(KEY_ID, SECRET)
}

fn unique16() -> [u8; 16] {
    static CTR: AtomicU64 = AtomicU64::new(1);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let c = CTR.fetch_add(1, Ordering::Relaxed);
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&t.to_be_bytes());
    out[8..].copy_from_slice(&c.to_be_bytes());
    out
}

pub(super) async fn start_relay() -> RelayHandle {
    RelayHandle::start(relay_config(), Arc::new(NullSink))
        .await
        .unwrap()
}

pub(super) fn relay_config() -> RelayConfig {
    let mut cfg = RelayConfig::new(
        RELAY_ID,
        vec![BrokerKey {
            id: KEY_ID,
            public_key: signer().public_key(),
        }],
    );
    cfg.listen = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.quic_listen = vec![];
    cfg
}

pub(super) fn ticket(session_id: SessionId, side: Side) -> Bytes {
    let ticket = SessionTicket {
        key_id: KEY_ID,
        session_id,
        tenant_id: TenantId([1; 16]),
        side,
        relay_id: RelayId(RELAY_ID),
        permissions: PermissionSet::default(),
        byte_rate_limit: 0,
        expires_at_unix_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 60_000,
        nonce: unique16(),
    };
    signer().sign(&ticket)
}

/// Both sides' plans for one fresh session at `relay_addr`.
pub(super) struct Plans {
    pub(super) host: SessionPlan,
    pub(super) guest: SessionPlan,
}

pub(super) fn plans(relay_addr: SocketAddr) -> Plans {
    let session_id = SessionId(unique16());
    let host_key: StaticKeypair = generate_static_keypair().unwrap();
    let guest_key: StaticKeypair = generate_static_keypair().unwrap();
    Plans {
        host: SessionPlan {
            session_id,
            side: Side::Host,
            relay_addr: relay_addr.to_string(),
            ticket: ticket(session_id, Side::Host),
            local_static: host_key.clone(),
            peer_static: guest_key.public,
        },
        guest: SessionPlan {
            session_id,
            side: Side::Guest,
            relay_addr: relay_addr.to_string(),
            ticket: ticket(session_id, Side::Guest),
            local_static: guest_key,
            peer_static: host_key.public,
        },
    }
}

/// Establishes both sides concurrently.
pub(super) async fn establish_pair(
    plans: Plans,
) -> (Result<Session, AgentError>, Result<Session, AgentError>) {
    let (host, guest) = tokio::time::timeout(WAIT, async {
        tokio::join!(establish(plans.host), establish(plans.guest))
    })
    .await
    .expect("both establish calls return");
    (host, guest)
}

/// A connected pair; the host serves `policy` in the background.
pub(super) async fn serving_pair(relay_addr: SocketAddr, policy: HostPolicy) -> (Session, Session) {
    let (host, guest) = establish_pair(plans(relay_addr)).await;
    let (host, guest) = (host.unwrap(), guest.unwrap());
    let serving = host.clone();
    tokio::spawn(async move { serving.serve_host(policy).await });
    (host, guest)
}

pub(super) fn tunnel_policy(targets: &[SocketAddr]) -> HostPolicy {
    let mut granted = PermissionSet::default();
    granted.insert(Permission::Tunnel);
    granted.insert(Permission::RemoteSession);
    HostPolicy {
        allow: AllowList::parse_entries(
            targets
                .iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        )
        .unwrap(),
        granted,
    }
}

/// Starts a loopback server running `handle` for every connection.
pub(super) async fn server<F, Fut>(handle: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(handle(socket));
        }
    });
    addr
}

/// Echo: copies every byte back, half-closes after the client's EOF.
pub(super) async fn echo_server() -> SocketAddr {
    server(|mut s: TcpStream| async move {
        let (mut r, mut w) = s.split();
        let _ = tokio::io::copy(&mut r, &mut w).await;
        let _ = w.shutdown().await;
    })
    .await
}

/// Checksum: reads to EOF, then answers `count (u64 BE) | checksum (u64 BE)` and closes.
pub(super) async fn checksum_server() -> SocketAddr {
    server(|mut s: TcpStream| async move {
        let mut sum = Checksum::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => sum.update(&buf[..n]),
                Err(_) => return,
            }
        }
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&sum.count.to_be_bytes());
        out[8..].copy_from_slice(&sum.value().to_be_bytes());
        let _ = s.write_all(&out).await;
        let _ = s.shutdown().await;
    })
    .await
}

/// Firehose: writes `total` bytes as fast as the reader allows.
pub(super) async fn firehose_server(total: usize) -> SocketAddr {
    server(move |mut s: TcpStream| async move {
        let chunk = vec![0x5au8; 64 * 1024];
        let mut sent = 0;
        while sent < total {
            if s.write_all(&chunk).await.is_err() {
                return;
            }
            sent += chunk.len();
        }
    })
    .await
}

/// Black hole: accepts and never reads (holds the socket for a while).
pub(super) async fn black_hole_server() -> SocketAddr {
    server(|s: TcpStream| async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await
}

/// Order-sensitive Fletcher-style checksum over 8-byte words (independent of how the stream
/// was split into reads), fast enough for hundreds of MiB in a test build.
#[derive(Default, Clone, Copy)]
pub(super) struct Checksum {
    a: u64,
    b: u64,
    count: u64,
    pending: [u8; 8],
    pending_len: usize,
}

impl Checksum {
    fn word(&mut self, w: u64) {
        self.a = self.a.wrapping_add(w);
        self.b = self.b.wrapping_add(self.a);
    }

    pub(super) fn update(&mut self, mut data: &[u8]) {
        self.count += data.len() as u64;
        if self.pending_len > 0 {
            let take = (8 - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < 8 {
                return;
            }
            self.word(u64::from_le_bytes(self.pending));
            self.pending_len = 0;
        }
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
        self.pending_len = rest.len();
    }

    /// The value had the first 8-byte word (of a stream of at least 8 bytes) been larger by
    /// `d` (wrapping).
    pub(super) fn with_first_word_changed_by(&self, d: u64) -> u64 {
        let mut me = *self;
        let words = self.count / 8;
        me.a = me.a.wrapping_add(d);
        me.b = me.b.wrapping_add(d.wrapping_mul(words));
        me.value()
    }

    pub(super) fn value(&self) -> u64 {
        let mut me = *self;
        if me.pending_len > 0 {
            let mut last = [0u8; 8];
            last[..me.pending_len].copy_from_slice(&me.pending[..me.pending_len]);
            me.word(u64::from_le_bytes(last) ^ (me.pending_len as u64) << 60);
        }
        me.a ^ me.b.rotate_left(32)
    }
}

/// A deterministic, seed-dependent buffer of `len` bytes.
pub(super) fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
