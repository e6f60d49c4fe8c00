//! A private `redis-server` on a free loopback port with its own temporary directory.
//!
//! Tests must not depend on a Redis the machine happens to run: each starts its own and the
//! guard kills it on drop. A missing `redis-server` is an error naming the Debian package,
//! never a silent skip.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running private `redis-server`; killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    aof: bool,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server that keeps nothing on disk.
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with(false)
    }

    /// Starts a server with append-only-file persistence (`appendfsync always`), so a test can
    /// kill and restart it and find what was acknowledged.
    pub fn start_with_aof() -> anyhow::Result<Self> {
        Self::start_with(true)
    }

    fn start_with(aof: bool) -> anyhow::Result<Self> {
        let mut server = Self {
            child: None,
            port: crate::free_tcp_port()?,
            aof,
            dir: tempfile::tempdir()?,
        };
        server.spawn()?;
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

    /// Kills the server at once (SIGKILL) and reaps it, keeping its directory and port.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same port, directory and
    /// persistence settings.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let persistence: &[&str] = if self.aof {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let child = Command::new(which_redis_server()?)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .args(persistence)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Waits until the server answers PING (bounded: 200 tries of 25 ms).
    fn wait_ready(&self) -> anyhow::Result<()> {
        for _ in 0..200 {
            if answers_ping(self.port) {
                return Ok(());
            }
            wait(Duration::from_millis(25));
        }
        anyhow::bail!(
            "redis-server on port {} did not answer PING within 5 s",
            self.port
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && reply.starts_with(b"+PONG")
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
