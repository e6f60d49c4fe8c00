//! `churn`: hosts and guests connecting and leaving continuously for `--duration`.
//!
//! `--hosts` stable simulated hosts serve sessions. Beside them, `--churn-hosts` workers
//! each take a device of their own and loop: connect its control connection, say online,
//! hold it `--churn-hold-ms`, disconnect. `--churn-guests` workers loop: open a fresh guest
//! control connection, on every other turn open one session to a stable host and close it,
//! hold `--churn-hold-ms`, disconnect. Rate-limited session requests are retried (counted as
//! `retried_rate_limited`).
//!
//! Figures: host and guest connects/s, sessions/s, errors by reason, and whether the broker's
//! actor gauges (`switchboard_actors{kind}`) and control connections returned to their values
//! before the scenario (read from `/metrics`, waiting at most 15 s): `leftover_actors` and
//! `leftover_control_connections` should be 0.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard_agent::control::{ControlClient, Endpoint, Outcome};
use switchboard_agent::state::{GuestState, HostState};
use switchboard_codec::{ControlCredentials, ControlMessage, DeviceId};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Ctx;
use super::idle_scale::{failures, open_retrying};
use crate::error::LoadgenError;
use crate::guests::GuestPool;
use crate::results::{ErrorCounts, Figure, LatencyRecorder, ScenarioReport, reason_of};

/// How long the gauges may take to return to their baseline after the scenario.
const SETTLE_WAIT: Duration = Duration::from_secs(15);
/// Actor kinds compared with the baseline (the tenant actor may stay).
const ACTOR_KINDS: &[&str] = &["device", "session"];

/// churn options.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct ChurnArgs {
    /// churn: workers connecting and disconnecting a device (each its own device).
    #[arg(long, default_value_t = 8)]
    pub churn_hosts: usize,
    /// churn: workers connecting and disconnecting a guest (every other turn: one session).
    #[arg(long, default_value_t = 4)]
    pub churn_guests: usize,
    /// churn: how long each connection is held, ms.
    #[arg(long, default_value_t = 100)]
    pub churn_hold_ms: u64,
}

/// Counters shared by the workers.
#[derive(Debug, Default)]
struct Tally {
    errors: ErrorCounts,
    host_connect: LatencyRecorder,
    guest_connect: LatencyRecorder,
    session: LatencyRecorder,
}

