//! Acceptance: what the agents refuse and how they stop, real binaries.
//!
//! A user whose role grants nothing the Guest asks for is refused the session (exit 3,
//! `error: refused: not_permitted: ...`); a user with a session but without `Tunnel` gets no
//! tunnel through (the Host enforces the session's permissions: `not_permitted`); a target the
//! Host does not `--allow` is never dialled; a revoked package stops the Host agent (exit 2,
//! `error: device revoked: ...`) now and at its next start; a Guest whose account is disabled
//! mid-session is disconnected (exit 4, `error: disconnected: ...`) within 10 s and its tunnel
//! stops working.

mod agent_support;

use std::time::Duration;

use switchboard_tests::free_tcp_port;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use agent_support::{Echo, WAIT, World, check_echo, expect_no_echo};

/// Exit codes of the agent contract.
const EXIT_REVOKED: i32 = 2;
const EXIT_REFUSED: i32 = 3;
const EXIT_DISCONNECTED: i32 = 4;

#[tokio::test]
async fn a_user_granted_nothing_wanted_is_refused_the_session() -> anyhow::Result<()> {
    let echo = Echo::start().await?;
    let w = World::start().await?;
    let host = w.host(&[echo.target()], &[]).await?;
    let guest_state = w.login("outsider").await?;
    let local = free_tcp_port()?;
    let mut guest = w.connect_spawn(&guest_state, &host.device, &[(local, echo.target())])?;
    let code = guest.wait_exit(WAIT).await?;
    assert_eq!(code, Some(EXIT_REFUSED), "{}", guest.tail(40));
    assert!(
        guest.has_line(|l| l.starts_with("error: refused: not_permitted")),
        "contract: `error: refused: <code>: <sentence>`:\n{}",
        guest.tail(40)
    );
    assert_eq!(echo.accepted(), 0, "nothing reached the target");
    Ok(())
}

#[tokio::test]
async fn a_session_without_the_tunnel_permission_carries_no_tunnel() -> anyhow::Result<()> {
    let echo = Echo::start().await?;
    let w = World::start().await?;
    let host = w.host(&[echo.target()], &[]).await?;
    let guest_state = w.login("viewer").await?;
    let local = free_tcp_port()?;
    let mut guest = w.connect_spawn(&guest_state, &host.device, &[(local, echo.target())])?;
    // Either the Guest refuses up front (the session grants no tunnel), or its tunnel port
    // opens and the Host closes the channel with `not_permitted`.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if guest.try_exit().is_some() || guest.has_line(|l| l.ends_with("ready")) {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "guest connect neither exited nor got ready:\n{}",
            guest.tail(40)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if guest.try_exit().is_some() {
        let code = guest.wait_exit(WAIT).await?;
        assert_eq!(code, Some(EXIT_REFUSED), "{}", guest.tail(40));
        assert!(
            guest.has_line(|l| l.starts_with("error: refused:") && l.contains("not_permitted")),
            "{}",
            guest.tail(40)
        );
    } else {
        expect_no_echo(local).await?;
        guest
            .wait_for_line(|l| l.contains("not_permitted"), WAIT)
            .await?;
    }
    assert_eq!(echo.accepted(), 0, "the Host never dialled the target");
    Ok(())
}

#[tokio::test]
async fn a_target_the_host_does_not_allow_is_never_dialled() -> anyhow::Result<()> {
    let allowed = Echo::start().await?;
    let forbidden = Echo::start().await?;
    let w = World::start().await?;
    let host = w.host(&[allowed.target()], &[]).await?;
    let guest_state = w.login("tech").await?;
    let (ok_port, bad_port) = (free_tcp_port()?, free_tcp_port()?);
    let mut guest = w
        .connect(
            &guest_state,
            &host.device,
            &[(ok_port, allowed.target()), (bad_port, forbidden.target())],
        )
        .await?;
    check_echo(ok_port).await?;
    expect_no_echo(bad_port).await?;
    let target = forbidden.target();
    guest
        .wait_for_line(|l| l.contains("refused") && l.contains(&target), WAIT)
        .await?;
    assert_eq!(
        forbidden.accepted(),
        0,
        "the Host dialled a target it does not allow"
    );
    // The session survives the refusal.
    check_echo(ok_port).await?;
    Ok(())
}

#[tokio::test]
async fn a_revoked_package_stops_the_host_now_and_at_its_next_start() -> anyhow::Result<()> {
    let w = World::start().await?;
    let mut host = w.host(&["127.0.0.1:9".to_owned()], &[]).await?;
    let cut = w.tenant.admin.revoke_package(&w.tenant.package).await?;
    assert!(
        cut["devices"].to_string().contains(&host.device),
        "the revoke cut off the device: {cut}"
    );
    let code = host.proc.wait_exit(Duration::from_secs(10)).await?;
    assert_eq!(code, Some(EXIT_REVOKED), "{}", host.proc.tail(40));
    assert!(
        host.proc
            .has_line(|l| l.starts_with("error: device revoked")),
        "{}",
        host.proc.tail(40)
    );
    let mut again = switchboard_tests::agent_proc::AgentProcess::spawn(
        "host-run-again",
        host.state.path(),
        &["host", "run", "--auto-accept"],
        None,
    )?;
    let code = again.wait_exit(WAIT).await?;
    assert_eq!(code, Some(EXIT_REVOKED), "{}", again.tail(40));
    assert!(
        again.has_line(|l| l.starts_with("error: device revoked")),
        "{}",
        again.tail(40)
    );
    Ok(())
}

#[tokio::test]
async fn a_guest_disabled_mid_session_is_disconnected_and_its_tunnel_stops() -> anyhow::Result<()> {
    let echo = Echo::start().await?;
    let w = World::start().await?;
    let host = w.host(&[echo.target()], &[]).await?;
    let guest_state = w.login("tech").await?;
    let local = free_tcp_port()?;
    let mut guest = w
        .connect(&guest_state, &host.device, &[(local, echo.target())])
        .await?;
    check_echo(local).await?;
    // A tunnel connection open across the disabling.
    let mut open = TcpStream::connect(("127.0.0.1", local)).await?;
    open.write_all(b"ping").await?;
    let mut four = [0u8; 4];
    tokio::time::timeout(WAIT, open.read_exact(&mut four)).await??;
    assert_eq!(&four, b"ping");

    w.tenant.admin.disable_user(&w.tenant.tech).await?;
    let code = guest.wait_exit(Duration::from_secs(10)).await?;
    assert_eq!(code, Some(EXIT_DISCONNECTED), "{}", guest.tail(40));
    // The broker tells the Guest why (`SessionCancel` and then `Error`, both
    // `account_disabled`, before it cuts the relay pipe and the control connection): the
    // contract's `<code>` is that code, not a local guess from the pipe ending.
    assert!(
        guest.has_line(|l| l.starts_with("error: disconnected: account_disabled")),
        "contract: `error: disconnected: <code>: ...` with the broker's code \
         account_disabled:\n{}",
        guest.tail(40)
    );
    // The open connection is cut and no new one gets through.
    let _ = open.write_all(b"more").await;
    let mut buf = [0u8; 16];
    match tokio::time::timeout(WAIT, open.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => {}
        Ok(Ok(n)) => anyhow::bail!("bytes after the disabling: {:?}", &buf[..n]),
        Err(_) => anyhow::bail!("the open tunnel connection outlived the session"),
    }
    expect_no_echo(local).await?;
    Ok(())
}
