//! Versioned key-value storage under the directory: the `KvStore` trait and its two backends.
//!
//! Every key lives in a [`Scope`] (one tenant, or the global scope for cross-tenant indexes such
//! as usernames and enrollment-key hashes) and carries a version. A scope has a version counter
//! that every committed [`WriteBatch`] bumps by one in the same atomic step; the keys a batch
//! writes take that new scope version as their own version, so versions only grow and a deleted
//! then re-created key never repeats an old version. Preconditions ("key K has version V", "key K
//! is absent") make compare-and-set possible: a batch whose precondition fails returns
//! [`DirectoryError::Conflict`] and changes nothing.
//!
//! Backends: [`redb::RedbStore`] (embedded, one file, the default) and [`redis::RedisStore`]
//! (shared by several brokers, Cluster-ready key layout). The broker picks one at run time and
//! holds it as `Arc<dyn KvStore>`. Every commit also publishes a [`StoreEvent`] so that holders
//! of compiled per-tenant snapshots refresh them only when their tenant changed.
//!
//! [`open`] wraps the backend in [`timed::Timed`], which reports each call's latency and
//! outcome to an observer the broker installs (its metrics); this crate records no metric itself.
//!
//! No access rule lives here: this module stores bytes; `service` decides what they mean.

mod batch;
pub mod redb;
pub mod redis;
pub mod timed;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::broadcast;

use crate::error::DirectoryError;

pub use batch::{Check, Op, WriteBatch};

/// Most keys a single scan page may return.
pub const MAX_SCAN_LIMIT: usize = 1000;
/// Most operations (puts + deletes + checks) one batch may carry.
pub const MAX_BATCH_OPS: usize = 4096;
/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 512;
/// Largest value accepted, in bytes.
pub const MAX_VALUE_LEN: usize = 4 * 1024 * 1024;
/// Capacity of the change-notification channel; a slower subscriber sees `Lagged` and must
/// reload everything it caches.
pub const EVENT_CHANNEL_CAPACITY: usize = 1024;

/// Name of the global scope (cross-tenant indexes). Tenant ids cannot contain `~`.
const GLOBAL_SCOPE: &str = "~global";

/// The boxed future every `KvStore` method returns (keeps the trait usable as `dyn`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, DirectoryError>> + Send + 'a>>;

/// A shared handle on whichever backend the broker picked.
pub type SharedStore = Arc<dyn KvStore>;

/// A partition of the key space: one tenant, or the global scope.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope(String);

impl Scope {
    /// The scope of one tenant. Tenant ids are 1..=64 characters of `[A-Za-z0-9_.-]`, so they
    /// fit in a Redis hash tag and a redb key unchanged.
    pub fn tenant(id: &str) -> Result<Self, DirectoryError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(DirectoryError::InvalidStoreKey(format!("tenant id {id:?}")))
        }
    }

    /// The global scope (username index, enrollment-key index, tenant list).
    pub fn global() -> Self {
        Self(GLOBAL_SCOPE.to_owned())
    }

    /// True for the global scope.
    pub fn is_global(&self) -> bool {
        self.0 == GLOBAL_SCOPE
    }

    /// The scope's name: the tenant id, or `~global`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a name produced by [`Scope::as_str`].
    pub fn parse(name: &str) -> Result<Self, DirectoryError> {
        if name == GLOBAL_SCOPE {
            Ok(Self::global())
        } else {
            Self::tenant(name)
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({})", self.0)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored value and the version it was written at (always ≥ 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// Version of the key: the scope version of the batch that last wrote it.
    pub version: u64,
    /// The bytes stored.
    pub value: Vec<u8>,
}

/// One page of a prefix scan, in ascending key order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanPage {
    /// Keys (full key, including the prefix) with their values.
    pub items: Vec<(String, Versioned)>,
    /// Pass as `after` to get the next page; `None` when the scan is complete.
    pub next: Option<String>,
}

/// A change notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// A batch committed in `scope`; its version is now `version`.
    Changed {
        /// The scope written.
        scope: Scope,
        /// The scope version after the commit.
        version: u64,
    },
    /// Notifications may have been missed (the Redis subscription was re-established): every
    /// cached snapshot must be re-validated against [`KvStore::scope_version`].
    Resync,
}

/// Versioned key-value storage partitioned by scope. See the module documentation.
pub trait KvStore: Send + Sync + fmt::Debug {
    /// Short backend name for errors and metrics (`"redb"`, `"redis"`).
    fn backend(&self) -> &'static str;

