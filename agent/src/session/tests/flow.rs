//! Tunnels through a real relay: bytes intact, half-close, 32 parallel streams with stalled
//! neighbours, listener forwarding, closing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::session::{RelayTransport, SessionEnd, TunnelStream};
use switchboard_relay::NullSink;

/// Writes `data`, shuts down, reads everything back (concurrently).
pub(super) async fn round_trip(stream: TunnelStream, data: &[u8]) -> Vec<u8> {
    let (mut r, mut w) = tokio::io::split(stream);
    let write = async {
        w.write_all(data).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let read = async {
        let mut back = Vec::new();
        r.read_to_end(&mut back).await.unwrap();
        back
    };
    let ((), back) = tokio::join!(write, read);
    back
}

#[tokio::test]
async fn tunnel_through_a_real_relay_delivers_bytes_intact() {
    let relay = start_relay().await;
    let echo = echo_server().await;
    let (host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[echo])).await;
    assert_eq!(host.id(), guest.id());

    let data = pattern(1, 3 * 1024 * 1024 + 17);
    let stream = tokio::time::timeout(WAIT, guest.open_tunnel(&echo.to_string()))
        .await
        .unwrap()
        .unwrap();
    let back = tokio::time::timeout(WAIT, round_trip(stream, &data))
        .await
        .unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echoed bytes differ");

    // A second tunnel on the same session works too.
    let stream = guest.open_tunnel(&echo.to_string()).await.unwrap();
    let back = tokio::time::timeout(WAIT, round_trip(stream, b"hello"))
        .await
        .unwrap();
    assert_eq!(back, b"hello");
}

#[tokio::test]
async fn forward_listener_carries_each_local_connection() {
    let relay = start_relay().await;
    let echo = echo_server().await;
    let (_host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[echo])).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let forwarding = guest.clone();
    let forward = tokio::spawn(async move {
        forwarding
            .forward_listener(listener, echo.to_string())
            .await
    });
    for i in 0..3u64 {
        let mut c = TcpStream::connect(local).await.unwrap();
        let data = pattern(10 + i, 200_000);
        c.write_all(&data).await.unwrap();
        c.shutdown().await.unwrap();
        let mut back = Vec::new();
        tokio::time::timeout(WAIT, c.read_to_end(&mut back))
            .await
            .unwrap()
            .unwrap();
        assert!(back == data, "connection {i}: echoed bytes differ");
    }
    guest.close();
    let ended = tokio::time::timeout(WAIT, forward).await.unwrap().unwrap();
    assert!(ended.is_ok());
}

#[tokio::test]
async fn half_close_keeps_the_reply_direction_open() {
    let relay = start_relay().await;
    // Replies only after the client's EOF.
    let server = server(|mut s: TcpStream| async move {
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        let reply = format!("received {} bytes", got.len());
        s.write_all(reply.as_bytes()).await.unwrap();
        s.shutdown().await.unwrap();
    })
    .await;
    let (_host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[server])).await;
    let mut stream = guest.open_tunnel(&server.to_string()).await.unwrap();
    stream.write_all(&vec![1u8; 100_000]).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut reply = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply, "received 100000 bytes");
    // Writing after our own shutdown is an error, not a silent loss.
    assert!(stream.write_all(b"late").await.is_err());
}

/// 32 streams x 16 MiB, each checked by a checksum server, while one stream's local reader
/// never reads (its host keeps sending) and one stream's target never reads (the guest keeps
/// writing): both stalls hold only their own channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_streams_finish_next_to_stalled_ones() {
    const STREAMS: u64 = 32;
    const PER_STREAM: usize = 16 * 1024 * 1024;
    let relay = start_relay().await;
    let checksum = checksum_server().await;
    let firehose = firehose_server(64 * 1024 * 1024).await;
    let black_hole = black_hole_server().await;
    let (_host, guest) = serving_pair(
        relay.tcp_addrs()[0],
        tunnel_policy(&[checksum, firehose, black_hole]),
    )
    .await;

    // Stall 1: a stream whose reader never reads while the host side pushes data at it.
    let stalled_reader = guest.open_tunnel(&firehose.to_string()).await.unwrap();
    // Stall 2: a stream whose target never reads; we write until it blocks.
    let mut stalled_writer = guest.open_tunnel(&black_hole.to_string()).await.unwrap();
    let blocked = tokio::time::timeout(Duration::from_secs(3), async {
        let chunk = vec![0u8; 64 * 1024];
        loop {
            stalled_writer.write_all(&chunk).await.unwrap();
        }
    })
    .await;
    assert!(blocked.is_err(), "the black hole's stream must block");

    // One 16 MiB buffer; stream i replaces its first 8-byte word with `i`, so every stream's
    // content (and checksum) differs. Fletcher over words: changing word 0 by `d` changes
    // `a` by d and `b` by d x (number of words).
    let base = Arc::new(pattern(100, PER_STREAM));
    let mut base_sum = Checksum::default();
    base_sum.update(&base);
    let mut tasks = Vec::new();
    for i in 0..STREAMS {
        let guest = guest.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let first = i.to_le_bytes();
            let d = i.wrapping_sub(u64::from_le_bytes(base[..8].try_into().unwrap()));
            let expect = base_sum.with_first_word_changed_by(d);
            let mut stream = guest.open_tunnel(&checksum.to_string()).await.unwrap();
            stream.write_all(&first).await.unwrap();
            stream.write_all(&base[8..]).await.unwrap();
            stream.shutdown().await.unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.unwrap();
            assert_eq!(answer.len(), 16, "stream {i}: checksum answer");
            let count = u64::from_be_bytes(answer[..8].try_into().unwrap());
            let sum = u64::from_be_bytes(answer[8..].try_into().unwrap());
            assert_eq!(count, PER_STREAM as u64, "stream {i}: byte count");
            assert_eq!(sum, expect, "stream {i}: checksum");
        }));
    }
    // A liveness bound (a debug build on a busy 2-core machine), not a performance assertion.
    let all = tokio::time::timeout(Duration::from_secs(120), futures_join_all(tasks)).await;
    assert!(
        all.is_ok(),
        "all 32 streams must finish while two others are stalled"
    );
    drop(stalled_reader);
}

