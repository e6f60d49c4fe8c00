//! Steps of the cluster test: `switchboard serve` nodes on one private Redis directory (the
//! second with the first's ticket key copied into its data dir, as ops/relay.md says), a
//! separate `switchboard relay --redis`, the test tenant set up through one node's admin API,
//! and agents pointed at a chosen node.
//!
//! Everything runs as a child process on loopback ports and is killed when dropped.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use switchboard_agent::http::HttpClient;
use switchboard_tests::RedisServer;
use switchboard_tests::admin::Admin;
use switchboard_tests::agent_proc::AgentProcess;
use switchboard_tests::child::ChildProcess;
use switchboard_tests::serve::{OWNER, PASSWORD, free_udp_port};

/// Bound on one step.
pub const WAIT: Duration = Duration::from_secs(20);

fn env() -> Vec<(String, String)> {
    vec![
        ("RUST_LOG".into(), "info".into()),
        ("NO_COLOR".into(), "1".into()),
    ]
}

fn at(p: u16) -> String {
    format!("127.0.0.1:{p}")
}

/// One `switchboard serve` node of the cluster.
pub struct ClusterNode {
    pub proc: ChildProcess,
    pub name: String,
    pub data: tempfile::TempDir,
    pub admin_port: u16,
    pub control_port: u16,
    pub relay_id: u64,
    pub fingerprint: String,
}

