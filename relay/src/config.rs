//! Relay configuration: the TOML file, its defaults, and validation.
//!
//! Loading is two steps, as in pingora: parse (serde with `deny_unknown_fields`, so an unknown
//! key is refused with its name), then [`RelayConfig::validate`], which checks the values
//! together and builds nothing. Durations are strings with a unit (`"500ms"`, `"30s"`, `"5m"`,
//! `"1h"`); `"0s"` disables an optional timeout. `ops/relay.md` is the reference for operators.
//!
//! This module reads no files and opens no sockets; `from_toml_str` takes the text.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use switchboard_codec::{RelayId, TenantId};

use crate::engine::{EngineKind, PipePoolConfig};
use crate::error::RelayError;

/// Default TCP and UDP (QUIC) port of a relay.
pub const DEFAULT_PORT: u16 = 5656;

/// The whole relay configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// This relay's id; tickets name it.
    pub relay_id: u64,
    /// TCP listen addresses (default `0.0.0.0:5656`).
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// UDP listen addresses for QUIC (default `0.0.0.0:5656`; empty disables QUIC).
    #[serde(default = "default_listen")]
    pub quic_listen: Vec<SocketAddr>,
    /// Broker public keys that sign tickets (one, or two during a rotation).
    pub broker_keys: Vec<BrokerKey>,
    /// Engine for TCP↔TCP sessions.
    #[serde(default, deserialize_with = "de_engine")]
    pub engine: EngineKind,
    /// How long existing sessions may run on after a drain starts.
    #[serde(default = "default_drain", deserialize_with = "de_duration")]
    pub drain_deadline: Duration,
    /// Address of the `/metrics` (and loopback-only `POST /drain`) HTTP endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// `splice` engine pipes.
    #[serde(default)]
    pub splice: SpliceConfig,
    /// QUIC listener TLS material (self-signed when absent).
    #[serde(default)]
    pub quic: QuicConfig,
    /// Where session-end records go.
    #[serde(default)]
    pub records: RecordsConfig,
}

/// One broker ticket-signing public key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerKey {
    /// Key id carried in tickets.
    pub id: u32,
    /// ed25519 public key, 64 hex digits.
    #[serde(deserialize_with = "de_key")]
    pub public_key: [u8; 32],
}

/// Admission and forwarding limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Time a connection has to send its bind frame.
    #[serde(deserialize_with = "de_duration")]
    pub bind_timeout: Duration,
    /// Time the first side of a session waits for the second.
    #[serde(deserialize_with = "de_duration")]
    pub waiting_room_timeout: Duration,
    /// Most connections from one source IP waiting at once.
    pub waiting_per_ip: usize,
    /// Most connections waiting at once.
    pub waiting_total: usize,
    /// Most paired sessions at once (`relay_full` beyond).
    pub max_sessions: usize,
    /// Most connections in the bind handshake at once.
    pub max_handshakes: usize,
    /// Close a session after this long without a byte either way (`"0s"` = never).
    #[serde(deserialize_with = "de_duration")]
    pub idle_timeout: Duration,
    /// Byte rate per tenant on this relay, both directions of all its sessions together
    /// (0 = unlimited).
    pub tenant_byte_rate: u64,
    /// Per-tenant overrides of `tenant_byte_rate`, keyed by tenant id.
    pub tenant_byte_rate_overrides: HashMap<String, u64>,
    /// Most ticket nonces remembered (binds are refused with `relay_full` beyond).
    pub nonce_cache_size: usize,
    /// Largest handshake frame and largest early payload sent behind the bind.
    pub max_frame: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            bind_timeout: Duration::from_secs(10),
            waiting_room_timeout: Duration::from_secs(30),
            waiting_per_ip: 64,
            waiting_total: 10_000,
            max_sessions: 10_000,
            max_handshakes: 4_096,
            idle_timeout: Duration::from_secs(300),
            tenant_byte_rate: 0,
            tenant_byte_rate_overrides: HashMap::new(),
            nonce_cache_size: 1_000_000,
            max_frame: 64 * 1024,
        }
    }
}

