//! Broker configuration: a TOML file, `SWITCHBOARD_*` environment variables and flags, in
//! that order of strength (flags > env > file > defaults), then [`BrokerConfig::validate`].
//!
//! Loading is two steps, as in pingora: parse (serde with `deny_unknown_fields`, so an unknown
//! key is refused with its name), then validate the values together. The `[relay]` table is
//! the relay's own configuration (`switchboard_relay::RelayConfig`), parsed by the relay's
//! rules; in `switchboard serve` its `relay_id` and `broker_keys` default to 1 and the broker's
//! own ticket keys. The environment is read through a lookup function so tests inject a map.
//!
//! This module reads the file it is given and nothing else; it opens no sockets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use switchboard_relay::RelayConfig;
use switchboard_relay::config::parse_duration;

use crate::error::BrokerError;

/// Default control-plane port (TCP/TLS and UDP/QUIC).
pub const DEFAULT_CONTROL_PORT: u16 = 5655;
/// Default admin API address.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8080";

/// The whole broker configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// State directory: redb file, control-plane certificate, ticket keys.
    pub data_dir: PathBuf,
    /// `"redb"` (the file `<data_dir>/directory.redb`), `"redb:/path/file.redb"`, or a
    /// `redis://` / `rediss://` URL.
    pub directory: String,
    /// Key namespace in Redis (ignored for redb).
    pub redis_namespace: String,
    /// Control listeners.
    pub control: ControlConfig,
    /// Admin HTTP API.
    pub admin: AdminConfig,
    /// Login limits.
    pub login: LoginConfig,
    /// Admission limits of the actors (session and login rates, session caps).
    pub limits: crate::config_limits::LimitsConfig,
    /// Relay ticket signing keys.
    pub tickets: TicketsConfig,
    /// Logging.
    pub log: LogConfig,
    /// First-start bootstrap.
    pub bootstrap: BootstrapConfig,
    /// The in-process relay (`switchboard serve`): the relay's own keys.
    pub relay: Option<toml::Table>,
    /// Several brokers on one Redis directory.
    pub cluster: ClusterConfig,
}

/// Several brokers sharing one Redis directory (ignored with redb).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This broker's node name, unique among the brokers of one Redis (presence entries and
    /// the node bus use it). Empty: `<hostname>-<random hex>`, new at every start.
    pub node_name: String,
    /// Region of the in-process relay (sessions take the least loaded relay of their region).
    pub relay_region: String,
    /// How often the relay registry cache is refreshed from Redis (`"1s"`).
    pub registry_refresh: String,
    /// How long another broker node may take to answer a probe or a terminate (`"2s"`); a
    /// device whose node does not answer in time is `device_offline`.
    pub remote_timeout: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            node_name: String::new(),
            relay_region: "local".to_owned(),
            registry_refresh: "1s".to_owned(),
            remote_timeout: "2s".to_owned(),
        }
    }
}

impl ClusterConfig {
    /// `registry_refresh` as a duration.
    pub fn registry_refresh(&self) -> Result<Duration, BrokerError> {
        parse_duration(&self.registry_refresh)
            .map_err(|e| BrokerError::Config(format!("cluster.registry_refresh: {e}")))
    }

    /// `remote_timeout` as a duration.
    pub fn remote_timeout(&self) -> Result<Duration, BrokerError> {
        parse_duration(&self.remote_timeout)
            .map_err(|e| BrokerError::Config(format!("cluster.remote_timeout: {e}")))
    }

    fn validate(&self) -> Result<(), BrokerError> {
        let bad = |m: &str| Err(BrokerError::Config(m.to_owned()));
        if self
            .node_name
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        {
            return bad("cluster.node_name may hold letters, digits, '-', '_' and '.' only");
        }
        if self.relay_region.trim().is_empty() {
            return bad("cluster.relay_region must not be empty");
        }
        let r = self.registry_refresh()?;
        if r < Duration::from_millis(100) || r > Duration::from_secs(60) {
            return bad("cluster.registry_refresh must be between 100ms and 60s");
        }
        let t = self.remote_timeout()?;
        if t < Duration::from_millis(100) || t > Duration::from_secs(60) {
            return bad("cluster.remote_timeout must be between 100ms and 60s");
        }
        Ok(())
    }
}

