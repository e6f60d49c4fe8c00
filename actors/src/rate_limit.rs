//! A token bucket on `tokio::time::Instant` (so paused test time drives it).
//!
//! Holds no lock and spawns nothing: the owner wraps it in a mutex.

use std::time::Duration;
use tokio::time::Instant;

/// `burst` tokens, refilled at `per_second`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: per_second.max(0.0),
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.try_take_at(Instant::now())
    }

    /// Takes one token at `now`.
    pub fn try_take_at(&mut self, now: Instant) -> bool {
        let elapsed: Duration = now.saturating_duration_since(self.last);
        self.last = now;
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refills_over_time() {
        let mut b = TokenBucket::new(2, 1.0);
        assert!(b.try_take());
        assert!(b.try_take());
        assert!(!b.try_take());
        tokio::time::advance(Duration::from_millis(1100)).await;
        assert!(b.try_take());
        assert!(!b.try_take());
    }
}
