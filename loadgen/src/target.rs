//! The server a run drives: an existing one (`--server`, `--admin-url`, `--fingerprint`,
//! `--admin-user`, a password from an environment variable or stdin), or `switchboard serve`
//! spawned on free loopback ports in a temporary data dir with a bootstrap owner and a
//! configuration whose connection and login limits fit a load run.
//!
//! A spawned server's output goes to files in its data dir (shown when it fails to start);
//! its pid is kept for process statistics; it is killed at the end of the run (and when the
//! [`Target`] is dropped). It provisions nothing inside the broker (`fleet.rs` does).
//!
//! The pieces of starting a server that the black-box tests (`switchboard-tests`) share with
//! it live here too: free loopback ports, reading `serve`'s start-up lines (fingerprint, relay
//! id) and the bounded wait for a healthy admin API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use switchboard_agent::control::{Endpoint, Transport};
use switchboard_agent::http::HttpClient;

use crate::error::LoadgenError;

/// Bound on a spawned server's start (first line to a healthy admin API).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The spawned server's bootstrap tenant.
pub const SPAWN_TENANT: &str = "Loadgen";
/// The spawned server's bootstrap owner.
pub const SPAWN_OWNER: &str = "owner";
/// The spawned server's owner password (loopback-only throwaway server).
pub const SPAWN_PASSWORD: &str = "Loadgen-Owner-Pw1!";

/// How to reach or spawn the server (from the command line).
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Control `host:port` of an existing server; `None` spawns one.
    pub server: Option<String>,
    /// Admin API URL of the existing server.
    pub admin_url: Option<String>,
    /// Its control certificate fingerprint.
    pub fingerprint: Option<String>,
    /// Admin user name.
    pub admin_user: Option<String>,
    /// Admin password (already read from the environment variable or stdin).
    pub admin_password: Option<String>,
    /// Spawn: `--directory` passed through (e.g. `redis://127.0.0.1:6400/`).
    pub directory: Option<String>,
    /// Spawn: extra TOML appended to the generated configuration.
    pub extra_config: Option<String>,
    /// Spawn: `RUST_LOG` of the server (default `warn`).
    pub server_log: Option<String>,
    /// TLS or QUIC control connections.
    pub transport: Transport,
}

/// A server being driven.
#[derive(Debug)]
pub struct Target {
    /// Control `host:port`.
    pub control: String,
    /// Admin API URL.
    pub admin_url: String,
    /// Control certificate fingerprint.
    pub fingerprint: String,
    /// Admin user.
    pub admin_user: String,
    /// Admin password.
    pub admin_password: String,
    /// Transport of the simulated agents' control connections.
    pub transport: Transport,
    spawned: Option<Spawned>,
}

/// A `switchboard serve` this run started.
#[derive(Debug)]
pub struct Spawned {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    /// Its pid (for `procstat`).
    pub pid: u32,
    /// Relay TCP `host:port`.
    pub relay: String,
}

impl Target {
    /// Connects to the server described by `opts`, or spawns one.
    pub async fn open(opts: &TargetOptions) -> Result<Self, LoadgenError> {
        match &opts.server {
            Some(server) => existing(server, opts),
            None => spawn(opts).await,
        }
    }

    /// The control endpoint agents dial.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            server: self.control.clone(),
            fingerprint: self.fingerprint.clone(),
            transport: self.transport,
        }
    }

    /// A client of the admin API (pinned when https).
    pub fn http(&self) -> Result<HttpClient, LoadgenError> {
        let fp = self
            .admin_url
            .starts_with("https://")
            .then(|| self.fingerprint.clone());
        Ok(HttpClient::new(&self.admin_url, fp)?)
    }

    /// The spawned server's pid (None for an existing server).
    pub fn server_pid(&self) -> Option<u32> {
        self.spawned.as_ref().map(|s| s.pid)
    }

    /// The spawned server, if any.
    pub fn spawned(&self) -> Option<&Spawned> {
        self.spawned.as_ref()
    }

    /// Kills a spawned server (SIGKILL) and reaps it; nothing for an existing one.
    pub async fn shutdown(mut self) {
        if let Some(mut s) = self.spawned.take() {
            let _ = s.child.kill().await;
        }
    }
}

