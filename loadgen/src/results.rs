//! The result types of a run (serialised as the JSON report `compare` reads) and the two
//! collectors scenarios feed: [`LatencyRecorder`] (an hdrhistogram, 1 us .. 120 s, 3
//! significant digits) and [`ErrorCounts`] (failures by reason, never hidden).
//!
//! It measures nothing itself and does no IO.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use switchboard_agent::AgentError;
use switchboard_agent::control::guest::GuestError;

/// A whole run: what ran where, and one report per scenario.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunReport {
    /// `switchboard-loadgen 0.1.0`.
    pub tool: String,
    /// `git rev-parse --short HEAD` (+ `-dirty`), else `unknown`.
    pub git_rev: String,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// cpus, kernel, hostname.
    pub machine: serde_json::Value,
    /// The exact effective CLI configuration.
    pub config: serde_json::Value,
    /// One per scenario run.
    pub scenarios: Vec<ScenarioReport>,
}

/// One scenario's results.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ScenarioReport {
    /// `setup-storm`, `idle-scale`, ...
    pub name: String,
    /// This scenario's effective options.
    pub config: serde_json::Value,
    /// Wall time of the measured part.
    pub duration_s: f64,
    /// Headline numbers `compare` gates on.
    pub figures: BTreeMap<String, Figure>,
    /// `setup`, `rtt`, ...
    pub latencies: BTreeMap<String, Latency>,
    /// Reason -> count.
    pub errors: BTreeMap<String, u64>,
    /// Plots.
    pub series: BTreeMap<String, Series>,
}

/// A headline number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Figure {
    /// The value in `unit`.
    pub value: f64,
    /// `1/s`, `B`, `B/s`, `s`, `us`, `count`.
    pub unit: String,
    /// Which way is good.
    pub better: Better,
}

impl Figure {
    /// A figure where more is better (rates, throughput).
    pub fn higher(value: f64, unit: &str) -> Self {
        Self {
            value,
            unit: unit.to_owned(),
            better: Better::Higher,
        }
    }

    /// A figure where less is better (latency, memory).
    pub fn lower(value: f64, unit: &str) -> Self {
        Self {
            value,
            unit: unit.to_owned(),
            better: Better::Lower,
        }
    }

    /// A figure never gated (counts, configuration echoes).
    pub fn info(value: f64, unit: &str) -> Self {
        Self {
            value,
            unit: unit.to_owned(),
            better: Better::Info,
        }
    }
}

/// Which direction of a figure is an improvement.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// More is better.
    Higher,
    /// Less is better.
    Lower,
    /// Never gated.
    Info,
}

/// A latency distribution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Latency {
    /// `us`.
    pub unit: String,
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Base64 of the hdrhistogram V2+deflate serialisation.
    pub histogram: String,
    /// (percentile 0..100, value) for plots.
    pub percentiles: Vec<(f64, f64)>,
}

/// Points for a plot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Series {
    /// What x is (with unit).
    pub x_label: String,
    /// What y is (with unit).
    pub y_label: String,
    /// (x, y).
    pub points: Vec<(f64, f64)>,
}

/// Lowest recordable value, us.
const LOWEST_US: u64 = 1;
/// Highest recordable value, us (120 s); larger samples are clamped.
const HIGHEST_US: u64 = 120_000_000;
/// Significant digits.
const SIGFIG: u8 = 3;
/// Percentiles listed in [`Latency::percentiles`].
const PLOT_PERCENTILES: &[f64] = &[
    0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0, 90.0, 95.0, 97.5, 99.0, 99.5,
    99.9, 99.95, 99.99, 100.0,
];

