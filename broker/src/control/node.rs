//! A whole single-machine Switchboard node, as `switchboard serve` runs it: the admin half
//! (`crate::app::start`), the actor layer (`Hub`), the in-process relay registered in the
//! hub's relay registry with its records fed back, and the control listeners (TLS over TCP,
//! and QUIC when `control.quic_listen` names addresses).
//!
//! The directory is the configured one (embedded redb by default, Redis with
//! `--directory redis://...`); presence follows it (in memory for redb, TTL'd Redis keys for
//! Redis). On Redis the node is one of a cluster (`super::cluster`): it has a unique node
//! name, announces its in-process relay in the shared relay registry (and withdraws it at
//! shutdown), picks among every live relay, joins the node bus (offers to devices held by
//! other nodes), cuts sessions on other relays over their kill channels and listens on its
//! own relay's. Tests start a [`Node`] on loopback port 0 and talk to it over real sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_actors::{
    ActorConfig, DirectoryAudit, Hub, HubDeps, InMemoryPresence, InMemoryRelays, PresenceStore,
    RedisNodeBus, RedisPresence, RedisRelays, RegistryTiming, RelayAnnouncer, RelayRegistry,
};
use switchboard_codec::RelayId;
use switchboard_codec::{ControlConfig, IssuedTickets};
use switchboard_relay::RelayHandle;
use tokio::task::JoinHandle;

use super::ControlContext;
use super::cluster::{self, RelayKillRouter};
use super::listener::{ControlLimits, ControlListener};
use super::quic::{self, QuicControlListener};
use super::relay_kill_redis::{RedisRelayKill, subscribe_kills};
use super::relay_link::{self, HubRecordSink};
use crate::app::{Started, start};
use crate::config::{BrokerConfig, DirectoryLocation};
use crate::error::BrokerError;
use crate::sessions::HubSessions;
use crate::tls::load_or_create_ticket_key;

/// Messages queued to one control connection's writer at most (the default of
/// `control.writer_queue`).
pub const WRITER_QUEUE: usize = 256;
/// Relay region name of the in-process relay.
pub const LOCAL_REGION: &str = "local";
/// Relay id of the in-process relay when the `[relay]` table names none.
pub const LOCAL_RELAY_ID: u64 = 1;
/// Redis operations of the presence store give up after this long.
const PRESENCE_OP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long shutdown waits for queued audit lines to be stored.
const AUDIT_FLUSH_WAIT: Duration = Duration::from_secs(5);

/// `switchboard serve`'s relay flags.
#[derive(Debug, Clone, Default)]
pub struct RelayOverrides {
    /// TCP listen addresses (empty: the `[relay]` table's, else the default).
    pub listen: Vec<SocketAddr>,
    /// QUIC listen addresses (empty: as above). `Some(vec![])` is not expressible here: to
    /// turn QUIC off set `quic_listen = []` in `[relay]`, or use [`RelayOverrides::no_quic`].
    pub quic_listen: Vec<SocketAddr>,
    /// Turn the relay's QUIC listener off.
    pub no_quic: bool,
    /// Relay metrics endpoint.
    pub metrics_listen: Option<SocketAddr>,
    /// `host:port` clients are told to dial (default: the first TCP address, with an
    /// unspecified IP replaced by loopback).
    pub advertise: Option<String>,
    /// The relay id (default: the `[relay]` table's, else 1 on redb and a hash of the node
    /// name on Redis).
    pub relay_id: Option<u64>,
}

/// How a node is started beyond its configuration file.
#[derive(Debug, Clone, Default)]
pub struct NodeOptions {
    /// The relay flags of `switchboard serve`.
    pub relay: RelayOverrides,
    /// Control-connection limits and timers (handshake and idle timeouts, frame size);
    /// `switchboard serve` takes them from the `[control]` table (`ControlConfig::codec`).
    pub control: ControlConfig,
    /// Control listener limits (connections, per IP, TLS handshake time); `switchboard serve`
    /// takes them from the `[control]` table (`ControlConfig::limits`).
    pub limits: ControlLimits,
    /// How long the Host's local user has to confirm a session (`None`: the product default,
    /// 60 s, 002/004 §5.5). Tests shorten it.
    pub confirm_timeout: Option<Duration>,
}

