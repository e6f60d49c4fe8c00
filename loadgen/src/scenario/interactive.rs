//! `interactive`: a remote-desktop-like load. `--sessions` sessions each carry one tunnel to
//! the hosts' echo service; on each, frames of `--frame-min`..`--frame-max` bytes go out at
//! `--rate` per second (and come back through the echo, so the same rate flows each way) for
//! `--measure` seconds; every frame's round trip is recorded.
//!
//! The baseline is measured first in the same run: the same frame load over direct loopback
//! TCP connections to the same echo service (no broker, no relay, no Noise). Figures: added
//! RTT p50/p99 (relayed minus direct), offered rate per session in bit/s, errors. Latencies
//! `rtt` (relayed), `rtt_baseline` (not gated by compare), `setup`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use serde_json::json;
use tokio::task::JoinSet;

use super::Ctx;
use super::frames::{self, FramePlan};
use super::open::{Tally, close_all, open_many};
use crate::error::LoadgenError;
use crate::results::{ErrorCounts, Figure, LatencyRecorder, ScenarioReport};

/// Runs the scenario.
pub async fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, LoadgenError> {
    let c = ctx.args.common.clone();
    let o = ctx.args.interactive.clone();
    let limit = ctx.max_duration();
    let measure = Duration::from_secs_f64(o.measure.max(0.1)).min(limit);
    let hosts = ctx.start_hosts(c.hosts).await?;
    let guests = ctx.guests(c.guests).await?;
    let devices = ctx.device_ids(c.hosts);
    let errors = Arc::new(ErrorCounts::new());
    let direct_errors = Arc::new(ErrorCounts::new());
    let rtt_direct = Arc::new(LatencyRecorder::new());
    let rtt = Arc::new(LatencyRecorder::new());
    let setup = LatencyRecorder::new();
    let started = Instant::now();

    // Baseline: direct TCP to the same echo.
    let progress = ctx.progress("interactive-direct", None);
    progress.set_note(format!("{} direct connections", o.sessions));
    let ticker = progress.start();
    let echo: std::net::SocketAddr = hosts
        .echo_target()
        .parse()
        .map_err(|e| LoadgenError::Usage(format!("echo address: {e}")))?;
    let epoch = Instant::now();
    let plan = FramePlan {
        rate: o.rate,
        min: o.frame_min,
        max: o.frame_max,
        epoch,
        until: epoch + measure,
    };
    let mut tasks = JoinSet::new();
    for _ in 0..o.sessions {
        match tokio::net::TcpStream::connect(echo).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                let (rec, errs, plan) = (rtt_direct.clone(), direct_errors.clone(), plan.clone());
                tasks.spawn(frames::run(s, plan, rec, errs));
            }
            Err(_) => direct_errors.add("direct_connect"),
        }
    }
    while let Some(r) = tasks.join_next().await {
        progress.add(r.unwrap_or(0));
    }
    ticker.finish();

    // Relayed: sessions with one echo tunnel each.
    let progress = ctx.progress("interactive-open", Some(o.sessions as u64));
    let ticker = progress.start();
    let deadline = started + limit;
    let sessions = open_many(
        &guests,
        &devices,
        o.sessions,
        c.concurrency,
        deadline,
        Tally {
            setup: &setup,
            errors: &errors,
            progress: &progress,
        },
    )
    .await;
    ticker.finish();
    let progress = ctx.progress("interactive", None);
    progress.set_note(format!("{} sessions", sessions.len()));
    let ticker = progress.start();
    let target = hosts.echo_target();
    let mut streams = Vec::with_capacity(sessions.len());
    for s in &sessions {
        match s.session.open_tunnel(&target).await {
            Ok(t) => streams.push(t),
            Err(e) => errors.add_error(&e),
        }
    }
    let epoch = Instant::now();
    let plan = FramePlan {
        epoch,
        until: epoch + measure,
        ..plan
    };
    let measured = streams.len();
    for t in streams {
        let (rec, errs, plan) = (rtt.clone(), errors.clone(), plan.clone());
        tasks.spawn(frames::run(t, plan, rec, errs));
    }
    while let Some(r) = tasks.join_next().await {
        progress.add(r.unwrap_or(0));
    }
    ticker.finish();
    close_all(sessions, c.concurrency).await;
    errors.absorb(&hosts.errors.snapshot());
    hosts.shutdown().await;
    for (k, n) in direct_errors.snapshot() {
        errors.add_n(&format!("direct_{k}"), n);
    }

    let relayed = rtt.summary();
    let direct = rtt_direct.summary();
    let avg_frame = (o.frame_min + o.frame_max) as f64 / 2.0;
    let mut r = ScenarioReport {
        config: json!({
            "sessions": o.sessions, "rate_per_s": o.rate, "frame_min": o.frame_min,
            "frame_max": o.frame_max, "measure_s": measure.as_secs_f64(), "hosts": c.hosts,
            "guest_connections": c.guests, "concurrency": c.concurrency,
        }),
        duration_s: started.elapsed().as_secs_f64(),
        ..Default::default()
    };
    r.figures.insert(
        "sessions_measured".into(),
        Figure::info(measured as f64, "count"),
    );
    r.figures.insert(
        "offered_bps_per_session".into(),
        Figure::info(o.rate * avg_frame * 8.0, "bit/s"),
    );
    r.figures.insert(
        "added_rtt_p50_us".into(),
        Figure::lower((relayed.p50 - direct.p50).max(0.0), "us"),
    );
    r.figures.insert(
        "added_rtt_p99_us".into(),
        Figure::lower((relayed.p99 - direct.p99).max(0.0), "us"),
    );
    r.figures.insert(
        "errors".into(),
        Figure::lower(errors.total() as f64, "count"),
    );
    r.latencies.insert("rtt".into(), relayed);
    r.latencies.insert("rtt_baseline".into(), direct);
    r.latencies.insert("setup".into(), setup.summary());
    r.errors = errors.snapshot();
    Ok(r)
}
