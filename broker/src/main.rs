//! `switchboard`: the server binary (`serve` all-in-one, `relay` alone, `admin` client).
//!
//! `switchboard relay` runs a relay node from a TOML file plus flags (`--check-config` checks
//! and exits). `switchboard serve` is, for now, an in-process relay with a signing key the
//! binary generates and keeps in its data directory; the broker will replace it.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use switchboard_codec::TicketSigner;
use switchboard_relay::config::{BrokerKey, SinkKind, parse_key_hex};
use switchboard_relay::record::{NullSink, RecordSink};
use switchboard_relay::{ChannelSink, EngineKind, RedisSink, RelayConfig, RelayHandle};

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
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Directory for state (the relay ticket-signing key lives here).
    #[arg(long, default_value = "switchboard-data")]
    data_dir: PathBuf,
    /// Relay TCP listen address (repeatable).
    #[arg(long = "relay-listen", default_value = "0.0.0.0:5656")]
    relay_listen: Vec<SocketAddr>,
    /// Relay QUIC (UDP) listen address (repeatable).
    #[arg(long = "relay-quic-listen", default_value = "0.0.0.0:5656")]
    relay_quic_listen: Vec<SocketAddr>,
    /// Metrics endpoint address.
    #[arg(long)]
    metrics_listen: Option<SocketAddr>,
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        tracing::debug!("a rustls crypto provider was already installed");
    }
    match cli.command {
        Command::Relay(args) => {
            let cfg = relay_config(&args)?;
            if args.check_config {
                print_summary(&cfg);
                return Ok(());
            }
            runtime()?.block_on(run_relay(cfg, None))
        }
        Command::Serve(args) => runtime()?.block_on(serve(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

/// File (if any) + flag overrides, then validation.
fn relay_config(args: &RelayArgs) -> anyhow::Result<RelayConfig> {
    let mut cfg = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            RelayConfig::parse_toml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => {
            let Some(id) = args.relay_id else {
                bail!("give --config FILE, or at least --relay-id and --broker-key");
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
    cfg.validate()?;
    Ok(cfg)
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

/// Runs a relay until SIGTERM/SIGINT, then drains (a second signal stops at once).
async fn run_relay(cfg: RelayConfig, sink: Option<Arc<dyn RecordSink>>) -> anyhow::Result<()> {
    let sink: Arc<dyn RecordSink> = match sink {
        Some(s) => s,
        None => match cfg.records.sink {
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
        },
    };
    let relay = RelayHandle::start(cfg, sink).await?;
    wait_signal().await?;
    tracing::info!("signal received: draining (send it again to stop at once)");
    relay.drain();
    tokio::select! {
        () = relay.shutdown() => tracing::info!("drained; bye"),
        r = wait_signal() => { r?; tracing::warn!("second signal: stopping now"); }
    }
    Ok(())
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

/// For now: an in-process relay whose ticket-signing key is generated once and kept in the
/// data directory. Session records are logged.
async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let signer = load_or_create_signer(&args.data_dir.join("relay-signing.key"))?;
    println!(
        "relay ticket key id {} public key {}",
        signer.key_id(),
        hex::encode(signer.public_key())
    );
    let mut cfg = RelayConfig::new(
        1,
        vec![BrokerKey {
            id: signer.key_id(),
            public_key: signer.public_key(),
        }],
    );
    cfg.listen = args.relay_listen;
    cfg.quic_listen = args.relay_quic_listen;
    cfg.metrics_listen = args.metrics_listen;
    cfg.validate()?;
    let (sink, mut records) = ChannelSink::new(4096);
    tokio::spawn(async move {
        while let Some(r) = records.recv().await {
            tracing::info!(session = %r.session_id, tenant = %r.tenant_id,
                host_to_guest = r.bytes_host_to_guest, guest_to_host = r.bytes_guest_to_host,
                duration_ms = r.duration_ms, reason = %r.close_reason, engine = %r.engine,
                "session ended");
        }
    });
    run_relay(cfg, Some(Arc::new(sink))).await
}

/// Reads the 32-byte signing secret (hex) from `path`, or creates it (mode 0600).
fn load_or_create_signer(path: &Path) -> anyhow::Result<TicketSigner> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let secret =
            parse_key_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(TicketSigner::new(1, secret));
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("random key: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{}", hex::encode(secret))?;
    tracing::info!(path = %path.display(), "generated a relay ticket-signing key");
    Ok(TicketSigner::new(1, secret))
}
