//! Presence: which broker node holds a device's control connection, as a TTL'd entry the
//! device actor refreshes on a timer.
//!
//! `PresenceStore` is async (a shared store answers over the network); `InMemoryPresence` is
//! the single-node implementation on `tokio::time`. Each connection has its own `conn` number,
//! so a replaced connection going away never clears the entry of the one that replaced it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use parking_lot::Mutex;
use switchboard_codec::{DeviceId, TenantId};
use tokio::time::Instant;

/// The boxed future presence methods return (keeps the trait usable as `dyn`).
pub type PresenceFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a device is connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEntry {
    /// The broker node holding the connection.
    pub node: String,
    /// The connection number on that node.
    pub conn: u64,
}

/// Shared presence. Failures are logged by implementations and never stop a device.
pub trait PresenceStore: Send + Sync + std::fmt::Debug {
    /// Marks `device` online at `node` (connection `conn`) for `ttl`.
    fn mark_online<'a>(
        &'a self,
        tenant: TenantId,
        device: DeviceId,
        entry: PresenceEntry,
        ttl: Duration,
    ) -> PresenceFuture<'a, ()>;
    /// Clears the entry if it is still `conn`'s.
    fn mark_offline(&self, tenant: TenantId, device: DeviceId, conn: u64)
    -> PresenceFuture<'_, ()>;
    /// Where `device` is connected, if anywhere.
    fn lookup(
        &self,
        tenant: TenantId,
        device: DeviceId,
    ) -> PresenceFuture<'_, Option<PresenceEntry>>;
}

/// Presence of one broker, in memory.
#[derive(Debug, Default)]
pub struct InMemoryPresence {
    entries: Mutex<HashMap<(TenantId, DeviceId), (PresenceEntry, Instant)>>,
}

impl InMemoryPresence {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Live entries (expired ones are not counted).
    pub fn online_count(&self) -> usize {
        let now = Instant::now();
        self.entries
            .lock()
            .values()
            .filter(|(_, exp)| *exp > now)
            .count()
    }
}

impl PresenceStore for InMemoryPresence {
    fn mark_online<'a>(
        &'a self,
        tenant: TenantId,
        device: DeviceId,
        entry: PresenceEntry,
        ttl: Duration,
    ) -> PresenceFuture<'a, ()> {
        self.entries
            .lock()
            .insert((tenant, device), (entry, Instant::now() + ttl));
        Box::pin(async {})
    }

    fn mark_offline(
        &self,
        tenant: TenantId,
        device: DeviceId,
        conn: u64,
    ) -> PresenceFuture<'_, ()> {
        let mut m = self.entries.lock();
        if m.get(&(tenant, device))
            .is_some_and(|(e, _)| e.conn == conn)
        {
            m.remove(&(tenant, device));
        }
        drop(m);
        Box::pin(async {})
    }

    fn lookup(
        &self,
        tenant: TenantId,
        device: DeviceId,
    ) -> PresenceFuture<'_, Option<PresenceEntry>> {
        let now = Instant::now();
        let found = self
            .entries
            .lock()
            .get(&(tenant, device))
            .filter(|(_, exp)| *exp > now)
            .map(|(e, _)| e.clone());
        Box::pin(async move { found })
    }
}
