//! Acceptance: many simultaneous TCP connections through one Guest tunnel port, real binaries.
//!
//! 32 connections each carry 16 MiB (`SWITCHBOARD_ACCEPT_TUNNEL_MIB` sets another size, 1-64)
//! of distinct bytes to an echo server on the Host's side and must get exactly those bytes
//! back, while one more connection writes and never reads: it must not hold the others up
//! (per-channel flow control, not one shared window).

mod agent_support;

use std::time::Duration;

use switchboard_tests::free_tcp_port;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use agent_support::{Echo, World, check_echo, pattern, roundtrip};

const CONNECTIONS: u64 = 32;
/// MiB per connection by default (the figure). The codec is built optimized in the
/// dev profile (root Cargo.toml), so 32 x 16 MiB takes seconds, not a minute.
const DEFAULT_MIB: usize = 16;

fn per_connection() -> usize {
    std::env::var("SWITCHBOARD_ACCEPT_TUNNEL_MIB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|m| (1..=64).contains(m))
        .unwrap_or(DEFAULT_MIB)
        * 1024
        * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_connections_and_one_that_never_reads() -> anyhow::Result<()> {
    let per_connection = per_connection();
    let echo = Echo::start().await?;
    let w = World::start().await?;
    let host = w.host(&[echo.target()], &[]).await?;
    let guest_state = w.login("tech").await?;
    let local = free_tcp_port()?;
    let _guest = w
        .connect(&guest_state, &host.device, &[(local, echo.target())])
        .await?;
    check_echo(local).await?;

    // The stuck one: writes up to 16 MiB (as far as the windows let it) and never reads.
    let mut stuck = TcpStream::connect(("127.0.0.1", local)).await?;
    let stuck_data = pattern(999, per_connection);
    let stuck_writer = tokio::spawn(async move {
        let _ = stuck.write_all(&stuck_data).await;
        // Keep the socket open (unread) until the test ends.
        tokio::time::sleep(Duration::from_secs(120)).await;
        drop(stuck);
    });

    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for seed in 0..CONNECTIONS {
        tasks.push(tokio::spawn(async move {
            let data = pattern(seed, per_connection);
            let back = roundtrip(local, &data, Duration::from_secs(50)).await?;
            anyhow::ensure!(
                back.len() == data.len(),
                "connection {seed}: {} bytes back of {}",
                back.len(),
                data.len()
            );
            let first_diff = back.iter().zip(&data).position(|(a, b)| a != b);
            anyhow::ensure!(
                first_diff.is_none(),
                "connection {seed}: bytes differ from offset {first_diff:?}"
            );
            Ok(())
        }));
    }
    let mut failures = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{i}: {e}")),
            Err(e) => failures.push(format!("{i}: task: {e}")),
        }
    }
    let took = started.elapsed();
    stuck_writer.abort();
    assert!(
        failures.is_empty(),
        "{} of {CONNECTIONS} connections failed: {failures:#?}",
        failures.len()
    );
    let mib = per_connection as f64 / (1024.0 * 1024.0);
    let total = CONNECTIONS as f64 * mib;
    println!(
        "{CONNECTIONS} x {mib} MiB echoed through one tunnel in {took:?} ({:.1} MiB/s each way)",
        total / took.as_secs_f64()
    );
    // The tunnel still works after all that.
    check_echo(local).await?;
    Ok(())
}
