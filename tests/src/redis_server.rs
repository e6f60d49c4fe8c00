//! A private `redis-server` on a free loopback port with its own temporary directory.
//!
//! Tests must not depend on a Redis the machine happens to run: each starts its own and the
//! guard kills it on drop. A missing `redis-server` is an error naming the Debian package,
//! never a silent skip.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running private `redis-server`; killed (SIGKILL) when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts a server with append-only-file persistence (`appendfsync always`), so a test
    /// can kill and restart it and find what was acknowledged.
    pub fn start_with_aof() -> anyhow::Result<Self> {
        Self::start_with(&["--save", "", "--appendonly", "yes", "--appendfsync", "always"])
    }

    fn start_with(extra: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = crate::free_tcp_port()?;
        let child = spawn(port, dir.path(), extra)?;
        let server = Self { child, port, dir };
        server.wait_ready()?;
        Ok(server)
    }

    /// The `redis://` URL of this server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server at once (SIGKILL), keeping its directory.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts the server again on the same port and directory (after `kill`), with the same
    /// persistence settings as `start_with_aof`.
    pub fn restart_with_aof(&mut self) -> anyhow::Result<()> {
        let extra = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"];
        self.child = spawn(self.port, self.dir.path(), &extra)?;
        self.wait_ready()
    }

    fn wait_ready(&self) -> anyhow::Result<()> {
        // Bounded: 200 tries of 25 ms.
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            wait(Duration::from_millis(25));
        }
        anyhow::bail!("redis-server on port {} did not start within 5 s", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(port: u16, dir: &Path, extra: &[&str]) -> anyhow::Result<Child> {
    let binary = which_redis_server()?;
    let child = Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(child)
}

fn which_redis_server() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!("redis-server not found: install the Debian package `redis-server`")
        })
}

/// Blocking wait for test set-up code that runs outside any runtime.
#[allow(clippy::disallowed_methods)] // a plain thread waiting for a child process to listen
fn wait(duration: Duration) {
    std::thread::sleep(duration);
}
