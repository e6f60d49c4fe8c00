//! Steps of the cluster test: `switchboard serve` nodes on one private Redis directory (the
//! second with the first's ticket key copied into its data dir, as ops/relay.md says), a
//! separate `switchboard relay --redis`, and what the test reads from a node's admin API (live
//! sessions, audit lines). The agents are driven with the agent tests' steps
//! (`agent_support::World`) pointed at a chosen node.
//!
//! Everything runs as a child process on loopback ports and is killed when dropped.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use switchboard_tests::RedisServer;
use switchboard_tests::admin::Admin;
use switchboard_tests::child::{ChildProcess, log_env};
use switchboard_tests::serve::{ServeOptions, ServeProcess, free_udp_port};

/// Bound on one step.
pub const WAIT: Duration = Duration::from_secs(20);

fn at(p: u16) -> String {
    format!("127.0.0.1:{p}")
}

/// Starts `switchboard serve` node `name` on `redis`; with `key_from` (another node's data
/// dir), that node's ticket key is copied into this one's data dir first (brokers of one
/// cluster sign with one key).
pub async fn start_node(
    redis: &RedisServer,
    name: &str,
    key_from: Option<&Path>,
) -> anyhow::Result<ServeProcess> {
    ServeProcess::start_with(ServeOptions {
        label: Some(name.to_owned()),
        args: vec![
            "--directory".to_owned(),
            redis.url(),
            "--node-name".to_owned(),
            name.to_owned(),
        ],
        data_files: key_from
            .map(|dir| dir.join("ticket-key-1.key"))
            .into_iter()
            .collect(),
    })
    .await
}

/// `switchboard relay --redis` on its own: broker keys from Redis, short registry TTL.
pub struct SeparateRelay {
    pub proc: ChildProcess,
    pub id: u64,
}

impl SeparateRelay {
    pub async fn start(redis: &RedisServer, id: u64, ttl: &str) -> anyhow::Result<Self> {
        let program = switchboard_tests::binaries::switchboard()?;
        let args: Vec<String> = [
            "relay",
            "--relay-id",
            &id.to_string(),
            "--listen",
            &at(switchboard_tests::free_tcp_port()?),
            "--quic-listen",
            &at(free_udp_port()?),
            "--engine",
            "copy",
            "--redis",
            &redis.url(),
            "--registry-ttl",
            ttl,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let label = format!("relay-{id}");
        let mut proc = ChildProcess::spawn(&label, &program, &args, &log_env(), None)?;
        proc.wait_for_line(|l| l.contains("relay started"), WAIT)
            .await?;
        Ok(Self { proc, id })
    }
}

/// The tenant's live sessions as `node` lists them: (id, relay).
pub async fn sessions(admin: &Admin) -> anyhow::Result<Vec<(String, Option<u64>)>> {
    let v = admin.call("GET", "/api/v1/sessions", None).await?;
    Ok(v["sessions"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["id"].as_str().unwrap_or_default().to_owned(),
                        s["relay"].as_u64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Waits (bounded) until `node` lists exactly one live session with a relay; returns it.
pub async fn one_session(admin: &Admin) -> anyhow::Result<(String, u64)> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = sessions(admin).await?;
        if let [(id, Some(relay))] = s.as_slice() {
            return Ok((id.clone(), *relay));
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "not one live session with a relay: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every audit line (`what`) of the last 30 days, from `admin`'s node.
pub async fn audit_lines(admin: &Admin) -> anyhow::Result<Vec<String>> {
    let v: Value = admin.call("GET", "/api/v1/audit", None).await?;
    Ok(v["records"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["what"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default())
}
