//! Acceptance: OpenSSH through a Switchboard tunnel, real binaries end to end.
//!
//! A `switchboard serve` child, a Host agent enrolled through a package and allowed to reach
//! a throwaway sshd, a Guest agent logged in as a user whose role grants `Tunnel`, with a
//! local tunnel port; `ssh` runs a command through it and `scp` copies 50 MiB of random bytes
//! whose SHA-256 must come out the same on the far side. Before that, `guest devices` must list
//! the host as online with the tunnel permission.

mod agent_support;

use std::time::Duration;

use sha2::{Digest, Sha256};
use switchboard_tests::agent_proc::AgentProcess;
use switchboard_tests::free_tcp_port;
use switchboard_tests::sshd::Sshd;
use tokio::io::AsyncWriteExt;

use agent_support::World;

const FILE_SIZE: usize = 50 * 1024 * 1024;

async fn sha256_file(path: &std::path::Path) -> anyhow::Result<String> {
    let bytes = tokio::fs::read(path).await?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

async fn random_file(path: &std::path::Path, len: usize) -> anyhow::Result<()> {
    let mut f = tokio::fs::File::create(path).await?;
    let mut chunk = vec![0u8; 1024 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        getrandom::fill(&mut chunk[..n]).map_err(|e| anyhow::anyhow!("getrandom: {e}"))?;
        f.write_all(&chunk[..n]).await?;
        left -= n;
    }
    f.flush().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_command_and_50_mib_scp_through_a_tunnel() -> anyhow::Result<()> {
    let Some(sshd) = Sshd::start_or_skip().await? else {
        return Ok(());
    };
    let w = World::start().await?;
    let target = format!("127.0.0.1:{}", sshd.port);
    let host = w.host(std::slice::from_ref(&target), &[]).await?;
    let guest_state = w.login("tech").await?;

    // "My devices": the enrolled host is listed, online, with the tunnel permission.
    let r = AgentProcess::run(
        "guest-devices",
        guest_state.path(),
        &["guest", "devices"],
        None,
        agent_support::WAIT,
    )
    .await?;
    assert_eq!(r.code, Some(0), "guest devices: {r:?}");
    let line = r
        .output
        .lines()
        .find(|l| l.starts_with(host.device.as_str()))
        .ok_or_else(|| anyhow::anyhow!("host {} not listed: {}", host.device, r.output))?;
    assert!(
        line.contains(" online ") && line.contains("tunnel"),
        "{line}"
    );

    let local = free_tcp_port()?;
    let _guest = w
        .connect(&guest_state, &host.device, &[(local, target.clone())])
        .await?;

    let r = sshd
        .ssh(local, "echo switchboard-ok", Duration::from_secs(30))
        .await?;
    assert_eq!(r.code, Some(0), "ssh through the tunnel: {r:?}");
    assert_eq!(r.stdout.trim(), "switchboard-ok", "{r:?}");

    let src = tempfile::tempdir()?;
    let local_file = src.path().join("payload.bin");
    random_file(&local_file, FILE_SIZE).await?;
    let remote_file = sshd.dir().join("received.bin");
    let started = tokio::time::Instant::now();
    let r = sshd
        .scp_to(local, &local_file, &remote_file, Duration::from_secs(50))
        .await?;
    let took = started.elapsed();
    assert_eq!(r.code, Some(0), "scp through the tunnel: {r:?}");
    let (sent, got) = (
        sha256_file(&local_file).await?,
        sha256_file(&remote_file).await?,
    );
    assert_eq!(sent, got, "the 50 MiB file arrived changed");
    println!(
        "scp of 50 MiB through the tunnel: {took:?} ({:.1} MiB/s)",
        50.0 / took.as_secs_f64()
    );
    Ok(())
}
