//! Shared steps of the agent acceptance tests: a `switchboard serve` child with the test
//! tenant, a Host agent enrolled and running, a Guest agent logged in and connected with
//! tunnels, a loopback echo server standing for a service on the Host's side, and bounded
//! byte checks through a tunnel.
//!
//! The agents are driven only through the command line of the agent contract (the `switchboard-agent`
//! CLI); nothing here reaches into their state files.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_tests::admin::{Tenant, setup_tenant};
use switchboard_tests::agent_proc::AgentProcess;
use switchboard_tests::serve::{PASSWORD, ServeProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bound on one step (a line, an exit, a connect).
pub const WAIT: Duration = Duration::from_secs(20);

/// A node with the test tenant.
pub struct World {
    pub serve: ServeProcess,
    pub tenant: Tenant,
}

impl World {
    pub async fn start() -> anyhow::Result<Self> {
        let serve = ServeProcess::start().await?;
        let tenant = setup_tenant(&serve).await?;
        Ok(Self { serve, tenant })
    }

    /// `host enroll` with the tenant's key into a fresh state dir, then `host run
    /// --auto-accept --allow ...` (plus `extra` flags) until it prints `connected to`.
    pub async fn host(&self, allow: &[String], extra: &[&str]) -> anyhow::Result<Host> {
        let state = tempfile::tempdir()?;
        let device = self.enroll(&state, "srv-1").await?;
        let proc = self.host_run(&state, allow, extra).await?;
        Ok(Host {
            proc,
            device,
            state,
        })
    }

    /// `host enroll`; the device id printed.
    pub async fn enroll(&self, state: &tempfile::TempDir, name: &str) -> anyhow::Result<String> {
        let server = self.serve.control_addr();
        let r = AgentProcess::run(
            "host-enroll",
            state.path(),
            &[
                "host",
                "enroll",
                "--server",
                &server,
                "--key",
                &self.tenant.key,
                "--fingerprint",
                &self.serve.fingerprint,
                "--hostname",
                name,
            ],
            None,
            WAIT,
        )
        .await?;
        anyhow::ensure!(r.code == Some(0), "host enroll: {r:?}");
        let line = r
            .output
            .lines()
            .find(|l| l.starts_with("enrolled: device "))
            .ok_or_else(|| anyhow::anyhow!("no `enrolled: device` line: {}", r.output))?;
        anyhow::ensure!(line.ends_with("(Enrolled)"), "not Enrolled: {line}");
        let id = line
            .trim_start_matches("enrolled: device ")
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(!id.is_empty(), "no device id in {line:?}");
        Ok(id)
    }

    /// `host run --auto-accept --allow ...` waiting for `connected to`.
    pub async fn host_run(
        &self,
        state: &tempfile::TempDir,
        allow: &[String],
        extra: &[&str],
    ) -> anyhow::Result<AgentProcess> {
        let mut args = vec!["host", "run", "--auto-accept"];
        for a in allow {
            args.extend(["--allow", a.as_str()]);
        }
        args.extend(extra);
        let mut p = AgentProcess::spawn("host-run", state.path(), &args, None)?;
        p.wait_for_line(|l| l.starts_with("connected to "), WAIT)
            .await?;
        Ok(p)
    }

    /// `guest login` of `user` into a fresh state dir.
    pub async fn login(&self, user: &str) -> anyhow::Result<tempfile::TempDir> {
        let state = tempfile::tempdir()?;
        self.login_into(&state, user).await?;
        Ok(state)
    }

    /// `guest login --password-stdin` of `user` into `state`.
    pub async fn login_into(&self, state: &tempfile::TempDir, user: &str) -> anyhow::Result<()> {
        let server = self.serve.control_addr();
        let admin = self.serve.admin_url();
        let r = AgentProcess::run(
            "guest-login",
            state.path(),
            &[
                "guest",
                "login",
                "--server",
                &server,
                "--admin",
                &admin,
                "--user",
                user,
                "--fingerprint",
                &self.serve.fingerprint,
                "--password-stdin",
            ],
            Some(format!("{PASSWORD}\n")),
            WAIT,
        )
        .await?;
        anyhow::ensure!(r.code == Some(0), "guest login: {r:?}");
        anyhow::ensure!(
            r.output.contains(&format!("logged in as {user}")),
            "no `logged in as` line: {}",
            r.output
        );
        Ok(())
    }

    /// `guest connect DEVICE --tunnel L=T ...` without waiting for anything.
    pub fn connect_spawn(
        &self,
        state: &tempfile::TempDir,
        device: &str,
        tunnels: &[(u16, String)],
    ) -> anyhow::Result<AgentProcess> {
        let specs: Vec<String> = tunnels
            .iter()
            .map(|(local, target)| format!("127.0.0.1:{local}={target}"))
            .collect();
        let mut args = vec!["guest", "connect", device];
        for s in &specs {
            args.extend(["--tunnel", s.as_str()]);
        }
        AgentProcess::spawn("guest-connect", state.path(), &args, None)
    }

    /// `guest connect` waiting for every `tunnel ... ready` line.
    pub async fn connect(
        &self,
        state: &tempfile::TempDir,
        device: &str,
        tunnels: &[(u16, String)],
    ) -> anyhow::Result<AgentProcess> {
        let mut p = self.connect_spawn(state, device, tunnels)?;
        for (local, target) in tunnels {
            let local = format!("127.0.0.1:{local}");
            p.wait_for_line(
                |l| {
                    l.starts_with("tunnel ")
                        && l.contains(&local)
                        && l.contains(target.as_str())
                        && l.ends_with("ready")
                },
                WAIT,
            )
            .await?;
        }
        Ok(p)
    }
}

/// A running Host agent.
pub struct Host {
    pub proc: AgentProcess,
    pub device: String,
    pub state: tempfile::TempDir,
}

/// A loopback TCP echo server (one task per connection); counts accepted connections.
pub struct Echo {
    pub port: u16,
    pub accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Echo {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.into_split();
                    if tokio::io::copy(&mut r, &mut w).await.is_ok() {
                        let _ = w.shutdown().await;
                    }
                });
            }
        });
        Ok(Self {
            port,
            accepted,
            task,
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Deterministic bytes for connection `seed` (xorshift), so each stream is distinct.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Connects to `127.0.0.1:port`, writes `data`, half-closes, reads everything back (bounded
/// by `timeout`) and returns what came back.
pub async fn roundtrip(port: u16, data: &[u8], timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut r, mut w) = stream.into_split();
    let write = async {
        for chunk in data.chunks(64 * 1024) {
            w.write_all(chunk).await?;
        }
        w.shutdown().await?;
        Ok::<_, std::io::Error>(())
    };
    let read = async {
        let mut back = Vec::with_capacity(data.len());
        r.read_to_end(&mut back).await?;
        Ok::<_, std::io::Error>(back)
    };
    let (w, back) = tokio::time::timeout(timeout, async { tokio::join!(write, read) })
        .await
        .map_err(|_| anyhow::anyhow!("round trip through port {port} stalled"))?;
    w?;
    Ok(back?)
}

/// A small round trip that must come back intact.
pub async fn check_echo(port: u16) -> anyhow::Result<()> {
    let data = pattern(7, 4096);
    let back = roundtrip(port, &data, WAIT).await?;
    anyhow::ensure!(
        back == data,
        "echo through port {port}: {} bytes came back of {}",
        back.len(),
        data.len()
    );
    Ok(())
}

/// What happens to a connection through a tunnel that must not work: it is refused, reset
/// or closed without a byte of echo (bounded). `Ok` when nothing came back.
pub async fn expect_no_echo(port: u16) -> anyhow::Result<()> {
    let mut stream = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(s) => s,
        Err(_) => return Ok(()),
    };
    let _ = stream.write_all(b"must not arrive\n").await;
    let mut buf = [0u8; 64];
    match tokio::time::timeout(WAIT, stream.read(&mut buf)).await {
        Ok(Ok(0) | Err(_)) => Ok(()),
        Ok(Ok(n)) => anyhow::bail!(
            "the refused tunnel carried bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => anyhow::bail!("the refused tunnel connection stayed open for {WAIT:?}"),
    }
}
