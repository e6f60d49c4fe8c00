//! The relay registry: relays register and heartbeat with a TTL; a session takes the least
//! loaded live relay, preferring a region.
//!
//! `RelayRegistry` is the trait the session actor uses; `InMemoryRelays` is the single-node
//! implementation the broker feeds; `relay_registry_redis` holds the one a cluster shares.
//! Both keep their relays in a [`RelayTable`] (pick, count, release, live count) and choose
//! with [`pick_least_loaded`]; they differ in how a relay's load is weighed ([`LoadRule`]). Time is `tokio::time`, so tests drive heartbeat
//! expiry with paused time. Nothing here talks to a relay.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use switchboard_codec::RelayId;
use tokio::time::Instant;

/// What a relay announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayInfo {
    /// Its id (tickets name it).
    pub id: RelayId,
    /// `host:port` clients dial.
    pub addr: String,
    /// `host:port` of its QUIC listener, if it has one.
    pub quic_addr: Option<String>,
    /// Region name (e.g. `eu-west`).
    pub region: String,
    /// Sessions it will take at most (0 = no limit).
    pub capacity: u32,
    /// The node that runs it (a broker node name for an in-process relay, else the relay's
    /// own name); informational.
    pub node: String,
}

/// One live relay as the pick sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub(crate) id: RelayId,
    pub(crate) region: &'a str,
    pub(crate) load: u32,
    pub(crate) capacity: u32,
}

impl Candidate<'_> {
    fn has_room(&self) -> bool {
        self.capacity == 0 || self.load < self.capacity
    }
}

/// The least loaded candidate with room in `region` (any region when none has room there);
/// ties go to the lowest id. Expired relays must not be among the candidates.
pub(crate) fn pick_least_loaded<'a>(
    candidates: impl Iterator<Item = Candidate<'a>> + Clone,
    region: Option<&str>,
) -> Option<RelayId> {
    let best = |region: Option<&str>| {
        candidates
            .clone()
            .filter(Candidate::has_room)
            .filter(|c| region.is_none_or(|r| c.region == r))
            .min_by_key(|c| (c.load, c.id))
            .map(|c| c.id)
    };
    best(region).or_else(|| best(None))
}

/// A relay picked for a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayChoice {
    /// Its id.
    pub id: RelayId,
    /// `host:port`.
    pub addr: String,
}

/// Cuts a session's pipes at its relay when the broker ends the session (cancel, admin
/// terminate, forced end, failed session actor). The in-process relay implements it with a
/// direct call; implementations must not block.
pub trait RelayKill: Send + Sync + std::fmt::Debug {
    /// Ends `session` at relay `relay` with `reason`.
    fn kill(
        &self,
        relay: RelayId,
        session: switchboard_codec::SessionId,
        reason: switchboard_codec::ErrorCode,
    );
}

/// Where sessions find relays.
pub trait RelayRegistry: Send + Sync + std::fmt::Debug {
    /// Registers (or re-registers) a relay; it is live for `ttl` unless heartbeats follow.
    fn register(&self, info: RelayInfo, ttl: Duration);
    /// Keeps a relay live for another `ttl`, with the load it reports (its own session count).
    fn heartbeat(&self, id: RelayId, reported_load: u32, ttl: Duration) -> bool;
    /// Removes a relay (drain or shutdown).
    fn deregister(&self, id: RelayId);
    /// Picks the least loaded live relay in `region` (any region when none lives there) and
    /// counts one session on it.
    fn acquire(&self, region: Option<&str>) -> Option<RelayChoice>;
    /// A session that `acquire`d `id` ended.
    fn release(&self, id: RelayId);
    /// Live relays.
    fn live_count(&self) -> usize;
}

/// How a [`RelayTable`] weighs a relay: its reported load combined with the sessions this
/// broker counted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadRule {
    /// The larger of the two: the in-memory registry's relays are this broker's, so their
    /// report and the broker's count describe the same sessions.
    Max,
    /// The sum: the shared registry counts this broker's picks since the last refresh on top
    /// of the load every relay reported then.
    Sum,
}

/// One relay in a [`RelayTable`].
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) info: RelayInfo,
    /// It is not picked from this instant on (unless refreshed).
    pub(crate) expires: Instant,
    /// The load the relay reported.
    pub(crate) reported: u32,
    /// Sessions this broker counted on it (see [`LoadRule`]).
    pub(crate) counted: u32,
}

impl Entry {
    /// Live for `ttl` from now, no load reported or counted yet.
    pub(crate) fn new(info: RelayInfo, ttl: Duration) -> Self {
        Self {
            info,
            expires: Instant::now() + ttl,
            reported: 0,
            counted: 0,
        }
    }
}

