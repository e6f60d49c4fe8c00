//! Host refusals as the guest sees them, and relay refusals at establish.

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::session::SessionPlan;
use switchboard_codec::ErrorCode;
use switchboard_codec::mux::CloseReason;

fn refused(err: AgentError) -> (String, CloseReason, String) {
    match err {
        AgentError::TunnelRefused {
            target,
            reason,
            message,
        } => (target, reason, message),
        other => panic!("expected TunnelRefused, got {other}"),
    }
}

#[tokio::test]
async fn no_tunnel_permission_is_not_permitted() {
    let relay = start_relay().await;
    let echo = echo_server().await;
    let mut policy = tunnel_policy(&[echo]);
    policy.granted.remove(Permission::Tunnel);
    let (_host, guest) = serving_pair(relay.tcp_addrs()[0], policy).await;
    let err = guest.open_tunnel(&echo.to_string()).await.unwrap_err();
    let sentence = err.to_string();
    let (target, reason, message) = refused(err);
    assert_eq!(reason, CloseReason::NotPermitted);
    assert_eq!(target, echo.to_string());
    assert!(message.contains("tunnel permission"), "{message}");
    assert!(
        sentence.starts_with(&format!(
            "the host refused the tunnel to {echo}: not_permitted: "
        )),
        "{sentence}"
    );
}

#[tokio::test]
async fn target_outside_the_allow_list_is_refused_by_name() {
    let relay = start_relay().await;
    let echo = echo_server().await;
    let other = echo_server().await;
    let (_host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[echo])).await;
    let (_, reason, message) = refused(guest.open_tunnel(&other.to_string()).await.unwrap_err());
    assert_eq!(reason, CloseReason::Refused);
    assert!(message.contains(&other.to_string()), "{message}");
    // The allowed one still works on the same session.
    assert!(guest.open_tunnel(&echo.to_string()).await.is_ok());
}

#[tokio::test]
async fn closed_target_port_is_connect_failed() {
    let relay = start_relay().await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let (_host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[closed])).await;
    let (_, reason, message) = refused(guest.open_tunnel(&closed.to_string()).await.unwrap_err());
    assert_eq!(reason, CloseReason::ConnectFailed);
    assert!(message.contains(&closed.to_string()), "{message}");
}

#[tokio::test]
async fn forward_listener_closes_refused_connections_and_keeps_listening() {
    let relay = start_relay().await;
    let echo = echo_server().await;
    let other = echo_server().await;
    let (_host, guest) = serving_pair(relay.tcp_addrs()[0], tunnel_policy(&[echo])).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local = listener.local_addr().unwrap();
    let forwarding = guest.clone();
    tokio::spawn(async move {
        forwarding
            .forward_listener(listener, other.to_string())
            .await
    });
    for _ in 0..2 {
        let mut c = TcpStream::connect(local).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(WAIT, c.read(&mut buf)).await.unwrap();
        assert!(
            matches!(n, Ok(0) | Err(_)),
            "a refused tunnel closes the local connection"
        );
    }
}

#[tokio::test]
async fn relay_refusal_is_a_clear_error() {
    let relay = start_relay().await;
    let p = plans(relay.tcp_addrs()[0]);
    // A well-formed ticket signed with a key the relay does not trust.
    let forged = TicketSigner::new(KEY_ID, [1; 32]).sign(&SessionTicket {
        key_id: KEY_ID,
        session_id: p.guest.session_id,
        tenant_id: TenantId([1; 16]),
        side: Side::Guest,
        relay_id: RelayId(RELAY_ID),
        permissions: PermissionSet::default(),
        byte_rate_limit: 0,
        expires_at_unix_ms: u64::MAX / 2,
        nonce: [4; 16],
    });
    let plan = SessionPlan {
        ticket: forged,
        ..p.guest
    };
    let err = tokio::time::timeout(WAIT, establish(plan))
        .await
        .unwrap()
        .unwrap_err();
    match &err {
        AgentError::RelayRefused { code, .. } => assert_ne!(*code, ErrorCode::PeerClosed),
        other => panic!("expected RelayRefused, got {other}"),
    }
    assert!(
        err.to_string()
            .starts_with("the relay refused the session: "),
        "{err}"
    );

    let unreachable = SessionPlan {
        relay_addr: {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().to_string()
        },
        ..plans(relay.tcp_addrs()[0]).guest
    };
    let err = establish(unreachable).await.unwrap_err();
    assert!(matches!(err, AgentError::RelayConnect { .. }), "{err}");
}
