//! The relay registry a cluster shares, in Redis.
//!
//! Each relay (a separate `switchboard relay --redis ...`, or the in-process relay of each
//! `switchboard serve` on a Redis directory) announces itself as a hash
//! `<ns>:relay:<id>` (`addr`, `quic_addr`, `region`, `capacity`, `load`, `node`) with a
//! millisecond TTL (`PEXPIRE`) refreshed every third of it, plus its id in the set
//! `<ns>:relays`; it deletes both on drain or shutdown ([`RelayAnnouncer`]). A relay whose key
//! expired is gone: its set member is pruned at the next refresh and it is never picked.
//!
//! Brokers pick through [`RedisRelays`]: a local cache refreshed from Redis every `refresh`
//! period (bounded by `op_timeout`), so the synchronous `acquire` of the session actor never
//! awaits Redis. Between refreshes a broker counts its own picks on top of the load each relay
//! reported, so a burst of sessions spreads instead of piling onto the relay that looked idle
//! at the last refresh. A cached entry also expires on its own (the key's remaining TTL at
//! the refresh), so a relay that dies is not picked after its TTL even when Redis is
//! unreachable. Refresh failures and latency are metrics; nothing here is fatal.
//!
//! A relay whose key expired (it died: no drain, no withdrawal) is remembered until
//! [`RedisRelays::take_vanished`] is called, so the broker can end the sessions it had there
//! instead of waiting forever for records that will never come.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use redis::aio::ConnectionManager;
use redis::{Client, Value};
use switchboard_codec::RelayId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::counts::TaskGuard;
use crate::error::ActorError;
use crate::metrics;
use crate::relay_registry::{Entry, LoadRule, RelayChoice, RelayInfo, RelayRegistry, RelayTable};

/// Registry writes (announce, withdraw) queued at most; more are dropped and counted.
const WRITE_QUEUE: usize = 256;

/// Writes relay records to Redis: what a relay process uses to announce itself.
#[derive(Clone)]
pub struct RelayAnnouncer {
    conn: ConnectionManager,
    ns: String,
    op_timeout: Duration,
}

impl std::fmt::Debug for RelayAnnouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayAnnouncer")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

fn relay_key(ns: &str, id: RelayId) -> String {
    format!("{ns}:relay:{}", id.0)
}

fn set_key(ns: &str) -> String {
    format!("{ns}:relays")
}

async fn connect(url: &str, op_timeout: Duration) -> Result<ConnectionManager, ActorError> {
    let client = Client::open(url).map_err(ActorError::actor)?;
    tokio::time::timeout(op_timeout, client.get_connection_manager())
        .await
        .map_err(|_| ActorError::Actor("redis relay registry: connect timed out".into()))?
        .map_err(ActorError::actor)
}

fn bounded<T>(
    what: &str,
    r: Result<Result<T, redis::RedisError>, tokio::time::error::Elapsed>,
) -> Result<T, ActorError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ActorError::Actor(format!(
            "redis relay registry {what}: {e}"
        ))),
        Err(_) => Err(ActorError::Actor(format!(
            "redis relay registry {what}: timed out"
        ))),
    }
}

impl RelayAnnouncer {
    /// Connects to `url`; keys start with `namespace`; every command gives up after
    /// `op_timeout`.
    pub async fn connect(
        url: &str,
        namespace: &str,
        op_timeout: Duration,
    ) -> Result<Self, ActorError> {
        Ok(Self {
            conn: connect(url, op_timeout).await?,
            ns: namespace.to_owned(),
            op_timeout,
        })
    }

    /// Writes `info` with its current `load`, live for `ttl` (call again every `ttl / 3`).
    pub async fn announce(
        &self,
        info: &RelayInfo,
        load: u32,
        ttl: Duration,
    ) -> Result<(), ActorError> {
        let key = relay_key(&self.ns, info.id);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut p = redis::pipe();
        p.atomic()
            .hset_multiple(
                &key,
                &[
                    ("addr", info.addr.clone()),
                    ("quic_addr", info.quic_addr.clone().unwrap_or_default()),
                    ("region", info.region.clone()),
                    ("capacity", info.capacity.to_string()),
                    ("load", load.to_string()),
                    ("node", info.node.clone()),
                ],
            )
            .ignore()
            .pexpire(&key, i64::try_from(ms).unwrap_or(i64::MAX))
            .ignore()
            .sadd(set_key(&self.ns), info.id.0)
            .ignore();
        let mut c = self.conn.clone();
        let r = tokio::time::timeout(self.op_timeout, p.query_async::<()>(&mut c)).await;
        bounded("announce", r)
    }

    /// Removes relay `id` (drain or shutdown): brokers stop picking it at their next refresh.
    pub async fn withdraw(&self, id: RelayId) -> Result<(), ActorError> {
        let mut p = redis::pipe();
        p.atomic()
            .del(relay_key(&self.ns, id))
            .ignore()
            .srem(set_key(&self.ns), id.0)
            .ignore();
        let mut c = self.conn.clone();
        let r = tokio::time::timeout(self.op_timeout, p.query_async::<()>(&mut c)).await;
        bounded("withdraw", r)
    }

