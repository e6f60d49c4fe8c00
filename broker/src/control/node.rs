//! A whole single-machine Switchboard node, as `switchboard serve` runs it: the admin half
//! (`crate::app::start`), the actor layer (`Hub`), the in-process relay registered in the
//! hub's relay registry with its records fed back, and the control listeners (TLS over TCP,
//! and QUIC when `control.quic_listen` names addresses).
//!
//! The directory is the configured one (embedded redb by default, Redis with
//! `--directory redis://...`); presence follows it (in memory for redb, TTL'd Redis keys for
//! Redis). Tests start a [`Node`] on loopback port 0 and talk to it over real sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_actors::{
    ActorConfig, DirectoryAudit, Hub, HubDeps, InMemoryPresence, InMemoryRelays, PresenceStore,
    RedisPresence,
};
use switchboard_codec::ControlConfig;
use switchboard_relay::RelayHandle;
use tokio::task::JoinHandle;

use super::ControlContext;
use super::listener::{ControlLimits, ControlListener};
use super::quic::{self, QuicControlListener};
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
    heartbeat: JoinHandle<()>,
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
        let signer = load_or_create_ticket_key(&cfg.data_dir, cfg.tickets.key_id)?;
        let mut actor_cfg = ActorConfig::default();
        if let Some(t) = opts.confirm_timeout {
            actor_cfg.confirm_timeout = t;
        }
        let presence: Arc<dyn PresenceStore> = match cfg.directory_location()? {
            DirectoryLocation::Redis(url) => Arc::new(
                RedisPresence::connect(
                    &url,
                    &cfg.redis_namespace,
                    &actor_cfg.node,
                    PRESENCE_OP_TIMEOUT,
                )
                .await?,
            ),
            DirectoryLocation::Redb(_) => Arc::new(InMemoryPresence::new()),
        };
        let relays = Arc::new(InMemoryRelays::new());
        let hub = Hub::start(HubDeps {
            directory: started.dir.clone(),
            signer,
            relays: relays.clone(),
            presence,
            audit: Arc::new(DirectoryAudit::new(started.dir.clone())),
            config: actor_cfg,
        })
        .await?;
        sessions.attach(hub.clone());

        let mut rc = cfg.relay_config(LOCAL_RELAY_ID, started.tickets.broker_keys())?;
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
        let relay_handle = Arc::new(RelayHandle::start(rc, sink).await?);
        let Some(bound) = relay_handle.tcp_addrs().first().copied() else {
            return Err(BrokerError::Config(
                "the in-process relay needs a TCP listen address".into(),
            ));
        };
        hub.set_relay_kill(Arc::new(relay_link::InProcessKill::new(Arc::clone(
            &relay_handle,
        ))));
        let relay_addr = relay_link::advertised_addr(bound, relay.advertise.as_deref());
        let heartbeat =
            relay_link::register(relays, &relay_handle, relay_addr.clone(), LOCAL_REGION);

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
            heartbeat,
        })
    }

    /// Stops accepting control connections, drains the relay (at most its drain deadline),
    /// then stops the actors.
    pub async fn shutdown(self) {
        self.heartbeat.abort();
        drop(self.control);
        drop(self.quic);
        self.relay.drain();
        self.relay.shutdown().await;
        self.hub.shutdown().await;
    }
}
