//! Timestamped frames over any byte stream, for round-trip measurement through an echo: a
//! writer sends frames of random size in `[min, max]` at a fixed rate (random phase), each
//! carrying its length and send time; a reader takes the echoed frames back and records
//! now − send time. Used by `interactive` over tunnels and over direct TCP (the baseline).
//!
//! It knows nothing about sessions; it does not verify payload bytes (bulk does).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::results::{ErrorCounts, LatencyRecorder};

/// Bytes of the frame header: u32 BE total length, u64 BE send time (ns since the epoch).
pub const HEADER: usize = 12;
/// Bound on waiting for the last echoes after the writer stopped.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

/// The frame stream of one connection.
#[derive(Debug, Clone)]
pub struct FramePlan {
    /// Frames per second.
    pub rate: f64,
    /// Smallest frame (at least [`HEADER`]).
    pub min: usize,
    /// Largest frame.
    pub max: usize,
    /// Common time origin of send stamps.
    pub epoch: Instant,
    /// When to stop sending.
    pub until: Instant,
}

/// A small xorshift generator (frame sizes and phases; not for anything secret).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from the OS.
    pub fn new() -> Self {
        let mut b = [0u8; 8];
        let _ = getrandom::fill(&mut b);
        Self(u64::from_le_bytes(b) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `[lo, hi]`.
    pub fn between(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

impl Default for Rng {
    fn default() -> Self {
        Self::new()
    }
}

/// Sends frames per `plan` and records each echoed frame's round trip in `rtt`; counts
/// failures in `errors` (`frame_io`, `frame_malformed`, `frame_drain_timeout`). Returns the
/// number of frames sent.
pub async fn run<S>(
    stream: S,
    plan: FramePlan,
    rtt: Arc<LatencyRecorder>,
    errors: Arc<ErrorCounts>,
) -> u64
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut r, mut w) = tokio::io::split(stream);
    let p = plan.clone();
    let writer = async move {
        let mut rng = Rng::new();
        let period = Duration::from_secs_f64(1.0 / p.rate.max(0.001));
        let phase = Duration::from_nanos(rng.next_u64() % period.as_nanos().max(1) as u64);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut buf = vec![0u8; p.max.max(HEADER)];
        let mut sent = 0u64;
        loop {
            tick.tick().await;
            if Instant::now() >= p.until {
                break;
            }
            let len = rng.between(p.min.max(HEADER), p.max.max(HEADER));
            let ns = u64::try_from(p.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            buf[..4].copy_from_slice(&(len as u32).to_be_bytes());
            buf[4..HEADER].copy_from_slice(&ns.to_be_bytes());
            if w.write_all(&buf[..len]).await.is_err() {
                return (sent, false);
            }
            sent += 1;
        }
        let ok = w.shutdown().await.is_ok();
        (sent, ok)
    };
    let epoch = plan.epoch;
    let rec = rtt.clone();
    let reader = async move {
        let mut head = [0u8; HEADER];
        let mut skip = vec![0u8; plan.max.max(HEADER)];
        let mut got = 0u64;
        loop {
            match r.read_exact(&mut head).await {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(got),
                Err(_) => return Err("frame_io"),
            }
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if len < HEADER || len > skip.len() {
                return Err("frame_malformed");
            }
            if r.read_exact(&mut skip[..len - HEADER]).await.is_err() {
                return Err("frame_io");
            }
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&head[4..HEADER]);
            let sent = Duration::from_nanos(u64::from_be_bytes(ts));
            rec.record(epoch.elapsed().saturating_sub(sent));
            got += 1;
        }
    };
    tokio::pin!(reader);
    let (sent, wrote_ok) = tokio::select! {
        s = writer => s,
        r = &mut reader => {
            if let Err(reason) = r {
                errors.add(reason);
            } else {
                errors.add("frame_early_eof");
            }
            return 0;
        }
    };
    if !wrote_ok {
        errors.add("frame_io");
    }
    match tokio::time::timeout(DRAIN_WAIT, reader).await {
        Ok(Ok(got)) if got == sent => {}
        Ok(Ok(_)) => errors.add("frame_lost"),
        Ok(Err(reason)) => errors.add(reason),
        Err(_) => errors.add("frame_drain_timeout"),
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trips_through_an_echo() {
        let echo = crate::services::start(crate::services::Kind::Echo)
            .await
            .unwrap();
        let s = tokio::net::TcpStream::connect(echo.addr).await.unwrap();
        let rtt = Arc::new(LatencyRecorder::new());
        let errors = Arc::new(ErrorCounts::new());
        let now = Instant::now();
        let plan = FramePlan {
            rate: 200.0,
            min: 64,
            max: 1024,
            epoch: now,
            until: now + Duration::from_millis(300),
        };
        let sent = run(s, plan, rtt.clone(), errors.clone()).await;
        assert!(sent > 10, "{sent}");
        assert_eq!(rtt.count(), sent);
        assert_eq!(errors.total(), 0, "{:?}", errors.snapshot());
    }

    #[test]
    fn rng_stays_in_range() {
        let mut r = Rng::new();
        for _ in 0..1000 {
            let v = r.between(64, 1024);
            assert!((64..=1024).contains(&v));
        }
        assert_eq!(r.between(5, 5), 5);
    }
}
