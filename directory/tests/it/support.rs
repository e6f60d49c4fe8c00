//! Shared test support: private `redis-server` processes and both store backends.
//!
//! Every Redis test starts its own `redis-server` on a free loopback port with a temporary
//! directory and kills it on drop. If `redis-server` is missing the test fails loudly: install
//! the Debian package `redis-server`.

use std::sync::Arc;
use std::time::Duration;

use switchboard_directory::store::redis::{RedisConfig, RedisStore};
use switchboard_directory::store::{KvStore, Scope, SharedStore, StoreConfig, scan_all};

/// The shared private `redis-server` (free port, temp dir, killed on drop).
pub(crate) use switchboard_tests::RedisServer;

/// Starts a private server or fails loudly: these tests need the Debian package
/// `redis-server` and never skip.
pub(crate) fn start_redis(aof: bool) -> RedisServer {
    let started = if aof {
        RedisServer::start_with_aof()
    } else {
        RedisServer::start()
    };
    started.unwrap_or_else(|e| panic!("cannot start a private redis-server: {e:#}"))
}

/// A store on `server` with short timeouts (tests of a dead server stay quick).
pub(crate) async fn redis_store(server: &RedisServer) -> Arc<RedisStore> {
    let mut cfg = RedisConfig::new(server.url());
    cfg.connect_timeout = Duration::from_millis(500);
    cfg.response_timeout = Duration::from_secs(1);
    cfg.op_timeout = Duration::from_secs(3);
    Arc::new(
        RedisStore::connect(cfg)
            .await
            .expect("connect to the private redis-server"),
    )
}

/// A store plus whatever keeps it alive (temp dir or redis-server).
pub(crate) struct TestStore {
    pub(crate) store: SharedStore,
    pub(crate) redis: Option<RedisServer>,
    _tmp: Option<tempfile::TempDir>,
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
        let server = start_redis(false);
        let store = redis_store(&server).await;
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
            Some(server) => redis_store(server).await,
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