/// Pipes of the `splice` engine.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpliceConfig {
    /// Wanted pipe capacity in bytes (the kernel may give less; at least 64 KiB is used).
    pub pipe_size: usize,
    /// Most pipes alive at once (two per busy session).
    pub max_pipes: usize,
    /// Idle pipes kept per worker thread.
    pub idle_pipes_per_worker: usize,
}

impl Default for SpliceConfig {
    fn default() -> Self {
        let d = PipePoolConfig::default();
        Self {
            pipe_size: d.pipe_size,
            max_pipes: d.max_pipes,
            idle_pipes_per_worker: d.idle_per_shard,
        }
    }
}

impl SpliceConfig {
    /// The pool configuration.
    pub fn pool(&self) -> PipePoolConfig {
        PipePoolConfig {
            pipe_size: self.pipe_size,
            max_pipes: self.max_pipes,
            idle_per_shard: self.idle_pipes_per_worker,
        }
    }
}

/// QUIC listener TLS material.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuicConfig {
    /// PEM certificate chain (self-signed at start when absent).
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    pub key_file: Option<PathBuf>,
}

/// Session-end record sink.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordsConfig {
    /// `none` or `redis`.
    pub sink: SinkKind,
    /// Redis URL for `redis`.
    pub redis_url: Option<String>,
    /// Redis stream key.
    pub stream: String,
    /// Approximate stream length cap (`XADD MAXLEN ~`).
    pub max_len: u64,
    /// Records queued in memory before new ones are dropped.
    pub queue: usize,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        Self {
            sink: SinkKind::None,
            redis_url: None,
            stream: "switchboard:relay:sessions".to_owned(),
            max_len: 100_000,
            queue: 4_096,
        }
    }
}

/// Record sink kinds selectable in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Records are dropped.
    #[default]
    None,
    /// Records go to a Redis stream.
    Redis,
}

fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))]
}

fn default_drain() -> Duration {
    Duration::from_secs(60)
}

impl RelayConfig {
    /// A minimal config for `relay_id` trusting `keys`, everything else default.
    pub fn new(relay_id: u64, keys: Vec<BrokerKey>) -> Self {
        Self {
            relay_id,
            listen: default_listen(),
            quic_listen: default_listen(),
            broker_keys: keys,
            engine: EngineKind::default(),
            drain_deadline: default_drain(),
            metrics_listen: None,
            limits: LimitsConfig::default(),
            splice: SpliceConfig::default(),
            quic: QuicConfig::default(),
            records: RecordsConfig::default(),
        }
    }

