//! Shared test support: private `redis-server` processes and both store backends.
//!
//! Every Redis test starts its own `redis-server` on a free loopback port with a temporary
//! directory and kills it on drop. If `redis-server` is missing the test fails loudly: install
//! the Debian package `redis-server`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use switchboard_directory::store::redis::{RedisConfig, RedisStore};
use switchboard_directory::store::{KvStore, Scope, SharedStore, StoreConfig, scan_all};
use tempfile::TempDir;

/// A private redis-server; killed (SIGKILL) and reaped on drop.
pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    aof: bool,
    _tmp: Option<TempDir>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    l.local_addr().unwrap().port()
}

impl RedisServer {
    /// A throw-away server: no RDB snapshots, no AOF.
    pub(crate) fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut s = Self {
            child: None,
            port: free_port(),
            dir,
            aof: false,
            _tmp: Some(tmp),
        };
        s.spawn();
        s
    }

    /// A server with `appendonly yes` and `appendfsync always` in `dir`.
    pub(crate) fn start_aof(dir: &Path) -> Self {
        let mut s = Self {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            aof: true,
            _tmp: None,
        };
        s.spawn();
        s
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start `redis-server` ({e}); these tests need it: \
                 apt-get install redis-server"
            )
        });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
                if s.write_all(b"PING\r\n").is_ok() {
                    let mut buf = [0u8; 64];
                    if let Ok(n) = s.read(&mut buf)
                        && buf[..n].starts_with(b"+PONG")
                    {
                        return;
                    }
                }
            }
            // A dedicated test thread waiting for a child process, not a runtime thread.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        );
    }

    /// `redis://127.0.0.1:<port>/`.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// SIGKILLs the server and reaps it.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and directory.
    pub(crate) fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// A store with short timeouts (tests of a dead server stay quick).
    pub(crate) async fn store(&self) -> Arc<RedisStore> {
        let mut cfg = RedisConfig::new(self.url());
        cfg.connect_timeout = Duration::from_millis(500);
        cfg.response_timeout = Duration::from_secs(1);
        cfg.op_timeout = Duration::from_secs(3);
        Arc::new(
            RedisStore::connect(cfg)
                .await
                .expect("connect to the private redis-server"),
        )
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A store plus whatever keeps it alive (temp dir or redis-server).
pub(crate) struct TestStore {
    pub(crate) store: SharedStore,
    pub(crate) redis: Option<RedisServer>,
    _tmp: Option<TempDir>,
}

impl TestStore {
    pub(crate) async fn redb() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("directory.redb");
        let store = switchboard_directory::store::open(StoreConfig::Redb { path })
            .await
            .unwrap();
        Self {
            store,
            redis: None,
            _tmp: Some(tmp),
        }
    }

    pub(crate) async fn redis() -> Self {
        let server = RedisServer::start();
        let store = server.store().await;
        Self {
            store,
            redis: Some(server),
            _tmp: None,
        }
    }

    /// A second, independent store over the same data (same Redis server; for redb, the same
    /// store handle, since the file admits one process).
    pub(crate) async fn second_instance(&self) -> SharedStore {
        match &self.redis {
            Some(server) => server.store().await,
            None => Arc::clone(&self.store),
        }
    }
}

/// Every key and value of a scope (for "the store is unchanged" assertions).
pub(crate) async fn dump(store: &dyn KvStore, scope: &Scope) -> Vec<(String, u64, Vec<u8>)> {
    scan_all(store, scope, "", 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.version, v.value))
        .collect()
}

/// Runs one async test body against both backends: `both_backends!(name);` expects an
/// `async fn name(t: TestStore)` in scope and makes `name::redb` and `name::redis`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redb() {
                super::$name($crate::support::TestStore::redb().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn redis() {
                super::$name($crate::support::TestStore::redis().await).await;
            }
        }
    )*};
}