    /// Reads one key.
    fn get<'a>(&'a self, scope: &'a Scope, key: &'a str) -> StoreFuture<'a, Option<Versioned>>;

    /// Lists keys starting with `prefix` in ascending order, strictly after `after` when given,
    /// at most `limit` (capped at [`MAX_SCAN_LIMIT`]) per page.
    fn scan<'a>(
        &'a self,
        scope: &'a Scope,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, ScanPage>;

    /// Applies a batch atomically: all checks hold and every op is applied, or nothing changes
    /// (a failed check gives [`DirectoryError::Conflict`]). Returns the new scope version.
    fn commit(&self, batch: WriteBatch) -> StoreFuture<'_, u64>;

    /// Current version of a scope (0 if it was never written).
    fn scope_version<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, u64>;

    /// Subscribes to change notifications of every scope.
    fn subscribe(&self) -> broadcast::Receiver<StoreEvent>;

    /// Writes one key unconditionally. Returns the new scope version.
    fn put<'a>(&'a self, scope: &'a Scope, key: &'a str, value: Vec<u8>) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut batch = WriteBatch::new(scope.clone());
            batch.put(key, value);
            self.commit(batch).await
        })
    }

    /// Deletes one key unconditionally (absent keys are fine). Returns the new scope version.
    fn delete<'a>(&'a self, scope: &'a Scope, key: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut batch = WriteBatch::new(scope.clone());
            batch.delete(key);
            self.commit(batch).await
        })
    }
}

/// Which backend to open, as chosen by configuration at run time.
#[derive(Clone, Debug)]
pub enum StoreConfig {
    /// The embedded store in one file.
    Redb {
        /// The redb file (created if missing).
        path: std::path::PathBuf,
    },
    /// A shared Redis.
    Redis(redis::RedisConfig),
}

/// Opens the configured backend (the redb file is opened in the blocking pool), wrapped in
/// [`timed::Timed`] so that every call's latency reaches the process's observer.
pub async fn open(config: StoreConfig) -> Result<SharedStore, DirectoryError> {
    match config {
        StoreConfig::Redb { path } => {
            let store = tokio::task::spawn_blocking(move || redb::RedbStore::open(&path))
                .await
                .map_err(|e| DirectoryError::StoreBackend {
                    backend: "redb",
                    detail: e.to_string(),
                })??;
            Ok(Arc::new(timed::Timed::new(store)))
        }
        StoreConfig::Redis(cfg) => Ok(Arc::new(timed::Timed::new(
            redis::RedisStore::connect(cfg).await?,
        ))),
    }
}

/// Reads every key of `prefix` in a scope, page by page (at most `max_keys`, which bounds
/// memory; more keys than that is an error rather than a silent truncation).
pub async fn scan_all(
    store: &dyn KvStore,
    scope: &Scope,
    prefix: &str,
    max_keys: usize,
) -> Result<Vec<(String, Versioned)>, DirectoryError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .scan(scope, prefix, after.as_deref(), MAX_SCAN_LIMIT)
            .await?;
        out.extend(page.items);
        if out.len() > max_keys {
            return Err(DirectoryError::StoreLimit(format!(
                "more than {max_keys} keys under {prefix:?} in {scope}"
            )));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
}

/// Checks a key against the limits every backend enforces.
pub(crate) fn validate_key(key: &str) -> Result<(), DirectoryError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.contains('\0') {
        return Err(DirectoryError::InvalidStoreKey(format!(
            "key of {} bytes",
            key.len()
        )));
    }
    Ok(())
}

/// Where a scan starts: strictly after `after` if that is at or past `prefix`, else at `prefix`.
pub(crate) fn scan_start<'k>(prefix: &'k str, after: Option<&'k str>) -> ScanStart<'k> {
    match after {
        Some(a) if a >= prefix => ScanStart::After(a),
        _ => ScanStart::At(prefix),
    }
}

/// Lower bound of a scan.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ScanStart<'k> {
    /// Inclusive.
    At(&'k str),
    /// Exclusive.
    After(&'k str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_restricted() {
        assert!(Scope::tenant("acme-1.eu_x").is_ok());
        for bad in ["", "a{b", "a}b", "a b", "~global", "a:b", &"x".repeat(65)] {
            assert!(Scope::tenant(bad).is_err(), "{bad:?}");
        }
        assert!(Scope::parse("~global").unwrap().is_global());
        assert_eq!(
            Scope::parse("acme").unwrap(),
            Scope::tenant("acme").unwrap()
        );
    }

    #[test]
    fn scan_start_never_goes_before_prefix() {
        assert!(matches!(scan_start("u/", None), ScanStart::At("u/")));
        assert!(matches!(scan_start("u/", Some("a")), ScanStart::At("u/")));
        assert!(matches!(
            scan_start("u/", Some("u/1")),
            ScanStart::After("u/1")
        ));
    }

    #[test]
    fn keys_are_bounded() {
        assert!(validate_key("user/1").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\0b").is_err());
        assert!(validate_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
    }
}
