//! The shared backend: Redis (standalone, Sentinel primary, or Cluster), for several brokers.
//!
//! Layout, with namespace `ns` (default `sb`) and hash tag `{t:<tenant>}` (`{g}` for the global
//! scope), so that every key of one scope hashes to one Cluster slot and a batch stays atomic:
//! - `ns:{t:<tenant>}:k:<key>`: a hash with fields `v` (version) and `d` (the bytes);
//! - `ns:{t:<tenant>}:idx`: a sorted set of the scope's keys (all scores 0, so ordered by bytes),
//!   which makes a prefix scan one bounded `ZRANGEBYLEX ... LIMIT 0 n` instead of a `SCAN`;
//! - `ns:{t:<tenant>}:ver`: the scope version counter.
//!
//! A commit is one Lua script (`lua/commit.lua`, EVALSHA with EVAL fallback): it checks every
//! precondition, bumps the counter, applies the ops, updates the index and publishes
//! `"<version> <scope>"` on channel `ns:changes`, all atomically. A scan page is one read-only
//! script (`lua/scan.lua`), a consistent snapshot. Every call is bounded by `op_timeout` (on top
//! of the connection manager's connect and response timeouts), so a dead Redis gives
//! `StoreTimeout`/`StoreBackend`, never a hang. Durability is Redis's: see `ops/directory.md`
//! (`appendonly yes`, `appendfsync always` or `everysec`).

use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, RedisError, Script};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use super::{
    EVENT_CHANNEL_CAPACITY, KvStore, MAX_SCAN_LIMIT, Op, ScanPage, ScanStart, Scope, StoreEvent,
    StoreFuture, Versioned, WriteBatch, scan_start, validate_key,
};
use crate::error::DirectoryError;

const BACKEND: &str = "redis";
const COMMIT_LUA: &str = include_str!("lua/commit.lua");
const SCAN_LUA: &str = include_str!("lua/scan.lua");
/// Longest pause between two attempts to re-subscribe to the change channel.
const MAX_RESUBSCRIBE_BACKOFF: Duration = Duration::from_secs(5);

/// How to reach Redis and how long to wait for it.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://host:port/db` (or `rediss://`).
    pub url: String,
    /// Prefix of every key and of the change channel; no `{`, `}` or spaces.
    pub namespace: String,
    /// Bound on one TCP connect.
    pub connect_timeout: Duration,
    /// Bound on one command's reply.
    pub response_timeout: Duration,
    /// Bound on a whole store call, reconnect attempts included.
    pub op_timeout: Duration,
}

impl RedisConfig {
    /// Defaults: namespace `sb`, 2 s connect, 2 s response, 5 s per call.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            namespace: "sb".to_owned(),
            connect_timeout: Duration::from_secs(2),
            response_timeout: Duration::from_secs(2),
            op_timeout: Duration::from_secs(5),
        }
    }
}

/// The Redis store. Dropping it stops its subscription task.
pub struct RedisStore {
    conn: ConnectionManager,
    ns: String,
    op_timeout: Duration,
    commit_script: Script,
    scan_script: Script,
    events: broadcast::Sender<StoreEvent>,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.ns)
            .field("op_timeout", &self.op_timeout)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn redis_err(e: RedisError) -> DirectoryError {
    if e.is_timeout() {
        DirectoryError::StoreTimeout {
            backend: BACKEND,
            after_ms: 0,
        }
    } else {
        DirectoryError::StoreBackend {
            backend: BACKEND,
            detail: e.to_string(),
        }
    }
}

fn timeout_err(after: Duration) -> DirectoryError {
    DirectoryError::StoreTimeout {
        backend: BACKEND,
        after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
    }
}

/// Runs `fut` within `limit`.
async fn bounded<T>(
    limit: Duration,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, DirectoryError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(redis_err),
        Err(_) => Err(timeout_err(limit)),
    }
}

