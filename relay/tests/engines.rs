//! The forwarding suite, run against every engine over real loopback sockets: pairing,
//! half-close, a large pattern transfer both ways at once, a stalled reader, idle timeout,
//! per-session rate limit, drain of a running session.

// Test binaries: helpers outside #[test] fns may unwrap and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use switchboard_codec::{ErrorCode, Side};
use switchboard_relay::EngineKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use support::*;

/// Bytes each way in the large transfer. The issue asks for 1 GiB each way
/// (`SWITCHBOARD_BIG_MIB=1024`); the default keeps the debug-profile suite short.
fn big_bytes() -> u64 {
    let mib: u64 = std::env::var("SWITCHBOARD_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    mib << 20
}

async fn pairing(kind: EngineKind) {
    let mut relay = TestRelay::start(config(kind)).await;
    let s = Session::new();
    let (mut h, mut g) = pair(relay.addr(), &s).await;
    h.write_all(b"hello guest").await.unwrap();
    let mut buf = [0u8; 11];
    g.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello guest");
    g.write_all(b"hi host").await.unwrap();
    let mut buf = [0u8; 7];
    h.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi host");
    drop(h);
    drop(g);
    let rec = relay.next_record().await;
    assert_eq!(rec.session_id, s.id.to_string());
    assert_eq!(rec.bytes_host_to_guest, 11);
    assert_eq!(rec.bytes_guest_to_host, 7);
    assert_eq!(rec.relay_id, RELAY_ID);
    assert_eq!(rec.engine, kind_used(kind));
    eventually(Duration::from_secs(5), || {
        relay.handle.active_sessions() == 0
    })
    .await;
}

fn kind_used(kind: EngineKind) -> &'static str {
    switchboard_relay::engine::effective_engine(kind).name()
}

async fn early_bytes_are_forwarded(kind: EngineKind) {
    // Bytes a side sends right behind its bind (before Ready) reach the peer first.
    let relay = TestRelay::start(config(kind)).await;
    let s = Session::new();
    let mut raw = connect(relay.addr(), None).await;
    let mut conn = switchboard_codec::RelayConnector::new(
        Side::Host,
        s.signed(Side::Host),
        Default::default(),
        tokio::time::Instant::now().into_std(),
    );
    while let Some(b) = conn.poll_transmit() {
        raw.write_all(&b).await.unwrap();
    }
    raw.write_all(b"early").await.unwrap();
    let g = bind(relay.addr(), Side::Guest, s.signed(Side::Guest))
        .await
        .unwrap();
    // The bytes may arrive with the Ready frame (connector leftover) or after it.
    let mut got = g.leftover.to_vec();
    let mut stream = g.stream;
    while got.len() < 5 {
        let mut buf = [0u8; 5];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("early bytes within 10 s")
            .unwrap();
        assert!(n > 0, "EOF before the early bytes");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"early");
}

async fn half_close(kind: EngineKind) {
    let relay = TestRelay::start(config(kind)).await;
    let (mut h, mut g) = pair(relay.addr(), &Session::new()).await;
    // Host sends a request and half-closes; the guest sees EOF after it...
    h.write_all(b"request").await.unwrap();
    h.shutdown().await.unwrap();
    let mut got = Vec::new();
    g.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"request");
    // ...and the reverse direction still works until the guest's own EOF.
    for _ in 0..3 {
        g.write_all(b"response").await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    g.shutdown().await.unwrap();
    let mut back = Vec::new();
    h.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"responseresponseresponse");
}

async fn large_transfer_both_ways(kind: EngineKind) {
    let mut relay = TestRelay::start(config(kind)).await;
    let (h, g) = pair(relay.addr(), &Session::new()).await;
    let total = big_bytes();
    let (mut hr, mut hw) = h.into_split();
    let (mut gr, mut gw) = g.into_split();
    let started = Instant::now();
    let up = tokio::spawn(async move { Pattern::new(1).write_then_close(&mut hw, total).await });
    let down = tokio::spawn(async move { Pattern::new(2).write_then_close(&mut gw, total).await });
    let at_guest = tokio::spawn(async move { Pattern::new(1).check(&mut gr).await });
    let at_host = tokio::spawn(async move { Pattern::new(2).check(&mut hr).await });
    up.await.unwrap().unwrap();
    down.await.unwrap().unwrap();
    assert_eq!(at_guest.await.unwrap().unwrap(), total);
    assert_eq!(at_host.await.unwrap().unwrap(), total);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "[{kind}] {} MiB each way in {secs:.2} s ({:.0} MiB/s per direction)",
        total >> 20,
        (total >> 20) as f64 / secs
    );
    let rec = relay.next_record().await;
    assert_eq!(rec.bytes_host_to_guest, total);
    assert_eq!(rec.bytes_guest_to_host, total);
    assert_eq!(rec.close_reason, "peer_closed");
}

