//! The command line: `run SCENARIO...` with the target, fleet, scenario and output options,
//! and `compare BASE.json NEW.json --tolerance 10%`.
//!
//! Only parsing and the effective-configuration echo live here; `main.rs` acts on it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Drive many simulated Hosts and Guests against a Switchboard.
#[derive(Debug, Parser)]
#[command(name = "switchboard-loadgen", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios (in the order given) and report.
    Run(Box<RunArgs>),
    /// Compare two JSON results; exit 1 when a gated figure regressed beyond the tolerance.
    Compare(CompareArgs),
}

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioName {
    /// Brokered session setups per second at a concurrency.
    SetupStorm,
    /// N sessions each moving M bytes both ways.
    Bulk,
    /// Small frames at a rate per session; added RTT against a direct baseline.
    Interactive,
    /// Open and hold N sessions in steps; memory per session.
    IdleScale,
    /// Hosts and guests connecting and leaving continuously.
    Churn,
    /// OnDemand keys created, joined, started, ended.
    Ondemand,
}

impl ScenarioName {
    /// The name as on the command line and in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SetupStorm => "setup-storm",
            Self::Bulk => "bulk",
            Self::Interactive => "interactive",
            Self::IdleScale => "idle-scale",
            Self::Churn => "churn",
            Self::Ondemand => "ondemand",
        }
    }
}

/// `run`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct RunArgs {
    /// Scenarios to run, in order.
    #[arg(required = true, value_enum)]
    pub scenarios: Vec<ScenarioName>,
    /// Where the server is (default: spawn one).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Bounds and sizes shared by the scenarios.
    #[command(flatten)]
    pub common: CommonArgs,
    /// bulk.
    #[command(flatten)]
    pub bulk: BulkArgs,
    /// interactive.
    #[command(flatten)]
    pub interactive: InteractiveArgs,
    /// idle-scale.
    #[command(flatten)]
    pub idle_scale: crate::scenario::idle_scale::IdleScaleArgs,
    /// churn.
    #[command(flatten)]
    pub churn: crate::scenario::churn::ChurnArgs,
    /// ondemand.
    #[command(flatten)]
    pub ondemand: crate::scenario::ondemand::OndemandArgs,
    /// Outputs.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Where the server is.
#[derive(Debug, Clone, Args, Serialize)]
pub struct TargetArgs {
    /// Control `host:port` of a running server (else `switchboard serve` is spawned).
    #[arg(long)]
    pub server: Option<String>,
    /// Admin API URL of the running server.
    #[arg(long, requires = "server")]
    pub admin_url: Option<String>,
    /// Its control certificate's SHA-256 fingerprint.
    #[arg(long, requires = "server")]
    pub fingerprint: Option<String>,
    /// Admin user (owner or administrator of the tenant to use).
    #[arg(long, requires = "server")]
    pub admin_user: Option<String>,
    /// Environment variable holding the admin password (else it is read from stdin).
    #[arg(long, requires = "server")]
    pub admin_password_env: Option<String>,
    /// Spawned server: `--directory` passed through (e.g. `redis://127.0.0.1:6400/`).
    #[arg(long, conflicts_with = "server")]
    pub directory: Option<String>,
    /// Spawned server: a TOML file appended to the generated configuration.
    #[arg(long, conflicts_with = "server")]
    pub serve_config: Option<PathBuf>,
    /// Spawned server: its RUST_LOG (default warn).
    #[arg(long, conflicts_with = "server")]
    pub serve_log: Option<String>,
    /// Control connections over QUIC instead of TLS.
    #[arg(long)]
    pub quic: bool,
    /// Sessions reach the relay over QUIC (one UDP socket for all: no fd per session).
    #[arg(long)]
    pub relay_quic: bool,
    /// The relay's QUIC address when it is not the assigned relay `host:port` over UDP.
    #[arg(long, requires = "relay_quic")]
    pub relay_quic_addr: Option<std::net::SocketAddr>,
}

/// Bounds and sizes shared by the scenarios.
#[derive(Debug, Clone, Args, Serialize)]
pub struct CommonArgs {
    /// Most units a scenario does (setups, sessions).
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    /// Longest a scenario's measured part runs, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// Setups in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Simulated hosts (enrolled devices) online.
    #[arg(long, default_value_t = 16)]
    pub hosts: usize,
    /// Guest control connections.
    #[arg(long, default_value_t = 4)]
    pub guests: usize,
    /// Enrollments in flight at once while provisioning.
    #[arg(long, default_value_t = crate::fleet::ENROLL_CONCURRENCY)]
    pub enroll_concurrency: usize,
}