impl RedisStore {
    /// Connects, loads nothing yet (scripts load lazily) and subscribes to the change channel;
    /// returns once the subscription is live, or an error within `connect_timeout +
    /// op_timeout`.
    pub async fn connect(config: RedisConfig) -> Result<Self, DirectoryError> {
        if config.namespace.is_empty()
            || config
                .namespace
                .contains(|c: char| matches!(c, '{' | '}') || c.is_whitespace())
        {
            return Err(DirectoryError::InvalidStoreKey(format!(
                "redis namespace {:?}",
                config.namespace
            )));
        }
        let client = Client::open(config.url.as_str()).map_err(redis_err)?;
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.response_timeout)
            .set_number_of_retries(2)
            .set_max_delay(500);
        let conn = bounded(
            config.connect_timeout + config.op_timeout,
            client.get_connection_manager_with_config(manager_config),
        )
        .await?;
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let listener = tokio::spawn(listen(
            client,
            format!("{}:changes", config.namespace),
            config.connect_timeout,
            events.clone(),
            ready_tx,
        ));
        let store = Self {
            conn,
            ns: config.namespace,
            op_timeout: config.op_timeout,
            commit_script: Script::new(COMMIT_LUA),
            scan_script: Script::new(SCAN_LUA),
            events,
            listener,
        };
        match tokio::time::timeout(config.connect_timeout + config.op_timeout, ready_rx).await {
            Ok(Ok(())) => Ok(store),
            _ => Err(DirectoryError::StoreBackend {
                backend: BACKEND,
                detail: "could not subscribe to the change channel".to_owned(),
            }),
        }
    }

    fn tag(&self, scope: &Scope) -> String {
        if scope.is_global() {
            format!("{}:{{g}}", self.ns)
        } else {
            format!("{}:{{t:{}}}", self.ns, scope.as_str())
        }
    }

    fn data_prefix(&self, scope: &Scope) -> String {
        format!("{}:k:", self.tag(scope))
    }
}

/// Forwards `"<version> <scope>"` messages of `channel` to `events`, re-subscribing with
/// back-off after a lost connection (and announcing `Resync`, since messages may have been
/// lost). Runs until the store is dropped (the task is aborted).
async fn listen(
    client: Client,
    channel: String,
    connect_timeout: Duration,
    events: broadcast::Sender<StoreEvent>,
    ready: oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(50);
    loop {
        let subscribed = async {
            let mut pubsub = tokio::time::timeout(connect_timeout, client.get_async_pubsub())
                .await
                .ok()?
                .ok()?;
            tokio::time::timeout(connect_timeout, pubsub.subscribe(&channel))
                .await
                .ok()?
                .ok()?;
            Some(pubsub)
        }
        .await;
        if let Some(pubsub) = subscribed {
            backoff = Duration::from_millis(50);
            match ready.take() {
                Some(tx) => {
                    let _ = tx.send(());
                }
                None => {
                    let _ = events.send(StoreEvent::Resync);
                }
            }
            let mut stream = pubsub.into_on_message();
            while let Some(msg) = stream.next().await {
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                if let Some(event) = parse_change(&payload) {
                    let _ = events.send(event);
                }
            }
            tracing::warn!(channel = %channel, "redis change subscription lost; re-subscribing");
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_RESUBSCRIBE_BACKOFF);
    }
}

fn parse_change(payload: &str) -> Option<StoreEvent> {
    let (version, scope) = payload.split_once(' ')?;
    Some(StoreEvent::Changed {
        scope: Scope::parse(scope).ok()?,
        version: version.parse().ok()?,
    })
}