    /// Every relay whose key is live, with its reported load and remaining TTL; prunes set
    /// members whose key expired.
    pub async fn live_relays(&self) -> Result<Vec<(RelayInfo, u32, Duration)>, ActorError> {
        let mut c = self.conn.clone();
        let set = set_key(&self.ns);
        let r = tokio::time::timeout(
            self.op_timeout,
            redis::cmd("SMEMBERS")
                .arg(&set)
                .query_async::<Vec<u64>>(&mut c),
        )
        .await;
        let ids = bounded("members", r)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = redis::pipe();
        for id in &ids {
            let key = relay_key(&self.ns, RelayId(*id));
            p.cmd("HGETALL").arg(&key).cmd("PTTL").arg(&key);
        }
        let r = tokio::time::timeout(self.op_timeout, p.query_async::<Vec<Value>>(&mut c)).await;
        let values = bounded("read", r)?;
        let mut out = Vec::with_capacity(ids.len());
        let mut expired = Vec::new();
        for (id, pair) in ids.iter().zip(values.chunks(2)) {
            let [fields, ttl] = pair else { continue };
            let ttl: i64 = redis::from_redis_value(ttl).unwrap_or(-2);
            let fields: HashMap<String, String> =
                redis::from_redis_value(fields).unwrap_or_default();
            match (u64::try_from(ttl), parse_record(RelayId(*id), &fields)) {
                (Ok(ms), Some((info, load))) if ms > 0 => {
                    out.push((info, load, Duration::from_millis(ms)));
                }
                _ if ttl == -2 => expired.push(*id),
                _ => {}
            }
        }
        if !expired.is_empty() {
            let r = tokio::time::timeout(
                self.op_timeout,
                redis::cmd("SREM")
                    .arg(&set)
                    .arg(&expired)
                    .query_async::<i64>(&mut c),
            )
            .await;
            if let Err(e) = bounded("prune", r) {
                tracing::debug!(error = %e, "expired relays not pruned from the set");
            }
        }
        Ok(out)
    }
}

/// A relay record read back from its hash; `None` when a field is missing or malformed.
fn parse_record(id: RelayId, f: &HashMap<String, String>) -> Option<(RelayInfo, u32)> {
    let info = RelayInfo {
        id,
        addr: f.get("addr").filter(|a| !a.is_empty())?.clone(),
        quic_addr: f.get("quic_addr").filter(|a| !a.is_empty()).cloned(),
        region: f.get("region")?.clone(),
        capacity: f.get("capacity")?.parse().ok()?,
        node: f.get("node").cloned().unwrap_or_default(),
    };
    Some((info, f.get("load")?.parse().ok()?))
}

/// How a broker's cache follows Redis.
#[derive(Debug, Clone, Copy)]
pub struct RegistryTiming {
    /// The cache is refreshed this often (e.g. 1 s).
    pub refresh: Duration,
    /// One Redis command may take this long.
    pub op_timeout: Duration,
}

impl Default for RegistryTiming {
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(1),
            op_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Debug)]
enum Write {
    Announce(RelayInfo, u32, Duration),
    Withdraw(RelayId),
}

/// A broker's view of the shared relay registry. See the module documentation.
#[derive(Debug)]
pub struct RedisRelays {
    announcer: RelayAnnouncer,
    cache: RelayTable,
    /// Relays this process announces (its in-process relay), for heartbeats.
    own: Mutex<HashMap<RelayId, RelayInfo>>,
    writes: mpsc::Sender<Write>,
    /// Relays whose key expired since the last `take_vanished`.
    vanished: Mutex<Vec<RelayId>>,
    _tasks: [TaskGuard; 2],
}

impl RedisRelays {
    /// Connects, loads the registry once, and starts the refresher and the writer (both end
    /// when the registry is dropped).
    pub async fn start(
        url: &str,
        namespace: &str,
        timing: RegistryTiming,
    ) -> Result<Arc<Self>, ActorError> {
        let announcer = RelayAnnouncer::connect(url, namespace, timing.op_timeout).await?;
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        let relays = Arc::new_cyclic(|me: &Weak<Self>| {
            let refresher = tokio::spawn(refresh_loop(me.clone(), timing.refresh));
            let writer = tokio::spawn(write_loop(announcer.clone(), rx));
            Self {
                announcer,
                cache: RelayTable::new(LoadRule::Sum),
                own: Mutex::new(HashMap::new()),
                writes: tx,
                vanished: Mutex::new(Vec::new()),
                _tasks: [
                    TaskGuard::new(refresher.abort_handle()),
                    TaskGuard::new(writer.abort_handle()),
                ],
            }
        });
        if let Err(e) = relays.refresh().await {
            tracing::warn!(error = %e, "relay registry: first refresh failed");
        }
        Ok(relays)
    }

