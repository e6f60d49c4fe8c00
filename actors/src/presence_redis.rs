//! Presence in a shared Redis, so several brokers see which node holds each device.
//!
//! One key per device, `<ns>:presence:{<tenant>}:<device>`, holding `<node>/<conn>` with a
//! millisecond TTL (`SET .. PX`); the device actor refreshes it every third of the TTL, so a
//! crashed broker's entries vanish on their own. Clearing is compare-and-delete (a Lua script):
//! a replaced connection never clears the entry of the connection that replaced it. Every
//! command is bounded by a timeout; failures are logged and counted, never fatal.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, Script};
use switchboard_codec::{DeviceId, TenantId};

use crate::error::ActorError;
use crate::presence::{PresenceEntry, PresenceFuture, PresenceStore};

const CLEAR_IF_OWNED: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Presence in Redis.
pub struct RedisPresence {
    conn: ConnectionManager,
    ns: String,
    node: String,
    op_timeout: Duration,
    clear: Script,
}

impl std::fmt::Debug for RedisPresence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPresence")
            .field("ns", &self.ns)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl RedisPresence {
    /// Connects to `url` (`redis://host:port/`); keys start with `namespace`; `node` is this
    /// broker's node name (the one in `ActorConfig::node`), whose entries it may clear.
    pub async fn connect(
        url: &str,
        namespace: &str,
        node: &str,
        op_timeout: Duration,
    ) -> Result<Self, ActorError> {
        let client = Client::open(url).map_err(ActorError::actor)?;
        let conn = tokio::time::timeout(op_timeout, client.get_connection_manager())
            .await
            .map_err(|_| ActorError::Actor("redis presence: connect timed out".into()))?
            .map_err(ActorError::actor)?;
        Ok(Self {
            conn,
            ns: namespace.to_owned(),
            node: node.to_owned(),
            op_timeout,
            clear: Script::new(CLEAR_IF_OWNED),
        })
    }

    fn key(&self, tenant: TenantId, device: DeviceId) -> String {
        format!("{}:presence:{{{tenant}}}:{device}", self.ns)
    }
}

fn value(e: &PresenceEntry) -> String {
    format!("{}/{}", e.node, e.conn)
}

fn parse(v: &str) -> Option<PresenceEntry> {
    let (node, conn) = v.rsplit_once('/')?;
    Some(PresenceEntry {
        node: node.to_owned(),
        conn: conn.parse().ok()?,
    })
}

fn log_failure<T>(
    what: &str,
    r: Result<Result<T, redis::RedisError>, tokio::time::error::Elapsed>,
) -> Option<T> {
    match r {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "redis presence {what} failed");
            None
        }
        Err(_) => {
            tracing::warn!("redis presence {what} timed out");
            None
        }
    }
}

impl PresenceStore for RedisPresence {
    fn mark_online<'a>(
        &'a self,
        tenant: TenantId,
        device: DeviceId,
        entry: PresenceEntry,
        ttl: Duration,
    ) -> PresenceFuture<'a, ()> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let key = self.key(tenant, device);
            let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
            let opts = redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ms));
            let r = tokio::time::timeout(
                self.op_timeout,
                c.set_options::<_, _, ()>(key, value(&entry), opts),
            )
            .await;
            log_failure("mark_online", r);
        })
    }

    fn mark_offline(
        &self,
        tenant: TenantId,
        device: DeviceId,
        conn: u64,
    ) -> PresenceFuture<'_, ()> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let key = self.key(tenant, device);
            let mut inv = self.clear.prepare_invoke();
            inv.key(key);
            inv.arg(format!("{}/{conn}", self.node));
            let r = tokio::time::timeout(self.op_timeout, inv.invoke_async::<i64>(&mut c)).await;
            log_failure("mark_offline", r);
        })
    }

    fn lookup(
        &self,
        tenant: TenantId,
        device: DeviceId,
    ) -> PresenceFuture<'_, Option<PresenceEntry>> {
        Box::pin(async move {
            let mut c = self.conn.clone();
            let key = self.key(tenant, device);
            let r = tokio::time::timeout(self.op_timeout, c.get::<_, Option<String>>(key)).await;
            log_failure("lookup", r).flatten().and_then(|v| parse(&v))
        })
    }
}
