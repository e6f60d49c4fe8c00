//! `relay_bench`: the driver of the side-by-side relay comparison (`bench/scripts/relay-compare.sh`).
//!
//! `run` measures one target (direct TCP, a proxy, or a Switchboard relay started by the
//! script) and writes its figures as JSON; `report` reads every target's JSON, prints one
//! table with each figure and its ratio to direct TCP and to HAProxy, and writes the combined
//! JSON. `keys` and `cert` make the ticket-signing key and the QUIC certificate the script
//! hands to the relay. This is a benchmark, not a test: it asserts nothing about speed.

mod conn;
mod interactive;
mod measure;
mod proc;
mod report;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use conn::{Dialer, DialerConfig, Mode};

#[derive(Debug, Parser)]
#[command(name = "relay_bench", about = "Side-by-side relay benchmark driver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Direct,
    Proxy,
    Switchboard,
    Quic,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints a fresh ticket-signing secret and its public key (hex, one per line).
    Keys,
    /// Writes a self-signed certificate for the relay's QUIC listener: cert.pem, key.pem, cert.der.
    Cert {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Measures one target and writes its JSON.
    Run {
        /// Name in the table (e.g. `haproxy-splice`).
        #[arg(long)]
        target: String,
        #[arg(long, value_enum)]
        mode: ModeArg,
        /// Relay or proxy TCP address (not for direct).
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
        /// The driver's own listener (direct, and the proxies' backend).
        #[arg(long, default_value = "127.0.0.1:0")]
        backend: std::net::SocketAddr,
        /// The relay's QUIC address (mode quic).
        #[arg(long)]
        quic_addr: Option<std::net::SocketAddr>,
        /// DER certificate of the relay's QUIC listener.
        #[arg(long)]
        cert_der: Option<PathBuf>,
        /// Ticket-signing secret, 64 hex digits.
        #[arg(long, default_value = "")]
        secret: String,
        #[arg(long, default_value_t = 1)]
        relay_id: u64,
        /// Relay process id, for CPU and memory (none for direct).
        #[arg(long)]
        pid: Option<u32>,
        /// Smaller sizes, fewer repetitions.
        #[arg(long)]
        quick: bool,
        /// Comma-separated subset of bulk,rtt,many,interactive,memory.
        #[arg(long, default_value = "bulk,rtt,many,interactive")]
        tests: String,
        /// Idle-session counts for `memory` (default 10000,50000; quick 2000,5000).
        #[arg(long)]
        memory_steps: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints the comparison table from every `<target>.json` in `dir` and writes the combined JSON.
    Report {
        #[arg(long)]
        dir: PathBuf,
        /// Targets in table order, comma-separated.
        #[arg(long)]
        order: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
}

/// Sizes of one run.
struct Sizes {
    bulk_bytes: u64,
    bulk_reps: usize,
    rtt_iters: u64,
    many_sessions: usize,
    many_bytes: u64,
    inter_sessions: usize,
    inter_seconds: f64,
    memory_steps: Vec<usize>,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Self {
                bulk_bytes: 256 << 20,
                bulk_reps: 3,
                rtt_iters: 2_000,
                many_sessions: 200,
                many_bytes: 2 << 20,
                inter_sessions: 200,
                inter_seconds: 3.0,
                memory_steps: vec![2_000, 5_000],
            }
        } else {
            Self {
                bulk_bytes: 1 << 30,
                bulk_reps: 5,
                rtt_iters: 10_000,
                many_sessions: 1_000,
                many_bytes: 4 << 20,
                inter_sessions: 1_000,
                inter_seconds: 10.0,
                memory_steps: vec![10_000, 50_000],
            }
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct TargetResult {
    target: String,
    mode: String,
    quick: bool,
    bulk: Option<measure::Bulk>,
    rtt: Option<measure::Rtt>,
    many: Option<measure::Many>,
    interactive: Option<interactive::Interactive>,
    memory: Option<Vec<interactive::Memory>>,
    errors: Vec<String>,
}

fn parse_secret(hex_str: &str) -> anyhow::Result<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex_str.is_empty() {
        return Ok(out);
    }
    anyhow::ensure!(hex_str.len() == 64, "secret must be 64 hex digits");
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex_str[i * 2..i * 2 + 2], 16)?;
    }
    Ok(out)
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Keys => {
            let mut secret = [0u8; 32];
            use std::io::Read as _;
            std::fs::File::open("/dev/urandom")?.read_exact(&mut secret)?;
            let public = switchboard_codec::TicketSigner::new(conn::KEY_ID, secret).public_key();
            println!("{}\n{}", to_hex(&secret), to_hex(&public));
            Ok(())
        }
        Command::Cert { dir } => {
            std::fs::create_dir_all(&dir)?;
            let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
            std::fs::write(dir.join("cert.pem"), ck.cert.pem())?;
            std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem())?;
            std::fs::write(dir.join("cert.der"), ck.cert.der().as_ref())?;
            Ok(())
        }
        Command::Report {
            dir,
            order,
            out,
            markdown,
        } => report::report(&dir, &order, &out, markdown.as_deref()),
        Command::Run {
            target,
            mode,
            addr,
            backend,
            quic_addr,
            cert_der,
            secret,
            relay_id,
            pid,
            quick,
            tests,
            memory_steps,
            out,
        } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let mode = match mode {
                ModeArg::Direct => Mode::Direct,
                ModeArg::Proxy => Mode::Proxy,
                ModeArg::Switchboard => Mode::Switchboard,
                ModeArg::Quic => Mode::Quic,
            };
            let cert = match cert_der {
                Some(p) => {
                    Some(std::fs::read(&p).with_context(|| format!("read {}", p.display()))?)
                }
                None => None,
            };
            let cfg = DialerConfig {
                mode,
                target: addr,
                backend,
                quic_target: quic_addr,
                quic_cert_der: cert,
                key_id: conn::KEY_ID,
                secret: parse_secret(&secret)?,
                relay_id,
            };
            let mut sizes = Sizes::new(quick);
            if let Some(steps) = memory_steps {
                sizes.memory_steps = steps
                    .split(',')
                    .map(|s| s.trim().parse::<usize>())
                    .collect::<Result<_, _>>()?;
            }
            let result = rt.block_on(run(target, mode, cfg, pid, quick, sizes, &tests))?;
            std::fs::write(&out, serde_json::to_string_pretty(&result)?)?;
            Ok(())
        }
    }
}

