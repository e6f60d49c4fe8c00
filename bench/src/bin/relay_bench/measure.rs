//! The five measurements, each over pairs from a [`Dialer`]; every loop is bounded by a count
//! and by a timeout.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::conn::{BoxRead, BoxWrite, Dialer, End};
use crate::proc::CpuMeter;

const GIB: f64 = (1u64 << 30) as f64;
const CHUNK: usize = 256 * 1024;

async fn write_n(w: &mut BoxWrite, bytes: u64) -> anyhow::Result<()> {
    let buf = vec![0x5au8; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        w.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    w.flush().await?;
    Ok(())
}

async fn read_n(r: &mut BoxRead, bytes: u64) -> anyhow::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    while got < bytes {
        let want = (bytes - got).min(CHUNK as u64) as usize;
        let n = r.read(&mut buf[..want]).await?;
        if n == 0 {
            bail!("stream ended after {got} of {bytes} bytes");
        }
        got += n as u64;
    }
    Ok(())
}

/// Moves `bytes` from `w` to `r` (writer on its own task) and returns the halves and the time.
async fn one_way(
    mut w: BoxWrite,
    mut r: BoxRead,
    bytes: u64,
) -> anyhow::Result<(BoxWrite, BoxRead, Duration)> {
    let start = Instant::now();
    let writer = tokio::spawn(async move { write_n(&mut w, bytes).await.map(|()| w) });
    read_n(&mut r, bytes).await?;
    let elapsed = start.elapsed();
    let w = writer.await??;
    Ok((w, r, elapsed))
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64().max(1e-9) / 1e9
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

#[derive(Debug, Serialize)]
pub(crate) struct Bulk {
    pub(crate) bytes_each_way: u64,
    pub(crate) repetitions: usize,
    pub(crate) gbps_median: f64,
    pub(crate) gbps_all: Vec<f64>,
    pub(crate) relay_cpu_s_per_gib: Option<f64>,
}

/// One session: `bytes` each way (one direction at a time), `reps` times; median Gbit/s.
pub(crate) async fn bulk(
    d: &Dialer,
    pid: Option<u32>,
    bytes: u64,
    reps: usize,
) -> anyhow::Result<Bulk> {
    let (c, s) = d.pair().await?;
    let (mut cw, mut cr, mut sw, mut sr) = (c.w, c.r, s.w, s.r);
    // Warm-up: 64 MiB each way.
    let warm = (64u64 << 20).min(bytes);
    (cw, sr, _) = one_way(cw, sr, warm).await?;
    (sw, cr, _) = one_way(sw, cr, warm).await?;
    let meter = CpuMeter::start(pid);
    let mut all = Vec::new();
    for _ in 0..reps {
        let mut t;
        (cw, sr, t) = one_way(cw, sr, bytes).await?;
        all.push(gbps(bytes, t));
        (sw, cr, t) = one_way(sw, cr, bytes).await?;
        all.push(gbps(bytes, t));
    }
    let cpu = meter.stop();
    let moved = (2 * reps) as f64 * bytes as f64;
    drop((cw, cr, sw, sr, c._keep, s._keep));
    Ok(Bulk {
        bytes_each_way: bytes,
        repetitions: reps,
        gbps_median: median(all.clone()),
        gbps_all: all,
        relay_cpu_s_per_gib: cpu.map(|c| c / (moved / GIB)),
    })
}

#[derive(Debug, Serialize)]
pub(crate) struct Rtt {
    pub(crate) iterations: u64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) p999_us: f64,
}

/// 64-byte ping-pong, `iters` round trips after 500 warm-up ones.
pub(crate) async fn rtt(d: &Dialer, iters: u64) -> anyhow::Result<Rtt> {
    let (c, s) = d.pair().await?;
    let End {
        r: mut sr,
        w: mut sw,
        _keep: sk,
    } = s;
    let total = iters + 500;
    let echo = tokio::spawn(async move {
        let mut buf = [0u8; 64];
        for _ in 0..total {
            sr.read_exact(&mut buf).await?;
            sw.write_all(&buf).await?;
        }
        drop(sk);
        Ok::<_, anyhow::Error>(())
    });
    let End {
        r: mut cr,
        w: mut cw,
        _keep: ck,
    } = c;
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut buf = [7u8; 64];
    for i in 0..total {
        let t = Instant::now();
        cw.write_all(&buf).await?;
        cr.read_exact(&mut buf).await?;
        if i >= 500 {
            h.saturating_record(t.elapsed().as_nanos() as u64);
        }
    }
    tokio::time::timeout(Duration::from_secs(10), echo)
        .await
        .context("echo task")???;
    drop(ck);
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Ok(Rtt {
        iterations: iters,
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
    })
}

/// Opens `n` pairs, at most `parallel` at a time.
pub(crate) async fn open_many(
    d: &Arc<Dialer>,
    n: usize,
    parallel: usize,
) -> anyhow::Result<Vec<(End, End)>> {
    let sem = Arc::new(Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let r = d.pair().await;
            drop(permit);
            r
        }));
    }
    let mut pairs = Vec::with_capacity(n);
    let mut errors = 0usize;
    let mut first_error = None;
    for t in tasks {
        match t.await? {
            Ok(p) => pairs.push(p),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        bail!("{errors} of {n} pairs failed; first: {e:#}");
    }
    Ok(pairs)
}

#[derive(Debug, Serialize)]
pub(crate) struct Many {
    pub(crate) sessions: usize,
    pub(crate) bytes_per_session: u64,
    pub(crate) gbps: f64,
    pub(crate) relay_cpu_s_per_gib: Option<f64>,
}

/// `n` sessions each moving `bytes` client → server at once; aggregate Gbit/s.
pub(crate) async fn many(
    d: &Arc<Dialer>,
    pid: Option<u32>,
    n: usize,
    bytes: u64,
) -> anyhow::Result<Many> {
    let pairs = open_many(d, n, 64).await?;
    let meter = CpuMeter::start(pid);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (c, s) in pairs {
        let End {
            w: mut cw,
            r: cr,
            _keep: ck,
        } = c;
        let End {
            r: mut sr,
            w: sw,
            _keep: sk,
        } = s;
        tasks.push(tokio::spawn(async move {
            write_n(&mut cw, bytes).await.map(|()| (cw, cr, ck))
        }));
        tasks.push(tokio::spawn(async move {
            read_n(&mut sr, bytes).await.map(|()| (sw, sr, sk))
        }));
    }
    let mut keep = Vec::new();
    for t in tasks {
        let kept = tokio::time::timeout(Duration::from_secs(600), t)
            .await
            .context("many: timeout")???;
        keep.push(kept);
    }
    let elapsed = start.elapsed();
    let cpu = meter.stop();
    drop(keep);
    let total = n as u64 * bytes;
    Ok(Many {
        sessions: n,
        bytes_per_session: bytes,
        gbps: gbps(total, elapsed),
        relay_cpu_s_per_gib: cpu.map(|c| c / (total as f64 / GIB)),
    })
}
