//! `bulk`: `--bulk-sessions` sessions each move `--bulk-bytes` bytes each way at once, through
//! one tunnel to the hosts' echo service: the guest writes a known pattern and reads it back,
//! comparing every byte. Bounded by `--duration`.
//!
//! Figures: aggregate throughput (bytes both ways over the transfer wall time), per-session
//! mean, bytes verified, errors (`verify_mismatch`, `short_read`, `bulk_timeout`, ...).
//! Latency `setup`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::Instant;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinSet;

use super::Ctx;
use super::open::{Tally, close_all, open_many};
use crate::error::LoadgenError;
use crate::results::{ErrorCounts, Figure, LatencyRecorder, ScenarioReport};

/// Pattern block size (the stream repeats it with a per-session offset).
const BLOCK: usize = 64 * 1024;

fn pattern(seed: u8) -> Vec<u8> {
    (0..BLOCK)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

/// Writes `total` bytes of `pat` and reads them back, comparing; bytes verified or a reason.
async fn transfer(
    stream: switchboard_agent::session::TunnelStream,
    pat: Arc<Vec<u8>>,
    total: u64,
) -> Result<u64, &'static str> {
    let (mut r, mut w) = tokio::io::split(stream);
    let wp = pat.clone();
    let writer = async move {
        let mut left = total;
        while left > 0 {
            let n = left.min(BLOCK as u64) as usize;
            w.write_all(&wp[..n]).await.map_err(|_| "write_failed")?;
            left -= n as u64;
        }
        w.shutdown().await.map_err(|_| "write_failed")
    };
    let reader = async move {
        let mut buf = vec![0u8; BLOCK];
        let mut got: u64 = 0;
        loop {
            let at = (got % BLOCK as u64) as usize;
            let want = BLOCK - at;
            let n = r.read(&mut buf[..want]).await.map_err(|_| "read_failed")?;
            if n == 0 {
                break;
            }
            if buf[..n] != pat[at..at + n] {
                return Err("verify_mismatch");
            }
            got += n as u64;
        }
        if got == total {
            Ok(got)
        } else {
            Err("short_read")
        }
    };
    let (w, r) = tokio::join!(writer, reader);
    w?;
    r
}

/// Runs the scenario.
pub async fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, LoadgenError> {
    let c = ctx.args.common.clone();
    let o = ctx.args.bulk.clone();
    let hosts = ctx.start_hosts(c.hosts).await?;
    let guests = ctx.guests(c.guests).await?;
    let devices = ctx.device_ids(c.hosts);
    let errors = Arc::new(ErrorCounts::new());
    let setup = LatencyRecorder::new();
    let started = Instant::now();
    let deadline = started + ctx.max_duration();
    let progress = ctx.progress("bulk-open", Some(o.bulk_sessions as u64));
    let ticker = progress.start();
    let sessions = open_many(
        &guests,
        &devices,
        o.bulk_sessions,
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
    let target = hosts.echo_target();
    let mut streams = Vec::new();
    for s in &sessions {
        match s.session.open_tunnel(&target).await {
            Ok(t) => streams.push(t),
            Err(e) => errors.add_error(&e),
        }
    }
    let total_mib = o.bulk_bytes * streams.len() as u64 * 2 / (1 << 20);
    let progress = ctx.progress("bulk", None);
    progress.set_note(format!(
        "{} sessions, {total_mib} MiB in all",
        streams.len()
    ));
    let ticker = progress.start();
    let verified = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, t) in streams.into_iter().enumerate() {
        let pat = Arc::new(pattern(i as u8));
        let (errors, verified, progress) = (errors.clone(), verified.clone(), progress.clone());
        let total = o.bulk_bytes;
        tasks.spawn(async move {
            match transfer(t, pat, total).await {
                Ok(n) => {
                    verified.fetch_add(n, Ordering::Relaxed);
                    progress.inc();
                }
                Err(reason) => {
                    errors.add(reason);
                    progress.fail();
                }
            }
        });
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let all = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(left, all).await.is_err() {
        errors.add_n("bulk_timeout", tasks.len() as u64);
        tasks.abort_all();
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    ticker.finish();
    close_all(sessions, c.concurrency).await;
    errors.absorb(&hosts.errors.snapshot());
    hosts.shutdown().await;

    let moved = verified.load(Ordering::Relaxed) * 2;
    let n = o.bulk_sessions.max(1) as f64;
    let mut r = ScenarioReport {
        config: json!({
            "sessions": o.bulk_sessions, "bytes_each_way": o.bulk_bytes, "hosts": c.hosts,
            "guest_connections": c.guests, "duration_s": c.duration,
        }),
        duration_s: secs,
        ..Default::default()
    };
    r.figures.insert(
        "throughput".into(),
        Figure::higher(moved as f64 / secs, "B/s"),
    );
    r.figures.insert(
        "throughput_per_session".into(),
        Figure::info(moved as f64 / secs / n, "B/s"),
    );
    r.figures
        .insert("bytes_verified".into(), Figure::info(moved as f64, "B"));
    r.figures.insert(
        "errors".into(),
        Figure::lower(errors.total() as f64, "count"),
    );
    r.latencies.insert("setup".into(), setup.summary());
    r.errors = errors.snapshot();
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_differ_per_session() {
        assert_eq!(pattern(1).len(), BLOCK);
        assert_ne!(pattern(1), pattern(2));
    }
}
