//! A broker node among several on one Redis directory (and a relay running apart from them).
//!
//! - Node names and relay ids: [`node_name`] (configured, or `<hostname>-<random>`) and
//!   [`relay_id_for`] (the in-process relay's id when the `[relay]` table names none: a
//!   stable hash of the node name, so two nodes never announce the same relay id).
//! - Ticket keys: every broker of one Redis signs with the same key (operators copy
//!   `ticket-key-<id>.key` into each broker's data dir); [`publish_ticket_keys`] writes each
//!   key id's public key to `<ns>:ticket-keys` if absent and refuses to start a broker whose
//!   key differs, so a relay can verify every broker's tickets; [`load_ticket_keys`] is how a
//!   separate relay learns them.
//! - [`RelayKillRouter`]: the hub's kill hook; the in-process relay is cut directly, any other
//!   relay over its Redis kill channel.
//! - [`ClusterRelaySink`]: a separate relay's record sink: records still go to the stream (the
//!   durable log) and, with `paired`, to the owning broker over the node bus broadcast.
//!
//! The node bus and the relay registry themselves are in `switchboard_actors`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_actors::{NodeBus, NodeMessage, RelayKill, SessionEvent};
use switchboard_codec::{ErrorCode, RelayId, SessionId, Side};
use switchboard_relay::RelayHandle;
use switchboard_relay::config::{BrokerKey, parse_key_hex};
use switchboard_relay::record::{RecordSink, SessionRecord};

use super::relay_kill_redis::RedisRelayKill;
use super::relay_link::relay_record;
use crate::error::BrokerError;

/// Redis operations at start give up after this long.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

/// The configured node name, or `<hostname>-<8 random hex digits>`.
pub fn node_name(configured: &str) -> String {
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "broker".to_owned());
    let mut r = [0u8; 4];
    let _ = getrandom::fill(&mut r);
    format!("{host}-{}", hex::encode(r))
}

/// A relay id for the in-process relay of node `node` (FNV-1a of the name, never 0).
pub fn relay_id_for(node: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // Kept below 2^53 so it survives JSON and TOML integers.
    (h >> 11).max(1)
}

fn keys_hash(ns: &str) -> String {
    format!("{ns}:ticket-keys")
}

async fn connection(url: &str) -> Result<redis::aio::MultiplexedConnection, BrokerError> {
    let client =
        redis::Client::open(url).map_err(|e| BrokerError::Config(format!("redis: {e}")))?;
    tokio::time::timeout(OP_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| BrokerError::Config("redis: connect timed out".into()))?
        .map_err(|e| BrokerError::Config(format!("redis: {e}")))
}

async fn bounded<T>(
    f: impl Future<Output = Result<T, redis::RedisError>>,
) -> Result<T, BrokerError> {
    tokio::time::timeout(OP_TIMEOUT, f)
        .await
        .map_err(|_| BrokerError::Config("redis: timed out".into()))?
        .map_err(|e| BrokerError::Config(format!("redis: {e}")))
}

/// Publishes this broker's ticket public keys (`HSETNX`) and checks every one matches what
/// the cluster already uses.
pub async fn publish_ticket_keys(
    url: &str,
    ns: &str,
    keys: &[BrokerKey],
) -> Result<(), BrokerError> {
    let mut c = connection(url).await?;
    let hash = keys_hash(ns);
    for k in keys {
        let mine = hex::encode(k.public_key);
        let _: i64 = bounded(
            redis::cmd("HSETNX")
                .arg(&hash)
                .arg(k.id)
                .arg(&mine)
                .query_async(&mut c),
        )
        .await?;
        let theirs: Option<String> =
            bounded(redis::cmd("HGET").arg(&hash).arg(k.id).query_async(&mut c)).await?;
        if theirs.as_deref() != Some(mine.as_str()) {
            return Err(BrokerError::Config(format!(
                "ticket key id {} differs from the one the other brokers of this Redis use: \
                 copy ticket-key-{}.key from a running broker's data dir into this one's \
                 (see ops/relay.md, \"Ticket keys in a cluster\")",
                k.id, k.id
            )));
        }
    }
    Ok(())
}