impl ClusterNode {
    /// Starts node `name` on `redis`; with `key_from`, that node's ticket key is copied into
    /// this one's data dir first (brokers of one cluster sign with one key).
    pub async fn start(
        redis: &RedisServer,
        name: &str,
        key_from: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let program = switchboard_tests::binaries::switchboard()?;
        let data = tempfile::tempdir()?;
        if let Some(from) = key_from {
            std::fs::copy(
                from.join("ticket-key-1.key"),
                data.path().join("ticket-key-1.key"),
            )?;
        }
        let admin_port = switchboard_tests::free_tcp_port()?;
        let control_port = switchboard_tests::free_tcp_port()?;
        let args: Vec<String> = [
            "serve",
            "--data-dir",
            &data.path().display().to_string(),
            "--directory",
            &redis.url(),
            "--node-name",
            name,
            "--admin-listen",
            &at(admin_port),
            "--control-listen",
            &at(control_port),
            "--control-quic-listen",
            &at(free_udp_port()?),
            "--relay-listen",
            &at(switchboard_tests::free_tcp_port()?),
            "--relay-quic-listen",
            &at(free_udp_port()?),
            "--bootstrap-tenant",
            "Acme",
            "--bootstrap-owner",
            OWNER,
            "--bootstrap-password",
            PASSWORD,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut proc = ChildProcess::spawn(name, &program, &args, &env(), None)?;
        const FP: &str = "control certificate sha256 fingerprint ";
        let line = proc.wait_for_line(|l| l.starts_with(FP), WAIT).await?;
        let fingerprint = line
            .trim_start_matches(FP)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let relay = proc
            .wait_for_line(|l| l.starts_with("relay on "), WAIT)
            .await?;
        let relay_id = relay
            .rsplit("relay id ")
            .next()
            .and_then(|s| s.trim_end_matches(')').parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no relay id in {relay:?}"))?;
        let node = Self {
            proc,
            name: name.to_owned(),
            data,
            admin_port,
            control_port,
            relay_id,
            fingerprint,
        };
        node.wait_healthy().await?;
        Ok(node)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let http = self.http()?;
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::time::Instant::now() < deadline {
            if matches!(http.request("GET", "/api/v1/health", None, None).await, Ok(r) if r.status == 200)
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("{} not healthy:\n{}", self.name, self.proc.tail(40))
    }

    pub fn http(&self) -> anyhow::Result<HttpClient> {
        Ok(HttpClient::new(&self.admin_url(), None)?)
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    pub fn control_addr(&self) -> String {
        at(self.control_port)
    }

    /// The owner logged in on this node (tokens are per node).
    pub async fn owner(&self) -> anyhow::Result<Admin> {
        // (`Admin::login`'s error type differs between versions of the support crate.)
        let admin = Admin::login(self.http()?, OWNER, PASSWORD).await?;
        Ok(admin)
    }
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
        let mut proc = ChildProcess::spawn(&format!("relay-{id}"), &program, &args, &env(), None)?;
        proc.wait_for_line(|l| l.contains("relay started"), WAIT)
            .await?;
        Ok(Self { proc, id })
    }
}

/// The tenant: `tech` may open sessions with tunnels on device group Servers; a package
/// enrolls into Servers. Returns (admin on the node, enrollment key).
pub async fn setup_tenant(node: &ClusterNode) -> anyhow::Result<String> {
    let admin = node.owner().await?;
    let user = admin
        .call(
            "POST",
            "/api/v1/users",
            Some(serde_json::json!({ "username": "tech", "password": PASSWORD })),
        )
        .await?;
    let tech = user["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no user id in {user}"))?
        .to_owned();
    let servers = admin.create_device_group("Servers").await?;
    let group = admin
        .create_user_group("Tunnelers", &[tech.as_str()])
        .await?;
    let role = admin
        .create_role("Tunnelers role", &["RemoteSession", "Tunnel"])
        .await?;
    admin
        .create_assignment("Tunnelers on Servers", &role, &[&group], &[&servers])
        .await?;
    let (_package, key) = admin.create_package("servers", &servers).await?;
    Ok(key)
}

/// A Host agent enrolled through `node` and running against it (`--auto-accept`).
pub async fn host_on(
    node: &ClusterNode,
    key: &str,
    allow: &str,
) -> anyhow::Result<(AgentProcess, String, tempfile::TempDir)> {
    let state = tempfile::tempdir()?;
    let server = node.control_addr();
    let r = AgentProcess::run(
        "host-enroll",
        state.path(),
        &[
            "host",
            "enroll",
            "--server",
            &server,
            "--key",
            key,
            "--fingerprint",
            &node.fingerprint,
            "--hostname",
            "srv-1",
        ],
        None,
        WAIT,
    )
    .await?;
    anyhow::ensure!(r.code == Some(0), "host enroll: {r:?}");
    let device = r
        .output
        .lines()
        .find_map(|l| l.strip_prefix("enrolled: device "))
        .and_then(|l| l.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no device id: {}", r.output))?
        .to_owned();
    let mut p = AgentProcess::spawn(
        "host-run",
        state.path(),
        &["host", "run", "--auto-accept", "--allow", allow],
        None,
    )?;
    p.wait_for_line(|l| l.starts_with("connected to "), WAIT)
        .await?;
    Ok((p, device, state))
}

/// `guest login` of `tech` on `node`.
pub async fn login_on(node: &ClusterNode) -> anyhow::Result<tempfile::TempDir> {
    let state = tempfile::tempdir()?;
    let r = AgentProcess::run(
        "guest-login",
        state.path(),
        &[
            "guest",
            "login",
            "--server",
            &node.control_addr(),
            "--admin",
            &node.admin_url(),
            "--user",
            "tech",
            "--fingerprint",
            &node.fingerprint,
            "--password-stdin",
        ],
        Some(format!("{PASSWORD}\n")),
        WAIT,
    )
    .await?;
    anyhow::ensure!(r.code == Some(0), "guest login: {r:?}");
    Ok(state)
}

/// `guest connect DEVICE --tunnel 127.0.0.1:LOCAL=TARGET` until the tunnel is ready.
pub async fn connect(
    state: &tempfile::TempDir,
    device: &str,
    local: u16,
    target: &str,
) -> anyhow::Result<AgentProcess> {
    let spec = format!("127.0.0.1:{local}={target}");
    let mut p = AgentProcess::spawn(
        "guest-connect",
        state.path(),
        &["guest", "connect", device, "--tunnel", &spec],
        None,
    )?;
    p.wait_for_line(|l| l.starts_with("tunnel ") && l.ends_with("ready"), WAIT)
        .await?;
    Ok(p)
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
