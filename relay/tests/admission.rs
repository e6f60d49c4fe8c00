//! Admission over real loopback sockets: ticket refusals with distinct codes, the waiting
//! room (timeout, caps, duplicate side), max sessions, garbage before bind, the tenant rate
//! limit, the metrics/drain endpoint and the Redis record sink.

// Test binaries: helpers outside #[test] fns may unwrap and panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use bytes::Bytes;
use switchboard_codec::{ErrorCode, RelayId, Side, TicketSigner};
use switchboard_relay::record::{RecordSink, SessionRecord};
use switchboard_relay::{EngineKind, RedisSink};
use switchboard_tests::RedisServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use support::*;

/// Reads what the relay answers on a raw connection until it closes.
async fn read_until_close(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    got
}

/// The error code of the first frame in `bytes` (a RelayClose).
fn close_code(bytes: &[u8]) -> ErrorCode {
    let mut buf = bytes::BytesMut::from(bytes);
    let mut dec = switchboard_codec::FrameDecoder::new(64 * 1024).unwrap();
    let frame = dec.decode(&mut buf).unwrap().expect("a whole frame");
    match switchboard_codec::ControlMessage::from_frame(&frame).unwrap() {
        switchboard_codec::ControlMessage::RelayClose { code, .. } => code,
        other => panic!("expected RelayClose, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tickets_get_distinct_codes_and_no_pairing() {
    // 000/001, 002/004 (digest 52): the relay "pairs a guest with a host only after the broker
    // authorizes the session" -- here, only with a valid broker-signed ticket.
    let relay = TestRelay::start(config(EngineKind::Copy)).await;
    let addr = relay.addr();
    let s = Session::new();
    let good = s.ticket(Side::Host);

    // Forged: right key id, wrong key.
    let forged = TicketSigner::new(KEY_ID, [8; 32]).sign(&good);
    expect_refused(addr, Side::Host, forged, ErrorCode::TicketForged).await;
    // Unknown key id.
    let unknown = TicketSigner::new(99, [8; 32]).sign(&good);
    expect_refused(addr, Side::Host, unknown, ErrorCode::TicketUnknownKey).await;
    // Expired.
    let mut t = s.ticket(Side::Host);
    t.expires_at_unix_ms = now_ms() - 1;
    expect_refused(
        addr,
        Side::Host,
        signer().sign(&t),
        ErrorCode::TicketExpired,
    )
    .await;
    // For another relay.
    let mut t = s.ticket(Side::Host);
    t.relay_id = RelayId(RELAY_ID + 1);
    expect_refused(
        addr,
        Side::Host,
        signer().sign(&t),
        ErrorCode::TicketWrongRelay,
    )
    .await;
    // Declared side differs from the ticket's.
    expect_refused(
        addr,
        Side::Guest,
        s.signed(Side::Host),
        ErrorCode::TicketWrongSide,
    )
    .await;
    // Not a ticket at all.
    expect_refused(
        addr,
        Side::Host,
        Bytes::from_static(b"nonsense"),
        ErrorCode::TicketMalformed,
    )
    .await;
    assert_eq!(relay.handle.waiting(), 0, "no refused bind may park");
    assert_eq!(relay.handle.active_sessions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_ticket_is_refused_and_waiting_side_undisturbed() {
    let relay = TestRelay::start(config(EngineKind::Copy)).await;
    let addr = relay.addr();
    let s = Session::new();
    let host_ticket = s.signed(Side::Host);
    let host = tokio::spawn(bind(addr, Side::Host, host_ticket.clone()));
    eventually(Duration::from_secs(5), || relay.handle.waiting() == 1).await;
    // Replay of the parked ticket.
    expect_refused(
        addr,
        Side::Host,
        host_ticket.clone(),
        ErrorCode::TicketReused,
    )
    .await;
    // Same side of the same session with a fresh ticket: the waiting one stays.
    expect_refused(
        addr,
        Side::Host,
        s.signed(Side::Host),
        ErrorCode::TicketWrongSide,
    )
    .await;
    assert_eq!(relay.handle.waiting(), 1);
    let mut g = bind(addr, Side::Guest, s.signed(Side::Guest))
        .await
        .unwrap()
        .stream;
    let mut h = host.await.unwrap().unwrap().stream;
    h.write_all(b"ok").await.unwrap();
    let mut b = [0u8; 2];
    g.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ok");
    // A third bind for a paired session, and a replay after pairing, are refused.
    expect_refused(
        addr,
        Side::Guest,
        s.signed(Side::Guest),
        ErrorCode::TicketReused,
    )
    .await;
    expect_refused(addr, Side::Host, host_ticket, ErrorCode::TicketReused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_room_timeout() {
    let mut cfg = config(EngineKind::Copy);
    cfg.limits.waiting_room_timeout = Duration::from_millis(300);
    let relay = TestRelay::start(cfg).await;
    let started = Instant::now();
    expect_refused(
        relay.addr(),
        Side::Host,
        Session::new().signed(Side::Host),
        ErrorCode::WaitingRoomTimeout,
    )
    .await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "refused too early: {waited:?}"
    );
    assert_eq!(relay.handle.waiting(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_room_caps_per_ip_and_total() {
    let mut cfg = config(EngineKind::Copy);
    cfg.limits.waiting_per_ip = 2;
    cfg.limits.waiting_total = 3;
    let relay = TestRelay::start(cfg).await;
    let addr = relay.addr();
    let park = |ip: &'static str| {
        let t = Session::new().signed(Side::Host);
        tokio::spawn(async move { handshake(connect(addr, Some(ip)).await, Side::Host, t).await })
    };
    let _a = park("127.0.0.1");
    let _b = park("127.0.0.1");
    eventually(Duration::from_secs(5), || relay.handle.waiting() == 2).await;
    // Third from the same address: over the per-IP cap.
    let r = handshake(
        connect(addr, Some("127.0.0.1")).await,
        Side::Host,
        Session::new().signed(Side::Host),
    )
    .await;
    assert_eq!(r.err().map(|e| e.0), Some(ErrorCode::WaitingRoomFull));
    // Another address fits once, then the total cap is reached.
    let _c = park("127.0.0.2");
    eventually(Duration::from_secs(5), || relay.handle.waiting() == 3).await;
    let r = handshake(
        connect(addr, Some("127.0.0.3")).await,
        Side::Host,
        Session::new().signed(Side::Host),
    )
    .await;
    assert_eq!(r.err().map(|e| e.0), Some(ErrorCode::WaitingRoomFull));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_gives_relay_full() {
    let mut cfg = config(EngineKind::Copy);
    cfg.limits.max_sessions = 1;
    let relay = TestRelay::start(cfg).await;
    let (_h, _g) = pair(relay.addr(), &Session::new()).await;
    expect_refused(
        relay.addr(),
        Side::Host,
        Session::new().signed(Side::Host),
        ErrorCode::RelayFull,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_before_bind_is_closed_without_harming_others() {
    let relay = TestRelay::start(config(EngineKind::Splice)).await;
    let addr = relay.addr();
    let (mut h, mut g) = pair(addr, &Session::new()).await;

    // A well-formed header of an unknown frame kind: protocol_violation.
    let mut bad = connect(addr, None).await;
    bad.write_all(&[1, 0x7f, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4])
        .await
        .unwrap();
    assert_eq!(
        close_code(&read_until_close(&mut bad).await),
        ErrorCode::ProtocolViolation
    );
    // A control frame that is not a bind (a client may not send Ready): protocol_violation.
    let mut bad = connect(addr, None).await;
    let ready = switchboard_codec::ControlMessage::RelayReady
        .to_frame()
        .unwrap();
    let mut out = bytes::BytesMut::new();
    ready.encode(&mut out);
    bad.write_all(&out).await.unwrap();
    assert_eq!(
        close_code(&read_until_close(&mut bad).await),
        ErrorCode::ProtocolViolation
    );
    // Plain text (an HTTP request): the version byte is wrong.
    let mut bad = connect(addr, None).await;
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        close_code(&read_until_close(&mut bad).await),
        ErrorCode::UnsupportedVersion
    );
    // Silence: bind_timeout (a 300 ms bind timeout on its own relay).
    let mut cfg = config(EngineKind::Copy);
    cfg.limits.bind_timeout = Duration::from_millis(300);
    let quick = TestRelay::start(cfg).await;
    let mut idle = connect(quick.addr(), None).await;
    assert_eq!(
        close_code(&read_until_close(&mut idle).await),
        ErrorCode::BindTimeout
    );

    // The running session did not notice.
    h.write_all(b"fine").await.unwrap();
    let mut b = [0u8; 4];
    g.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_rate_limit_is_shared_by_sessions() {
    const RATE: u64 = 4_000_000;
    let mut cfg = config(EngineKind::Copy);
    cfg.limits.tenant_byte_rate = RATE;
    let relay = TestRelay::start(cfg).await;
    let mut readers = Vec::new();
    let mut floods = Vec::new();
    for _ in 0..2 {
        let (h, g) = pair(relay.addr(), &Session::new().with_tenant(5)).await;
        let (_hr, mut hw) = h.into_split();
        floods.push(tokio::spawn(async move {
            let chunk = vec![1u8; 64 * 1024];
            while hw.write_all(&chunk).await.is_ok() {}
            drop(_hr);
        }));
        readers.push(g);
    }
    let window = Duration::from_secs(3);
    let mut tasks = Vec::new();
    for mut g in readers {
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            let end = Instant::now() + window;
            let mut total = 0u64;
            while let Ok(Ok(n)) = tokio::time::timeout_at(end, g.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            total
        }));
    }
    let mut total = 0u64;
    for t in tasks {
        total += t.await.unwrap();
    }
    for f in floods {
        f.abort();
    }
    let rate = total as f64 / window.as_secs_f64();
    eprintln!("tenant limit {RATE} B/s over two sessions, measured {rate:.0} B/s");
    // Both sessions together stay under the tenant's rate (burst included), and get most of it.
    assert!(
        rate <= RATE as f64 * 1.10,
        "over the tenant limit: {rate:.0}"
    );
    assert!(
        rate >= RATE as f64 * 0.5,
        "far under the tenant limit: {rate:.0}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_and_http_drain() {
    let mut cfg = config(EngineKind::Copy);
    cfg.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let relay = TestRelay::start(cfg).await;
    let (_h, _g) = pair(relay.addr(), &Session::new()).await;
    let maddr = relay.handle.metrics_addr().unwrap();
    let get = http(maddr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    for name in [
        "switchboard_relay_binds_total",
        "switchboard_relay_sessions_active",
        "switchboard_relay_build_info",
        "switchboard_relay_setup_seconds",
        "switchboard_relay_waiting_room_size",
        "switchboard_relay_splice_fallback_total",
    ] {
        assert!(get.contains(name), "missing {name} in:\n{get}");
    }
    assert!(get.contains("outcome=\"paired\""), "{get}");
    let post = http(
        maddr,
        "POST /drain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(post.starts_with("HTTP/1.1 202"), "{post}");
    assert!(relay.handle.is_draining());
    let nf = http(maddr, "GET /nope HTTP/1.1\r\n\r\n").await;
    assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
}

async fn http(addr: std::net::SocketAddr, req: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_record_sink_writes_stream() {
    // 002/004: "The relay or broker should log sessions itself rather than rely on endpoints."
    let redis_srv = RedisServer::start().expect("private redis-server");
    let sink = RedisSink::start(&redis_srv.url(), "test:relay:sessions", 1000, 16).unwrap();
    let rec = SessionRecord {
        session_id: "ab".repeat(16),
        tenant_id: "cd".repeat(16),
        relay_id: 42,
        bytes_host_to_guest: 1234,
        bytes_guest_to_host: 5678,
        duration_ms: 99,
        close_reason: "idle_timeout".into(),
        engine: "splice".into(),
        splice_fallback: false,
        started_at_unix_ms: 1,
        ended_at_unix_ms: 100,
    };
    sink.submit(rec.clone());
    let client = redis::Client::open(redis_srv.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg("test:relay:sessions")
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        if let Some((_, fields)) = entries.first() {
            let want: Vec<(String, String)> = rec
                .fields()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            assert_eq!(fields, &want);
            assert_eq!(entries.len(), 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "record not in the stream within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_broker_keys_are_trusted_at_once() {
    let second = TicketSigner::new(2, [9; 32]);
    let mut cfg = config(EngineKind::Copy);
    cfg.broker_keys.push(switchboard_relay::config::BrokerKey {
        id: 2,
        public_key: second.public_key(),
    });
    let relay = TestRelay::start(cfg).await;
    let s = Session::new();
    let mut host_t = s.ticket(Side::Host);
    host_t.key_id = 2;
    let (h, g) = tokio::join!(
        bind(relay.addr(), Side::Host, second.sign(&host_t)),
        bind(relay.addr(), Side::Guest, s.signed(Side::Guest)),
    );
    assert!(
        h.is_ok() && g.is_ok(),
        "old and new key both verify during a rotation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splice_without_pipes_falls_back_to_copy() {
    // A pool that may hold no pipe stands in for a spent kernel pipe budget.
    let mut cfg = config(EngineKind::Splice);
    cfg.splice.max_pipes = 0;
    let mut relay = TestRelay::start(cfg).await;
    let (h, g) = pair(relay.addr(), &Session::new()).await;
    let (mut hr, mut hw) = h.into_split();
    let (mut gr, mut gw) = g.into_split();
    let total = 4u64 << 20;
    let (p1, p2) = (Pattern::new(1), Pattern::new(2));
    let (a, b, c, d) = tokio::join!(
        p1.write_then_close(&mut hw, total),
        p2.write_then_close(&mut gw, total),
        p1.check(&mut gr),
        p2.check(&mut hr),
    );
    a.unwrap();
    b.unwrap();
    assert_eq!(c.unwrap(), total);
    assert_eq!(d.unwrap(), total);
    let rec = relay.next_record().await;
    assert!(rec.splice_fallback, "the record says the session fell back");
    assert_eq!(rec.bytes_host_to_guest, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_side_that_hangs_up_leaves_the_room() {
    let relay = TestRelay::start(config(EngineKind::Copy)).await;
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
    eventually(Duration::from_secs(5), || relay.handle.waiting() == 1).await;
    drop(raw);
    eventually(Duration::from_secs(5), || relay.handle.waiting() == 0).await;
    // The guest that comes later waits for a new host instead of pairing with a dead socket.
    let guest = bind(relay.addr(), Side::Guest, s.signed(Side::Guest));
    tokio::pin!(guest);
    let r = tokio::time::timeout(Duration::from_millis(300), &mut guest).await;
    assert!(r.is_err(), "guest must not pair with the host that left");
    assert_eq!(relay.handle.waiting(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_cap_gives_relay_full() {
    let mut cfg = config(EngineKind::Copy);
    cfg.limits.max_handshakes = 1;
    let relay = TestRelay::start(cfg).await;
    // One silent connection holds the only handshake slot...
    let _silent = connect(relay.addr(), None).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // ...so the next one is told relay_full at once.
    let mut next = connect(relay.addr(), None).await;
    assert_eq!(
        close_code(&read_until_close(&mut next).await),
        ErrorCode::RelayFull
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_pair_and_forward_at_once() {
    const SESSIONS: usize = 200;
    let mut relay = TestRelay::start(config(EngineKind::Splice)).await;
    let addr = relay.addr();
    let mut tasks = Vec::new();
    for i in 0..SESSIONS {
        tasks.push(tokio::spawn(async move {
            let s = Session::new().with_tenant((i % 7) as u8);
            let (h, g) = pair(addr, &s).await;
            let (mut hr, mut hw) = h.into_split();
            let (mut gr, mut gw) = g.into_split();
            let total = 64 * 1024 + i as u64;
            let (p1, p2) = (Pattern::new(3), Pattern::new(4));
            let (a, b, c, d) = tokio::join!(
                p1.write_then_close(&mut hw, total),
                p2.write_then_close(&mut gw, total),
                p1.check(&mut gr),
                p2.check(&mut hr),
            );
            a.unwrap();
            b.unwrap();
            assert_eq!(c.unwrap(), total);
            assert_eq!(d.unwrap(), total);
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("session done within 60 s")
            .unwrap();
    }
    let mut ended = 0;
    while ended < SESSIONS {
        let r = relay.next_record().await;
        assert_eq!(r.close_reason, "peer_closed");
        ended += 1;
    }
    eventually(Duration::from_secs(5), || {
        relay.handle.active_sessions() == 0
    })
    .await;
}
