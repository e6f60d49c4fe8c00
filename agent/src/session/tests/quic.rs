//! Sessions that reach the relay over QUIC: a QUIC guest with a TCP host and both sides over
//! QUIC carry tunnel bytes intact; many sessions share the one UDP socket of a dialer and
//! close their connections when they end; a bad ticket over QUIC is the relay's refusal.

use std::sync::Arc;

use switchboard_relay::{NullSink, RelayHandle};

use super::flow::round_trip;
use super::*;
use crate::session::{QuicDialer, RELAY_ALPN, RelayTransport, SessionEnd, establish_via};

/// A relay with a TCP and a QUIC listener (self-signed certificate, as `serve` makes).
async fn start_quic_relay() -> RelayHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = relay_config();
    cfg.quic_listen = vec!["127.0.0.1:0".parse().unwrap()];
    RelayHandle::start(cfg, Arc::new(NullSink)).await.unwrap()
}

fn quic_to(relay: &RelayHandle, dialer: &QuicDialer) -> RelayTransport {
    // Port 0 gives the UDP listener a port of its own, so name it (in `serve` it can be the
    // TCP port, and `addr: None` dials the assignment's host:port).
    RelayTransport::Quic {
        dialer: dialer.clone(),
        addr: Some(relay.quic_addrs()[0]),
    }
}

async fn pair_via(p: Plans, host: &RelayTransport, guest: &RelayTransport) -> (Session, Session) {
    let (h, g) = tokio::time::timeout(WAIT, async {
        tokio::join!(establish_via(p.host, host), establish_via(p.guest, guest))
    })
    .await
    .expect("both establish calls return");
    (h.unwrap(), g.unwrap())
}

/// Each transport's mux keep-alive stays under the relay's default idle timeout (which
/// counts session bytes only), and the peer timeout allows two missed pings; over QUIC the
/// ping is sparser (QUIC keeps the path alive itself).
#[tokio::test]
async fn mux_keepalives_beat_the_relay_idle_timeout() {
    let idle = relay_config().idle_timeout().expect("the default has one");
    let dialer = QuicDialer::new(Some("127.0.0.1:0".parse().unwrap())).unwrap();
    let tcp = crate::session::driver::mux_config(Side::Guest, &RelayTransport::Tcp);
    let quic = crate::session::driver::mux_config(Side::Guest, &RelayTransport::quic(dialer));
    for cfg in [&tcp, &quic] {
        let (ping, peer) = (cfg.keepalive_interval.unwrap(), cfg.peer_timeout.unwrap());
        assert!(ping < idle, "{ping:?} under {idle:?}");
        assert!(
            peer >= 3 * ping,
            "{peer:?} allows two missed {ping:?} pings"
        );
        cfg.validate().unwrap();
    }
    assert!(quic.keepalive_interval > tcp.keepalive_interval);
}

#[test]
fn the_alpn_is_the_relays() {
    assert_eq!(RELAY_ALPN, switchboard_relay::quic::QUIC_ALPN);
}

#[tokio::test]
async fn quic_guest_with_tcp_host_and_both_over_quic_carry_bytes_intact() {
    let relay = start_quic_relay().await;
    let echo = echo_server().await;
    let dialer = QuicDialer::new(None).unwrap();
    let quic = quic_to(&relay, &dialer);
    for (host_t, guest_t) in [
        (RelayTransport::Tcp, quic.clone()),
        (quic.clone(), quic.clone()),
    ] {
        let (host, guest) = pair_via(plans(relay.tcp_addrs()[0]), &host_t, &guest_t).await;
        let serving = host.clone();
        tokio::spawn(async move { serving.serve_host(tunnel_policy(&[echo])).await });
        let data = pattern(7, 2 * 1024 * 1024 + 5);
        let stream = tokio::time::timeout(WAIT, guest.open_tunnel(&echo.to_string()))
            .await
            .unwrap()
            .unwrap();
        let back = tokio::time::timeout(WAIT, round_trip(stream, &data))
            .await
            .unwrap();
        assert!(
            back == data,
            "host {} guest {}",
            host_t.name(),
            guest_t.name()
        );
        guest.close();
        let end = tokio::time::timeout(WAIT, host.closed()).await.unwrap();
        assert_eq!(end, SessionEnd::PeerClosed, "host {}", host_t.name());
    }
}

#[tokio::test]
async fn many_sessions_share_one_udp_socket_and_close_their_connections() {
    const SESSIONS: usize = 40;
    let relay = start_quic_relay().await;
    let dialer = QuicDialer::new(Some("127.0.0.1:0".parse().unwrap())).unwrap();
    let local = dialer.local_addr().unwrap();
    let quic = quic_to(&relay, &dialer);
    let mut pairs = Vec::new();
    let mut setups = tokio::task::JoinSet::new();
    for _ in 0..SESSIONS {
        let (p, q) = (plans(relay.tcp_addrs()[0]), quic.clone());
        setups.spawn(async move { pair_via(p, &q, &q).await });
    }
    while let Some(pair) = setups.join_next().await {
        pairs.push(pair.unwrap());
    }
    assert_eq!(dialer.open_connections(), 2 * SESSIONS);
    assert_eq!(dialer.local_addr(), Some(local), "one socket for all");
    assert_eq!(relay.active_sessions(), SESSIONS);

    for (host, guest) in &pairs {
        guest.close();
        let end = tokio::time::timeout(WAIT, host.closed()).await.unwrap();
        assert_eq!(end, SessionEnd::PeerClosed);
    }
    drop(pairs);
    // Every connection is closed by its session (not left to the idle timeout).
    tokio::time::timeout(WAIT, async {
        while dialer.open_connections() > 0 || relay.active_sessions() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} connections, {} relay sessions left",
            dialer.open_connections(),
            relay.active_sessions()
        )
    });
}

#[tokio::test]
async fn a_bad_ticket_over_quic_is_the_relays_refusal() {
    let relay = start_quic_relay().await;
    let dialer = QuicDialer::new(None).unwrap();
    let mut p = plans(relay.tcp_addrs()[0]);
    p.guest.ticket = bytes::Bytes::from_static(b"not a ticket");
    let err = tokio::time::timeout(WAIT, establish_via(p.guest, &quic_to(&relay, &dialer)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, AgentError::RelayRefused { .. }), "{err:?}");
}

#[tokio::test]
async fn no_quic_listener_is_a_bounded_connect_error() {
    let relay = start_relay().await; // TCP only
    let dialer = QuicDialer::new(None).unwrap();
    let p = plans(relay.tcp_addrs()[0]);
    let started = tokio::time::Instant::now();
    let err = establish_via(p.guest, &RelayTransport::quic(dialer))
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::RelayConnect { .. }), "{err:?}");
    assert!(started.elapsed() < WAIT);
}
