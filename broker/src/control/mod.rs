//! The control plane over sockets: the TLS control listener, one task per control connection
//! driving the codec's `ControlAcceptor`, and the glue between connections, the actor layer
//! (`switchboard_actors::Hub`) and the in-process relay.
//!
//! It authenticates (device challenge, guest access token, enrollment, OnDemand join), routes
//! decoded messages to the hub and writes what the actors send back. It parses no session
//! payload and holds no session state of its own beyond the admin view in `crate::sessions`.
//!
//! Layout:
//! - `listener`: TCP + TLS accept loop, global connection semaphore, per-IP cap;
//! - `quic`: the same over QUIC (first bidirectional stream, ALPN `switchboard-control/1`);
//! - `connection`: one connection: handshake phase, then reader loop + bounded writer task;
//! - `host`: device lookup, enrollment and a Host's messages after the handshake;
//! - `guest`: access-token check and a Guest's messages (session requests, cancels, OnDemand);
//! - `ondemand`: an OnDemand agent's join and messages;
//! - `relay_link`: the in-process relay's registration, heartbeat and session records, and
//!   the kill hook that cuts a session's pipes there when the broker ends it;
//! - `relay_kill_redis`: the same kill over Redis pub/sub, for a relay running apart;
//! - `cluster`: several brokers on one Redis: node names, relay ids, shared ticket keys, the
//!   kill router and a separate relay's record sink;
//! - `node`: starting all of it (`switchboard serve`).
//!
//! Not here: the admin API (`crate::api`).

pub mod cluster;
pub mod connection;
mod guest;
mod host;
pub mod listener;
pub mod node;
mod ondemand;
pub mod quic;
pub mod relay_kill_redis;
pub mod relay_link;

use std::sync::Arc;

use switchboard_actors::Hub;
use switchboard_codec::ControlConfig;

use crate::api::AdminState;
use crate::sessions::HubSessions;

pub use listener::{ControlLimits, ControlListener};
pub use node::{Node, NodeOptions, RelayOverrides};

/// What every control connection shares.
#[derive(Debug, Clone)]
pub struct ControlContext {
    /// The actor layer.
    pub hub: Hub,
    /// The admin API's state (access tokens issued at login).
    pub admin: Arc<AdminState>,
    /// The admin view of live sessions (fed by Guest connections).
    pub sessions: Arc<HubSessions>,
    /// Control-connection limits and timers.
    pub codec: ControlConfig,
    /// Messages queued to one connection's writer at most.
    pub writer_queue: usize,
}
