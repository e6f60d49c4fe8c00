//! Token-bucket rate limits keyed by a string (source IP, username).
//!
//! Each key holds `burst` tokens refilled at `per_minute`; an attempt takes one. The map is
//! bounded: when it holds `max_keys`, buckets that are full again are dropped first, and if
//! none can be dropped the attempt is refused (a flood of distinct keys cannot grow memory).

use std::time::Duration;

use dashmap::DashMap;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A keyed token-bucket limiter.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: DashMap<String, Bucket>,
    burst: f64,
    per_second: f64,
    max_keys: usize,
}

impl RateLimiter {
    /// `burst` attempts at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32, max_keys: usize) -> Self {
        Self {
            buckets: DashMap::new(),
            burst: f64::from(burst.max(1)),
            per_second: f64::from(per_minute.max(1)) / 60.0,
            max_keys,
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * self.per_second).min(self.burst);
        b.at = now;
    }

    /// Takes one token for `key`; `Err(retry_after)` when none is left.
    pub fn try_take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            self.buckets.retain(|_, b| {
                let dt = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + dt * self.per_second < self.burst
            });
            if self.buckets.len() >= self.max_keys {
                return Err(Duration::from_secs(60));
            }
        }
        let mut b = self.buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        self.refill(&mut b, now);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / self.per_second;
            Err(Duration::from_secs_f64(wait.max(1.0)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_refill() {
        let l = RateLimiter::new(3, 60, 100);
        for _ in 0..3 {
            assert!(l.try_take("a").is_ok());
        }
        assert!(l.try_take("a").is_err());
        assert!(l.try_take("b").is_ok(), "keys are independent");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.try_take("a").is_ok(), "one token per second at 60/min");
        assert!(l.try_take("a").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_key_count() {
        let l = RateLimiter::new(1, 1, 2);
        assert!(l.try_take("a").is_ok());
        assert!(l.try_take("b").is_ok());
        assert!(l.try_take("c").is_err(), "map full of drained buckets");
    }
}
