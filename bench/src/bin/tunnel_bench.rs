//! Tunnel throughput on loopback: direct TCP, the bare relay (raw pipe, no Noise), and an
//! agent tunnel (relay + Noise KK + mux) with 1 and 8 streams.
//!
//! Everything runs in this one process on a 2-worker tokio runtime: the relay
//! (`switchboard-relay`, default engine), both agents, the sending client and a counting sink.
//! It prints MiB/s and the process's CPU seconds per GiB moved (user + system from
//! `/proc/self/stat`, so it covers sender, relay, both agents and sink together). Loopback only,
//! bounded by `--bytes` (default 1 GiB per figure). A benchmark prints figures; it asserts
//! nothing about speed.
//!
//! `cargo run --release -p switchboard-bench --bin tunnel_bench -- [--bytes N] [--streams K]`

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::Bytes;
use switchboard_agent::session::{AllowList, HostPolicy, SessionPlan, establish};
use switchboard_codec::noise::generate_static_keypair;
use switchboard_codec::{
    ConnectorEvent, Permission, PermissionSet, RelayConnector, RelayHandshakeConfig, RelayId,
    SessionId, SessionTicket, Side, TenantId, TicketSigner,
};
use switchboard_relay::config::BrokerKey;
use switchboard_relay::{NullSink, RelayConfig, RelayHandle};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY_ID: u32 = 1;
const RELAY_ID: u64 = 1;
const CHUNK: usize = 256 * 1024;
/// Bound of one measurement.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);

struct Args {
    bytes: u64,
    streams: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        bytes: 1 << 30,
        streams: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bytes" => args.bytes = parse_size(&it.next().context("--bytes needs a value")?)?,
            "--streams" => args.streams = it.next().context("--streams needs a value")?.parse()?,
            "-h" | "--help" => {
                println!("tunnel_bench [--bytes N[K|M|G]] [--streams K]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if args.streams == 0 || args.bytes == 0 {
        bail!("--bytes and --streams must be positive");
    }
    Ok(args)
}

fn parse_size(s: &str) -> anyhow::Result<u64> {
    let (num, mult) = match s.as_bytes().last() {
        Some(b'K' | b'k') => (&s[..s.len() - 1], 1 << 10),
        Some(b'M' | b'm') => (&s[..s.len() - 1], 1 << 20),
        Some(b'G' | b'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    Ok(num.parse::<u64>()?.saturating_mul(mult))
}

/// User + system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line: 12 and 13 after ')'.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// A sink: reads to EOF and answers the byte count (u64 BE).
async fn sink_server() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(sink(s));
        }
    });
    Ok(addr)
}

async fn sink<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> anyhow::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    s.write_all(&total.to_be_bytes()).await?;
    s.shutdown().await?;
    Ok(total)
}

