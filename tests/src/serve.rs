//! `switchboard serve` as a child process on free loopback ports with a temporary data dir:
//! control (TLS over TCP), control QUIC, relay (TCP and QUIC) and the admin API.
//!
//! It reads the certificate fingerprint and the relay id from the process's stdout, waits
//! (bounded) until `/api/v1/health` answers, and can kill and restart the process on the same
//! data dir and ports. [`ServeOptions`] adds arguments (a Redis directory, a node name) and
//! files in the data dir (a cluster's shared ticket key). It sets nothing up inside the broker;
//! see [`crate::admin`] for that. Free ports, reading the start-up lines and the health wait
//! are the loadgen's (`switchboard_loadgen::target`), which spawns servers the same way.

use std::path::PathBuf;

use switchboard_agent::http::HttpClient;
use switchboard_loadgen::target::{
    START_TIMEOUT, fingerprint_of, is_relay_line, relay_id_of, wait_healthy,
};

use crate::admin::Admin;
use crate::child::{ChildProcess, log_env};

pub use switchboard_loadgen::target::free_udp_port;

/// The bootstrap owner's name.
pub const OWNER: &str = "owner";
/// The bootstrap owner's and the test users' password.
pub const PASSWORD: &str = "Corr3ctHorse!";

/// What a node is started with besides the defaults of [`ServeProcess::start`].
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Names the process in messages and its log (default `switchboard-serve`).
    pub label: Option<String>,
    /// Arguments after the generated ones, e.g. `--directory redis://...`, `--node-name a`.
    pub args: Vec<String>,
    /// Files copied (under their own names) into the data dir before the first start, e.g.
    /// another node's `ticket-key-1.key`: the brokers of one cluster sign with one key.
    pub data_files: Vec<PathBuf>,
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
    /// The id of the node's own relay as printed.
    pub relay_id: u64,
}

impl ServeProcess {
    /// Starts a fresh node (tenant "Acme", owner [`OWNER`] / [`PASSWORD`]).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(ServeOptions::default()).await
    }

    /// Starts a fresh node as [`Self::start`] does, with `opts` added.
    pub async fn start_with(opts: ServeOptions) -> anyhow::Result<Self> {
        let program = crate::binaries::switchboard()?;
        let data = tempfile::tempdir()?;
        for file in &opts.data_files {
            let name = file
                .file_name()
                .ok_or_else(|| anyhow::anyhow!("no file name in {}", file.display()))?;
            std::fs::copy(file, data.path().join(name))?;
        }
        let admin_port = crate::free_tcp_port()?;
        let control_port = crate::free_tcp_port()?;
        let control_quic_port = free_udp_port()?;
        let relay_port = crate::free_tcp_port()?;
        let relay_quic_port = free_udp_port()?;
        let at = |p: u16| format!("127.0.0.1:{p}");
        let mut args: Vec<String> = [
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
        args.extend(opts.args);
        let label = opts.label.as_deref().unwrap_or("switchboard-serve");
        let proc = ChildProcess::spawn(label, &program, &args, &log_env(), None)?;
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
            relay_id: 0,
        };
        s.wait_started().await?;
        Ok(s)
    }

    /// Kills the process (SIGKILL) and starts it again on the same data dir and ports; waits
    /// until it is healthy. The certificate (and so the fingerprint) is kept on disk.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.proc
            .start(&self.program, &self.args, &log_env(), None)?;
        self.wait_started().await
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        self.proc.kill().await;
    }

    async fn wait_started(&mut self) -> anyhow::Result<()> {
        let line = self
            .proc
            .wait_for_line(|l| fingerprint_of(l).is_some(), START_TIMEOUT)
            .await?;
        let fp = fingerprint_of(&line).unwrap_or_default().to_owned();
        if !self.fingerprint.is_empty() {
            anyhow::ensure!(
                fp == self.fingerprint,
                "the restarted node has another certificate: {fp} != {}",
                self.fingerprint
            );
        }
        self.fingerprint = fp;
        let relay = self
            .proc
            .wait_for_line(is_relay_line, START_TIMEOUT)
            .await?;
        self.relay_id =
            relay_id_of(&relay).ok_or_else(|| anyhow::anyhow!("no relay id in {relay:?}"))?;
        wait_healthy(&self.http()?, START_TIMEOUT)
            .await
            .map_err(|e| anyhow::anyhow!("{e}\n{}", self.proc.tail(40)))
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

    /// The bootstrap owner logged in on this node (tokens are per node).
    pub async fn owner(&self) -> anyhow::Result<Admin> {
        Ok(Admin::login(self.http()?, OWNER, PASSWORD).await?)
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