impl Spawned {
    /// The data dir (holds `serve.out` and `serve.err`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn existing(server: &str, o: &TargetOptions) -> Result<Target, LoadgenError> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .ok_or_else(|| LoadgenError::Usage(format!("--server needs {flag}")))
    };
    Ok(Target {
        control: server.to_owned(),
        admin_url: need(&o.admin_url, "--admin-url")?,
        fingerprint: need(&o.fingerprint, "--fingerprint")?,
        admin_user: need(&o.admin_user, "--admin-user")?,
        admin_password: need(
            &o.admin_password,
            "a password (--admin-password-env VAR, or on stdin)",
        )?,
        transport: o.transport,
        spawned: None,
    })
}

/// `switchboard`: next to this executable (or its parent dir, for test binaries in `deps/`),
/// else `$SWITCHBOARD_BIN`, else the first on `PATH`.
pub fn find_switchboard() -> Result<PathBuf, LoadgenError> {
    let mut tried = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        tried.push(dir.join("switchboard"));
        if let Some(up) = dir.parent() {
            tried.push(up.join("switchboard"));
        }
    }
    if let Some(p) = std::env::var_os("SWITCHBOARD_BIN") {
        tried.push(PathBuf::from(p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        tried.extend(std::env::split_paths(&path).map(|d| d.join("switchboard")));
    }
    tried.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        LoadgenError::Spawn(format!(
            "no `switchboard` binary (build it: cargo build -p switchboard-broker; or set \
             SWITCHBOARD_BIN); looked at {} places",
            tried.len()
        ))
    })
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, release).
/// The black-box tests (`switchboard-tests`) use this one too.
pub fn free_tcp_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> std::io::Result<u16> {
    Ok(std::net::UdpSocket::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// What `switchboard serve` prints before its control certificate's fingerprint.
const FINGERPRINT_PREFIX: &str = "control certificate sha256 fingerprint ";

/// The fingerprint on `switchboard serve`'s `control certificate sha256 fingerprint <fp>
/// [(generated now)]` start-up line; `None` for any other line.
pub fn fingerprint_of(line: &str) -> Option<&str> {
    line.strip_prefix(FINGERPRINT_PREFIX)?
        .split_whitespace()
        .next()
}

/// Whether `line` is the `relay on ...` line, the last `switchboard serve` prints at start.
pub fn is_relay_line(line: &str) -> bool {
    line.starts_with("relay on ")
}

/// The relay id on the `relay on [..] (clients dial ..; relay id <id>)` line.
pub fn relay_id_of(line: &str) -> Option<u64> {
    if !is_relay_line(line) {
        return None;
    }
    line.rsplit("relay id ")
        .next()?
        .trim_end_matches(')')
        .parse()
        .ok()
}

/// Waits until `GET /api/v1/health` answers 200, for at most `timeout` (every 100 ms).
pub async fn wait_healthy(http: &HttpClient, timeout: Duration) -> Result<(), LoadgenError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match http.request("GET", "/api/v1/health", None, None).await {
            Ok(r) if r.status == 200 => return Ok(()),
            other if tokio::time::Instant::now() >= deadline => {
                return Err(LoadgenError::Spawn(format!(
                    "admin API not healthy within {timeout:?}: {other:?}"
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The generated configuration: connection and login limits high enough for a load run from
/// one loopback address, plus `extra` appended as is.
pub fn serve_config(extra: Option<&str>) -> String {
    let mut c = String::from(
        "# generated by switchboard-loadgen\n\
         [control]\nmax_connections = 200000\nmax_per_ip = 200000\n\
         [login]\nper_ip_burst = 100000\nper_ip_per_minute = 1000000\n\
         per_user_burst = 100000\nper_user_per_minute = 1000000\n\
         [limits]\nsession_rate_burst = 100000\nsession_rate_per_second = 100000.0\n\
         login_rate_burst = 100000\nlogin_rate_per_second = 100000.0\n\
         max_sessions_per_tenant = 1000000\nmax_sessions = 1000000\n",
    );
    // The in-process relay's session and waiting caps (10,000 and per-IP) would stop a
    // loopback idle-scale run early; a `[relay.limits]` of the caller's own wins.
    if !extra.is_some_and(|e| e.contains("[relay.limits]")) {
        c.push_str("[relay.limits]\nmax_sessions = 1000000\nwaiting_total = 100000\nwaiting_per_ip = 100000\n");
    }
    if let Some(e) = extra {
        c.push_str(e);
        c.push('\n');
    }
    c
}

async fn spawn(o: &TargetOptions) -> Result<Target, LoadgenError> {
    let program = find_switchboard()?;
    let dir = tempfile::Builder::new()
        .prefix("switchboard-loadgen-")
        .tempdir()?;
    let config = dir.path().join("switchboard.toml");
    std::fs::write(&config, serve_config(o.extra_config.as_deref()))?;
    let (admin, control, control_quic) = (free_tcp_port()?, free_tcp_port()?, free_udp_port()?);
    let relay = free_tcp_port()?;
    let at = |p: u16| format!("127.0.0.1:{p}");
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--config".into(),
        config.display().to_string(),
        "--data-dir".into(),
        dir.path().join("data").display().to_string(),
        "--admin-listen".into(),
        at(admin),
        "--control-listen".into(),
        at(control),
        "--control-quic-listen".into(),
        at(control_quic),
        "--relay-listen".into(),
        at(relay),
        // UDP on the relay's TCP port number: QUIC sessions dial the assigned host:port.
        "--relay-quic-listen".into(),
        at(relay),
        "--bootstrap-tenant".into(),
        SPAWN_TENANT.into(),
        "--bootstrap-owner".into(),
        SPAWN_OWNER.into(),
        "--bootstrap-password".into(),
        SPAWN_PASSWORD.into(),
    ];
    if let Some(d) = &o.directory {
        args.extend(["--directory".to_owned(), d.clone()]);
    }
    let out_path = dir.path().join("serve.out");
    let err_path = dir.path().join("serve.err");
    let child = tokio::process::Command::new(&program)
        .args(&args)
        .env("RUST_LOG", o.server_log.as_deref().unwrap_or("warn"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path)?)
        .stderr(std::fs::File::create(&err_path)?)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LoadgenError::Spawn(format!("{}: {e}", program.display())))?;
    let pid = child.id().unwrap_or_default();
    let mut s = Spawned {
        child,
        dir,
        pid,
        relay: at(relay),
    };
    let fingerprint = match wait_started(&mut s, &out_path).await {
        Ok(fp) => fp,
        Err(e) => {
            let tail = tail_of(&err_path, 30);
            let _ = s.child.kill().await;
            return Err(LoadgenError::Spawn(format!(
                "{e}\n--- serve stderr (tail) ---\n{tail}"
            )));
        }
    };
    let t = Target {
        control: at(control),
        admin_url: format!("http://{}", at(admin)),
        fingerprint,
        admin_user: SPAWN_OWNER.to_owned(),
        admin_password: SPAWN_PASSWORD.to_owned(),
        transport: o.transport,
        spawned: Some(s),
    };
    wait_healthy(&t.http()?, START_TIMEOUT).await?;
    Ok(t)
}

/// The fingerprint from the `control certificate sha256 fingerprint` line, once `relay on`
/// was printed too (both within [`START_TIMEOUT`]).
async fn wait_started(s: &mut Spawned, out: &Path) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if let Some(fp) = text.lines().find_map(fingerprint_of)
            && text.lines().any(is_relay_line)
        {
            return Ok(fp.to_owned());
        }
        if let Ok(Some(status)) = s.child.try_wait() {
            return Err(format!("switchboard serve exited at start ({status})"));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "no fingerprint and relay line within {START_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_raises_limits_and_appends_extra() {
        let c = serve_config(Some("[tickets]\nkey_id = 3"));
        assert!(c.contains("max_per_ip = 200000"));
        assert!(c.contains("per_user_burst = 100000"));
        assert!(c.ends_with("key_id = 3\n"));
        let t: toml::Table = toml::from_str(&c).unwrap();
        assert_eq!(t["control"]["max_per_ip"].as_integer(), Some(200_000));
    }

    #[test]
    fn existing_server_needs_every_flag() {
        let o = TargetOptions {
            server: Some("127.0.0.1:1".into()),
            ..Default::default()
        };
        let e = existing("127.0.0.1:1", &o).unwrap_err();
        assert!(e.to_string().contains("--admin-url"), "{e}");
    }

    #[test]
    fn start_up_lines_are_read() {
        let fp = "control certificate sha256 fingerprint ab:cd (generated now)";
        assert_eq!(fingerprint_of(fp), Some("ab:cd"));
        assert_eq!(
            fingerprint_of("control certificate sha256 fingerprint "),
            None
        );
        assert_eq!(fingerprint_of("relay on [127.0.0.1:1]"), None);
        let relay = "relay on [127.0.0.1:5] (clients dial 127.0.0.1:5; relay id 42)";
        assert!(is_relay_line(relay));
        assert_eq!(relay_id_of(relay), Some(42));
        assert_eq!(relay_id_of("node name relay id 42"), None);
        assert!(free_tcp_port().unwrap() > 0 && free_udp_port().unwrap() > 0);
    }
}