/// Sends `bytes` then shuts down and waits for the sink's count.
async fn source<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, bytes: u64) -> anyhow::Result<()> {
    let buf = vec![0xa5u8; CHUNK];
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(CHUNK as u64) as usize;
        s.write_all(&buf[..n]).await?;
        sent += n as u64;
    }
    s.shutdown().await?;
    let mut count = [0u8; 8];
    s.read_exact(&mut count).await?;
    let got = u64::from_be_bytes(count);
    if got != bytes {
        bail!("the sink counted {got} bytes, {bytes} were sent");
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn ticket(signer: &TicketSigner, session_id: SessionId, side: Side, n: u8) -> Bytes {
    signer.sign(&SessionTicket {
        key_id: KEY_ID,
        session_id,
        tenant_id: TenantId([1; 16]),
        side,
        relay_id: RelayId(RELAY_ID),
        permissions: PermissionSet::default(),
        byte_rate_limit: 0,
        expires_at_unix_ms: now_ms() + 600_000,
        nonce: [n; 16],
    })
}

/// Binds one side at the relay with the codec's connector (raw pipe after Ready).
async fn raw_bind(relay: SocketAddr, side: Side, ticket: Bytes) -> anyhow::Result<TcpStream> {
    let mut s = TcpStream::connect(relay).await?;
    s.set_nodelay(true)?;
    let mut c = RelayConnector::new(
        side,
        ticket,
        RelayHandshakeConfig::default(),
        tokio::time::Instant::now().into_std(),
    );
    while let Some(b) = c.poll_transmit() {
        s.write_all(&b).await?;
    }
    let mut buf = [0u8; 512];
    loop {
        if let Some(ev) = c.poll_event() {
            return match ev {
                ConnectorEvent::Ready { leftover } if leftover.is_empty() => Ok(s),
                ConnectorEvent::Ready { .. } => bail!("unexpected leftover"),
                ConnectorEvent::Closed { code, message } => {
                    bail!("relay refused: {code}: {message}")
                }
            };
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await??;
        if n == 0 {
            bail!("relay closed during bind");
        }
        let _ = c.handle_bytes(&buf[..n]);
    }
}

struct Figure {
    name: String,
    mib_s: f64,
    cpu_per_gib: f64,
}

async fn measure<F, Fut>(name: String, bytes: u64, run: F) -> anyhow::Result<Figure>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let cpu0 = cpu_seconds();
    let t0 = tokio::time::Instant::now();
    tokio::time::timeout(RUN_TIMEOUT, run()).await??;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let gib = bytes as f64 / f64::from(1u32 << 30);
    let fig = Figure {
        name,
        mib_s: bytes as f64 / f64::from(1u32 << 20) / secs,
        cpu_per_gib: cpu / gib,
    };
    println!(
        "{:<32} {:>10.1} MiB/s {:>8.2} CPU-s/GiB",
        fig.name, fig.mib_s, fig.cpu_per_gib
    );
    Ok(fig)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let signer = TicketSigner::new(KEY_ID, [42; 32]);
    let mut cfg = RelayConfig::new(
        RELAY_ID,
        vec![BrokerKey {
            id: KEY_ID,
            public_key: signer.public_key(),
        }],
    );
    cfg.listen = vec!["127.0.0.1:0".parse()?];
    cfg.quic_listen = vec![];
    let engine = cfg.engine.name();
    let relay = RelayHandle::start(cfg, Arc::new(NullSink)).await?;
    let relay_addr = relay.tcp_addrs()[0];
    let sink_addr = sink_server().await?;
    let bytes = args.bytes;
    println!(
        "tunnel_bench: {} MiB per figure, loopback, relay engine {engine}",
        bytes >> 20
    );

    let mut figures = Vec::new();
    figures.push(
        measure("direct loopback TCP".into(), bytes, || async {
            let s = TcpStream::connect(sink_addr).await?;
            s.set_nodelay(true)?;
            source(s, bytes).await
        })
        .await?,
    );

    figures.push(
        measure("bare relay (raw pipe)".into(), bytes, || async {
            let id = SessionId([0xb0; 16]);
            let (host, guest) = tokio::join!(
                raw_bind(relay_addr, Side::Host, ticket(&signer, id, Side::Host, 1)),
                raw_bind(relay_addr, Side::Guest, ticket(&signer, id, Side::Guest, 2)),
            );
            let host = tokio::spawn(sink(host?));
            source(guest?, bytes).await?;
            host.await??;
            Ok(())
        })
        .await?,
    );

    // One agent session for both tunnel figures.
    let id = SessionId([0xa9; 16]);
    let host_key = generate_static_keypair()?;
    let guest_key = generate_static_keypair()?;
    let host_plan = SessionPlan {
        session_id: id,
        side: Side::Host,
        relay_addr: relay_addr.to_string(),
        ticket: ticket(&signer, id, Side::Host, 3),
        local_static: host_key.clone(),
        peer_static: guest_key.public,
    };
    let guest_plan = SessionPlan {
        session_id: id,
        side: Side::Guest,
        relay_addr: relay_addr.to_string(),
        ticket: ticket(&signer, id, Side::Guest, 4),
        local_static: guest_key,
        peer_static: host_key.public,
    };
    let (host, guest) = tokio::join!(establish(host_plan), establish(guest_plan));
    let (host, guest) = (host?, guest?);
    let mut granted = PermissionSet::default();
    granted.insert(Permission::Tunnel);
    let policy = HostPolicy {
        allow: AllowList::parse_entries([sink_addr.to_string().as_str()])?,
        granted,
    };
    let serving = host.clone();
    tokio::spawn(async move { serving.serve_host(policy).await });
    let target = sink_addr.to_string();

    for streams in [1, args.streams] {
        let name = format!("agent tunnel, {streams} stream(s)");
        let per = bytes / streams as u64;
        let total = per * streams as u64;
        let fig = measure(name, total, || async {
            let mut tasks = Vec::new();
            for _ in 0..streams {
                let guest = guest.clone();
                let target = target.clone();
                tasks.push(tokio::spawn(async move {
                    let s = guest.open_tunnel(&target).await?;
                    source(s, per).await
                }));
            }
            for t in tasks {
                t.await??;
            }
            Ok(())
        })
        .await?;
        figures.push(fig);
    }
    guest.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), host.closed()).await;
    relay.shutdown().await;

    if let Some(direct) = figures.first() {
        println!();
        println!(
            "{:<32} {:>10} {:>14}",
            "figure", "vs direct", "CPU vs direct"
        );
        for f in &figures {
            println!(
                "{:<32} {:>9.2}x {:>13.2}x",
                f.name,
                f.mib_s / direct.mib_s,
                f.cpu_per_gib / direct.cpu_per_gib
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}
