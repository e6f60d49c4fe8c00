//! `relay_host`: runs the Switchboard relay library from a TOML config file, for the relay
//! benchmark when the product binary cannot be used.
//!
//! `switchboard relay --config FILE` is what the benchmark runs; it links every crate of the
//! workspace, so while one of them does not build (or with `RELAY_HOST=1`) the script runs
//! this instead. It does what that subcommand does with the same config file: install
//! rustls' ring provider, start the relay (TCP and QUIC listeners, records dropped), and run
//! until SIGINT or SIGTERM, then drain. It adds no behaviour of its own.

use std::sync::Arc;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let path = std::env::args()
        .nth(1)
        .context("usage: relay_host CONFIG.toml")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let cfg = switchboard_relay::RelayConfig::from_toml_str(&text)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let relay =
            switchboard_relay::RelayHandle::start(cfg, Arc::new(switchboard_relay::NullSink))
                .await?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        relay.drain();
        Ok::<_, anyhow::Error>(())
    })
}
