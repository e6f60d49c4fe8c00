//! `switchboard`: the server binary (`serve` all-in-one, `relay` alone, `admin` client).
//!
//! `switchboard relay` runs a relay node from a TOML file plus flags (`--check-config` checks
//! and exits); with `--redis URL` it joins a cluster: it announces itself in the shared relay
//! registry (TTL'd, withdrawn on drain), takes the brokers' ticket keys from Redis when no
//! `--broker-key` is given, reports pairings and records to the owning broker, and hears
//! kills on its channel. `switchboard serve` runs the broker's admin half (configuration from
//! `--config` + `SWITCHBOARD_*` env + flags, first-start bootstrap, control certificate, ticket
//! keys, admin API and `/metrics`), the actors, an in-process relay accepting the broker's
//! ticket keys and the control listeners (TLS over TCP, QUIC).
//! `switchboard admin` is the admin API's command-line client.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use switchboard_relay::config::{BrokerKey, SinkKind, parse_key_hex};
use switchboard_relay::record::{NullSink, RecordSink};
use switchboard_relay::{EngineKind, RedisSink, RelayConfig, RelayHandle};

#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Self-hosted relay and session broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run broker, relay and admin API in one process with the embedded store.
    Serve(ServeArgs),
    /// Run a relay node on its own.
    Relay(RelayArgs),
    /// Administer a running broker through its admin API.
    Admin(switchboard_broker::admin_cli::AdminArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Broker TOML configuration (see ops/examples/switchboard.toml).
    #[arg(long, short = 'c', env = "SWITCHBOARD_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration, print a summary and exit.
    #[arg(long)]
    check_config: bool,
    /// Directory for state (directory file, certificate, ticket keys); default ./switchboard-data.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Directory: "redb", "redb:PATH" or a redis:// URL.
    #[arg(long)]
    directory: Option<String>,
    /// Admin API address (default 127.0.0.1:8080).
    #[arg(long)]
    admin_listen: Option<SocketAddr>,
    /// Control TCP/TLS listen address (repeatable; default 0.0.0.0:5655).
    #[arg(long)]
    control_listen: Vec<SocketAddr>,
    /// Control QUIC listen address (repeatable; default 0.0.0.0:5655).
    #[arg(long)]
    control_quic_listen: Vec<SocketAddr>,
    /// Log format: text or json.
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// First tenant's name (first start only).
    #[arg(long)]
    bootstrap_tenant: Option<String>,
    /// First owner's username (first start only).
    #[arg(long)]
    bootstrap_owner: Option<String>,
    /// First owner's password (first start only; else SWITCHBOARD_BOOTSTRAP_PASSWORD, else
    /// generated and printed once).
    #[arg(long)]
    bootstrap_password: Option<String>,
    /// Relay TCP listen address (repeatable; default: the [relay] table, else 0.0.0.0:5656).
    #[arg(long = "relay-listen")]
    relay_listen: Vec<SocketAddr>,
    /// Relay QUIC (UDP) listen address (repeatable; default as above).
    #[arg(long = "relay-quic-listen")]
    relay_quic_listen: Vec<SocketAddr>,
    /// `host:port` clients are told to dial for the in-process relay (default: its first TCP
    /// address, an unspecified IP replaced by 127.0.0.1: set this for remote clients).
    #[arg(long)]
    relay_advertise: Option<String>,
    /// Relay metrics endpoint address (in `serve`, `/metrics` of the admin API already shows
    /// every metric of the process).
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// This broker's node name on a Redis directory (unique per broker; default: the
    /// `[cluster]` table's, else `<hostname>-<random>`).
    #[arg(long, env = "SWITCHBOARD_NODE_NAME")]
    node_name: Option<String>,
    /// The in-process relay's id (default: the `[relay]` table's, else 1 on redb and a hash of
    /// the node name on Redis).
    #[arg(long)]
    relay_id: Option<u64>,
}

