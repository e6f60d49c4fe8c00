//! `switchboard serve` as a child process on free loopback ports with a temporary data dir:
//! control (TLS over TCP), control QUIC, relay (TCP and QUIC) and the admin API.
//!
//! It reads the certificate fingerprint from the process's stdout, waits (bounded) until
//! `/api/v1/health` answers, and can kill and restart the process on the same data dir and
//! ports. It sets nothing up inside the broker; see [`crate::admin`] for that.

use std::path::PathBuf;
use std::time::Duration;

use switchboard_agent::http::HttpClient;

use crate::child::ChildProcess;

/// The bootstrap owner's name.
pub const OWNER: &str = "owner";
/// The bootstrap owner's and the test users' password.
pub const PASSWORD: &str = "Corr3ctHorse!";
/// Bound on a start (first line to a healthy admin API).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> std::io::Result<u16> {
    let socket = std::net::UdpSocket::bind(("127.0.0.1", 0))?;
    Ok(socket.local_addr()?.port())
}

/// A running `switchboard serve`.
#[derive(Debug)]
pub struct ServeProcess {
    proc: ChildProcess,
    program: PathBuf,
    args: Vec<String>,
    data: tempfile::TempDir,
    /// Admin API port (http).
    pub admin_port: u16,
    /// Control TLS port.
    pub control_port: u16,
    /// Control QUIC port (UDP).
    pub control_quic_port: u16,
    /// Relay TCP port.
    pub relay_port: u16,
    /// The control certificate's SHA-256 fingerprint as printed.
    pub fingerprint: String,
}

impl ServeProcess {
    /// Starts a fresh node (tenant "Acme", owner [`OWNER`] / [`PASSWORD`]).
    pub async fn start() -> anyhow::Result<Self> {
        let program = crate::binaries::switchboard()?;
        let data = tempfile::tempdir()?;
        let admin_port = crate::free_tcp_port()?;
        let control_port = crate::free_tcp_port()?;
        let control_quic_port = free_udp_port()?;
        let relay_port = crate::free_tcp_port()?;
        let relay_quic_port = free_udp_port()?;
        let at = |p: u16| format!("127.0.0.1:{p}");
        let args: Vec<String> = [
            "serve",
            "--data-dir",
            &data.path().display().to_string(),
            "--admin-listen",
            &at(admin_port),
            "--control-listen",
            &at(control_port),
            "--control-quic-listen",
            &at(control_quic_port),
            "--relay-listen",
            &at(relay_port),
            "--relay-quic-listen",
            &at(relay_quic_port),
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
        let proc = ChildProcess::spawn("switchboard-serve", &program, &args, &env(), None)?;
        let mut s = Self {
            proc,
            program,
            args,
            data,
            admin_port,
            control_port,
            control_quic_port,
            relay_port,
            fingerprint: String::new(),
        };
        s.wait_started().await?;
        Ok(s)
    }

    /// Kills the process (SIGKILL) and starts it again on the same data dir and ports; waits
    /// until it is healthy. The certificate (and so the fingerprint) is kept on disk.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.proc.start(&self.program, &self.args, &env(), None)?;
        self.wait_started().await
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        self.proc.kill().await;
    }

    async fn wait_started(&mut self) -> anyhow::Result<()> {
        const PREFIX: &str = "control certificate sha256 fingerprint ";
        let line = self
            .proc
            .wait_for_line(|l| l.starts_with(PREFIX), START_TIMEOUT)
            .await?;
        let fp = line
            .trim_start_matches(PREFIX)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        anyhow::ensure!(!fp.is_empty(), "no fingerprint in {line:?}");
        if !self.fingerprint.is_empty() {
            anyhow::ensure!(
                fp == self.fingerprint,
                "the restarted node has another certificate: {fp} != {}",
                self.fingerprint
            );
        }
        self.fingerprint = fp;
        self.proc
            .wait_for_line(|l| l.starts_with("relay on "), START_TIMEOUT)
            .await?;
        self.wait_healthy().await
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let http = self.http()?;
        let deadline = tokio::time::Instant::now() + START_TIMEOUT;
        loop {
            match http.request("GET", "/api/v1/health", None, None).await {
                Ok(r) if r.status == 200 => return Ok(()),
                other => {
                    if tokio::time::Instant::now() >= deadline {
                        anyhow::bail!(
                            "admin API not healthy within {START_TIMEOUT:?}: {other:?}\n{}",
                            self.proc.tail(40)
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `127.0.0.1:<control port>`, what agents get as `--server`.
    pub fn control_addr(&self) -> String {
        format!("127.0.0.1:{}", self.control_port)
    }

    /// `http://127.0.0.1:<admin port>`, what guests get as `--admin`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// A client of the admin API.
    pub fn http(&self) -> anyhow::Result<HttpClient> {
        Ok(HttpClient::new(&self.admin_url(), None)?)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// The captured output.
    pub fn process(&mut self) -> &mut ChildProcess {
        &mut self.proc
    }
}

fn env() -> Vec<(String, String)> {
    vec![
        ("RUST_LOG".into(), "info".into()),
        ("NO_COLOR".into(), "1".into()),
    ]
}