    /// Parses TOML text (unknown keys refused with their name) and validates it.
    pub fn from_toml_str(text: &str) -> Result<Self, RelayError> {
        let cfg = Self::parse_toml(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text without validating (for callers that apply overrides first, then
    /// call [`Self::validate`]).
    pub fn parse_toml(text: &str) -> Result<Self, RelayError> {
        toml::from_str(text).map_err(|e| RelayError::Config(e.to_string()))
    }

    /// The relay id as the codec type.
    pub fn relay(&self) -> RelayId {
        RelayId(self.relay_id)
    }

    /// The idle timeout, `None` when disabled.
    pub fn idle_timeout(&self) -> Option<Duration> {
        Some(self.limits.idle_timeout).filter(|d| !d.is_zero())
    }

    /// Tenant rate overrides with parsed ids.
    pub fn tenant_overrides(&self) -> Result<HashMap<TenantId, u64>, RelayError> {
        self.limits
            .tenant_byte_rate_overrides
            .iter()
            .map(|(k, v)| {
                k.parse::<TenantId>().map(|t| (t, *v)).map_err(|e| {
                    RelayError::Config(format!(
                        "limits.tenant_byte_rate_overrides: bad tenant id {k:?}: {e}"
                    ))
                })
            })
            .collect()
    }

    /// Checks values together.
    pub fn validate(&self) -> Result<(), RelayError> {
        let bad = |m: String| Err(RelayError::Config(m));
        if self.broker_keys.is_empty() {
            return bad("broker_keys: at least one key is required".into());
        }
        let mut ids: Vec<u32> = self.broker_keys.iter().map(|k| k.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.broker_keys.len() {
            return bad("broker_keys: key ids must be distinct".into());
        }
        switchboard_codec::TicketVerifier::new(
            self.broker_keys.iter().map(|k| (k.id, k.public_key)),
        )
        .map_err(|e| RelayError::Config(format!("broker_keys: {e}")))?;
        if self.listen.is_empty() && self.quic_listen.is_empty() {
            return bad("listen, quic_listen: at least one listen address is required".into());
        }
        let l = &self.limits;
        for (name, v) in [
            ("limits.waiting_per_ip", l.waiting_per_ip),
            ("limits.waiting_total", l.waiting_total),
            ("limits.max_sessions", l.max_sessions),
            ("limits.max_handshakes", l.max_handshakes),
            ("limits.nonce_cache_size", l.nonce_cache_size),
            ("records.queue", self.records.queue),
        ] {
            if v == 0 {
                return bad(format!("{name}: must be at least 1"));
            }
        }
        for (name, d) in [
            ("limits.bind_timeout", l.bind_timeout),
            ("limits.waiting_room_timeout", l.waiting_room_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{name}: must be more than 0s"));
            }
        }
        let hs = switchboard_codec::RelayHandshakeConfig {
            max_frame: l.max_frame,
            bind_timeout: l.bind_timeout,
        };
        if hs.validate().is_err() || l.max_frame < 1024 {
            return bad(format!(
                "limits.max_frame: {} is outside 1024..=1048576",
                l.max_frame
            ));
        }
        if self.splice.pipe_size < crate::engine::MIN_PIPE_SIZE {
            return bad("splice.pipe_size: must be at least 65536".into());
        }
        if self.records.sink == SinkKind::Redis && self.records.redis_url.is_none() {
            return bad("records.redis_url: required when records.sink = \"redis\"".into());
        }
        if self.quic.cert_file.is_some() != self.quic.key_file.is_some() {
            return bad("quic.cert_file and quic.key_file: give both or neither".into());
        }
        self.tenant_overrides()?;
        Ok(())
    }
}

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"2h"` (a whole number and a unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {s:?} needs a unit (ms, s, m, h)"))?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("duration {s:?} must start with a whole number"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "duration {s:?}: unknown unit {other:?} (ms, s, m, h)"
            ));
        }
    };
    Ok(d)
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

fn de_engine<'de, D: Deserializer<'de>>(d: D) -> Result<EngineKind, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// Parses 64 hex digits into a 32-byte key.
pub fn parse_key_hex(s: &str) -> Result<[u8; 32], String> {
    let v = hex::decode(s.trim()).map_err(|e| format!("public key: {e}"))?;
    <[u8; 32]>::try_from(v.as_slice())
        .map_err(|_| format!("public key: want 32 bytes (64 hex digits), got {}", v.len()))
}

fn de_key<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
    let s = String::deserialize(d)?;
    parse_key_hex(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    #[test]
    fn minimal_file_gets_defaults() {
        let cfg = RelayConfig::from_toml_str(&format!(
            "relay_id = 7\n[[broker_keys]]\nid = 1\npublic_key = \"{KEY}\"\n"
        ))
        .unwrap();
        assert_eq!(cfg.listen, default_listen());
        assert_eq!(cfg.quic_listen.first().map(|a| a.port()), Some(5656));
        assert_eq!(cfg.limits.waiting_room_timeout, Duration::from_secs(30));
        assert_eq!(cfg.engine, EngineKind::Splice);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = RelayConfig::from_toml_str(&format!(
            "relay_id = 7\n[[broker_keys]]\nid = 1\npublic_key = \"{KEY}\"\n[limits]\nwaiting_rom_timeout = \"3s\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("waiting_rom_timeout"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let keys = format!("[[broker_keys]]\nid = 1\npublic_key = \"{KEY}\"\n");
        for (extra, needle) in [
            ("engine = \"zero\"\n", "unknown engine"),
            ("[limits]\nidle_timeout = \"5 parsecs\"\n", "unknown unit"),
            ("[limits]\nmax_sessions = 0\n", "limits.max_sessions"),
            ("[records]\nsink = \"redis\"\n", "records.redis_url"),
        ] {
            let err = RelayConfig::from_toml_str(&format!("relay_id = 7\n{extra}{keys}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{extra}: {err}");
        }
        let err = RelayConfig::from_toml_str("relay_id = 7\nbroker_keys = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least one key"), "{err}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse_duration("10").is_err());
    }
}
