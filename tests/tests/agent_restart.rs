//! Acceptance: the agents across a broker restart, real binaries.
//!
//! With a Host agent running and a Guest tunnel working, the `switchboard serve` process is
//! killed (SIGKILL) and started again on the same data dir and ports: the Host reconnects by
//! itself (`connected to` printed again), the Guest's session ends, the Guest logs in again
//! (bearer tokens live in the broker's memory) and a new tunnel works.

mod agent_support;

use switchboard_tests::free_tcp_port;

use agent_support::{Echo, WAIT, World, check_echo};

#[tokio::test]
async fn host_reconnects_and_a_new_tunnel_works_after_a_broker_restart() -> anyhow::Result<()> {
    let echo = Echo::start().await?;
    let mut w = World::start().await?;
    let mut host = w.host(&[echo.target()], &["--reconnect-max", "2"]).await?;
    let guest_state = w.login("tech").await?;
    let local = free_tcp_port()?;
    let mut guest = w
        .connect(&guest_state, &host.device, &[(local, echo.target())])
        .await?;
    check_echo(local).await?;

    w.serve.restart().await?;
    host.proc
        .wait_for_line(|l| l.starts_with("connected to "), WAIT)
        .await?;
    // The session went down with the broker's relay: the Guest stops.
    guest.wait_exit(WAIT).await?;

    w.login_into(&guest_state, "tech").await?;
    let local = free_tcp_port()?;
    let _guest = w
        .connect(&guest_state, &host.device, &[(local, echo.target())])
        .await?;
    check_echo(local).await?;
    Ok(())
}