/// Latency samples in microseconds; share it behind an `Arc` or merge per-task recorders.
#[derive(Debug)]
pub struct LatencyRecorder {
    hist: Mutex<Histogram<u64>>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

// The bounds are constants hdrhistogram accepts (1 <= low, high >= 2 * low, sigfig <= 5);
// `percentiles_of_known_data` exercises them, so this cannot fail at run time.
#[allow(clippy::expect_used)]
fn empty_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("constant histogram bounds")
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self {
            hist: Mutex::new(empty_histogram()),
        }
    }

    /// Records one sample (clamped to 1 us .. 120 s).
    pub fn record(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.record_us(us);
    }

    /// Records one sample given in microseconds (clamped).
    pub fn record_us(&self, us: u64) {
        self.hist
            .lock()
            .saturating_record(us.clamp(LOWEST_US, HIGHEST_US));
    }

    /// Adds every sample of `other`.
    pub fn merge(&self, other: &LatencyRecorder) {
        let theirs = other.hist.lock().clone();
        // Same bounds on both sides, so this cannot fail; ignore the impossible error.
        let _ = self.hist.lock().add(&theirs);
    }

    /// How many samples.
    pub fn count(&self) -> u64 {
        self.hist.lock().len()
    }

    /// The distribution in microseconds.
    pub fn summary(&self) -> Latency {
        let h = self.hist.lock().clone();
        summarize(&h)
    }
}

fn summarize(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency {
            unit: "us".to_owned(),
            ..Latency::default()
        };
    }
    let q = |p: f64| h.value_at_quantile(p / 100.0) as f64;
    let mut bytes = Vec::new();
    let histogram = match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(&bytes),
        Err(_) => String::new(),
    };
    Latency {
        unit: "us".to_owned(),
        count: h.len(),
        min: h.min() as f64,
        mean: h.mean(),
        p50: q(50.0),
        p90: q(90.0),
        p99: q(99.0),
        p999: q(99.9),
        max: h.max() as f64,
        histogram,
        percentiles: PLOT_PERCENTILES.iter().map(|&p| (p, q(p))).collect(),
    }
}

/// Decodes [`Latency::histogram`] back into a histogram (for merging runs or re-plotting).
pub fn decode_histogram(b64: &str) -> Option<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()
}

/// Failures by reason.
#[derive(Debug, Default)]
pub struct ErrorCounts {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl ErrorCounts {
    /// An empty count.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one failure of `reason` (a short stable name).
    pub fn add(&self, reason: &str) {
        *self.counts.lock().entry(reason.to_owned()).or_default() += 1;
    }

    /// Counts `n` failures of `reason`.
    pub fn add_n(&self, reason: &str, n: u64) {
        if n > 0 {
            *self.counts.lock().entry(reason.to_owned()).or_default() += n;
        }
    }

    /// Adds every count of `other` (e.g. a host pool's failures).
    pub fn absorb(&self, other: &BTreeMap<String, u64>) {
        for (k, n) in other {
            self.add_n(k, *n);
        }
    }

    /// Counts one agent failure under [`reason_of`].
    pub fn add_error(&self, e: &AgentError) {
        self.add(&reason_of(e));
    }

    /// Counts one guest failure under [`guest_reason`].
    pub fn add_guest_error(&self, e: &GuestError) {
        self.add(&guest_reason(e));
    }

    /// Total failures.
    pub fn total(&self) -> u64 {
        self.counts.lock().values().sum()
    }

    /// The counts now.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().clone()
    }
}

/// The refusal code name (`rate_limited`, `not_permitted`, ...) when the broker gave one,
/// `relay_<code>` for a relay refusal, else a short stable kind.
pub fn reason_of(e: &AgentError) -> String {
    match e {
        AgentError::Refused { code, .. } => code.name().to_owned(),
        AgentError::RelayRefused { code, .. } => format!("relay_{}", code.name()),
        AgentError::Http(_) => "http".to_owned(),
        AgentError::Tls(_) => "tls".to_owned(),
        AgentError::Control { .. } => "control_connection".to_owned(),
        AgentError::State { .. } => "state".to_owned(),
        AgentError::Usage(_) => "usage".to_owned(),
        AgentError::RelayConnect { .. } => "relay_connect".to_owned(),
        AgentError::Handshake(_) => "e2e_handshake".to_owned(),
        AgentError::TunnelRefused { reason, .. } => format!("tunnel_{}", reason.name()),
        AgentError::SessionEnded(_) => "session_ended".to_owned(),
        AgentError::AllowEntry { .. } => "allow_entry".to_owned(),
        AgentError::Session(_) => "session".to_owned(),
    }
}