/// The relays a broker picks from, shared by both registries: the pick, the count of a pick
/// and its release, the live count. Expired entries stay until their owner removes them, but
/// are never picked or counted live.
#[derive(Debug)]
pub(crate) struct RelayTable {
    rule: LoadRule,
    relays: Mutex<HashMap<RelayId, Entry>>,
}

impl RelayTable {
    /// An empty table weighing relays by `rule`.
    pub(crate) fn new(rule: LoadRule) -> Self {
        Self {
            rule,
            relays: Mutex::new(HashMap::new()),
        }
    }

    /// The entries, for registering, heartbeats and refreshes.
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, HashMap<RelayId, Entry>> {
        self.relays.lock()
    }

    fn load(&self, e: &Entry) -> u32 {
        match self.rule {
            LoadRule::Max => e.reported.max(e.counted),
            LoadRule::Sum => e.reported.saturating_add(e.counted),
        }
    }

    /// Picks the least loaded live relay in `region` (see [`pick_least_loaded`]) and counts
    /// one session on it.
    pub(crate) fn acquire(&self, region: Option<&str>) -> Option<RelayChoice> {
        let now = Instant::now();
        let mut m = self.relays.lock();
        let live = m.values().filter(|e| e.expires > now).map(|e| Candidate {
            id: e.info.id,
            region: &e.info.region,
            load: self.load(e),
            capacity: e.info.capacity,
        });
        let id = pick_least_loaded(live, region)?;
        let e = m.get_mut(&id)?;
        e.counted = e.counted.saturating_add(1);
        Some(RelayChoice {
            id,
            addr: e.info.addr.clone(),
        })
    }

    /// A session counted on `id` ended.
    pub(crate) fn release(&self, id: RelayId) {
        if let Some(e) = self.relays.lock().get_mut(&id) {
            e.counted = e.counted.saturating_sub(1);
        }
    }

    /// Relays not expired.
    pub(crate) fn live_count(&self) -> usize {
        let now = Instant::now();
        self.relays
            .lock()
            .values()
            .filter(|e| e.expires > now)
            .count()
    }
}

/// The in-memory relay registry of one broker.
#[derive(Debug)]
pub struct InMemoryRelays {
    table: RelayTable,
}

impl Default for InMemoryRelays {
    fn default() -> Self {
        Self {
            table: RelayTable::new(LoadRule::Max),
        }
    }
}

impl InMemoryRelays {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions currently counted on `id` by this broker.
    pub fn assigned(&self, id: RelayId) -> Option<u32> {
        self.table.lock().get(&id).map(|e| e.counted)
    }
}

impl RelayRegistry for InMemoryRelays {
    fn register(&self, info: RelayInfo, ttl: Duration) {
        let mut m = self.table.lock();
        let counted = m.get(&info.id).map_or(0, |e| e.counted);
        let id = info.id;
        m.insert(
            id,
            Entry {
                counted,
                ..Entry::new(info, ttl)
            },
        );
    }

    fn heartbeat(&self, id: RelayId, reported_load: u32, ttl: Duration) -> bool {
        match self.table.lock().get_mut(&id) {
            Some(e) => {
                e.expires = Instant::now() + ttl;
                e.reported = reported_load;
                true
            }
            None => false,
        }
    }

    fn deregister(&self, id: RelayId) {
        self.table.lock().remove(&id);
    }

    fn acquire(&self, region: Option<&str>) -> Option<RelayChoice> {
        self.table.acquire(region)
    }

    fn release(&self, id: RelayId) {
        self.table.release(id);
    }

    fn live_count(&self) -> usize {
        self.table.live_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: u64, region: &str) -> RelayInfo {
        RelayInfo {
            id: RelayId(id),
            addr: format!("127.0.0.1:{}", 7000 + id),
            quic_addr: None,
            region: region.into(),
            capacity: 2,
            node: "broker-1".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn least_loaded_in_region_then_anywhere_and_ttl() {
        let r = InMemoryRelays::new();
        let ttl = Duration::from_secs(10);
        r.register(info(1, "eu"), ttl);
        r.register(info(2, "eu"), ttl);
        r.register(info(3, "us"), ttl);
        let a = r.acquire(Some("eu")).unwrap().id;
        let b = r.acquire(Some("eu")).unwrap().id;
        assert_ne!(a, b, "least loaded spreads");
        r.acquire(Some("eu")).unwrap();
        r.acquire(Some("eu")).unwrap();
        // Both eu relays are full: fall back to another region.
        assert_eq!(r.acquire(Some("eu")).unwrap().id, RelayId(3));
        r.release(RelayId(1));
        assert_eq!(r.acquire(Some("eu")).unwrap().id, RelayId(1));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(r.heartbeat(RelayId(3), 0, ttl));
        assert_eq!(r.live_count(), 1);
        assert_eq!(r.acquire(Some("eu")).unwrap().id, RelayId(3));
    }
}
