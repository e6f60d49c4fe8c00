//! Jittered exponential backoff for reconnect loops: 0.5 s doubling up to a cap, each delay
//! drawn uniformly from the upper half of its step so a fleet of agents does not reconnect in
//! lockstep after a broker restart.
//!
//! It only computes delays; the caller sleeps and calls `reset` after a success.

use std::time::Duration;

/// The first step.
pub const BASE: Duration = Duration::from_millis(500);

/// Reconnect delays.
#[derive(Debug, Clone)]
pub struct Backoff {
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Delays doubling from 0.5 s up to `cap` (at least 0.5 s).
    pub fn new(cap: Duration) -> Self {
        Self {
            cap: cap.max(BASE),
            attempt: 0,
        }
    }

    /// Back to the first step (after a successful connection).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The un-jittered step of the current attempt.
    pub fn step(&self) -> Duration {
        let factor = 1u32 << self.attempt.min(20);
        BASE.saturating_mul(factor).min(self.cap)
    }

    /// The next delay: uniform in `[step/2, step]`, then the step doubles.
    pub fn next_delay(&mut self) -> Duration {
        let mut r = [0u8; 4];
        let unit = match getrandom::fill(&mut r) {
            Ok(()) => f64::from(u32::from_le_bytes(r)) / f64::from(u32::MAX),
            Err(_) => 1.0,
        };
        let d = self.jittered(unit);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// The delay of the current step for a random `unit` in `[0, 1]`.
    pub fn jittered(&self, unit: f64) -> Duration {
        let step = self.step();
        step.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_within_jitter_bounds() {
        let cap = Duration::from_secs(4);
        let mut b = Backoff::new(cap);
        let steps: Vec<_> = (0..8)
            .map(|_| {
                let s = b.step();
                let d = b.next_delay();
                assert!(d >= s / 2 && d <= s, "{d:?} outside [{:?}, {s:?}]", s / 2);
                s
            })
            .collect();
        let ms: Vec<u128> = steps.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 4000, 4000, 4000, 4000]);
        b.reset();
        assert_eq!(b.step(), BASE);
    }

    #[test]
    fn jitter_spreads_and_is_bounded() {
        let b = Backoff::new(Duration::from_secs(30));
        assert_eq!(b.jittered(0.0), Duration::from_millis(250));
        assert_eq!(b.jittered(1.0), Duration::from_millis(500));
        assert_eq!(b.jittered(7.0), Duration::from_millis(500));
        let mut b = Backoff::new(Duration::from_secs(30));
        let draws: std::collections::BTreeSet<_> = (0..20)
            .map(|_| {
                let mut c = b.clone();
                c.next_delay()
            })
            .collect();
        assert!(draws.len() > 1, "no jitter: {draws:?}");
        // A huge attempt count does not overflow.
        b.attempt = u32::MAX;
        assert!(b.next_delay() <= Duration::from_secs(30));
    }

    #[test]
    fn cap_below_base_is_base() {
        let b = Backoff::new(Duration::ZERO);
        assert_eq!(b.step(), BASE);
    }
}
