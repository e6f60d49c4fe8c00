//! The QUIC listener, black box: a QUIC endpoint binds over its one bidirectional stream and
//! is paired with a TCP endpoint of the same session; bytes move intact both ways (through
//! the user-space copy engine) and half-close passes through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use switchboard_codec::{ConnectorEvent, RelayConnector, RelayHandshakeConfig, Side};
use switchboard_relay::EngineKind;
use switchboard_relay::quic::{QUIC_ALPN, UDP_BUFFER, serve, server_config};
use tokio::io::AsyncWriteExt;

use support::*;

fn client_endpoint(cert: CertificateDer<'static>) -> quinn::Endpoint {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let mut crypto = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    crypto.alpn_protocols = vec![QUIC_ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(crypto).unwrap();
    let mut ep = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    ep
}

/// Dials the relay over QUIC, opens the stream and binds `side` with `s`'s ticket.
async fn quic_bind(
    ep: &quinn::Endpoint,
    addr: SocketAddr,
    s: &Session,
    side: Side,
) -> (quinn::Connection, quinn::SendStream, quinn::RecvStream) {
    let conn = ep.connect(addr, "localhost").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let cfg = RelayHandshakeConfig {
        max_frame: 64 * 1024,
        bind_timeout: Duration::from_secs(30),
    };
    let mut hs = RelayConnector::new(
        side,
        s.signed(side),
        cfg,
        tokio::time::Instant::now().into_std(),
    );
    while let Some(b) = hs.poll_transmit() {
        send.write_all(&b).await.unwrap();
    }
    let mut buf = vec![0u8; 4096];
    for _ in 0..1000 {
        if let Some(ev) = hs.poll_event() {
            match ev {
                ConnectorEvent::Ready { leftover } => {
                    assert!(leftover.is_empty());
                    return (conn, send, recv);
                }
                ConnectorEvent::Closed { code, message } => {
                    panic!("relay refused the QUIC bind: {code:?} {message}")
                }
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), recv.read(&mut buf))
            .await
            .expect("relay answers within 10 s")
            .unwrap()
            .expect("relay answered before closing the stream");
        let _ = hs.handle_bytes(&buf[..n]);
    }
    panic!("no Ready after 1000 reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_endpoint_pairs_with_tcp_endpoint_and_moves_data_both_ways() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut relay = TestRelay::start(config(EngineKind::Splice)).await;
    let material = server_config(&Default::default()).unwrap();
    let listener = serve(
        &relay.handle,
        "127.0.0.1:0".parse().unwrap(),
        material.server,
    )
    .unwrap();
    let ep = client_endpoint(material.certificate);
    let s = Session::new();
    let (quic, tcp) = tokio::join!(
        quic_bind(&ep, listener.local_addr(), &s, Side::Host),
        bind(relay.addr(), Side::Guest, s.signed(Side::Guest)),
    );
    let (conn, mut qsend, mut qrecv) = quic;
    let tcp = tcp.expect("TCP guest paired");
    assert!(tcp.leftover.is_empty());
    let (mut trd, mut twr) = tcp.stream.into_split();

    const EACH_WAY: u64 = 8 << 20;
    let up = Pattern::new(11);
    let down = Pattern::new(29);
    // QUIC → TCP and TCP → QUIC at the same time, each ended by a half-close.
    let q_writer = tokio::spawn(async move {
        up.write(&mut qsend, EACH_WAY).await.unwrap();
        qsend.finish().unwrap();
        qsend
    });
    let t_writer = tokio::spawn(async move {
        down.write(&mut twr, EACH_WAY).await.unwrap();
        twr.shutdown().await.unwrap();
        twr
    });
    let t_reader = tokio::spawn(async move { Pattern::new(11).check(&mut trd).await.unwrap() });
    let got_on_quic =
        tokio::time::timeout(Duration::from_secs(60), Pattern::new(29).check(&mut qrecv))
            .await
            .expect("TCP → QUIC within 60 s")
            .unwrap();
    let got_on_tcp = tokio::time::timeout(Duration::from_secs(60), t_reader)
        .await
        .expect("QUIC → TCP within 60 s")
        .unwrap();
    assert_eq!(got_on_quic, EACH_WAY, "TCP → QUIC bytes");
    assert_eq!(got_on_tcp, EACH_WAY, "QUIC → TCP bytes");
    let _qsend = q_writer.await.unwrap();
    let _twr = t_writer.await.unwrap();
    conn.close(0u32.into(), b"done");

    let rec = relay.next_record().await;
    assert_eq!(rec.session_id, s.id.to_string());
    assert_eq!(rec.engine, "copy", "QUIC pairings use the copy engine");
    assert_eq!(rec.bytes_host_to_guest, EACH_WAY);
    assert_eq!(rec.bytes_guest_to_host, EACH_WAY);
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_bind_with_a_forged_ticket_is_refused() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let relay = TestRelay::start(config(EngineKind::Splice)).await;
    let material = server_config(&Default::default()).unwrap();
    let listener = serve(
        &relay.handle,
        "127.0.0.1:0".parse().unwrap(),
        material.server,
    )
    .unwrap();
    let ep = client_endpoint(material.certificate);
    let conn = ep
        .connect(listener.local_addr(), "localhost")
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let s = Session::new();
    let mut ticket = s.signed(Side::Host).to_vec();
    let last = ticket.len() - 1;
    ticket[last] ^= 0x55;
    let cfg = RelayHandshakeConfig {
        max_frame: 64 * 1024,
        bind_timeout: Duration::from_secs(30),
    };
    let mut hs = RelayConnector::new(
        Side::Host,
        ticket.into(),
        cfg,
        tokio::time::Instant::now().into_std(),
    );
    while let Some(b) = hs.poll_transmit() {
        send.write_all(&b).await.unwrap();
    }
    let mut buf = vec![0u8; 4096];
    let mut refused = None;
    for _ in 0..100 {
        if let Some(ev) = hs.poll_event() {
            refused = Some(ev);
            break;
        }
        let read = tokio::time::timeout(Duration::from_secs(10), recv.read(&mut buf))
            .await
            .expect("relay answers within 10 s");
        match read {
            Ok(Some(n)) => {
                let _ = hs.handle_bytes(&buf[..n]);
            }
            _ => break,
        }
    }
    match refused {
        Some(ConnectorEvent::Closed { code, .. }) => {
            assert_eq!(code, switchboard_codec::ErrorCode::TicketForged)
        }
        other => panic!("expected a ticket_forged refusal, got {other:?}"),
    }
}

/// Many QUIC sessions over the listener's one UDP socket at once (the benchmark's 1,000
/// concurrent bulk sessions used to lose connections to socket-buffer drops): every session
/// delivers its bytes intact, QUIC → TCP, and each is recorded with its byte count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_quic_sessions_all_deliver() {
    const SESSIONS: usize = 100;
    const EACH: u64 = 256 << 10;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = config(EngineKind::Splice);
    // Every session parks its first side from 127.0.0.1.
    cfg.limits.waiting_per_ip = SESSIONS;
    cfg.limits.waiting_total = SESSIONS;
    let mut relay = TestRelay::start(cfg).await;
    let material = server_config(&Default::default()).unwrap();
    let listener = serve(
        &relay.handle,
        "127.0.0.1:0".parse().unwrap(),
        material.server,
    )
    .unwrap();
    // One client endpoint (one UDP socket) for every session, like the benchmark's driver.
    let ep = client_endpoint(material.certificate);
    let quic_addr = listener.local_addr();
    let tcp_addr = relay.addr();
    let mut tasks = Vec::new();
    for i in 0..SESSIONS {
        let ep = ep.clone();
        tasks.push(tokio::spawn(async move {
            let s = Session::new();
            let (quic, tcp) = tokio::join!(
                quic_bind(&ep, quic_addr, &s, Side::Guest),
                bind(tcp_addr, Side::Host, s.signed(Side::Host)),
            );
            let (conn, mut qsend, _qrecv) = quic;
            let mut tcp = tcp.expect("TCP host paired").stream;
            let seed = (i % 200) as u8;
            let writer = tokio::spawn(async move {
                Pattern::new(seed).write(&mut qsend, EACH).await.unwrap();
                qsend.finish().unwrap();
                qsend
            });
            let got = Pattern::new(seed).check(&mut tcp).await.unwrap();
            let _qsend = writer.await.unwrap();
            conn.close(0u32.into(), b"done");
            got
        }));
    }
    let all = async {
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    };
    let total = tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("all QUIC sessions done within 120 s");
    assert_eq!(total, SESSIONS as u64 * EACH, "every byte of every session");
    for _ in 0..SESSIONS {
        let rec = relay.next_record().await;
        assert_eq!(rec.bytes_guest_to_host, EACH);
        assert_eq!(rec.engine, "copy");
    }
    drop(listener);
}

/// The listener asks the kernel for large UDP buffers: at least what `net.core.rmem_max`
/// allows, up to [`UDP_BUFFER`] (the kernel's ~208 KiB default drops bursts of many sessions).
#[test]
fn listener_socket_gets_large_buffers() {
    let sock = switchboard_relay::quic::udp_socket("127.0.0.1:0".parse().unwrap()).unwrap();
    let sock = socket2::SockRef::from(&sock);
    let max = |name: &str| -> usize {
        std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let want_rcv = UDP_BUFFER.min(max("rmem_max"));
    let want_snd = UDP_BUFFER.min(max("wmem_max"));
    assert!(sock.recv_buffer_size().unwrap() >= want_rcv);
    assert!(sock.send_buffer_size().unwrap() >= want_snd);
}
