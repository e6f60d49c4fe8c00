//! Acceptance: two `switchboard serve` nodes on one Redis directory (DESIGN §Scale-out:
//! "Adding capacity is starting another relay or broker pointed at the same Redis"), real
//! binaries over loopback.
//!
//! The Host agent is connected to node A, the Guest to node B: B owns the session and routes
//! the offer and the relay assignment through A over the node bus. The tunnel carries data
//! both ways; an administrator's terminate on either node ends the session; a separate
//! `switchboard relay --redis` (broker keys from Redis, 1.5 s registry TTL) is picked while
//! it lives and, once killed, not after its TTL.

#[path = "agent_support/mod.rs"]
mod agent_support;
mod cluster_support;

use std::time::Duration;

use switchboard_tests::{RedisServer, free_tcp_port};

use agent_support::{Echo, check_echo, expect_no_echo, pattern, roundtrip};
use cluster_support::{
    ClusterNode, SeparateRelay, WAIT, audit_lines, connect, host_on, login_on, one_session,
    sessions, setup_tenant,
};

/// `switchboard-agent`'s exit code when the session was ended for it.
const EXIT_DISCONNECTED: i32 = 4;

async fn wait_no_sessions(admin: &switchboard_tests::admin::Admin) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = sessions(admin).await?;
        if s.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "sessions left: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_on_one_node_guest_on_another() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let a = ClusterNode::start(&redis, "node-a", None).await?;
    let b = ClusterNode::start(&redis, "node-b", Some(a.data.path())).await?;
    assert_ne!(a.relay_id, b.relay_id, "each node announces its own relay");
    let key = setup_tenant(&a).await?;
    let echo = Echo::start().await?;
    let (_host, device, _host_state) = host_on(&a, &key, &echo.target()).await?;
    let guest_state = login_on(&b).await?;
    let (admin_a, admin_b) = (a.owner().await?, b.owner().await?);

    // The tunnel carries data both ways.
    let local = free_tcp_port()?;
    let started = tokio::time::Instant::now();
    let mut guest = connect(&guest_state, &device, local, &echo.target()).await?;
    println!(
        "cross-node session: guest connect to tunnel ready in {:?}",
        started.elapsed()
    );
    check_echo(local).await?;
    let data = pattern(11, 4 * 1024 * 1024);
    let back = roundtrip(local, &data, WAIT).await?;
    assert!(back == data, "4 MiB came back intact through the tunnel");
    let (sid, relay) = one_session(&admin_b).await?;
    assert!(
        [a.relay_id, b.relay_id].contains(&relay),
        "relay {relay} is one of the nodes'"
    );
    assert!(
        sessions(&admin_a).await?.is_empty(),
        "node A routes the Host's side only; B owns the session"
    );
    let audit = audit_lines(&admin_a).await?;
    assert!(
        audit.iter().any(|l| l.contains("both sides bound")),
        "the owner saw both binds (relay reports crossed nodes): {audit:?}"
    );

    // An administrator on node A (which does not own the session) terminates it.
    admin_a
        .call("DELETE", &format!("/api/v1/sessions/{sid}"), None)
        .await?;
    assert_eq!(
        guest.wait_exit(WAIT).await?,
        Some(EXIT_DISCONNECTED),
        "{}",
        guest.tail(40)
    );
    expect_no_echo(local).await?;
    wait_no_sessions(&admin_b).await?;

    // Again, terminated on node B (the owner).
    let local = free_tcp_port()?;
    let mut guest = connect(&guest_state, &device, local, &echo.target()).await?;
    check_echo(local).await?;
    let (sid, _) = one_session(&admin_b).await?;
    admin_b
        .call("DELETE", &format!("/api/v1/sessions/{sid}"), None)
        .await?;
    assert_eq!(guest.wait_exit(WAIT).await?, Some(EXIT_DISCONNECTED));
    expect_no_echo(local).await?;
    wait_no_sessions(&admin_b).await?;

    // A separate relay joins (its id, 7, is the lowest: among idle relays it is picked).
    let mut relay7 = SeparateRelay::start(&redis, 7, "1500ms").await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let local = free_tcp_port()?;
    let guest = connect(&guest_state, &device, local, &echo.target()).await?;
    check_echo(local).await?;
    let (on_seven, relay) = one_session(&admin_b).await?;
    assert_eq!(relay, 7, "the separate relay carries the session");
    let audit = audit_lines(&admin_b).await?;
    assert!(
        audit
            .iter()
            .filter(|l| l.contains("both sides bound"))
            .count()
            >= 3,
        "the separate relay's pairing reached the owner: {audit:?}"
    );
    // Killed: its key expires after the TTL; the owner ends the session it had there and
    // never picks it again.
    relay7.proc.kill().await;
    drop(guest);
    wait_no_sessions(&admin_b).await?;
    let audit = audit_lines(&admin_b).await?;
    assert!(
        audit.iter().any(|l| l.contains("relay 7 is gone")),
        "the session on the vanished relay {on_seven} was ended: {audit:?}"
    );
    let local = free_tcp_port()?;
    let _guest = connect(&guest_state, &device, local, &echo.target()).await?;
    check_echo(local).await?;
    let (_, relay) = one_session(&admin_b).await?;
    assert_ne!(relay, 7, "a killed relay is not picked after its TTL");
    Ok(())
}