async fn stalled_reader_does_not_block_other_direction(kind: EngineKind) {
    let relay = TestRelay::start(config(kind)).await;
    let (h, g) = pair(relay.addr(), &Session::new()).await;
    let (mut hr, mut hw) = h.into_split();
    let (_gr_never_read, mut gw) = g.into_split();
    // The host floods a guest that never reads: this direction stalls.
    let flood = tokio::spawn(async move {
        let chunk = vec![0x5a; 64 * 1024];
        loop {
            if hw.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The other direction still moves 32 MiB.
    let total = 32u64 << 20;
    let send = tokio::spawn(async move {
        let p = Pattern::new(9);
        let mut off = 0u64;
        while off < total {
            gw.write_all(p.at(off, 65536)).await.unwrap();
            off += 65536;
        }
    });
    let p = Pattern::new(9);
    let mut buf = vec![0u8; 65536];
    let mut off = 0u64;
    let res = tokio::time::timeout(Duration::from_secs(60), async {
        while off < total {
            let n = hr.read(&mut buf).await.unwrap();
            assert!(n > 0, "host saw EOF early");
            assert_eq!(&buf[..n], p.at(off, n));
            off += n as u64;
        }
    })
    .await;
    assert!(
        res.is_ok(),
        "guest→host stalled at {off} bytes behind a stalled reader"
    );
    send.await.unwrap();
    flood.abort();
}

async fn idle_timeout_closes(kind: EngineKind) {
    let mut cfg = config(kind);
    cfg.limits.idle_timeout = Duration::from_millis(400);
    let mut relay = TestRelay::start(cfg).await;
    let (mut h, mut g) = pair(relay.addr(), &Session::new()).await;
    // Traffic keeps it alive past the timeout...
    let mut last_byte = Instant::now();
    for i in 0..4 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        h.write_all(b"k").await.unwrap();
        let mut b = [0u8; 1];
        g.read_exact(&mut b).await.unwrap();
        last_byte = Instant::now();
    }
    // ...silence closes it.
    let started = last_byte;
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), g.read(&mut b))
        .await
        .expect("closed within 5 s")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let rec = relay.next_record().await;
    assert_eq!(rec.close_reason, "idle_timeout");
    assert_eq!(rec.bytes_host_to_guest, 4);
}

async fn session_rate_limit_holds(kind: EngineKind) {
    const RATE: u64 = 4_000_000;
    let relay = TestRelay::start(config(kind)).await;
    let s = Session::new().with_rate(RATE);
    let (h, mut g) = pair(relay.addr(), &s).await;
    let (_hr, mut hw) = h.into_split();
    let flood = tokio::spawn(async move {
        let chunk = vec![1u8; 64 * 1024];
        while hw.write_all(&chunk).await.is_ok() {}
    });
    let measured = measure_rate(&mut g, Duration::from_secs(3)).await;
    flood.abort();
    eprintln!("[{kind}] session limit {RATE} B/s, measured {measured:.0} B/s");
    // The limit must hold (within 10 %); the lower bound is loose because load slows us.
    assert!(
        measured <= RATE as f64 * 1.10,
        "over the limit: {measured:.0} B/s"
    );
    assert!(
        measured >= RATE as f64 * 0.5,
        "far under the limit: {measured:.0} B/s"
    );
}

/// Bytes per second read over `window`, timed from the first byte.
async fn measure_rate(r: &mut tokio::net::TcpStream, window: Duration) -> f64 {
    let mut buf = vec![0u8; 64 * 1024];
    let n = r.read(&mut buf).await.unwrap();
    let start = Instant::now();
    let mut total = n as u64;
    let end = start + window;
    loop {
        match tokio::time::timeout_at(end, r.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => total += n as u64,
            Ok(_) => break,
            Err(_) => break,
        }
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn drain_cuts_at_deadline(kind: EngineKind) {
    let mut cfg = config(kind);
    cfg.drain_deadline = Duration::from_millis(800);
    let mut relay = TestRelay::start(cfg).await;
    let (mut h, mut g) = pair(relay.addr(), &Session::new()).await;
    let parked = Session::new();
    let addr = relay.addr();
    let parked_bind = tokio::spawn(async move {
        bind(addr, Side::Host, parked.signed(Side::Host))
            .await
            .err()
    });
    eventually(Duration::from_secs(5), || relay.handle.waiting() == 1).await;
    relay.handle.drain();
    // The parked side and new binds are told `draining`.
    assert_eq!(
        parked_bind.await.unwrap().map(|e| e.0),
        Some(ErrorCode::Draining)
    );
    let fresh = Session::new();
    expect_refused(
        addr,
        Side::Host,
        fresh.signed(Side::Host),
        ErrorCode::Draining,
    )
    .await;
    // The running session still forwards until the deadline.
    h.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    g.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), g.read(&mut b))
        .await
        .expect("cut within 5 s")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let rec = relay.next_record().await;
    assert_eq!(rec.close_reason, "draining");
    tokio::time::timeout(Duration::from_secs(5), relay.handle.wait_idle())
        .await
        .expect("idle after drain");
}

async fn reset_side_ends_session_for_both(kind: EngineKind) {
    let mut relay = TestRelay::start(config(kind)).await;
    let (h, mut g) = pair(relay.addr(), &Session::new()).await;
    // An abortive close (RST) from the host.
    socket2::SockRef::from(&h)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(h);
    let mut b = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(5), g.read(&mut b))
        .await
        .expect("guest told within 5 s");
    assert!(
        matches!(r, Ok(0) | Err(_)),
        "guest sees EOF or reset, got {r:?}"
    );
    let rec = relay.next_record().await;
    assert_eq!(rec.close_reason, "host_error");
}

macro_rules! engine_suite {
    ($name:ident, $kind:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn pairing() {
                super::pairing($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn early_bytes_are_forwarded() {
                super::early_bytes_are_forwarded($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn half_close() {
                super::half_close($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn large_transfer_both_ways() {
                super::large_transfer_both_ways($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stalled_reader_does_not_block_other_direction() {
                super::stalled_reader_does_not_block_other_direction($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn idle_timeout_closes() {
                super::idle_timeout_closes($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn session_rate_limit_holds() {
                super::session_rate_limit_holds($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reset_side_ends_session_for_both() {
                super::reset_side_ends_session_for_both($kind).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn drain_cuts_at_deadline() {
                super::drain_cuts_at_deadline($kind).await
            }
        }
    };
}

engine_suite!(splice, EngineKind::Splice);
engine_suite!(copy, EngineKind::Copy);
engine_suite!(uring, EngineKind::Uring);