impl ServeArgs {
    /// File + `SWITCHBOARD_*` env + these flags, validated.
    fn broker_config(&self) -> anyhow::Result<switchboard_broker::config::BrokerConfig> {
        use switchboard_broker::config::{BrokerConfig, LogFormat, Overrides};
        let text = match &self.config {
            Some(p) => Some(
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            ),
            None => None,
        };
        let flags = Overrides {
            data_dir: self.data_dir.clone(),
            directory: self.directory.clone(),
            admin_listen: self.admin_listen,
            control_listen: self.control_listen.clone(),
            control_quic_listen: self.control_quic_listen.clone(),
            log_format: self.log_format.as_deref().map(|f| {
                if f == "json" {
                    LogFormat::Json
                } else {
                    LogFormat::Text
                }
            }),
            bootstrap_tenant: self.bootstrap_tenant.clone(),
            bootstrap_owner: self.bootstrap_owner.clone(),
            bootstrap_password: self.bootstrap_password.clone(),
        };
        let env = |k: &str| std::env::var(k).ok();
        let cfg = BrokerConfig::load(text.as_deref(), &env, &flags);
        let mut cfg = match (&self.config, cfg) {
            (Some(p), Err(e)) => return Err(anyhow::anyhow!("{}: {e}", p.display())),
            (None, Err(e)) => return Err(e.into()),
            (_, Ok(c)) => c,
        };
        if let Some(n) = &self.node_name {
            cfg.cluster.node_name.clone_from(n);
            cfg.validate()?;
        }
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
struct RelayArgs {
    /// TOML configuration file (see ops/examples/relay.toml).
    #[arg(long, short = 'c', env = "SWITCHBOARD_RELAY_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration, print a summary and exit.
    #[arg(long)]
    check_config: bool,
    /// Override `relay_id`.
    #[arg(long)]
    relay_id: Option<u64>,
    /// Override `listen` (TCP; repeatable).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Override `quic_listen` (UDP; repeatable).
    #[arg(long)]
    quic_listen: Vec<SocketAddr>,
    /// Override `engine` (splice, uring, copy).
    #[arg(long)]
    engine: Option<EngineKind>,
    /// Override `metrics_listen`.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
    /// Override `broker_keys` with `ID:HEX` (repeatable; two during a rotation).
    #[arg(long = "broker-key", value_parser = parse_broker_key)]
    broker_keys: Vec<BrokerKey>,
    /// Log format: text or json.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
    /// Join the cluster on this Redis: announce in the relay registry, report to the brokers,
    /// hear kills (without it, a relay whose record sink is Redis only hears kills there).
    #[arg(long)]
    redis: Option<String>,
    /// Key namespace in Redis (the brokers' `redis_namespace`).
    #[arg(long, default_value = "sb")]
    redis_namespace: String,
    /// Region announced in the registry (sessions prefer relays of their region).
    #[arg(long, default_value = "local")]
    region: String,
    /// `host:port` clients are told to dial (default: the first TCP address, an unspecified
    /// IP replaced by 127.0.0.1).
    #[arg(long)]
    advertise: Option<String>,
    /// Registry TTL: brokers stop picking this relay this long after its last heartbeat
    /// (heartbeats every third of it).
    #[arg(long, default_value = "30s", value_parser = parse_ttl)]
    registry_ttl: std::time::Duration,
}

fn parse_ttl(s: &str) -> Result<std::time::Duration, String> {
    let d = switchboard_relay::config::parse_duration(s)?;
    if d < std::time::Duration::from_millis(300) {
        return Err("at least 300ms".into());
    }
    Ok(d)
}

fn parse_broker_key(s: &str) -> Result<BrokerKey, String> {
    let (id, key) = s
        .split_once(':')
        .ok_or_else(|| "expected ID:HEX (key id, colon, 64 hex digits)".to_owned())?;
    let id = id.parse().map_err(|e| format!("key id: {e}"))?;
    Ok(BrokerKey {
        id,
        public_key: parse_key_hex(key)?,
    })
}

/// mimalloc rather than glibc's malloc: about 10 % less CPU per session setup, about 10 %
/// more memory per idle session (`ops/relay.md`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let json_logs = match &cli.command {
        Command::Serve(a) => {
            a.broker_config()?.log.format == switchboard_broker::config::LogFormat::Json
        }
        Command::Relay(a) => a.log_format == "json",
        _ => false,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if json_logs {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    match cli.command {
        Command::Relay(args) => {
            let cfg = relay_config(&args)?;
            let cluster = relay_cluster(&args);
            if args.check_config {
                print_summary(&cfg);
                return Ok(());
            }
            runtime()?.block_on(run_relay(cfg, cluster))
        }
        Command::Serve(args) => {
            let cfg = args.broker_config()?;
            if args.check_config {
                println!("{}", cfg.summary());
                return Ok(());
            }
            runtime()?.block_on(serve(args, cfg))
        }
        Command::Admin(args) => Ok(runtime()?.block_on(switchboard_broker::admin_cli::run(args))?),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// File (if any) + flag overrides, then validation (left to `run_relay` when the broker keys
/// come from Redis).
fn relay_config(args: &RelayArgs) -> anyhow::Result<RelayConfig> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            RelayConfig::parse_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => {
            let Some(id) = args.relay_id else {
                bail!("give --config FILE, or at least --relay-id and --broker-key (or --redis)");
            };
            RelayConfig::new(id, Vec::new())
        }
    };
    if let Some(id) = args.relay_id {
        cfg.relay_id = id;
    }
    if !args.listen.is_empty() {
        cfg.listen.clone_from(&args.listen);
    }
    if !args.quic_listen.is_empty() {
        cfg.quic_listen.clone_from(&args.quic_listen);
    }
    if let Some(e) = args.engine {
        cfg.engine = e;
    }
    if args.metrics_listen.is_some() {
        cfg.metrics_listen = args.metrics_listen;
    }
    if !args.broker_keys.is_empty() {
        cfg.broker_keys.clone_from(&args.broker_keys);
    }
    if cfg.broker_keys.is_empty() && args.redis.is_some() {
        // Taken from the brokers' published keys in `run_relay`, then validated.
        return Ok(cfg);
    }
    cfg.validate()?;
    Ok(cfg)
}

/// How a separate relay joins a cluster.
#[derive(Debug)]
struct RelayCluster {
    url: String,
    namespace: String,
    region: String,
    advertise: Option<String>,
    ttl: std::time::Duration,
}

/// The cluster a separate relay joins: only with `--redis` (a relay that only writes records
/// to Redis is not announced, since its advertised address may not be set for clients).
fn relay_cluster(args: &RelayArgs) -> Option<RelayCluster> {
    let url = args.redis.clone()?;
    Some(RelayCluster {
        url,
        namespace: args.redis_namespace.clone(),
        region: args.region.clone(),
        advertise: args.advertise.clone(),
        ttl: args.registry_ttl,
    })
}

fn print_summary(cfg: &RelayConfig) {
    println!("config ok");
    println!("  relay_id        {}", cfg.relay_id);
    println!("  listen (tcp)    {:?}", cfg.listen);
    println!("  listen (quic)   {:?}", cfg.quic_listen);
    println!("  engine          {}", cfg.engine);
    let ids: Vec<u32> = cfg.broker_keys.iter().map(|k| k.id).collect();
    println!("  broker key ids  {ids:?}");
    println!("  metrics         {:?}", cfg.metrics_listen);
    println!(
        "  waiting room    {:?}, {} per IP, {} total",
        cfg.limits.waiting_room_timeout, cfg.limits.waiting_per_ip, cfg.limits.waiting_total
    );
    println!(
        "  sessions        max {}, idle {:?}, tenant rate {} B/s",
        cfg.limits.max_sessions, cfg.limits.idle_timeout, cfg.limits.tenant_byte_rate
    );
    println!("  drain deadline  {:?}", cfg.drain_deadline);
    println!("  records         {:?}", cfg.records.sink);
}

/// Runs a relay until SIGTERM/SIGINT, then drains (a second signal stops at once). With a
/// cluster it announces itself (withdrawn when draining), reports to the brokers over the
/// node bus and hears kills.
async fn run_relay(mut cfg: RelayConfig, cluster: Option<RelayCluster>) -> anyhow::Result<()> {
    use switchboard_broker::control::{cluster as cl, relay_kill_redis, relay_link};
    if let Some(c) = &cluster
        && cfg.broker_keys.is_empty()
    {
        cfg.broker_keys = cl::load_ticket_keys(&c.url, &c.namespace).await?;
        anyhow::ensure!(
            !cfg.broker_keys.is_empty(),
            "no --broker-key given and no broker has published ticket keys in {} yet: start a broker first",
            c.url
        );
        cfg.validate()?;
    }
    let mut sink: Arc<dyn RecordSink> = match cfg.records.sink {
        SinkKind::None => Arc::new(NullSink),
        SinkKind::Redis => {
            let url = cfg.records.redis_url.as_deref().unwrap_or_default();
            Arc::new(RedisSink::start(
                url,
                &cfg.records.stream,
                cfg.records.max_len,
                cfg.records.queue,
            )?)
        }
    };
    let relay_id = cfg.relay();
    let kill_url = match cfg.records.sink {
        SinkKind::Redis => cfg.records.redis_url.clone(),
        SinkKind::None => None,
    };
    let node = format!("relay-{}", relay_id.0);
    if let Some(c) = &cluster {
        let (bus, _inbound) =
            switchboard_actors::RedisNodeBus::start(&c.url, &c.namespace, &node, OP_TIMEOUT)
                .await?;
        sink = Arc::new(cl::ClusterRelaySink::new(sink, bus));
    }
    let relay = Arc::new(RelayHandle::start(cfg, sink).await?);
    // With Redis, brokers end sessions here through the relay's kill channel.
    let mut _tasks = Vec::new();
    if let Some(url) = cluster.as_ref().map(|c| c.url.clone()).or(kill_url) {
        let r = Arc::clone(&relay);
        _tasks.push(AbortOnDrop(relay_kill_redis::subscribe_kills(
            &url,
            relay_id,
            move |sid, code| {
                r.kill_session(sid, code);
            },
        )?));
    }
    let mut announcer = None;
    if let Some(c) = &cluster {
        let Some(bound) = relay.tcp_addrs().first().copied() else {
            bail!("the relay needs a TCP listen address");
        };
        let addr = relay_link::advertised_addr(bound, c.advertise.as_deref());
        let info = relay_link::relay_info(&relay, addr, &c.region, &node);
        let a =
            switchboard_actors::RelayAnnouncer::connect(&c.url, &c.namespace, OP_TIMEOUT).await?;
        _tasks.push(AbortOnDrop(tokio::spawn(announce_loop(
            a.clone(),
            info,
            Arc::clone(&relay),
            c.ttl,
        ))));
        announcer = Some(a);
    }
    wait_signal().await?;
    tracing::info!("signal received: draining (send it again to stop at once)");
    relay.drain();
    if let Some(a) = &announcer
        && let Err(e) = a.withdraw(relay_id).await
    {
        tracing::warn!(error = %e, "relay not withdrawn from the registry; it expires");
    }
    tokio::select! {
        () = relay.shutdown() => tracing::info!("drained; bye"),
        r = wait_signal() => { r?; tracing::warn!("second signal: stopping now"); }
    }
    Ok(())
}

/// Redis operations of a separate relay give up after this long.
const OP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Announces the relay with its load every third of `ttl` until it drains.
async fn announce_loop(
    a: switchboard_actors::RelayAnnouncer,
    info: switchboard_actors::RelayInfo,
    relay: Arc<RelayHandle>,
    ttl: std::time::Duration,
) {
    let mut tick = tokio::time::interval(ttl / 3);
    loop {
        tick.tick().await;
        if relay.is_draining() {
            return;
        }
        let load = u32::try_from(relay.active_sessions()).unwrap_or(u32::MAX);
        if let Err(e) = a.announce(&info, load, ttl).await {
            tracing::warn!(error = %e, "relay registry heartbeat failed");
        }
    }
}

async fn wait_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        _ = term.recv() => {}
        r = tokio::signal::ctrl_c() => r.context("SIGINT handler")?,
    }
    Ok(())
}