impl KvStore for RedisStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn get<'a>(&'a self, scope: &'a Scope, key: &'a str) -> StoreFuture<'a, Option<Versioned>> {
        Box::pin(async move {
            validate_key(key)?;
            let mut conn = self.conn.clone();
            let k = format!("{}{key}", self.data_prefix(scope));
            let (version, value): (Option<u64>, Option<Vec<u8>>) = bounded(
                self.op_timeout,
                redis::cmd("HMGET")
                    .arg(k)
                    .arg("v")
                    .arg("d")
                    .query_async(&mut conn),
            )
            .await?;
            Ok(match (version, value) {
                (Some(version), Some(value)) => Some(Versioned { version, value }),
                _ => None,
            })
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
            let min = match scan_start(prefix, after) {
                ScanStart::At(k) => format!("[{k}").into_bytes(),
                ScanStart::After(k) => format!("({k}").into_bytes(),
            };
            // Keys are UTF-8, so no key holds the byte 0xff: "[prefix\xff" bounds the prefix.
            let max = if prefix.is_empty() {
                b"+".to_vec()
            } else {
                let mut m = format!("[{prefix}").into_bytes();
                m.push(0xff);
                m
            };
            let mut conn = self.conn.clone();
            let mut invocation = self.scan_script.prepare_invoke();
            invocation
                .key(format!("{}:idx", self.tag(scope)))
                .arg(min)
                .arg(max)
                .arg(limit + 1)
                .arg(self.data_prefix(scope));
            let flat: Vec<redis::Value> =
                bounded(self.op_timeout, invocation.invoke_async(&mut conn)).await?;
            let mut page = ScanPage::default();
            let mut it = flat.into_iter();
            while let (Some(k), Some(v), Some(d)) = (it.next(), it.next(), it.next()) {
                let key: String = redis::from_redis_value(&k).map_err(redis_err)?;
                let version: u64 = redis::from_redis_value(&v).map_err(redis_err)?;
                let value: Vec<u8> = redis::from_redis_value(&d).map_err(redis_err)?;
                if page.items.len() == limit {
                    page.next = page.items.last().map(|(k, _)| k.clone());
                    break;
                }
                page.items.push((key, Versioned { version, value }));
            }
            Ok(page)
        })
    }

    fn commit(&self, batch: WriteBatch) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            batch.validate()?;
            let scope = batch.scope();
            let data_prefix = self.data_prefix(scope);
            let mut invocation = self.commit_script.prepare_invoke();
            invocation
                .key(format!("{}:ver", self.tag(scope)))
                .key(format!("{}:idx", self.tag(scope)))
                .arg(batch.checks().len())
                .arg(format!("{}:changes", self.ns))
                .arg(scope.as_str());
            // Data keys start at KEYS[3] (Lua indexes from 1).
            let mut next_index = 3usize;
            for check in batch.checks() {
                invocation
                    .key(format!("{data_prefix}{}", check.key()))
                    .arg(next_index)
                    .arg(check.expected().unwrap_or(0));
                next_index += 1;
            }
            for op in batch.ops() {
                invocation.key(format!("{data_prefix}{}", op.key()));
                match op {
                    Op::Put { key, value } => {
                        invocation.arg("p").arg(next_index).arg(key).arg(value);
                    }
                    Op::Delete { key } => {
                        invocation.arg("d").arg(next_index).arg(key).arg("");
                    }
                }
                next_index += 1;
            }
            let mut conn = self.conn.clone();
            let reply: Vec<u64> =
                bounded(self.op_timeout, invocation.invoke_async(&mut conn)).await?;
            match reply.as_slice() {
                [1, version] => Ok(*version),
                [0, index, found] => {
                    let check = usize::try_from(*index)
                        .ok()
                        .and_then(|i| i.checked_sub(3))
                        .and_then(|i| batch.checks().get(i));
                    match check {
                        Some(check) => Err(DirectoryError::Conflict {
                            scope: scope.as_str().to_owned(),
                            key: check.key().to_owned(),
                            expected: check.expected(),
                            found: (*found != 0).then_some(*found),
                        }),
                        None => Err(DirectoryError::StoreBackend {
                            backend: BACKEND,
                            detail: format!("commit script named unknown key index {index}"),
                        }),
                    }
                }
                other => Err(DirectoryError::StoreBackend {
                    backend: BACKEND,
                    detail: format!("unexpected commit reply {other:?}"),
                }),
            }
        })
    }

    fn scope_version<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let key = format!("{}:ver", self.tag(scope));
            let v: Option<u64> = bounded(self.op_timeout, conn.get(key)).await?;
            Ok(v.unwrap_or(0))
        })
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_messages_parse() {
        assert_eq!(
            parse_change("42 acme"),
            Some(StoreEvent::Changed {
                scope: Scope::tenant("acme").unwrap(),
                version: 42
            })
        );
        assert!(parse_change("x acme").is_none());
        assert!(parse_change("42 a{b").is_none());
        assert!(parse_change("").is_none());
    }

    /// The commit script groups index updates per run of puts or deletes: op order still
    /// decides (a put after a delete of one key leaves it indexed, and the reverse does not),
    /// and runs longer than one index call holds are split.
    #[tokio::test]
    async fn grouped_index_updates_keep_op_order() {
        let server = switchboard_tests::RedisServer::start().unwrap();
        let store = RedisStore::connect(RedisConfig::new(server.url()))
            .await
            .unwrap();
        let sc = Scope::tenant("acme").unwrap();
        store.put(&sc, "back", vec![0]).await.unwrap();
        store.put(&sc, "gone", vec![0]).await.unwrap();
        let mut batch = WriteBatch::new(sc.clone());
        batch.delete("back").put("back", b"again".to_vec());
        batch.put("gone", vec![1]).delete("gone");
        for i in 0..1200 {
            batch.put(format!("n/{i:04}"), vec![]);
        }
        for i in 0..700 {
            batch.delete(format!("n/{i:04}"));
        }
        let v = store.commit(batch).await.unwrap();
        let all = crate::store::scan_all(&store, &sc, "", 10_000)
            .await
            .unwrap();
        let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.len(), 501);
        assert_eq!(keys[0], "back");
        assert_eq!(keys[1], "n/0700");
        assert_eq!(keys[500], "n/1199");
        assert_eq!(all[0].1.value, b"again");
        assert!(all.iter().all(|(_, x)| x.version == v));
        // The index holds exactly the live keys: nothing for "gone" or the deleted ones.
        let mut conn = store.conn.clone();
        let indexed: u64 = conn.zcard("sb:{t:acme}:idx").await.unwrap();
        assert_eq!(indexed, 501);
    }
}