/// bulk.
#[derive(Debug, Clone, Args, Serialize)]
pub struct BulkArgs {
    /// Concurrent bulk sessions.
    #[arg(long, default_value_t = 8)]
    pub bulk_sessions: usize,
    /// Bytes each session moves each way (suffixes K, M, G: powers of 1024).
    #[arg(long, default_value = "16M", value_parser = parse_size)]
    pub bulk_bytes: u64,
}

/// interactive.
#[derive(Debug, Clone, Args, Serialize)]
pub struct InteractiveArgs {
    /// Concurrent interactive sessions.
    #[arg(long, default_value_t = 100)]
    pub sessions: usize,
    /// Frames per second each way per session (40 × ~544 B ≈ 180 kbit/s).
    #[arg(long, default_value_t = 40.0)]
    pub rate: f64,
    /// Smallest frame in bytes.
    #[arg(long, default_value_t = 64)]
    pub frame_min: usize,
    /// Largest frame in bytes.
    #[arg(long, default_value_t = 1024)]
    pub frame_max: usize,
    /// Seconds of measurement (bounded by --duration).
    #[arg(long, default_value_t = 10.0)]
    pub measure: f64,
}

/// Outputs.
#[derive(Debug, Clone, Args, Serialize)]
pub struct OutputArgs {
    /// Write the JSON results here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write an HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write SVG plots into this directory.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// No live progress lines.
    #[arg(long)]
    pub quiet: bool,
}

/// `compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The baseline results.
    pub base: PathBuf,
    /// The new results.
    pub new: PathBuf,
    /// Allowed regression, e.g. `10%` or `0.1`.
    #[arg(long, default_value = "10%", value_parser = parse_tolerance)]
    pub tolerance: f64,
}

/// The `run` options from words as on the command line after `run` (for library callers such
/// as tests): `parse_run(&["setup-storm", "--count", "5"])`.
pub fn parse_run(words: &[&str]) -> Result<RunArgs, crate::LoadgenError> {
    let argv = ["switchboard-loadgen", "run"]
        .into_iter()
        .chain(words.iter().copied());
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Run(r),
        }) => Ok(*r),
        Ok(_) => Err(crate::LoadgenError::Usage("not a run command".into())),
        Err(e) => Err(crate::LoadgenError::Usage(e.to_string())),
    }
}

/// `16M` → 16 MiB; plain digits are bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'B' => 1,
                _ => return Err(format!("unknown size suffix in {s:?} (K, M, G)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?}"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// `10%` → 0.10; `0.1` → 0.1.
pub fn parse_tolerance(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.parse::<f64>(),
    }
    .map_err(|_| format!("not a tolerance: {s:?} (e.g. 10% or 0.1)"))?;
    if !(0.0..=10.0).contains(&v) {
        return Err(format!("tolerance out of range: {s:?}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_tolerances() {
        assert_eq!(parse_size("16M"), Ok(16 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("3X").is_err());
        assert_eq!(parse_tolerance("10%"), Ok(0.1));
        assert_eq!(parse_tolerance("0.25"), Ok(0.25));
        assert!(parse_tolerance("-1").is_err());
    }

    #[test]
    fn command_line_parses() {
        let c = Cli::try_parse_from([
            "switchboard-loadgen",
            "run",
            "setup-storm",
            "bulk",
            "--count",
            "50",
            "--bulk-bytes",
            "1M",
            "--json",
            "/tmp/x.json",
        ])
        .unwrap();
        let Command::Run(r) = c.command else {
            panic!("not run")
        };
        assert_eq!(r.scenarios, [ScenarioName::SetupStorm, ScenarioName::Bulk]);
        assert_eq!(r.common.count, 50);
        assert_eq!(r.bulk.bulk_bytes, 1 << 20);
        let v = serde_json::to_value(&*r).unwrap();
        assert_eq!(v["scenarios"][0], "setup-storm");
        assert!(
            Cli::try_parse_from(["switchboard-loadgen", "run", "--admin-url", "x", "bulk"])
                .is_err()
        );
    }
}
