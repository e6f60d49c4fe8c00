//! The broker's link to its in-process relay: register it in the hub's relay registry (id,
//! address clients dial, capacity) and keep it live with a heartbeat carrying its session
//! count; turn the relay's session-end records into session events.
//!
//! The relay tells the sink when a pair reached `Ready` (`RecordSink::paired`): both sides are
//! reported bound (`RelayBound`), which makes the session active and stops its bind timer.
//! The end-of-session record becomes `RelayRecord`, which ends the session and joins bytes,
//! duration and close reason into the audit log. The relay is in this process, so `paired`
//! always comes first (a relay only writes records for pairs that reached `Ready`).
//!
//! The events go through `Hub::relay_event`: on a cluster, a session this relay carries may be
//! owned by another broker node, which then hears them over the node bus.
//!
//! The other way, [`InProcessKill`] is the hub's `RelayKill` hook: a session the broker ends
//! (cancel, admin terminate, disabled account, failed session actor) is cut at the
//! in-process relay by a direct call (on a cluster, `cluster::RelayKillRouter` also reaches
//! the other relays).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_actors::{Hub, RelayInfo, RelayKill, RelayRecord, RelayRegistry, SessionEvent};
use switchboard_codec::{ErrorCode, RelayId, SessionId, Side};
use switchboard_relay::RelayHandle;
use switchboard_relay::record::{RecordSink, SessionRecord};
use tokio::task::JoinHandle;

use crate::sessions::HubSessions;

/// A relay stays live this long after its last heartbeat.
pub const RELAY_TTL: Duration = Duration::from_secs(30);
/// Heartbeat period (a third of the TTL).
pub const RELAY_HEARTBEAT: Duration = Duration::from_secs(10);

/// Session records of the in-process relay, straight into the hub.
#[derive(Debug, Clone)]
pub struct HubRecordSink {
    hub: Hub,
    sessions: Arc<HubSessions>,
}

impl HubRecordSink {
    /// A sink feeding `hub` (and clearing the admin view's entry).
    pub fn new(hub: Hub, sessions: Arc<HubSessions>) -> Self {
        Self { hub, sessions }
    }
}

/// The actor-layer record for a relay record.
pub fn relay_record(r: &SessionRecord) -> RelayRecord {
    RelayRecord {
        bytes: r.bytes_host_to_guest.saturating_add(r.bytes_guest_to_host),
        duration: Duration::from_millis(r.duration_ms),
        reason: ErrorCode::from_name(&r.close_reason).unwrap_or(ErrorCode::PeerClosed),
    }
}

impl RecordSink for HubRecordSink {
    fn paired(&self, session: SessionId) {
        // Casts to one actor keep their order: bound, bound (then, later, the end).
        for side in [Side::Host, Side::Guest] {
            self.hub
                .relay_event(session, SessionEvent::RelayBound { side });
        }
    }

    fn submit(&self, record: SessionRecord) {
        let Ok(sid) = record.session_id.parse::<SessionId>() else {
            tracing::warn!(session = %record.session_id, "relay record with a bad session id");
            return;
        };
        tracing::info!(session = %sid, tenant = %record.tenant_id,
            host_to_guest = record.bytes_host_to_guest, guest_to_host = record.bytes_guest_to_host,
            duration_ms = record.duration_ms, reason = %record.close_reason,
            engine = %record.engine, "session ended at the relay");
        if !self
            .hub
            .relay_event(sid, SessionEvent::RelayRecord(relay_record(&record)))
        {
            tracing::debug!(session = %sid, "relay record for a session no longer live here");
        }
        self.sessions.forget(sid);
    }
}

/// Cuts sessions at the in-process relay when the hub ends them.
#[derive(Debug, Clone)]
pub struct InProcessKill {
    relay: Arc<RelayHandle>,
}

impl InProcessKill {
    /// The hook for `relay`.
    pub fn new(relay: Arc<RelayHandle>) -> Self {
        Self { relay }
    }
}

