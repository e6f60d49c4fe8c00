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

use switchboard_tests::admin::setup_tenant;
use switchboard_tests::agent_proc::AgentProcess;
use switchboard_tests::{RedisServer, free_tcp_port};

use agent_support::{Echo, World, check_echo, expect_no_echo, pattern, roundtrip};
use cluster_support::{SeparateRelay, WAIT, audit_lines, one_session, sessions, start_node};

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

/// `guest connect` through `node` with a tunnel from a fresh local port to `echo`, once an
/// echo came back through it: (local port, guest).
async fn echo_tunnel(
    node: &World,
    state: &tempfile::TempDir,
    device: &str,
    echo: &Echo,
) -> anyhow::Result<(u16, AgentProcess)> {
    let local = free_tcp_port()?;
    let guest = node
        .connect(state, device, &[(local, echo.target())])
        .await?;
    check_echo(local).await?;
    Ok((local, guest))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_on_one_node_guest_on_another() -> anyhow::Result<()> {
    let redis = RedisServer::start()?;
    let a = start_node(&redis, "node-a", None).await?;
    let b = start_node(&redis, "node-b", Some(a.data_dir())).await?;
    let node_relays = [a.relay_id, b.relay_id];
    assert_ne!(
        node_relays[0], node_relays[1],
        "each node announces its own relay"
    );
    let tenant = setup_tenant(&a).await?;
    // The owner is logged in on each node (tokens are per node).
    let (admin_a, admin_b) = (a.owner().await?, b.owner().await?);
    let a = World {
        serve: a,
        tenant: tenant.clone(),
    };
    let b = World { serve: b, tenant };
    let echo = Echo::start().await?;
    let host = a.host(&[echo.target()], &[]).await?;
    let guest_state = b.login("tech").await?;

    // The tunnel carries data both ways.
    let started = tokio::time::Instant::now();
    let (local, mut guest) = echo_tunnel(&b, &guest_state, &host.device, &echo).await?;
    println!(
        "cross-node session: guest connect to tunnel ready and echoing in {:?}",
        started.elapsed()
    );
    let data = pattern(11, 4 * 1024 * 1024);
    let back = roundtrip(local, &data, WAIT).await?;
    assert!(back == data, "4 MiB came back intact through the tunnel");
    let (sid, relay) = one_session(&admin_b).await?;
    assert!(
        node_relays.contains(&relay),
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
    let (local, mut guest) = echo_tunnel(&b, &guest_state, &host.device, &echo).await?;
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
    let (_, guest) = echo_tunnel(&b, &guest_state, &host.device, &echo).await?;
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
    let (_, _guest) = echo_tunnel(&b, &guest_state, &host.device, &echo).await?;
    let (_, relay) = one_session(&admin_b).await?;
    assert_ne!(relay, 7, "a killed relay is not picked after its TTL");
    Ok(())
}