/// A running node. Drop or [`Node::shutdown`] it.
#[derive(Debug)]
pub struct Node {
    /// The admin half (directory, admin API, certificate, ticket keys).
    pub started: Started,
    /// The actor layer.
    pub hub: Hub,
    /// The admin view of live sessions.
    pub sessions: Arc<HubSessions>,
    /// The in-process relay.
    pub relay: Arc<RelayHandle>,
    /// The relay address clients are sent.
    pub relay_addr: String,
    /// The TLS control listener.
    pub control: ControlListener,
    /// The QUIC control listener (`None` when `control.quic_listen` is empty).
    pub quic: Option<QuicControlListener>,
    /// This node's name (presence entries, node bus).
    pub node_name: String,
    heartbeat: JoinHandle<()>,
    /// On Redis: withdraws the relay from the shared registry at shutdown.
    withdraw: Option<(RelayAnnouncer, RelayId)>,
    /// On Redis: the in-process relay's kill subscription, the watch on vanished relays.
    background: Vec<JoinHandle<()>>,
}

impl Node {
    /// Starts everything from a validated configuration.
    pub async fn start(cfg: &BrokerConfig, opts: NodeOptions) -> Result<Self, BrokerError> {
        opts.control
            .validate()
            .map_err(|e| BrokerError::Config(format!("control connection limits: {e}")))?;
        let relay = opts.relay;
        let sessions = Arc::new(HubSessions::new());
        let started = start(cfg, sessions.clone()).await?;
        // The in-process relay takes this broker's tickets by comparison, not verification.
        let issued = Arc::new(IssuedTickets::new());
        let signer = load_or_create_ticket_key(&cfg.data_dir, cfg.tickets.key_id)?
            .remembering(Arc::clone(&issued));
        let mut actor_cfg = ActorConfig::default();
        cfg.limits.apply(&mut actor_cfg);
        if let Some(t) = opts.confirm_timeout {
            actor_cfg.confirm_timeout = t;
        }
        actor_cfg.remote_answer_timeout = cfg.cluster.remote_timeout()?;
        let redis_url = match cfg.directory_location()? {
            DirectoryLocation::Redis(url) => Some(url),
            DirectoryLocation::Redb(_) => None,
        };
        let ns = &cfg.redis_namespace;
        if redis_url.is_some() || !cfg.cluster.node_name.is_empty() {
            actor_cfg.node = cluster::node_name(&cfg.cluster.node_name);
        }
        let node_name = actor_cfg.node.clone();
        let mut shared_relays: Option<Arc<RedisRelays>> = None;
        let (presence, relays): (Arc<dyn PresenceStore>, Arc<dyn RelayRegistry>) = match &redis_url
        {
            Some(url) => {
                cluster::publish_ticket_keys(url, ns, &started.tickets.broker_keys()).await?;
                let timing = RegistryTiming {
                    refresh: cfg.cluster.registry_refresh()?,
                    op_timeout: PRESENCE_OP_TIMEOUT,
                };
                let presence =
                    RedisPresence::connect(url, ns, &node_name, PRESENCE_OP_TIMEOUT).await?;
                let redis_relays = RedisRelays::start(url, ns, timing).await?;
                shared_relays = Some(Arc::clone(&redis_relays));
                let relays: Arc<dyn RelayRegistry> = redis_relays;
                (Arc::new(presence), relays)
            }
            None => (
                Arc::new(InMemoryPresence::new()),
                Arc::new(InMemoryRelays::new()),
            ),
        };
        let hub = Hub::start(HubDeps {
            directory: started.dir.clone(),
            signer,
            relays: Arc::clone(&relays),
            presence,
            audit: Arc::new(DirectoryAudit::new(started.dir.clone())),
            config: actor_cfg,
        })
        .await?;
        sessions.attach(hub.clone());
        if let Some(url) = &redis_url {
            let (bus, inbound) =
                RedisNodeBus::start(url, ns, &node_name, PRESENCE_OP_TIMEOUT).await?;
            hub.join_cluster(bus, inbound);
        }

        let default_id = match (&redis_url, relay.relay_id) {
            (_, Some(id)) => id,
            (Some(_), None) => cluster::relay_id_for(&node_name),
            (None, None) => LOCAL_RELAY_ID,
        };
        let mut rc = cfg.relay_config(default_id, started.tickets.broker_keys())?;
        if let Some(id) = relay.relay_id {
            rc.relay_id = id;
        }
        if !relay.listen.is_empty() {
            rc.listen = relay.listen.clone();
        }
        if relay.no_quic {
            rc.quic_listen = Vec::new();
        } else if !relay.quic_listen.is_empty() {
            rc.quic_listen = relay.quic_listen.clone();
        }
        if relay.metrics_listen.is_some() {
            rc.metrics_listen = relay.metrics_listen;
        }
        rc.validate()?;
        let sink = Arc::new(HubRecordSink::new(hub.clone(), sessions.clone()));
        let relay_handle = Arc::new(RelayHandle::start_trusting(rc, sink, Some(issued)).await?);
        let Some(bound) = relay_handle.tcp_addrs().first().copied() else {
            return Err(BrokerError::Config(
                "the in-process relay needs a TCP listen address".into(),
            ));
        };
        let relay_id = relay_handle.config().relay();
        let mut background = Vec::new();
        if let Some(r) = shared_relays {
            background.push(tokio::spawn(end_sessions_on_vanished_relays(
                r,
                hub.clone(),
                cfg.cluster.registry_refresh()?,
            )));
        }
        match &redis_url {
            Some(url) => {
                hub.set_relay_kill(Arc::new(RelayKillRouter::new(
                    Arc::clone(&relay_handle),
                    Some(RedisRelayKill::start(url)?),
                )));
                let r = Arc::clone(&relay_handle);
                background.push(subscribe_kills(url, relay_id, move |sid, code| {
                    r.kill_session(sid, code);
                })?);
            }
            None => {
                hub.set_relay_kill(Arc::new(relay_link::InProcessKill::new(Arc::clone(
                    &relay_handle,
                ))));
            }
        };
        let relay_addr = relay_link::advertised_addr(bound, relay.advertise.as_deref());
        let region = if redis_url.is_some() {
            cfg.cluster.relay_region.as_str()
        } else {
            LOCAL_REGION
        };
        let info = relay_link::relay_info(&relay_handle, relay_addr.clone(), region, &node_name);
        let heartbeat = relay_link::register(Arc::clone(&relays), &relay_handle, info);
        let withdraw = match &redis_url {
            Some(url) => Some((
                RelayAnnouncer::connect(url, ns, PRESENCE_OP_TIMEOUT).await?,
                relay_id,
            )),
            None => None,
        };

        let ctx = Arc::new(ControlContext {
            hub: hub.clone(),
            admin: started.state.clone(),
            sessions: sessions.clone(),
            codec: opts.control,
            writer_queue: cfg.control.writer_queue,
        });
        let control = ControlListener::bind(
            &cfg.control.listen,
            started.cert.server_config()?,
            Arc::clone(&ctx),
            opts.limits,
        )
        .await?;
        let quic = if cfg.control.quic_listen.is_empty() {
            None
        } else {
            Some(QuicControlListener::bind(
                &cfg.control.quic_listen,
                quic::server_config(started.cert.server_config()?)?,
                ctx,
                opts.limits,
            )?)
        };
        Ok(Self {
            started,
            hub,
            sessions,
            relay: relay_handle,
            relay_addr,
            control,
            quic,
            node_name,
            heartbeat,
            withdraw,
            background,
        })
    }

