//! `setup-storm`: brokered session setups per second at a concurrency. `--concurrency`
//! workers each open a session (request → authorize → offer → accept → relay bind → Noise
//! ready) to the next device in turn, record the phase timings, hand the session to a closer
//! task and go again, until `--count` setups were attempted or `--duration` passed.
//!
//! Figures: setups/s (successes over the wall time), errors; latencies `setup` (to ready),
//! `authorize` (to `SessionCreated`), `assign` (to `RelayAssignment`). It opens no tunnel.
//!
//! CPU per setup, from `/proc` over the storm and the closing of its sessions:
//! `server_cpu_us_per_setup` (a spawned server: broker, in-process relay and embedded store;
//! not a Redis server's own CPU) and `loadgen_cpu_us_per_setup` (both ends of every session,
//! Noise included). On one machine they share the cores, so `server_setups_per_core_s` (10^6
//! over the server's figure) says what a core of the server would sustain with the load
//! coming from elsewhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

use serde_json::json;
use tokio::task::JoinSet;

use super::Ctx;
use crate::error::LoadgenError;
use crate::procstat::{CpuMeter, CpuUsed};
use crate::results::{ErrorCounts, Figure, LatencyRecorder, ScenarioReport};

/// Runs the scenario.
pub async fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, LoadgenError> {
    let c = ctx.args.common.clone();
    let hosts = ctx.start_hosts(c.hosts).await?;
    let guests = Arc::new(ctx.guests(c.guests).await?);
    let devices = Arc::new(ctx.device_ids(c.hosts));
    let progress = ctx.progress("setup-storm", Some(c.count));
    let setup = Arc::new(LatencyRecorder::new());
    let authorize = Arc::new(LatencyRecorder::new());
    let assign = Arc::new(LatencyRecorder::new());
    let errors = Arc::new(ErrorCounts::new());
    let next = Arc::new(AtomicU64::new(0));
    let closers = Arc::new(parking_lot::Mutex::new(JoinSet::new()));
    let cpu = CpuMeter::start(ctx.server_pid())?;
    let started = Instant::now();
    let deadline = started + ctx.max_duration();
    let ticker = progress.start();
    let mut workers = JoinSet::new();
    for _ in 0..c.concurrency.max(1) {
        let (guests, devices, next) = (guests.clone(), devices.clone(), next.clone());
        let (setup, authorize, assign) = (setup.clone(), authorize.clone(), assign.clone());
        let (errors, progress, closers) = (errors.clone(), progress.clone(), closers.clone());
        let count = c.count;
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() >= deadline {
                    return;
                }
                let device = devices[(i as usize) % devices.len()];
                match guests.open(device).await {
                    Ok(s) => {
                        setup.record(s.timings.ready);
                        assign.record(s.timings.assigned);
                        if let Some(a) = s.timings.authorized {
                            authorize.record(a);
                        }
                        progress.inc();
                        closers.lock().spawn(s.close());
                    }
                    Err(e) => {
                        errors.add_guest_error(&e);
                        progress.fail();
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    ticker.finish();
    let mut closing = std::mem::take(&mut *closers.lock());
    while closing.join_next().await.is_some() {}
    let cpu = cpu.stop()?;
    errors.absorb(&hosts.errors.snapshot());
    hosts.shutdown().await;

    let ok = setup.count();
    let mut r = ScenarioReport {
        config: json!({
            "count": c.count, "duration_s": c.duration, "concurrency": c.concurrency,
            "hosts": c.hosts, "guest_connections": c.guests, "quic": ctx.args.target.quic,
        }),
        duration_s: elapsed,
        ..Default::default()
    };
    r.figures.insert(
        "setups_per_s".into(),
        Figure::higher(ok as f64 / elapsed.max(1e-9), "1/s"),
    );
    r.figures
        .insert("setups".into(), Figure::info(ok as f64, "count"));
    r.figures.insert(
        "errors".into(),
        Figure::lower(errors.total() as f64, "count"),
    );
    add_cpu(&mut r, cpu, ok);
    r.latencies.insert("setup".into(), setup.summary());
    r.latencies.insert("authorize".into(), authorize.summary());
    r.latencies.insert("assign".into(), assign.summary());
    r.errors = errors.snapshot();
    Ok(r)
}

/// CPU per successful setup (nothing without one).
fn add_cpu(r: &mut ScenarioReport, cpu: CpuUsed, setups: u64) {
    if setups == 0 {
        return;
    }
    let per_setup_us = |s: f64| s * 1e6 / setups as f64;
    if let Some(server) = cpu.server.map(per_setup_us).filter(|&us| us > 0.0) {
        r.figures.insert(
            "server_cpu_us_per_setup".into(),
            Figure::lower(server, "us"),
        );
        r.figures.insert(
            "server_setups_per_core_s".into(),
            Figure::info(1e6 / server, "1/s"),
        );
    }
    r.figures.insert(
        "loadgen_cpu_us_per_setup".into(),
        Figure::info(per_setup_us(cpu.me), "us"),
    );
}
