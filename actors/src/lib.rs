//! The broker's control-plane actors and their supervision.
//!
//! `TenantActor` holds a tenant's compiled policy snapshot, quotas and rate limits and runs its
//! OnDemand queue; `DeviceActor` (one per connected Host) tracks presence and delivers offers;
//! `SessionActor` (one per session) runs the session state machine with its timers and audit
//! records; the relay registry picks a relay for each session. The broker talks to all of them
//! through [`Hub`].
//!
//! Actors carry control, never payload, and parse no bytes: the broker decodes, the relay moves
//! session bytes. Mailbox growth is bounded by admission control (per-tenant rate limits and
//! session quotas, queue caps, bounded connection writers); every background task of an actor is
//! aborted with its state; no lock is held across an await.
//!
//! # Layout
//!
//! - `hub`: [`Hub`], the broker's API (connect a Host, request a session, forward events,
//!   OnDemand in `hub_ondemand`), and the shared tables.
//! - `tenant`, `policy`, `ondemand`: the tenant actor, its policy cell, its OnDemand queue;
//!   `cutoff`: ending what a disabled or removed technician holds.
//! - `device`: the device actor. `presence`: [`PresenceStore`] and its in-memory implementation;
//!   `presence_redis`: [`RedisPresence`], TTL'd keys shared by several brokers.
//! - `session`: the session actor and its state machine; [`SessionEvent`], [`RelayRecord`].
//! - `supervisor`: cleanup after an actor fails.
//! - `relay_registry`: [`RelayRegistry`] and [`InMemoryRelays`]; `relay_registry_redis`:
//!   [`RedisRelays`] (a cluster's shared registry, cached per broker) and [`RelayAnnouncer`].
//! - `cluster`: [`NodeMessage`]s between broker nodes and the [`NodeBus`] trait;
//!   `cluster_redis`: [`RedisNodeBus`] (pub/sub); `hub_cluster`: offers to devices held by
//!   another node and the routes back (one owner per session: the Guest's node).
//! - `audit`: [`AuditSink`] and [`DirectoryAudit`].
//! - `config`, `counts`, `rate_limit`, `ids`, `metrics`, `error`: the small parts.
//!
//! # How the broker drives it
//!
//! ```text
//! let hub = Hub::start(HubDeps { directory, signer, relays, presence, audit, config }).await?;
//! // Host control connection authenticated:
//! let dev = hub.connect_device(DeviceConnection { tenant, device, tx, host_state }).await?;
//! hub.set_host_state(device, state);          // Host reported lock / logged-in changes
//! dev.connection_closed();                    // reader ended (dropping the writer's rx also works)
//! // Guest SessionRequest:
//! let sid = hub.request_session(SessionRequest { tenant, guest, request_id, device, wanted, region }).await?;
//! // Host SessionAccept / SessionReject, either side's SessionCancel, relay binds and record:
//! hub.side_of(sid, Some(device), None);       // check who is speaking first
//! hub.session_event(sid, SessionEvent::HostAccepted);
//! hub.session_event(sid, SessionEvent::RelayRecord(RelayRecord { bytes, duration, reason }));
//! // OnDemand: ondemand_create_key, ondemand_join, ondemand_queue, ondemand_start, ondemand_reject.
//! // Logins: check_login_rate(tenant) before verifying a password.
//! // Cluster (Redis): RedisRelays as `relays`, RedisPresence as `presence`, then
//! let (bus, inbound) = RedisNodeBus::start(url, ns, node, timeout).await?;
//! hub.join_cluster(bus, inbound);             // offers to devices on other nodes
//! hub.relay_event(sid, SessionEvent::RelayBound { side }); // relay reports, wherever owned
//! hub.terminate_anywhere(tenant, sid).await;  // admin terminate of another node's session
//! ```
#![forbid(unsafe_code)]

pub mod audit;
pub mod cluster;
pub mod cluster_redis;
pub mod config;
pub mod counts;
mod cutoff;
mod device;
pub mod error;
pub mod hub;
mod hub_cluster;
mod hub_ondemand;
pub mod ids;
pub mod metrics;
mod ondemand;
pub mod policy;
pub mod presence;
pub mod presence_redis;
pub mod rate_limit;
pub mod relay_registry;
pub mod relay_registry_redis;
pub mod session;
mod supervisor;
pub mod tenant;

pub use audit::{AuditSink, DirectoryAudit};
pub use cluster::{NodeBus, NodeMessage};
pub use cluster_redis::RedisNodeBus;
pub use config::ActorConfig;
pub use counts::{ActorKind, CountSnapshot};
pub use error::ActorError;
pub use hub::{
    DeviceConnection, DeviceRef, GuestLink, GuestRegistration, Hub, HubDeps, SessionRequest,
};
pub use ondemand::{OnDemandAgent, QueueItem, QueueView};
pub use presence::{InMemoryPresence, PresenceEntry, PresenceStore};
pub use presence_redis::RedisPresence;
pub use relay_registry::{InMemoryRelays, RelayChoice, RelayInfo, RelayKill, RelayRegistry};
pub use relay_registry_redis::{RedisRelays, RegistryTiming, RelayAnnouncer};
pub use session::{RelayRecord, SessionEvent, SessionPhase};
pub use switchboard_directory::rules::access::HostState;
pub use tenant::TenantHandle;