    /// Stops accepting control connections, drains the relay (at most its drain deadline),
    /// then stops the actors.
    pub async fn shutdown(self) {
        self.heartbeat.abort();
        if let Some((announcer, id)) = &self.withdraw
            && let Err(e) = announcer.withdraw(*id).await
        {
            tracing::warn!(error = %e, "relay not withdrawn from the registry; it expires");
        }
        for t in &self.background {
            t.abort();
        }
        drop(self.control);
        drop(self.quic);
        self.relay.drain();
        self.relay.shutdown().await;
        self.hub.shutdown().await;
        // Audit lines are written behind: store what is queued before the process exits.
        if tokio::time::timeout(AUDIT_FLUSH_WAIT, self.hub.flush_audit())
            .await
            .is_err()
        {
            tracing::warn!("audit lines still queued at shutdown were not all stored");
        }
    }
}

/// Ends the sessions this node owns on relays that vanished from the shared registry (died
/// without draining), checking every `period`.
async fn end_sessions_on_vanished_relays(relays: Arc<RedisRelays>, hub: Hub, period: Duration) {
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        for id in relays.take_vanished() {
            let n = hub.end_sessions_on_relay(id);
            if n > 0 {
                tracing::warn!(
                    relay = id.0,
                    sessions = n,
                    "ended the sessions of a vanished relay"
                );
            }
        }
    }
}
