//! The `switchboard-agent` command line (clap): global flags, the `host`, `guest` and
//! `ondemand` commands with their arguments, and the parsers of `--tunnel LOCAL=TARGET` and
//! `host:port` values.
//!
//! It only parses; `main.rs` runs the commands through `crate::control`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use switchboard_codec::message::OnDemandKey;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Switchboard agent: the Host and Guest endpoints.
#[derive(Debug, Parser)]
#[command(name = "switchboard-agent", version, about)]
pub struct Cli {
    /// State directory (default: $SWITCHBOARD_AGENT_STATE, else
    /// $XDG_STATE_HOME/switchboard-agent or ~/.local/state/switchboard-agent).
    #[arg(long, global = true, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Log format (logs go to stderr).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// This machine as a Host: enroll it, keep it online and serve sessions.
    #[command(subcommand)]
    Host(HostCommand),
    /// A technician: log in, list devices, open sessions and tunnels.
    #[command(subcommand)]
    Guest(GuestCommand),
    /// An end user's one-time OnDemand session.
    #[command(subcommand)]
    Ondemand(OnDemandCommand),
}

/// `host ...`.
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Enroll this machine with a deployment package key.
    Enroll(EnrollArgs),
    /// Stay connected and serve sessions (reconnects on network loss).
    Run(RunArgs),
}

/// `host enroll`.
#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// The broker's control address.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub server: String,
    /// The deployment package's enrollment key.
    #[arg(long)]
    pub key: String,
    /// SHA-256 fingerprint of the broker's certificate (as `switchboard serve` prints it).
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// Trust the certificate the server shows now when no --fingerprint is given.
    #[arg(long)]
    pub trust_on_first_use: bool,
    /// Host name to report (default: this machine's).
    #[arg(long, value_name = "N")]
    pub hostname: Option<String>,
}

/// `host run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Use QUIC for the control connection.
    #[arg(long)]
    pub quic: bool,
    /// Accept sessions that require confirmation without asking.
    #[arg(long)]
    pub auto_accept: bool,
    /// A target tunnels may reach (repeatable); none = no tunnels.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub allow: Vec<String>,
    /// Longest reconnect delay in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub reconnect_max: u64,
}

/// `guest ...`.
#[derive(Debug, Subcommand)]
pub enum GuestCommand {
    /// Log in to the admin API and keep the token.
    Login(LoginArgs),
    /// List the devices you may reach.
    Devices(DevicesArgs),
    /// Open a session to a device and forward local ports through it.
    Connect(ConnectArgs),
    /// OnDemand keys and sessions.
    #[command(subcommand)]
    Ondemand(GuestOnDemandCommand),
}

/// `guest login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The broker's control address.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub server: String,
    /// The admin API URL (default http://<server host>:8080).
    #[arg(long, value_name = "URL")]
    pub admin: Option<String>,
    /// User name.
    #[arg(long, value_name = "U")]
    pub user: String,
    /// Tenant name or id (when you belong to several).
    #[arg(long)]
    pub tenant: Option<String>,
    /// SHA-256 fingerprint of the broker's certificate.
    #[arg(long, value_name = "FP")]
    pub fingerprint: Option<String>,
    /// Trust the certificate the server shows now when no --fingerprint is given.
    #[arg(long)]
    pub trust_on_first_use: bool,
    /// Read the password (line 1) and TOTP code (line 2) from stdin.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `guest devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print the raw JSON answer.
    #[arg(long)]
    pub json: bool,
}

/// `guest connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Device id or unique name.
    pub device: String,
    /// LOCAL=TARGET: listen on LOCAL (port or host:port), forward to TARGET on the Host.
    #[arg(long, value_name = "LOCAL=TARGET", required = true)]
    pub tunnel: Vec<TunnelSpec>,
    /// Use QUIC for the control connection.
    #[arg(long)]
    pub quic: bool,
}

/// `guest ondemand ...`.
#[derive(Debug, Subcommand)]
pub enum GuestOnDemandCommand {
    /// Create a one-time key for an end user.
    Create(QuicArg),
    /// Start the session of the end user waiting on KEY.
    Start(StartArgs),
    /// Reject the session waiting on KEY.
    Reject(KeyArgs),
}

/// Just `--quic`.
#[derive(Debug, Args)]
pub struct QuicArg {
    /// Use QUIC for the control connection.
    #[arg(long)]
    pub quic: bool,
}

/// `guest ondemand start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// The nine-digit key.
    pub key: OnDemandKey,
    /// LOCAL=TARGET tunnels.
    #[arg(long, value_name = "LOCAL=TARGET")]
    pub tunnel: Vec<TunnelSpec>,
    /// Use QUIC for the control connection.
    #[arg(long)]
    pub quic: bool,
}

/// `guest ondemand reject`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The nine-digit key.
    pub key: OnDemandKey,
    /// Use QUIC for the control connection.
    #[arg(long)]
    pub quic: bool,
}