/// Control-connection listeners, their limits and the connection timers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlConfig {
    /// TCP (TLS) addresses; several allowed.
    pub listen: Vec<SocketAddr>,
    /// UDP (QUIC) addresses; several allowed, `[]` disables QUIC.
    pub quic_listen: Vec<SocketAddr>,
    /// Control connections open at once, all addresses together.
    pub max_connections: usize,
    /// Control connections open at once from one IP address.
    pub max_per_ip: usize,
    /// Time a client has to finish the TLS handshake (`"10s"`).
    pub tls_timeout: String,
    /// Time the control handshake may take, hello to `Welcome` (`"10s"`).
    pub auth_timeout: String,
    /// Heartbeat interval announced to clients (`"15s"`).
    pub heartbeat_interval: String,
    /// A connection from which nothing arrives this long fails with `idle_timeout` (`"45s"`;
    /// at least the heartbeat interval, three of them recommended).
    pub idle_timeout: String,
    /// Messages queued to one connection's writer at most (a client that does not read is
    /// disconnected beyond it).
    pub writer_queue: usize,
}

/// The admin HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Listen address (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key`, the API speaks HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Bearer-token lifetime (`"12h"`).
    pub token_ttl: String,
    /// MFA-ticket lifetime between the password and the code (`"5m"`).
    pub mfa_ticket_ttl: String,
    /// Largest request body in bytes.
    pub max_body_bytes: usize,
}

/// Login rate limits (token buckets).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Attempts one source IP may burst.
    pub per_ip_burst: u32,
    /// Refill per minute per IP.
    pub per_ip_per_minute: u32,
    /// Attempts one username may burst.
    pub per_user_burst: u32,
    /// Refill per minute per username.
    pub per_user_per_minute: u32,
}

/// Ticket-signing keys: the current one and, during a rotation, the next.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    /// Key id of the current key (file `<data_dir>/ticket-key-<id>.key`).
    pub key_id: u32,
    /// Key id of the next key, generated and published beside the current one.
    pub next_key_id: Option<u32>,
}

/// Log output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
}

/// What the first start creates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapConfig {
    /// First tenant's name.
    pub tenant: String,
    /// Its owner's username.
    pub owner: String,
    /// The tenant's IANA time zone.
    pub timezone: String,
    /// The owner's password (never in the file: flag or `SWITCHBOARD_BOOTSTRAP_PASSWORD`);
    /// generated and printed once when absent.
    #[serde(skip)]
    pub password: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./switchboard-data"),
            directory: "redb".to_owned(),
            redis_namespace: "sb".to_owned(),
            control: ControlConfig::default(),
            admin: AdminConfig::default(),
            login: LoginConfig::default(),
            limits: crate::config_limits::LimitsConfig::default(),
            tickets: TicketsConfig::default(),
            log: LogConfig::default(),
            bootstrap: BootstrapConfig::default(),
            relay: None,
            cluster: ClusterConfig::default(),
        }
    }
}

impl Default for ControlConfig {
    fn default() -> Self {
        let any = SocketAddr::from(([0, 0, 0, 0], DEFAULT_CONTROL_PORT));
        Self {
            listen: vec![any],
            quic_listen: vec![any],
            max_connections: 50_000,
            max_per_ip: 1_000,
            tls_timeout: "10s".to_owned(),
            auth_timeout: "10s".to_owned(),
            heartbeat_interval: "15s".to_owned(),
            idle_timeout: "45s".to_owned(),
            writer_queue: 256,
        }
    }
}

impl ControlConfig {
    fn duration(&self, key: &str, value: &str) -> Result<Duration, BrokerError> {
        parse_duration(value).map_err(|e| BrokerError::Config(format!("control.{key}: {e}")))
    }

    /// The codec's connection timers (frame size stays the codec default).
    pub fn codec(&self) -> Result<switchboard_codec::ControlConfig, BrokerError> {
        Ok(switchboard_codec::ControlConfig {
            auth_timeout: self.duration("auth_timeout", &self.auth_timeout)?,
            heartbeat_interval: self.duration("heartbeat_interval", &self.heartbeat_interval)?,
            idle_timeout: self.duration("idle_timeout", &self.idle_timeout)?,
            ..switchboard_codec::ControlConfig::default()
        })
    }

