//! Acceptance: an OnDemand session end to end with real binaries.
//!
//! The technician (`tech`, with an OnDemand role assignment) creates a key with `guest
//! ondemand create`; the end user runs `ondemand join KEY --yes --allow <echo>` and waits in
//! the queue; the technician starts the session with `guest ondemand start KEY --tunnel ...`
//! and the session comes up end to end. Its tunnel is refused `not_permitted`: in the seed
//! "Tunnel" is an option group of Device roles only (004: "Remote session", "Tunnel", "Client
//! type"), so no OnDemand role can grant it and the end user's agent never dials the target.

mod agent_support;

use switchboard_tests::agent_proc::AgentProcess;
use switchboard_tests::free_tcp_port;

use agent_support::{Echo, WAIT, World, expect_no_echo};

#[tokio::test]
async fn ondemand_key_join_start_and_a_tunnel() -> anyhow::Result<()> {
    let echo = Echo::start().await?;
    let w = World::start().await?;
    // 002/004 §6.2: creating OnDemand keys needs an OnDemand role assignment (no device group).
    let admin = &w.tenant.admin;
    let tunnel_role = admin
        .create_ondemand_role("Helpdesk with tunnels", &["RemoteSession", "Tunnel"])
        .await;
    assert!(
        tunnel_role.is_err(),
        "an OnDemand role cannot hold Tunnel (a Device role option group): {tunnel_role:?}"
    );
    let role = admin
        .create_ondemand_role("Helpdesk", &["RemoteSession", "OwnInvitations"])
        .await?;
    admin
        .create_assignment("Tunnelers OnDemand", &role, &[&w.tenant.tunnelers], &[])
        .await?;
    let tech = w.login("tech").await?;

    let created = AgentProcess::run(
        "guest-ondemand-create",
        tech.path(),
        &["guest", "ondemand", "create"],
        None,
        WAIT,
    )
    .await?;
    assert_eq!(created.code, Some(0), "{created:?}");
    let key = created
        .output
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no `key N expires T` line: {}", created.output))?;
    assert!(
        key.len() == 9 && key.bytes().all(|b| b.is_ascii_digit()),
        "002/004: a 9-digit key, got {key:?}"
    );

    let end_user = tempfile::tempdir()?;
    let server = w.serve.control_addr();
    let target = echo.target();
    let mut joined = AgentProcess::spawn(
        "ondemand-join",
        end_user.path(),
        &[
            "ondemand",
            "join",
            &key,
            "--server",
            &server,
            "--fingerprint",
            &w.serve.fingerprint,
            "--yes",
            "--allow",
            &target,
        ],
        None,
    )?;
    joined
        .wait_for_line(|l| l.starts_with("queued at position"), WAIT)
        .await?;

    let local = free_tcp_port()?;
    let spec = format!("127.0.0.1:{local}={target}");
    let mut started = AgentProcess::spawn(
        "guest-ondemand-start",
        tech.path(),
        &["guest", "ondemand", "start", &key, "--tunnel", &spec],
        None,
    )?;
    let local_addr = format!("127.0.0.1:{local}");
    started
        .wait_for_line(
            |l| l.starts_with("tunnel ") && l.contains(&local_addr) && l.ends_with("ready"),
            WAIT,
        )
        .await?;
    expect_no_echo(local).await?;
    started
        .wait_for_line(|l| l.contains("not_permitted"), WAIT)
        .await?;
    assert_eq!(
        echo.accepted(),
        0,
        "the end user's side never dialled the target"
    );
    assert!(
        joined.try_exit().is_none(),
        "the end user's agent stays in the session after a refused tunnel:\n{}",
        joined.tail(40)
    );
    Ok(())
}
