//! Byte-rate limiting: a token bucket that may go into debt, and the per-tenant registry.
//!
//! A forwarding engine reads a chunk, then asks every bucket that applies to the session
//! (the ticket's per-session rate and the tenant's shared rate on this relay) how long to wait
//! before writing it: the chunk is always charged, and the engine sleeps until the bucket is out
//! of debt. Over any interval `t` the bytes written stay below `burst + rate * t + one chunk`,
//! and engines cap their chunk size when a limit is set (see `ForwardLimits::chunk_cap`).
//!
//! Time is an argument (`tokio::time::Instant`), so the arithmetic is tested without sleeping.
//! This module does no IO and never sleeps itself.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// Smallest burst a bucket allows, so a low rate still moves whole small chunks.
const MIN_BURST: u64 = 16 * 1024;

/// A token bucket counted in bytes, shared by the directions (and sessions) it limits.
#[derive(Debug)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    /// Available bytes; negative while in debt.
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket of `rate` bytes per second (must be > 0) whose burst is 100 ms of rate
    /// (at least 16 KiB). It starts full.
    pub fn new(rate: u64, now: Instant) -> Self {
        let rate = rate.max(1);
        let burst = (rate / 10).max(MIN_BURST);
        Self {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst as f64,
                last: now,
            }),
        }
    }

    /// Bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Charges `n` bytes at `now` and returns how long the caller must wait before moving them
    /// (zero when the bucket had the tokens).
    pub fn consume(&self, n: u64, now: Instant) -> Duration {
        let mut st = self.state.lock();
        let elapsed = now.saturating_duration_since(st.last).as_secs_f64();
        st.last = st.last.max(now);
        st.tokens = (st.tokens + elapsed * self.rate as f64).min(self.burst as f64);
        st.tokens -= n as f64;
        if st.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.tokens / self.rate as f64)
        }
    }
}

/// One shared bucket per tenant on this relay, created on first use and forgotten when the
/// tenant's last session ends (the registry keeps only weak references).
#[derive(Debug)]
pub struct TenantLimiters<K> {
    default_rate: u64,
    overrides: HashMap<K, u64>,
    buckets: Mutex<Buckets<K>>,
}

#[derive(Debug)]
struct Buckets<K> {
    map: HashMap<K, Weak<TokenBucket>>,
    prune_at: usize,
}

impl<K: Hash + Eq + Clone> TenantLimiters<K> {
    /// `default_rate` applies to every tenant without an override; 0 means unlimited.
    pub fn new(default_rate: u64, overrides: HashMap<K, u64>) -> Self {
        Self {
            default_rate,
            overrides,
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                prune_at: 64,
            }),
        }
    }

    /// The tenant's shared bucket, or `None` when the tenant is unlimited.
    pub fn bucket(&self, tenant: &K, now: Instant) -> Option<Arc<TokenBucket>> {
        let rate = self
            .overrides
            .get(tenant)
            .copied()
            .unwrap_or(self.default_rate);
        if rate == 0 {
            return None;
        }
        let mut b = self.buckets.lock();
        if let Some(live) = b.map.get(tenant).and_then(Weak::upgrade) {
            return Some(live);
        }
        if b.map.len() >= b.prune_at {
            b.map.retain(|_, w| w.strong_count() > 0);
            b.prune_at = (b.map.len() * 2).max(64);
        }
        let bucket = Arc::new(TokenBucket::new(rate, now));
        b.map.insert(tenant.clone(), Arc::downgrade(&bucket));
        Some(bucket)
    }

    /// Tenants with a live bucket (for tests and metrics).
    pub fn live(&self) -> usize {
        self.buckets
            .lock()
            .map
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_charges_debt_and_refills() {
        let t0 = Instant::now();
        let b = TokenBucket::new(1_000_000, t0);
        // Burst is 100 ms of rate: 100_000 bytes.
        assert_eq!(b.consume(100_000, t0), Duration::ZERO);
        let wait = b.consume(50_000, t0);
        assert_eq!(wait, Duration::from_millis(50));
        // After the wait the debt is paid and 10 ms more buys 10_000 bytes.
        let t1 = t0 + Duration::from_millis(60);
        assert_eq!(b.consume(10_000, t1), Duration::ZERO);
    }

    #[test]
    fn long_run_rate_holds() {
        let t0 = Instant::now();
        let b = TokenBucket::new(4_000_000, t0);
        let mut now = t0;
        let mut moved = 0u64;
        while now < t0 + Duration::from_secs(4) {
            let wait = b.consume(65_536, now);
            now += wait;
            moved += 65_536;
        }
        let secs = (now - t0).as_secs_f64();
        let rate = moved as f64 / secs;
        assert!(
            rate < 4_000_000.0 * 1.15 && rate > 4_000_000.0 * 0.9,
            "rate {rate}"
        );
    }

    #[test]
    fn tenants_share_and_forget() {
        let now = Instant::now();
        let mut o = HashMap::new();
        o.insert(2u8, 0u64);
        let reg = TenantLimiters::new(1000, o);
        let a1 = reg.bucket(&1u8, now).unwrap();
        let a2 = reg.bucket(&1u8, now).unwrap();
        assert!(Arc::ptr_eq(&a1, &a2));
        assert!(reg.bucket(&2u8, now).is_none(), "override 0 = unlimited");
        assert_eq!(reg.live(), 1);
        drop((a1, a2));
        assert_eq!(reg.live(), 0);
    }
}