/// The ticket public keys the brokers of this Redis published.
pub async fn load_ticket_keys(url: &str, ns: &str) -> Result<Vec<BrokerKey>, BrokerError> {
    let mut c = connection(url).await?;
    let all: HashMap<u32, String> =
        bounded(redis::cmd("HGETALL").arg(keys_hash(ns)).query_async(&mut c)).await?;
    let mut keys = all
        .into_iter()
        .map(|(id, hex)| {
            parse_key_hex(&hex)
                .map(|public_key| BrokerKey { id, public_key })
                .map_err(|e| BrokerError::Config(format!("ticket key {id} in redis: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    keys.sort_by_key(|k| k.id);
    Ok(keys)
}

/// The hub's kill hook on a cluster node: the in-process relay directly, others over Redis.
#[derive(Debug)]
pub struct RelayKillRouter {
    local: Arc<RelayHandle>,
    remote: Option<RedisRelayKill>,
}

impl RelayKillRouter {
    /// Kills on `local`, and (with `remote`) on every other relay over its kill channel.
    pub fn new(local: Arc<RelayHandle>, remote: Option<RedisRelayKill>) -> Self {
        Self { local, remote }
    }
}

impl RelayKill for RelayKillRouter {
    fn kill(&self, relay: RelayId, session: SessionId, reason: ErrorCode) {
        if relay == self.local.config().relay() {
            self.local.kill_session(session, reason);
        } else if let Some(r) = &self.remote {
            r.kill(relay, session, reason);
        } else {
            tracing::warn!(%session, relay = relay.0, "session on a relay this broker cannot reach; not cut");
        }
    }
}

/// A separate relay's record sink in a cluster: `inner` (the Redis stream) keeps every
/// record; the owning broker hears `paired` and the record over the node bus broadcast.
#[derive(Debug)]
pub struct ClusterRelaySink {
    inner: Arc<dyn RecordSink>,
    bus: Arc<dyn NodeBus>,
}

impl ClusterRelaySink {
    /// Wraps `inner`, announcing on `bus`.
    pub fn new(inner: Arc<dyn RecordSink>, bus: Arc<dyn NodeBus>) -> Self {
        Self { inner, bus }
    }
}

impl RecordSink for ClusterRelaySink {
    fn paired(&self, session: SessionId) {
        for side in [Side::Host, Side::Guest] {
            self.bus.broadcast(NodeMessage::Relay {
                session,
                event: SessionEvent::RelayBound { side },
            });
        }
    }

    fn submit(&self, record: SessionRecord) {
        if let Ok(session) = record.session_id.parse::<SessionId>() {
            self.bus.broadcast(NodeMessage::Relay {
                session,
                event: SessionEvent::RelayRecord(relay_record(&record)),
            });
        }
        self.inner.submit(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_ids_are_stable_distinct_and_small() {
        let a = relay_id_for("broker-a");
        assert_eq!(a, relay_id_for("broker-a"));
        assert_ne!(a, relay_id_for("broker-b"));
        assert!(a > 0 && a < (1 << 53));
        assert_eq!(node_name("n1"), "n1");
        let g = node_name("");
        assert!(g.len() > 9 && g != node_name(""), "{g}");
    }

    /// Over a private redis-server: the first broker's key is published; the same key is
    /// accepted again, a different one for the same id is refused; a relay loads them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ticket_keys_are_shared_and_a_different_key_is_refused() {
        let redis = switchboard_tests::RedisServer::start().expect("redis-server");
        let k = |id, b| BrokerKey {
            id,
            public_key: [b; 32],
        };
        publish_ticket_keys(&redis.url(), "sb", &[k(1, 7)])
            .await
            .unwrap();
        publish_ticket_keys(&redis.url(), "sb", &[k(1, 7), k(2, 8)])
            .await
            .unwrap();
        let e = publish_ticket_keys(&redis.url(), "sb", &[k(1, 9)])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("ticket key id 1"), "{e}");
        let loaded: Vec<(u32, [u8; 32])> = load_ticket_keys(&redis.url(), "sb")
            .await
            .unwrap()
            .into_iter()
            .map(|k| (k.id, k.public_key))
            .collect();
        assert_eq!(loaded, vec![(1, [7; 32]), (2, [8; 32])]);
        assert!(
            load_ticket_keys(&redis.url(), "other")
                .await
                .unwrap()
                .is_empty()
        );
    }
}
