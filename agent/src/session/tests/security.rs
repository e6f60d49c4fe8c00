//! What the relay sees and what a wrong key gets: the handshake fails on both sides with no
//! data, and tunnel plaintext never appears in the bytes the relay forwards.

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

#[tokio::test]
async fn wrong_peer_static_key_fails_both_handshakes() {
    let relay = start_relay().await;
    let mut p = plans(relay.tcp_addrs()[0]);
    // The host was told another guest key than the one the guest holds.
    p.host.peer_static = generate_static_keypair().unwrap().public;
    let (host, guest) = establish_pair(p).await;
    let host = host.unwrap_err();
    let guest = guest.unwrap_err();
    assert!(matches!(host, AgentError::Handshake(_)), "host: {host}");
    assert!(matches!(guest, AgentError::Handshake(_)), "guest: {guest}");
    assert!(
        host.to_string()
            .contains("peer's key or session id does not match"),
        "{host}"
    );
    assert!(
        guest.to_string().contains("did not accept our key"),
        "{guest}"
    );

    // And the other way round: the guest expects another host key.
    let mut p = plans(relay.tcp_addrs()[0]);
    p.guest.peer_static = generate_static_keypair().unwrap().public;
    let (host, guest) = establish_pair(p).await;
    assert!(matches!(host, Err(AgentError::Handshake(_))));
    assert!(matches!(guest, Err(AgentError::Handshake(_))));
}

/// A TCP tap in front of the relay that records every byte both ways.
async fn tap(relay: SocketAddr, seen: Arc<Mutex<Vec<u8>>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = TcpStream::connect(relay).await.unwrap();
            let (cr, cw) = client.into_split();
            let (ur, uw) = upstream.into_split();
            tokio::spawn(copy_recording(cr, uw, seen.clone()));
            tokio::spawn(copy_recording(ur, cw, seen.clone()));
        }
    });
    addr
}

async fn copy_recording(
    mut r: tokio::net::tcp::OwnedReadHalf,
    mut w: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        seen.lock().extend_from_slice(&buf[..n]);
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = w.shutdown().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn plaintext_marker_never_crosses_the_relay() {
    const MARKER: &[u8] = b"SWITCHBOARD-PLAINTEXT-MARKER";
    let relay = start_relay().await;
    let echo = echo_server().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let tapped = tap(relay.tcp_addrs()[0], seen.clone()).await;
    let mut p = plans(relay.tcp_addrs()[0]);
    p.guest.relay_addr = tapped.to_string();
    let (host, guest) = establish_pair(p).await;
    let (host, guest) = (host.unwrap(), guest.unwrap());
    let serving = host.clone();
    tokio::spawn(async move { serving.serve_host(tunnel_policy(&[echo])).await });

    let data = MARKER.repeat(10_000);
    let mut stream = guest.open_tunnel(&echo.to_string()).await.unwrap();
    stream.write_all(&data).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut back))
        .await
        .unwrap()
        .unwrap();
    assert!(contains(&back, MARKER), "the tunnel delivered the marker");
    assert_eq!(back.len(), data.len());

    guest.close();
    let _ = tokio::time::timeout(WAIT, host.closed()).await.unwrap();
    let seen = seen.lock();
    assert!(
        seen.len() > 2 * data.len(),
        "the tap saw the traffic both ways ({} bytes)",
        seen.len()
    );
    assert!(
        !contains(&seen, MARKER),
        "the marker crossed the relay in plaintext"
    );
    assert!(
        !contains(&seen, echo.to_string().as_bytes()),
        "the tunnel target is sealed too"
    );
}