async fn futures_join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn close_ends_both_sides_with_their_reasons() {
    let relay = start_relay().await;
    let echo = echo_server().await;
    let (host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[echo])).await;
    let mut stream = guest.open_tunnel(&echo.to_string()).await.unwrap();
    guest.close();
    assert_eq!(
        tokio::time::timeout(WAIT, guest.closed()).await.unwrap(),
        SessionEnd::Cancelled
    );
    assert_eq!(
        tokio::time::timeout(WAIT, host.closed()).await.unwrap(),
        SessionEnd::PeerClosed
    );
    let mut buf = [0u8; 8];
    let err = stream.read(&mut buf).await.unwrap_err();
    assert!(err.to_string().contains("session ended"), "{err}");
    let err = guest.open_tunnel(&echo.to_string()).await.unwrap_err();
    assert!(
        matches!(err, AgentError::SessionEnded(SessionEnd::Cancelled)),
        "{err}"
    );
}

#[tokio::test]
async fn relay_going_away_is_reported_as_relay_closed() {
    let relay = start_relay().await;
    let (host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[])).await;
    // The broker ends the session at the relay: both pipes are cut, no goodbye.
    assert!(relay.kill_session(guest.id(), switchboard_codec::ErrorCode::Cancelled));
    for end in [guest.closed(), host.closed()] {
        let end = tokio::time::timeout(WAIT, end).await.unwrap();
        assert!(matches!(end, SessionEnd::RelayClosed(_)), "{end:?}");
    }
}

/// The relay cuts a session after its idle timeout without traffic; the mux keep-alive pings
/// keep an idle session up. Control: the same session without pings is cut.
#[tokio::test]
async fn keepalive_pings_outlive_the_relay_idle_timeout() {
    let mut cfg = relay_config();
    cfg.limits.idle_timeout = Duration::from_millis(1_000);
    let relay = RelayHandle::start(cfg, Arc::new(NullSink)).await.unwrap();
    let echo = echo_server().await;
    let pair = |keepalive: Option<Duration>| {
        let p = plans(relay.tcp_addrs()[0]);
        async move {
            let mut host_cfg = crate::session::driver::mux_config(Side::Host, &RelayTransport::Tcp);
            let mut guest_cfg =
                crate::session::driver::mux_config(Side::Guest, &RelayTransport::Tcp);
            host_cfg.keepalive_interval = keepalive;
            guest_cfg.keepalive_interval = keepalive;
            let (host, guest) = tokio::join!(
                crate::session::establish_with(p.host, &RelayTransport::Tcp, host_cfg),
                crate::session::establish_with(p.guest, &RelayTransport::Tcp, guest_cfg)
            );
            (host.unwrap(), guest.unwrap())
        }
    };
    let (kept_host, kept_guest) = pair(Some(Duration::from_millis(200))).await;
    let (idle_host, idle_guest) = pair(None).await;
    let serving = kept_host.clone();
    tokio::spawn(async move { serving.serve_host(tunnel_policy(&[echo])).await });
    tokio::time::sleep(Duration::from_millis(3_000)).await;

    let end = tokio::time::timeout(WAIT, idle_guest.closed())
        .await
        .unwrap();
    assert!(matches!(end, SessionEnd::RelayClosed(_)), "{end:?}");
    drop(idle_host);
    let stream = kept_guest.open_tunnel(&echo.to_string()).await.unwrap();
    let back = tokio::time::timeout(WAIT, round_trip(stream, b"still here"))
        .await
        .unwrap();
    assert_eq!(back, b"still here");
}
