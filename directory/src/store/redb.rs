//! The embedded backend: one redb file, the default for a single broker node.
//!
//! Layout: table `kv` maps `(scope, key)` to `(version, bytes)`; table `scopes` maps a scope to
//! its version. A commit is one redb write transaction with `Durability::Immediate` (the file is
//! fsynced before the call returns), so an acknowledged write survives a crash or `kill -9`.
//! redb is synchronous: every transaction runs in `spawn_blocking`. Change notifications are an
//! in-process tokio broadcast, so they reach only `Directory` instances sharing this store.
//! It does not expire keys or replicate: use the Redis backend for several brokers.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::broadcast;

use super::{
    EVENT_CHANNEL_CAPACITY, KvStore, MAX_SCAN_LIMIT, Op, ScanPage, ScanStart, Scope, StoreEvent,
    StoreFuture, Versioned, WriteBatch, scan_start, validate_key,
};
use crate::error::DirectoryError;

const KV: TableDefinition<'static, (&'static str, &'static str), (u64, &'static [u8])> =
    TableDefinition::new("kv");
const SCOPES: TableDefinition<'static, &'static str, u64> = TableDefinition::new("scopes");

const BACKEND: &str = "redb";

/// The embedded store. Cheap to clone; clones share the file and the notification channel.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    events: broadcast::Sender<StoreEvent>,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

fn backend_err(e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::StoreBackend {
        backend: BACKEND,
        detail: e.to_string(),
    }
}

impl RedbStore {
    /// Opens the file at `path`, creating it (and its tables) if needed. Blocking: call it at
    /// start-up or from `spawn_blocking`. Only one process may hold the file at a time.
    pub fn open(path: &Path) -> Result<Self, DirectoryError> {
        let db = Database::create(path).map_err(backend_err)?;
        let txn = db.begin_write().map_err(backend_err)?;
        txn.open_table(KV).map_err(backend_err)?;
        txn.open_table(SCOPES).map_err(backend_err)?;
        txn.commit().map_err(backend_err)?;
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        Ok(Self {
            db: Arc::new(db),
            events,
        })
    }

    /// Runs `f` on the database in the blocking pool.
    async fn blocking<T, F>(&self, f: F) -> Result<T, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, DirectoryError> + Send + 'static,
    {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(backend_err)?
    }
}

fn apply(db: &Database, batch: &WriteBatch) -> Result<u64, DirectoryError> {
    let scope = batch.scope().as_str();
    let mut txn = db.begin_write().map_err(backend_err)?;
    txn.set_durability(Durability::Immediate)
        .map_err(backend_err)?;
    let version = {
        let mut kv = txn.open_table(KV).map_err(backend_err)?;
        let mut scopes = txn.open_table(SCOPES).map_err(backend_err)?;
        for check in batch.checks() {
            let found = kv
                .get((scope, check.key()))
                .map_err(backend_err)?
                .map(|g| g.value().0);
            if found != check.expected() {
                // Dropping the transaction aborts it: nothing was written.
                return Err(DirectoryError::Conflict {
                    scope: scope.to_owned(),
                    key: check.key().to_owned(),
                    expected: check.expected(),
                    found,
                });
            }
        }
        let version = scopes
            .get(scope)
            .map_err(backend_err)?
            .map_or(0, |g| g.value())
            + 1;
        scopes.insert(scope, version).map_err(backend_err)?;
        for op in batch.ops() {
            match op {
                Op::Put { key, value } => {
                    kv.insert((scope, key.as_str()), (version, value.as_slice()))
                        .map_err(backend_err)?;
                }
                Op::Delete { key } => {
                    kv.remove((scope, key.as_str())).map_err(backend_err)?;
                }
            }
        }
        version
    };
    txn.commit().map_err(backend_err)?;
    Ok(version)
}

fn scan_page(
    db: &Database,
    scope: &str,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<ScanPage, DirectoryError> {
    let txn = db.begin_read().map_err(backend_err)?;
    let kv = txn.open_table(KV).map_err(backend_err)?;
    let lower = match scan_start(prefix, after) {
        ScanStart::At(k) => std::ops::Bound::Included((scope, k)),
        ScanStart::After(k) => std::ops::Bound::Excluded((scope, k)),
    };
    let range = kv
        .range::<(&str, &str)>((lower, std::ops::Bound::Unbounded))
        .map_err(backend_err)?;
    let mut page = ScanPage::default();
    for entry in range {
        let (k, v) = entry.map_err(backend_err)?;
        let (s, key) = k.value();
        if s != scope || !key.starts_with(prefix) {
            break;
        }
        if page.items.len() == limit {
            page.next = page.items.last().map(|(k, _)| k.clone());
            break;
        }
        let (version, value) = v.value();
        page.items.push((
            key.to_owned(),
            Versioned {
                version,
                value: value.to_vec(),
            },
        ));
    }
    Ok(page)
}

impl KvStore for RedbStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn get<'a>(&'a self, scope: &'a Scope, key: &'a str) -> StoreFuture<'a, Option<Versioned>> {
        Box::pin(async move {
            validate_key(key)?;
            let (scope, key) = (scope.as_str().to_owned(), key.to_owned());
            self.blocking(move |db| {
                let txn = db.begin_read().map_err(backend_err)?;
                let kv = txn.open_table(KV).map_err(backend_err)?;
                let found = kv
                    .get((scope.as_str(), key.as_str()))
                    .map_err(backend_err)?;
                Ok(found.map(|g| {
                    let (version, value) = g.value();
                    Versioned {
                        version,
                        value: value.to_vec(),
                    }
                }))
            })
            .await
        })
    }

    fn scan<'a>(
        &'a self,
        scope: &'a Scope,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, ScanPage> {
        Box::pin(async move {
            let limit = limit.clamp(1, MAX_SCAN_LIMIT);
            let scope = scope.as_str().to_owned();
            let prefix = prefix.to_owned();
            let after = after.map(str::to_owned);
            self.blocking(move |db| scan_page(db, &scope, &prefix, after.as_deref(), limit))
                .await
        })
    }

    fn commit(&self, batch: WriteBatch) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            batch.validate()?;
            let scope = batch.scope().clone();
            let version = self.blocking(move |db| apply(db, &batch)).await?;
            // No subscriber is fine: the send only fails when nobody listens.
            let _ = self.events.send(StoreEvent::Changed { scope, version });
            Ok(version)
        })
    }

    fn scope_version<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let scope = scope.as_str().to_owned();
            self.blocking(move |db| {
                let txn = db.begin_read().map_err(backend_err)?;
                let scopes = txn.open_table(SCOPES).map_err(backend_err)?;
                let v = scopes.get(scope.as_str()).map_err(backend_err)?;
                Ok(v.map_or(0, |g| g.value()))
            })
            .await
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }
}
