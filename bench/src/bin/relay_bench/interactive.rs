//! The remote-desktop-like workload and the idle-memory measurement.
//!
//! Interactive: every session sends 256-byte frames at about 90 frames/s each way; a frame
//! carries its send time, the receiver records the one-way latency. The relay's CPU time over
//! the run divided by the frames delivered gives CPU per forwarded frame.
//! Memory: the relay's resident memory before and after opening N paired idle sessions.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, MissedTickBehavior};

use crate::conn::{Dialer, End};
use crate::measure::open_many;
use crate::proc::{CpuMeter, rss_bytes};

const FRAME: usize = 256;
const FPS: f64 = 90.0;

#[derive(Debug, Serialize)]
pub(crate) struct Interactive {
    pub(crate) sessions: usize,
    pub(crate) seconds: f64,
    pub(crate) frames: u64,
    pub(crate) frames_expected: u64,
    pub(crate) relay_cpu_us_per_frame: Option<f64>,
    pub(crate) latency_p50_us: f64,
    pub(crate) latency_p99_us: f64,
}

pub(crate) async fn interactive(
    d: &Arc<Dialer>,
    pid: Option<u32>,
    n: usize,
    seconds: f64,
) -> anyhow::Result<Interactive> {
    let pairs = open_many(d, n, 64).await?;
    let origin = Instant::now();
    let run = Duration::from_secs_f64(seconds);
    let stop_at = origin + Duration::from_millis(300) + run;
    let frames_per_side = (seconds * FPS) as u64;
    let meter = CpuMeter::start(pid);
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for (i, (c, s)) in pairs.into_iter().enumerate() {
        for (j, end) in [c, s].into_iter().enumerate() {
            let End {
                r: mut rd,
                w: mut wr,
                _keep: keep,
            } = end;
            // Spread the first frames over one frame interval.
            let phase = Duration::from_secs_f64(((i * 2 + j) % 97) as f64 / 97.0 / FPS);
            senders.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(
                    origin + Duration::from_millis(300) + phase,
                    Duration::from_secs_f64(1.0 / FPS),
                );
                tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
                let mut frame = [0u8; FRAME];
                for _ in 0..frames_per_side {
                    tick.tick().await;
                    let ns = origin.elapsed().as_nanos() as u64;
                    frame[..8].copy_from_slice(&ns.to_be_bytes());
                    wr.write_all(&frame).await?;
                }
                Ok::<_, anyhow::Error>((wr, keep))
            }));
            readers.push(tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut frame = [0u8; FRAME];
                let mut got = 0u64;
                while got < frames_per_side {
                    let read = tokio::time::timeout_at(
                        stop_at + Duration::from_secs(10),
                        rd.read_exact(&mut frame),
                    )
                    .await;
                    match read {
                        Ok(Ok(_)) => {}
                        _ => break,
                    }
                    let sent = u64::from_be_bytes(frame[..8].try_into()?);
                    let now = origin.elapsed().as_nanos() as u64;
                    h.saturating_record(now.saturating_sub(sent).max(1) / 1000);
                    got += 1;
                }
                Ok::<_, anyhow::Error>((h, got, rd))
            }));
        }
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut frames = 0u64;
    let mut keep = Vec::new();
    for r in readers {
        let (h, got, rd) = r.await.context("reader task")??;
        hist.add(&h)?;
        frames += got;
        keep.push(rd);
    }
    let cpu = meter.stop();
    let mut keep_w = Vec::new();
    for s in senders {
        keep_w.push(s.await.context("sender task")??);
    }
    drop((keep, keep_w));
    Ok(Interactive {
        sessions: n,
        seconds,
        frames,
        frames_expected: frames_per_side * 2 * n as u64,
        relay_cpu_us_per_frame: cpu.map(|c| c * 1e6 / frames.max(1) as f64),
        latency_p50_us: hist.value_at_quantile(0.5) as f64,
        latency_p99_us: hist.value_at_quantile(0.99) as f64,
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct Memory {
    pub(crate) sessions: usize,
    pub(crate) rss_before: u64,
    pub(crate) rss_after: u64,
    pub(crate) bytes_per_session: f64,
}

/// Opens idle sessions up to each count in `steps` (cumulative) and reports the relay's RSS
/// growth per session at each step.
pub(crate) async fn memory(
    d: &Arc<Dialer>,
    pid: u32,
    steps: &[usize],
) -> anyhow::Result<Vec<Memory>> {
    let rss0 = rss_bytes(pid);
    let mut held = Vec::new();
    let mut out = Vec::new();
    for &target in steps {
        let more = target.saturating_sub(held.len());
        let mut pairs = open_many(d, more, 128).await?;
        held.append(&mut pairs);
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = rss_bytes(pid);
        out.push(Memory {
            sessions: held.len(),
            rss_before: rss0,
            rss_after: rss,
            bytes_per_session: (rss as f64 - rss0 as f64) / held.len().max(1) as f64,
        });
        eprintln!(
            "  memory: {} sessions, {:.0} B/session",
            held.len(),
            out.last().map_or(0.0, |m| m.bytes_per_session)
        );
    }
    drop(held);
    Ok(out)
}