/// [`reason_of`] for a guest-side failure.
pub fn guest_reason(e: &GuestError) -> String {
    match e {
        GuestError::Refused { code, .. } => code.name().to_owned(),
        GuestError::Disconnected { what, .. } => format!("disconnected_{what}"),
        GuestError::Other(a) => reason_of(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_known_data() {
        let r = LatencyRecorder::new();
        for us in 1..=1000u64 {
            r.record_us(us);
        }
        let s = r.summary();
        assert_eq!(s.count, 1000);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 1000.0);
        assert!((s.mean - 500.5).abs() < 1.0, "{}", s.mean);
        assert_eq!(s.p50, 500.0);
        assert_eq!(s.p90, 900.0);
        assert_eq!(s.p99, 990.0);
        assert!((999.0..=1000.0).contains(&s.p999), "{}", s.p999);
        assert_eq!(s.percentiles.first(), Some(&(0.0, 1.0)));
        assert_eq!(s.percentiles.last(), Some(&(100.0, 1000.0)));
        let back = decode_histogram(&s.histogram).unwrap();
        assert_eq!(back.len(), 1000);
        assert_eq!(back.value_at_quantile(0.99), 990);
    }

    #[test]
    fn merge_and_clamp() {
        let a = LatencyRecorder::new();
        let b = LatencyRecorder::new();
        a.record(Duration::from_millis(2));
        b.record(Duration::from_secs(500));
        b.record(Duration::ZERO);
        a.merge(&b);
        let s = a.summary();
        assert_eq!(s.count, 3);
        assert_eq!(s.min, 1.0);
        assert!(
            s.max >= 119_000_000.0 && s.max <= 121_000_000.0,
            "{}",
            s.max
        );
        assert_eq!(LatencyRecorder::new().summary().count, 0);
    }

    #[test]
    fn errors_by_reason() {
        use switchboard_codec::ErrorCode;
        let e = ErrorCounts::new();
        e.add_error(&AgentError::Refused {
            code: ErrorCode::RateLimited,
            message: String::new(),
        });
        e.add_error(&AgentError::Refused {
            code: ErrorCode::RateLimited,
            message: String::new(),
        });
        e.add_error(&AgentError::Handshake("x".into()));
        e.add("verify_mismatch");
        let snap = e.snapshot();
        assert_eq!(snap["rate_limited"], 2);
        assert_eq!(snap["e2e_handshake"], 1);
        assert_eq!(snap["verify_mismatch"], 1);
        assert_eq!(e.total(), 4);
    }

    #[test]
    fn json_round_trip() {
        let r = LatencyRecorder::new();
        r.record_us(100);
        let mut s = ScenarioReport {
            name: "bulk".into(),
            duration_s: 1.5,
            ..Default::default()
        };
        s.figures
            .insert("throughput".into(), Figure::higher(1e9, "B/s"));
        s.figures
            .insert("sessions".into(), Figure::info(2.0, "count"));
        s.latencies.insert("setup".into(), r.summary());
        s.errors.insert("rate_limited".into(), 3);
        s.series.insert(
            "rss".into(),
            Series {
                x_label: "sessions".into(),
                y_label: "B".into(),
                points: vec![(1.0, 2.0)],
            },
        );
        let run = RunReport {
            tool: "switchboard-loadgen 0.1.0".into(),
            git_rev: "abc".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            machine: serde_json::json!({"cpus": 2}),
            config: serde_json::json!({}),
            scenarios: vec![s],
        };
        let text = serde_json::to_string_pretty(&run).unwrap();
        assert!(text.contains("\"better\": \"higher\""), "{text}");
        let back: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, run);
    }
}