    /// The announcer this registry writes with (to withdraw a relay and wait for it).
    pub fn announcer(&self) -> &RelayAnnouncer {
        &self.announcer
    }

    /// Reads the registry from Redis into the cache now.
    pub async fn refresh(&self) -> Result<(), ActorError> {
        let started = Instant::now();
        let result = self.announcer.live_relays().await;
        ::metrics::histogram!(metrics::RELAY_REGISTRY_REFRESH_SECONDS)
            .record(started.elapsed().as_secs_f64());
        let live = match result {
            Ok(l) => l,
            Err(e) => {
                ::metrics::counter!(metrics::RELAY_REGISTRY_REFRESH_ERRORS_TOTAL).increment(1);
                return Err(e);
            }
        };
        let now = Instant::now();
        let fresh: HashMap<RelayId, Entry> = live
            .into_iter()
            .map(|(info, reported, ttl)| {
                let e = Entry {
                    reported,
                    expires: now + ttl,
                    ..Entry::new(info, ttl)
                };
                (e.info.id, e)
            })
            .collect();
        let old = std::mem::replace(&mut *self.cache.lock(), fresh);
        let gone: Vec<RelayId> = {
            let cache = self.cache.lock();
            old.into_values()
                .filter(|o| o.expires <= now && !cache.contains_key(&o.info.id))
                .map(|o| o.info.id)
                .collect()
        };
        if !gone.is_empty() {
            tracing::warn!(relays = ?gone, "relays vanished (their registry entries expired)");
            self.vanished.lock().extend(gone);
        }
        ::metrics::gauge!(metrics::RELAYS_LIVE).set(self.live_count() as f64);
        Ok(())
    }

    /// Relays that vanished (key expired, not withdrawn) since the last call.
    pub fn take_vanished(&self) -> Vec<RelayId> {
        std::mem::take(&mut *self.vanished.lock())
    }

    fn queue(&self, w: Write) {
        if self.writes.try_send(w).is_err() {
            ::metrics::counter!(metrics::RELAY_REGISTRY_WRITE_ERRORS_TOTAL).increment(1);
        }
    }
}

async fn refresh_loop(me: Weak<RedisRelays>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(r) = me.upgrade() else { return };
        if let Err(e) = r.refresh().await {
            tracing::warn!(error = %e, "relay registry refresh failed");
        }
    }
}

async fn write_loop(announcer: RelayAnnouncer, mut rx: mpsc::Receiver<Write>) {
    while let Some(w) = rx.recv().await {
        let r = match &w {
            Write::Announce(info, load, ttl) => announcer.announce(info, *load, *ttl).await,
            Write::Withdraw(id) => announcer.withdraw(*id).await,
        };
        if let Err(e) = r {
            ::metrics::counter!(metrics::RELAY_REGISTRY_WRITE_ERRORS_TOTAL).increment(1);
            tracing::warn!(error = %e, "relay registry write failed");
        }
    }
}

impl RelayRegistry for RedisRelays {
    fn register(&self, info: RelayInfo, ttl: Duration) {
        self.own.lock().insert(info.id, info.clone());
        // Pickable here at once, not only after the write and the next refresh.
        self.cache
            .lock()
            .insert(info.id, Entry::new(info.clone(), ttl));
        self.queue(Write::Announce(info, 0, ttl));
    }

    fn heartbeat(&self, id: RelayId, reported_load: u32, ttl: Duration) -> bool {
        let info = self.own.lock().get(&id).cloned();
        match info {
            Some(info) => {
                self.queue(Write::Announce(info, reported_load, ttl));
                true
            }
            None => false,
        }
    }

    fn deregister(&self, id: RelayId) {
        self.own.lock().remove(&id);
        self.cache.lock().remove(&id);
        self.queue(Write::Withdraw(id));
    }

    fn acquire(&self, region: Option<&str>) -> Option<RelayChoice> {
        self.cache.acquire(region)
    }

    fn release(&self, id: RelayId) {
        self.cache.release(id);
    }

    fn live_count(&self) -> usize {
        self.cache.live_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_parse_and_garbage_is_refused() {
        let mut f: HashMap<String, String> = [
            ("addr", "127.0.0.1:5656"),
            ("quic_addr", ""),
            ("region", "eu"),
            ("capacity", "10"),
            ("load", "3"),
            ("node", "n1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (info, load) = parse_record(RelayId(4), &f).unwrap();
        assert_eq!(info.addr, "127.0.0.1:5656");
        assert_eq!(info.quic_addr, None);
        assert_eq!((info.capacity, load), (10, 3));
        f.insert("load".into(), "many".into());
        assert!(parse_record(RelayId(4), &f).is_none());
        f.insert("load".into(), "1".into());
        f.remove("addr");
        assert!(parse_record(RelayId(4), &f).is_none());
    }
}