/// Runs the scenario.
pub async fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, LoadgenError> {
    let a = ctx.args.churn.clone();
    let c = ctx.args.common.clone();
    let stable = c.hosts.max(1);
    let all = ctx.devices(stable + a.churn_hosts).await?.to_vec();
    let churning: Vec<HostState> = all[stable..].to_vec();
    let http = ctx.target.http()?;
    let baseline = gauges(&http).await?;
    let hosts = ctx.start_hosts(stable).await?;
    let devices = Arc::new(ctx.device_ids(stable));
    let tech = Arc::new(ctx.fleet.login_tech(ctx.target).await?);
    let ep = ctx.target.endpoint();
    let hold = Duration::from_millis(a.churn_hold_ms);
    let tally = Arc::new(Tally::default());
    let progress = ctx.progress("churn", None);

    let started = Instant::now();
    let deadline = started + ctx.max_duration();
    let ticker = progress.start();
    let mut workers = JoinSet::new();
    for device in churning {
        let (ep, tally) = (ep.clone(), tally.clone());
        workers.spawn(churn_host(ep, device, hold, deadline, tally));
    }
    for w in 0..a.churn_guests {
        let (ep, tech, devices, tally) = (ep.clone(), tech.clone(), devices.clone(), tally.clone());
        workers.spawn(async move {
            churn_guest(ep, &tech, &devices, w, hold, deadline, &tally).await;
        });
    }
    let note = tokio::spawn({
        let (progress, t) = (progress.clone(), tally.clone());
        async move {
            let mut shown = 0;
            loop {
                let done = t.host_connect.count() + t.guest_connect.count();
                progress.add(done.saturating_sub(shown));
                shown = done;
                progress.set_note(format!("sessions {}", t.session.count()));
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    while workers.join_next().await.is_some() {}
    note.abort();
    let elapsed = started.elapsed().as_secs_f64();
    ticker.finish();
    tally.errors.absorb(&hosts.errors.snapshot());
    hosts.shutdown().await;
    let (leftover, last) = settle(&http, &baseline).await?;

    let t = &tally;
    let rate = |n: u64| Figure::higher(n as f64 / elapsed.max(1e-9), "1/s");
    let mut r = ScenarioReport {
        config: json!({
            "churn_hosts": a.churn_hosts, "churn_guests": a.churn_guests,
            "churn_hold_ms": a.churn_hold_ms, "stable_hosts": stable,
            "duration_s": c.duration, "quic_control": ctx.args.target.quic,
            "gauges": { "before": baseline, "after": last, "leftover": leftover },
        }),
        duration_s: elapsed,
        ..Default::default()
    };
    r.figures
        .insert("host_connects_per_s".into(), rate(t.host_connect.count()));
    r.figures
        .insert("guest_connects_per_s".into(), rate(t.guest_connect.count()));
    r.figures
        .insert("sessions_per_s".into(), rate(t.session.count()));
    let left_actors: f64 = ACTOR_KINDS
        .iter()
        .map(|k| leftover.get(&format!("actors_{k}")).copied().unwrap_or(0.0))
        .sum();
    r.figures.insert(
        "leftover_actors".into(),
        Figure::lower(left_actors, "count"),
    );
    r.figures.insert(
        "leftover_control_connections".into(),
        Figure::lower(
            leftover.get("control_connections").copied().unwrap_or(0.0),
            "count",
        ),
    );
    r.figures.insert(
        "errors".into(),
        Figure::lower(failures(&t.errors) as f64, "count"),
    );
    r.latencies
        .insert("host_connect".into(), t.host_connect.summary());
    r.latencies
        .insert("guest_connect".into(), t.guest_connect.summary());
    r.latencies.insert("session".into(), t.session.summary());
    r.errors = t.errors.snapshot();
    Ok(r)
}

/// One device connecting, holding and leaving until the deadline.
async fn churn_host(
    ep: Endpoint,
    device: HostState,
    hold: Duration,
    deadline: Instant,
    t: Arc<Tally>,
) {
    let ids = (
        device.device_id(),
        device.credential(),
        device.signing_key(),
    );
    let (device_id, credential, signing_key) = match ids {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
            t.errors.add_error(&e);
            return;
        }
    };
    while Instant::now() < deadline {
        let creds = ControlCredentials::Device {
            device_id,
            credential: credential.clone(),
            signing_key,
        };
        let t0 = Instant::now();
        match ControlClient::connect(&ep, creds).await {
            Ok(Outcome::Established(client)) => {
                t.host_connect.record(t0.elapsed());
                let _ = client
                    .send(ControlMessage::HostState {
                        locked: false,
                        user_logged_in: true,
                    })
                    .await;
                tokio::time::sleep(hold).await;
                drop(client);
            }
            Ok(Outcome::Refused { code, .. }) => {
                t.errors.add(&format!("host_{}", code.name()));
                tokio::time::sleep(hold).await;
            }
            Ok(Outcome::Enrolled(_)) => t.errors.add("host_unexpected_enrolled"),
            Err(e) => {
                t.errors.add(&format!("host_{}", reason_of(&e)));
                tokio::time::sleep(hold).await;
            }
        }
    }
}

/// One guest connecting (a fresh control connection each turn), on every other turn
/// opening and closing one session, and leaving, until the deadline.
async fn churn_guest(
    ep: Endpoint,
    tech: &GuestState,
    devices: &[DeviceId],
    worker: usize,
    hold: Duration,
    deadline: Instant,
    t: &Tally,
) {
    let mut turn = worker;
    while Instant::now() < deadline {
        turn += 1;
        let t0 = Instant::now();
        let pool = match GuestPool::connect(&ep, tech, 1).await {
            Ok(p) => p,
            Err(e) => {
                t.errors.add(&format!("guest_{}", loadgen_reason(&e)));
                tokio::time::sleep(hold).await;
                continue;
            }
        };
        t.guest_connect.record(t0.elapsed());
        if turn.is_multiple_of(2) && !devices.is_empty() {
            let device = devices[turn / 2 % devices.len()];
            let t1 = Instant::now();
            if let Some(s) = open_retrying(&pool, device, deadline, &t.errors).await {
                s.close().await;
                t.session.record(t1.elapsed());
            }
        }
        tokio::time::sleep(hold).await;
        drop(pool);
    }
}

fn loadgen_reason(e: &LoadgenError) -> String {
    match e {
        LoadgenError::Agent(a) => reason_of(a),
        _ => "connect".to_owned(),
    }
}

/// `actors_<kind>` and `control_connections` from the broker's `/metrics`.
async fn gauges(
    http: &switchboard_agent::http::HttpClient,
) -> Result<BTreeMap<String, f64>, LoadgenError> {
    let resp = http.request("GET", "/metrics", None, None).await?;
    if resp.status != 200 {
        return Err(LoadgenError::Scenario {
            scenario: "churn".into(),
            message: format!("GET /metrics answered {}", resp.status),
        });
    }
    Ok(parse_gauges(&resp.body))
}

fn parse_gauges(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name_labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        if let Some(labels) = name_labels.strip_prefix("switchboard_actors{") {
            if let Some(kind) = label(labels, "kind") {
                *out.entry(format!("actors_{kind}")).or_default() += value;
            }
        } else if name_labels.starts_with("switchboard_control_connections{")
            || name_labels == "switchboard_control_connections"
        {
            *out.entry("control_connections".to_owned()).or_default() += value;
        }
    }
    out
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels
        .trim_end_matches('}')
        .split(',')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix("=\""))
        .map(|v| v.trim_end_matches('"'))
}

/// Waits (bounded) for the gauges to return to `baseline`; what is left above it, and the
/// last values read.
async fn settle(
    http: &switchboard_agent::http::HttpClient,
    baseline: &BTreeMap<String, f64>,
) -> Result<(BTreeMap<String, f64>, BTreeMap<String, f64>), LoadgenError> {
    let until = Instant::now() + SETTLE_WAIT;
    loop {
        let now = gauges(http).await?;
        let leftover: BTreeMap<String, f64> = now
            .iter()
            .filter(|(k, _)| *k == "control_connections" || k.starts_with("actors_"))
            .filter(|(k, _)| *k != "actors_tenant")
            .map(|(k, v)| (k.clone(), v - baseline.get(k).copied().unwrap_or(0.0)))
            .filter(|(_, d)| *d > 0.0)
            .collect();
        if leftover.is_empty() || Instant::now() >= until {
            return Ok((leftover, now));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_read_from_prometheus_text() {
        let text = "# HELP switchboard_actors Live actors\n\
            # TYPE switchboard_actors gauge\n\
            switchboard_actors{kind=\"tenant\"} 1\n\
            switchboard_actors{kind=\"device\"} 12\n\
            switchboard_actors{kind=\"session\"} 3\n\
            switchboard_control_connections{transport=\"tls\"} 10\n\
            switchboard_control_connections{transport=\"quic\"} 2\n\
            switchboard_actor_mailbox_depth{kind=\"device\"} 0\n";
        let g = parse_gauges(text);
        assert_eq!(g["actors_device"], 12.0);
        assert_eq!(g["actors_session"], 3.0);
        assert_eq!(g["actors_tenant"], 1.0);
        assert_eq!(g["control_connections"], 12.0);
        assert_eq!(g.len(), 4);
    }
}