impl RelayKill for InProcessKill {
    fn kill(&self, relay: RelayId, session: SessionId, reason: ErrorCode) {
        if relay == self.relay.config().relay() {
            self.relay.kill_session(session, reason);
        } else {
            tracing::warn!(%session, relay = relay.0, "session on a relay this broker cannot reach; not cut");
        }
    }
}

/// The address clients are told to dial for a relay bound on `bound` (an unspecified IP is
/// replaced by loopback: set `advertise` for anything reachable from other machines).
pub fn advertised_addr(bound: SocketAddr, advertise: Option<&str>) -> String {
    if let Some(a) = advertise {
        return a.to_owned();
    }
    if bound.ip().is_unspecified() {
        let ip = if bound.is_ipv4() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        };
        SocketAddr::new(ip, bound.port()).to_string()
    } else {
        bound.to_string()
    }
}

/// What a relay announces about itself: `addr` clients dial, its QUIC address (an
/// unspecified IP replaced by loopback), `region`, capacity, and the `node` running it.
pub fn relay_info(relay: &RelayHandle, addr: String, region: &str, node: &str) -> RelayInfo {
    let cfg = relay.config();
    RelayInfo {
        id: cfg.relay(),
        addr,
        quic_addr: relay
            .quic_addrs()
            .first()
            .map(|a| advertised_addr(*a, None)),
        region: region.to_owned(),
        capacity: u32::try_from(cfg.limits.max_sessions).unwrap_or(u32::MAX),
        node: node.to_owned(),
    }
}

/// Registers the relay and starts its heartbeat (abort the handle to stop it; the relay is
/// then dropped from the registry after [`RELAY_TTL`]).
pub fn register(
    registry: Arc<dyn RelayRegistry>,
    relay: &Arc<RelayHandle>,
    info: RelayInfo,
) -> JoinHandle<()> {
    let id = info.id;
    registry.register(info.clone(), RELAY_TTL);
    let relay = Arc::clone(relay);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RELAY_HEARTBEAT);
        tick.tick().await;
        loop {
            tick.tick().await;
            if relay.is_draining() {
                registry.deregister(id);
                return;
            }
            let load = u32::try_from(relay.active_sessions()).unwrap_or(u32::MAX);
            if !registry.heartbeat(id, load, RELAY_TTL) {
                // Expired meanwhile (a stalled runtime): announce it again.
                registry.register(info.clone(), RELAY_TTL);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_address_replaces_unspecified_ip() {
        let any: SocketAddr = "0.0.0.0:5656".parse().unwrap();
        assert_eq!(advertised_addr(any, None), "127.0.0.1:5656");
        let any6: SocketAddr = "[::]:5656".parse().unwrap();
        assert_eq!(advertised_addr(any6, None), "[::1]:5656");
        let bound: SocketAddr = "10.0.0.5:7000".parse().unwrap();
        assert_eq!(advertised_addr(bound, None), "10.0.0.5:7000");
        assert_eq!(
            advertised_addr(any, Some("relay.example:5656")),
            "relay.example:5656"
        );
    }

    #[test]
    fn relay_records_map_to_actor_records() {
        let r = SessionRecord {
            session_id: SessionId([1; 16]).to_string(),
            tenant_id: "t".into(),
            relay_id: 1,
            bytes_host_to_guest: 10,
            bytes_guest_to_host: 5,
            duration_ms: 1500,
            close_reason: "idle_timeout".into(),
            engine: "copy".into(),
            splice_fallback: false,
            started_at_unix_ms: 0,
            ended_at_unix_ms: 0,
        };
        let a = relay_record(&r);
        assert_eq!(a.bytes, 15);
        assert_eq!(a.duration, Duration::from_millis(1500));
        assert_eq!(a.reason, ErrorCode::IdleTimeout);
        let odd = SessionRecord {
            close_reason: "no_such_reason".into(),
            ..r
        };
        assert_eq!(relay_record(&odd).reason, ErrorCode::PeerClosed);
    }
}