/// `ondemand ...`.
#[derive(Debug, Subcommand)]
pub enum OnDemandCommand {
    /// Join a technician's queue with the key they gave you.
    Join(JoinArgs),
}

/// `ondemand join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The nine-digit key.
    pub key: OnDemandKey,
    /// The broker's control address.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub server: String,
    /// SHA-256 fingerprint of the broker's certificate.
    #[arg(long, value_name = "FP")]
    pub fingerprint: String,
    /// Allow the session without asking.
    #[arg(long)]
    pub yes: bool,
    /// A target the technician's tunnels may reach (repeatable).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub allow: Vec<String>,
    /// Use QUIC for the control connection.
    #[arg(long)]
    pub quic: bool,
}

/// Checks `host:port` (a non-empty host, a port 1..=65535); the text as given.
pub fn parse_host_port(s: &str) -> Result<String, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("{s:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(s.to_owned()),
        _ => Err(format!("{s:?} has no valid port (1-65535)")),
    }
}

/// A `--tunnel LOCAL=TARGET`: LOCAL is a port (127.0.0.1 implied) or `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSpec {
    /// Where to listen (`host:port`).
    pub local: String,
    /// `host:port` on the Host's side.
    pub target: String,
}

impl FromStr for TunnelSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (local, target) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?} is not LOCAL=TARGET (e.g. 2222=127.0.0.1:22)"))?;
        let local = if !local.is_empty() && local.bytes().all(|b| b.is_ascii_digit()) {
            format!("127.0.0.1:{local}")
        } else {
            local.to_owned()
        };
        let local_checked = if local.ends_with(":0") {
            Ok(local.clone())
        } else {
            parse_host_port(&local)
        };
        Ok(Self {
            local: local_checked.map_err(|e| format!("local side: {e}"))?,
            target: parse_host_port(target).map_err(|e| format!("target: {e}"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tunnel_specs() {
        let t: TunnelSpec = "2222=127.0.0.1:22".parse().unwrap();
        assert_eq!(t.local, "127.0.0.1:2222");
        assert_eq!(t.target, "127.0.0.1:22");
        let t: TunnelSpec = "127.0.0.1:8080=10.0.0.5:80".parse().unwrap();
        assert_eq!(
            (t.local.as_str(), t.target.as_str()),
            ("127.0.0.1:8080", "10.0.0.5:80")
        );
        let t: TunnelSpec = "127.0.0.1:0=localhost:22".parse().unwrap();
        assert_eq!(t.local, "127.0.0.1:0");
        for bad in [
            "2222",
            "2222=",
            "=127.0.0.1:22",
            "2222=host",
            "2222=host:99999",
            "x=h:1",
            "70000=h:1",
        ] {
            assert!(bad.parse::<TunnelSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn host_ports() {
        assert!(parse_host_port("127.0.0.1:22").is_ok());
        assert!(parse_host_port("[::1]:22").is_ok());
        for bad in ["127.0.0.1", ":22", "h:0", "h:port", "a b:1"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_the_contract_commands() {
        let c = Cli::try_parse_from([
            "switchboard-agent",
            "--state",
            "/tmp/s",
            "host",
            "run",
            "--allow",
            "127.0.0.1:22",
            "--allow",
            "127.0.0.1:80",
            "--auto-accept",
            "--reconnect-max",
            "5",
        ])
        .unwrap();
        let Command::Host(HostCommand::Run(r)) = c.command else {
            panic!()
        };
        assert_eq!(r.allow, ["127.0.0.1:22", "127.0.0.1:80"]);
        assert!(r.auto_accept && !r.quic);
        assert_eq!(r.reconnect_max, 5);

        let c = Cli::try_parse_from([
            "switchboard-agent",
            "guest",
            "connect",
            "web-1",
            "--tunnel",
            "2222=127.0.0.1:22",
            "--tunnel",
            "8080=127.0.0.1:80",
            "--log-format",
            "json",
        ])
        .unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        let Command::Guest(GuestCommand::Connect(a)) = c.command else {
            panic!()
        };
        assert_eq!(a.device, "web-1");
        assert_eq!(a.tunnel.len(), 2);

        let c = Cli::try_parse_from([
            "switchboard-agent",
            "ondemand",
            "join",
            "012345678",
            "--server",
            "h:1",
            "--fingerprint",
            "ab",
            "--yes",
        ])
        .unwrap();
        let Command::Ondemand(OnDemandCommand::Join(j)) = c.command else {
            panic!()
        };
        assert_eq!(j.key.to_string(), "012345678");

        for bad in [
            vec!["switchboard-agent", "host", "run", "--allow", "nohostport"],
            vec!["switchboard-agent", "guest", "connect", "d"],
            vec![
                "switchboard-agent",
                "guest",
                "connect",
                "d",
                "--tunnel",
                "22",
            ],
            vec![
                "switchboard-agent",
                "ondemand",
                "join",
                "12345",
                "--server",
                "h:1",
                "--fingerprint",
                "a",
            ],
            vec!["switchboard-agent", "host", "enroll", "--server", "h:1"],
        ] {
            assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?}");
        }
    }
}