    /// The listener limits.
    pub fn limits(&self) -> Result<crate::control::ControlLimits, BrokerError> {
        Ok(crate::control::ControlLimits {
            max_connections: self.max_connections,
            max_per_ip: self.max_per_ip,
            tls_timeout: self.duration("tls_timeout", &self.tls_timeout)?,
        })
    }

    fn validate(&self) -> Result<(), BrokerError> {
        let bad = |m: &str| Err(BrokerError::Config(m.to_owned()));
        if self.max_connections == 0 || self.max_per_ip == 0 || self.writer_queue == 0 {
            return bad("control.max_connections, max_per_ip and writer_queue must be above 0");
        }
        if self.max_per_ip > self.max_connections {
            return bad("control.max_per_ip must not exceed control.max_connections");
        }
        let c = self.codec()?;
        let tls = self.duration("tls_timeout", &self.tls_timeout)?;
        let second = Duration::from_secs(1);
        if c.auth_timeout < second || tls < second {
            return bad("control.auth_timeout and tls_timeout must be at least 1s");
        }
        if c.heartbeat_interval < second || c.idle_timeout < c.heartbeat_interval {
            return bad(
                "control.heartbeat_interval must be at least 1s and idle_timeout at least the heartbeat interval",
            );
        }
        Ok(())
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            token_ttl: "12h".to_owned(),
            mfa_ticket_ttl: "5m".to_owned(),
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            per_ip_burst: 20,
            per_ip_per_minute: 20,
            per_user_burst: 5,
            per_user_per_minute: 5,
        }
    }
}

impl Default for TicketsConfig {
    fn default() -> Self {
        Self {
            key_id: 1,
            next_key_id: None,
        }
    }
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            tenant: "Default".to_owned(),
            owner: "admin".to_owned(),
            timezone: "UTC".to_owned(),
            password: None,
        }
    }
}

/// Where the directory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryLocation {
    /// Embedded redb file.
    Redb(PathBuf),
    /// Redis URL.
    Redis(String),
}