async fn run(
    target: String,
    mode: Mode,
    cfg: DialerConfig,
    pid: Option<u32>,
    quick: bool,
    sizes: Sizes,
    tests: &str,
) -> anyhow::Result<TargetResult> {
    let dialer = Arc::new(Dialer::new(cfg).await?);
    let mut r = TargetResult {
        target: target.clone(),
        mode: format!("{mode:?}"),
        quick,
        ..Default::default()
    };
    let wants = |t: &str| tests.split(',').any(|x| x.trim() == t);
    let note = |r: &mut TargetResult, what: &str, e: anyhow::Error| {
        eprintln!("  {target}: {what} failed: {e:#}");
        r.errors.push(format!("{what}: {e:#}"));
    };
    if wants("bulk") {
        eprintln!("  {target}: bulk");
        match measure::bulk(&dialer, pid, sizes.bulk_bytes, sizes.bulk_reps).await {
            Ok(b) => r.bulk = Some(b),
            Err(e) => note(&mut r, "bulk", e),
        }
    }
    if wants("rtt") {
        eprintln!("  {target}: rtt");
        match measure::rtt(&dialer, sizes.rtt_iters).await {
            Ok(x) => r.rtt = Some(x),
            Err(e) => note(&mut r, "rtt", e),
        }
    }
    if wants("many") {
        eprintln!("  {target}: many");
        match measure::many(&dialer, pid, sizes.many_sessions, sizes.many_bytes).await {
            Ok(x) => r.many = Some(x),
            Err(e) => note(&mut r, "many", e),
        }
    }
    if wants("interactive") {
        eprintln!("  {target}: interactive");
        match interactive::interactive(&dialer, pid, sizes.inter_sessions, sizes.inter_seconds)
            .await
        {
            Ok(x) => r.interactive = Some(x),
            Err(e) => note(&mut r, "interactive", e),
        }
    }
    if wants("memory") {
        match pid {
            Some(pid) => {
                eprintln!("  {target}: memory");
                match interactive::memory(&dialer, pid, &sizes.memory_steps).await {
                    Ok(x) => r.memory = Some(x),
                    Err(e) => note(&mut r, "memory", e),
                }
            }
            None => r.errors.push("memory: no relay process".into()),
        }
    }
    Ok(r)
}