/// Everything on one machine (`switchboard_broker::control::Node`): directory, first-start
/// bootstrap, control certificate, ticket keys, admin API and `/metrics`, the actors, the
/// in-process relay (registered with the actors, its records fed back) and the control
/// listeners (TLS, QUIC). Runs until SIGTERM/SIGINT, then drains the relay.
async fn serve(
    args: ServeArgs,
    broker: switchboard_broker::config::BrokerConfig,
) -> anyhow::Result<()> {
    // One Prometheus recorder for the whole process, with the broker's and the relay's buckets.
    let _ = switchboard_broker::metrics::prometheus_handle();
    let overrides = switchboard_broker::control::RelayOverrides {
        listen: args.relay_listen.clone(),
        quic_listen: args.relay_quic_listen.clone(),
        no_quic: false,
        metrics_listen: args.metrics_listen,
        advertise: args.relay_advertise.clone(),
        relay_id: args.relay_id,
    };
    let opts = switchboard_broker::control::NodeOptions {
        relay: overrides,
        control: broker.control.codec()?,
        limits: broker.control.limits()?,
        ..Default::default()
    };
    let node = switchboard_broker::control::Node::start(&broker, opts).await?;
    let started = &node.started;
    if let Some(b) = &started.bootstrapped {
        println!(
            "first start: created tenant {:?} ({}) with owner {:?}",
            b.tenant.name, b.tenant.id, b.owner.username
        );
        if let Some(p) = &b.generated_password {
            println!(
                "one-time bootstrap password for {:?}: {p}",
                b.owner.username
            );
            println!("(shown once: log in and change it)");
        }
    }
    println!(
        "control certificate sha256 fingerprint {}{}",
        started.cert.fingerprint,
        if started.cert.generated {
            " (generated now)"
        } else {
            ""
        }
    );
    for k in started.tickets.broker_keys() {
        println!(
            "relay ticket key id {} public key {}",
            k.id,
            hex::encode(k.public_key)
        );
    }
    println!(
        "admin API on {}://{}",
        if started.admin.tls { "https" } else { "http" },
        started.admin.addr
    );
    for a in node.control.local_addrs() {
        println!("control (TLS) on {a}");
    }
    for a in node.quic.iter().flat_map(|q| q.local_addrs()) {
        println!("control (QUIC) on {a}");
    }
    println!("node name {}", node.node_name);
    println!(
        "relay on {:?} (clients dial {}; relay id {})",
        node.relay.tcp_addrs(),
        node.relay_addr,
        node.relay.config().relay_id
    );
    wait_signal().await?;
    tracing::info!("signal received: draining the relay (send it again to stop at once)");
    tokio::select! {
        () = node.shutdown() => tracing::info!("drained; bye"),
        r = wait_signal() => { r?; tracing::warn!("second signal: stopping now"); }
    }
    Ok(())
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