/// Flag values (`None`/empty: not given). Filled by the binary's argument parser.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
    /// `--directory`.
    pub directory: Option<String>,
    /// `--admin-listen`.
    pub admin_listen: Option<SocketAddr>,
    /// `--control-listen` (repeatable).
    pub control_listen: Vec<SocketAddr>,
    /// `--control-quic-listen` (repeatable).
    pub control_quic_listen: Vec<SocketAddr>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--bootstrap-tenant`.
    pub bootstrap_tenant: Option<String>,
    /// `--bootstrap-owner`.
    pub bootstrap_owner: Option<String>,
    /// `--bootstrap-password`.
    pub bootstrap_password: Option<String>,
}

fn parse_addrs(key: &str, v: &str) -> Result<Vec<SocketAddr>, BrokerError> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|e| BrokerError::Config(format!("{key}: {s:?}: {e}")))
        })
        .collect()
}

impl BrokerConfig {
    /// Parses TOML text (unknown keys are refused with their name).
    pub fn from_toml_str(text: &str) -> Result<Self, BrokerError> {
        toml::from_str(text).map_err(|e| BrokerError::Config(e.to_string()))
    }

    /// File (optional text), then environment, then flags; then [`Self::validate`].
    pub fn load(
        file_text: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Self, BrokerError> {
        let mut cfg = match file_text {
            Some(t) => Self::from_toml_str(t)?,
            None => Self::default(),
        };
        cfg.apply_env(env)?;
        cfg.apply_flags(flags);
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), BrokerError> {
        if let Some(v) = env("SWITCHBOARD_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = env("SWITCHBOARD_DIRECTORY") {
            self.directory = v;
        }
        if let Some(v) = env("SWITCHBOARD_ADMIN_LISTEN") {
            let a = parse_addrs("SWITCHBOARD_ADMIN_LISTEN", &v)?;
            if let [one] = a.as_slice() {
                self.admin.listen = *one;
            } else {
                return Err(BrokerError::Config(
                    "SWITCHBOARD_ADMIN_LISTEN takes one address".into(),
                ));
            }
        }
        if let Some(v) = env("SWITCHBOARD_CONTROL_LISTEN") {
            self.control.listen = parse_addrs("SWITCHBOARD_CONTROL_LISTEN", &v)?;
        }
        if let Some(v) = env("SWITCHBOARD_CONTROL_QUIC_LISTEN") {
            self.control.quic_listen = parse_addrs("SWITCHBOARD_CONTROL_QUIC_LISTEN", &v)?;
        }
        if let Some(v) = env("SWITCHBOARD_LOG_FORMAT") {
            self.log.format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(BrokerError::Config(format!(
                        "SWITCHBOARD_LOG_FORMAT: {other:?} is neither text nor json"
                    )));
                }
            };
        }
        if let Some(v) = env("SWITCHBOARD_BOOTSTRAP_TENANT") {
            self.bootstrap.tenant = v;
        }
        if let Some(v) = env("SWITCHBOARD_BOOTSTRAP_OWNER") {
            self.bootstrap.owner = v;
        }
        if let Some(v) = env("SWITCHBOARD_BOOTSTRAP_PASSWORD") {
            self.bootstrap.password = Some(v);
        }
        if let Some(v) = env("SWITCHBOARD_NODE_NAME") {
            self.cluster.node_name = v;
        }
        Ok(())
    }

    fn apply_flags(&mut self, f: &Overrides) {
        if let Some(v) = &f.data_dir {
            self.data_dir.clone_from(v);
        }
        if let Some(v) = &f.directory {
            self.directory.clone_from(v);
        }
        if let Some(v) = f.admin_listen {
            self.admin.listen = v;
        }
        if !f.control_listen.is_empty() {
            self.control.listen.clone_from(&f.control_listen);
        }
        if !f.control_quic_listen.is_empty() {
            self.control.quic_listen.clone_from(&f.control_quic_listen);
        }
        if let Some(v) = f.log_format {
            self.log.format = v;
        }
        if let Some(v) = &f.bootstrap_tenant {
            self.bootstrap.tenant.clone_from(v);
        }
        if let Some(v) = &f.bootstrap_owner {
            self.bootstrap.owner.clone_from(v);
        }
        if let Some(v) = &f.bootstrap_password {
            self.bootstrap.password = Some(v.clone());
        }
    }

    /// Checks the values together.
    pub fn validate(&self) -> Result<(), BrokerError> {
        let bad = |m: String| Err(BrokerError::Config(m));
        if self.data_dir.as_os_str().is_empty() {
            return bad("data_dir is empty".into());
        }
        self.directory_location()?;
        if self.control.listen.is_empty() {
            return bad("control.listen needs at least one address".into());
        }
        self.control.validate()?;
        if self.admin.tls_cert.is_some() != self.admin.tls_key.is_some() {
            return bad("admin.tls_cert and admin.tls_key go together".into());
        }
        let ttl = self.token_ttl()?;
        if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(30 * 24 * 3600) {
            return bad("admin.token_ttl must be between 1m and 720h".into());
        }
        let mfa = self.mfa_ticket_ttl()?;
        if mfa < Duration::from_secs(30) || mfa > Duration::from_secs(3600) {
            return bad("admin.mfa_ticket_ttl must be between 30s and 1h".into());
        }
        if self.admin.max_body_bytes < 1024 {
            return bad("admin.max_body_bytes must be at least 1024".into());
        }
        let l = &self.login;
        if l.per_ip_burst == 0
            || l.per_user_burst == 0
            || l.per_ip_per_minute == 0
            || l.per_user_per_minute == 0
        {
            return bad("login limits must be above 0".into());
        }
        self.limits.validate()?;
        if self.tickets.next_key_id == Some(self.tickets.key_id) {
            return bad("tickets.next_key_id must differ from tickets.key_id".into());
        }
        if self.bootstrap.tenant.trim().is_empty() || self.bootstrap.owner.trim().is_empty() {
            return bad("bootstrap.tenant and bootstrap.owner must not be empty".into());
        }
        if let Some(p) = &self.bootstrap.password {
            switchboard_directory::rules::password::check_password_policy(p)
                .map_err(|e| BrokerError::Config(format!("bootstrap password: {e}")))?;
        }
        self.relay_config(1, Vec::new())?;
        self.cluster.validate()?;
        Ok(())
    }

    /// Where the directory lives.
    pub fn directory_location(&self) -> Result<DirectoryLocation, BrokerError> {
        let d = self.directory.trim();
        if d == "redb" {
            Ok(DirectoryLocation::Redb(
                self.data_dir.join("directory.redb"),
            ))
        } else if let Some(path) = d.strip_prefix("redb:") {
            Ok(DirectoryLocation::Redb(path.into()))
        } else if d.starts_with("redis://") || d.starts_with("rediss://") {
            Ok(DirectoryLocation::Redis(d.to_owned()))
        } else {
            Err(BrokerError::Config(format!(
                "directory: {d:?} is not \"redb\", \"redb:PATH\" or a redis:// URL"
            )))
        }
    }

    /// Bearer-token lifetime.
    pub fn token_ttl(&self) -> Result<Duration, BrokerError> {
        parse_duration(&self.admin.token_ttl)
            .map_err(|e| BrokerError::Config(format!("admin.token_ttl: {e}")))
    }

    /// MFA-ticket lifetime.
    pub fn mfa_ticket_ttl(&self) -> Result<Duration, BrokerError> {
        parse_duration(&self.admin.mfa_ticket_ttl)
            .map_err(|e| BrokerError::Config(format!("admin.mfa_ticket_ttl: {e}")))
    }

    /// The in-process relay's configuration: the `[relay]` table with `relay_id` and
    /// `broker_keys` defaulted (to `default_id` and `keys`) when the table leaves them out.
    pub fn relay_config(
        &self,
        default_id: u64,
        keys: Vec<switchboard_relay::config::BrokerKey>,
    ) -> Result<RelayConfig, BrokerError> {
        let Some(table) = &self.relay else {
            return Ok(RelayConfig::new(default_id, keys));
        };
        let mut t = table.clone();
        let has_keys = t.contains_key("broker_keys");
        if !t.contains_key("relay_id") {
            t.insert(
                "relay_id".into(),
                toml::Value::Integer(i64::try_from(default_id).unwrap_or(1)),
            );
        }
        if !has_keys {
            t.insert("broker_keys".into(), toml::Value::Array(Vec::new()));
        }
        let mut cfg: RelayConfig = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| BrokerError::Config(format!("[relay]: {e}")))?;
        if !has_keys {
            cfg.broker_keys = keys;
        }
        Ok(cfg)
    }

    /// A few lines for `--check-config`.
    pub fn summary(&self) -> String {
        let c = &self.control;
        let limits = format!(
            "\n  control limits  {} connections, {} per IP, writer queue {}\n  control timers  tls {}, auth {}, heartbeat {}, idle {}",
            c.max_connections,
            c.max_per_ip,
            c.writer_queue,
            c.tls_timeout,
            c.auth_timeout,
            c.heartbeat_interval,
            c.idle_timeout
        );
        self.summary_head() + &limits
    }

    fn summary_head(&self) -> String {
        format!(
            "config ok\n  data_dir        {}\n  directory       {}\n  control (tcp)   {:?}\n  control (quic)  {:?}\n  admin           {} ({})\n  token ttl       {}\n  ticket key ids  {} next {:?}\n  log format      {:?}\n  bootstrap       tenant {:?} owner {:?}\n  relay           {}",
            self.data_dir.display(),
            match self.directory_location() {
                Ok(DirectoryLocation::Redb(p)) => format!("redb {}", p.display()),
                Ok(DirectoryLocation::Redis(u)) => format!("redis {u}"),
                Err(e) => e.to_string(),
            },
            self.control.listen,
            self.control.quic_listen,
            self.admin.listen,
            if self.admin.tls_cert.is_some() {
                "https"
            } else {
                "http"
            },
            self.admin.token_ttl,
            self.tickets.key_id,
            self.tickets.next_key_id,
            self.log.format,
            self.bootstrap.tenant,
            self.bootstrap.owner,
            if self.relay.is_some() {
                "[relay] table"
            } else {
                "defaults"
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_validate() {
        let c = BrokerConfig::load(None, &no_env, &Overrides::default()).unwrap();
        assert_eq!(c.admin.listen.to_string(), DEFAULT_ADMIN_LISTEN);
        assert_eq!(
            c.directory_location().unwrap(),
            DirectoryLocation::Redb(PathBuf::from("./switchboard-data/directory.redb"))
        );
        assert_eq!(c.control.listen[0].port(), DEFAULT_CONTROL_PORT);
    }

    #[test]
    fn unknown_key_is_named() {
        let e = BrokerConfig::from_toml_str("[admin]\nlisten = \"127.0.0.1:1\"\nlistn = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listn"), "{e}");
        let e = BrokerConfig::from_toml_str("[relay]\nbogus_relay_key = 1\n")
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus_relay_key"), "{e}");
    }

    #[test]
    fn flags_beat_env_beat_file() {
        let file = "data_dir = \"/from/file\"\ndirectory = \"redb\"\n[admin]\nlisten = \"127.0.0.1:1000\"\n";
        let env = |k: &str| match k {
            "SWITCHBOARD_DATA_DIR" => Some("/from/env".to_owned()),
            "SWITCHBOARD_ADMIN_LISTEN" => Some("127.0.0.1:2000".to_owned()),
            _ => None,
        };
        let flags = Overrides {
            data_dir: Some("/from/flag".into()),
            ..Overrides::default()
        };
        let c = BrokerConfig::load(Some(file), &env, &flags).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(c.admin.listen.port(), 2000);
    }

    #[test]
    fn validate_refuses_bad_values() {
        let c = BrokerConfig {
            directory: "mysql://x".into(),
            ..BrokerConfig::default()
        };
        assert!(c.validate().is_err());
        let mut c = BrokerConfig::default();
        c.admin.token_ttl = "1s".into();
        assert!(c.validate().is_err());
        let mut c = BrokerConfig::default();
        c.bootstrap.password = Some("weak".into());
        assert!(c.validate().is_err());
    }

    #[test]
    fn control_limits_and_timers_come_from_the_control_table() {
        let c = BrokerConfig::from_toml_str(
            "[control]\nmax_connections = 10\nmax_per_ip = 2\ntls_timeout = \"3s\"\nauth_timeout = \"4s\"\nheartbeat_interval = \"5s\"\nidle_timeout = \"20s\"\nwriter_queue = 8\n",
        )
        .unwrap();
        c.validate().unwrap();
        let l = c.control.limits().unwrap();
        assert_eq!((l.max_connections, l.max_per_ip), (10, 2));
        assert_eq!(l.tls_timeout, Duration::from_secs(3));
        let k = c.control.codec().unwrap();
        assert_eq!(k.auth_timeout, Duration::from_secs(4));
        assert_eq!(k.heartbeat_interval, Duration::from_secs(5));
        assert_eq!(k.idle_timeout, Duration::from_secs(20));
        assert_eq!(c.control.writer_queue, 8);
        let shown = c.summary();
        assert!(
            shown.contains("10 connections, 2 per IP, writer queue 8"),
            "{shown}"
        );
        assert!(shown.contains("auth 4s"), "{shown}");
        // Defaults match the listener's and the codec's own.
        let d = BrokerConfig::default();
        let dl = d.control.limits().unwrap();
        let cl = crate::control::ControlLimits::default();
        assert_eq!(
            (dl.max_connections, dl.max_per_ip, dl.tls_timeout),
            (cl.max_connections, cl.max_per_ip, cl.tls_timeout)
        );
        let dk = d.control.codec().unwrap();
        let ck = switchboard_codec::ControlConfig::default();
        assert_eq!(
            (dk.auth_timeout, dk.heartbeat_interval, dk.idle_timeout),
            (ck.auth_timeout, ck.heartbeat_interval, ck.idle_timeout)
        );
        assert_eq!(d.control.writer_queue, crate::control::node::WRITER_QUEUE);
    }

    #[test]
    fn control_table_refuses_unknown_keys_and_bad_values() {
        let e = BrokerConfig::from_toml_str("[control]\nmax_conections = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_conections"), "{e}");
        for bad in [
            "writer_queue = 0",
            "max_per_ip = 0",
            "idle_timeout = \"1s\"\nheartbeat_interval = \"5s\"",
            "auth_timeout = \"soon\"",
            "max_connections = 5\nmax_per_ip = 6",
        ] {
            let c = BrokerConfig::from_toml_str(&format!("[control]\n{bad}\n")).unwrap();
            assert!(c.validate().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn relay_table_gets_the_broker_keys() {
        let c = BrokerConfig::from_toml_str("[relay]\nlisten = [\"127.0.0.1:0\"]\n").unwrap();
        let key = switchboard_relay::config::BrokerKey {
            id: 4,
            public_key: [1; 32],
        };
        let r = c.relay_config(1, vec![key]).unwrap();
        assert_eq!(r.broker_keys[0].id, 4);
        assert_eq!(r.relay_id, 1);
    }
}
