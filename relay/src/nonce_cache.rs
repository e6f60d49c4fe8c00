//! Replay protection: every accepted ticket nonce is remembered until its ticket expires.
//!
//! Bounded: at most `capacity` nonces. Expired entries are dropped before each insert; when
//! the cache is still full the insert is refused (the caller answers `relay_full`), because
//! forgetting a live nonce would reopen a replay window. Time is an argument (Unix ms).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// Why a nonce was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceRefusal {
    /// Seen before and not yet expired.
    Reused,
    /// The cache is full of live nonces.
    Full,
}

/// The cache.
#[derive(Debug)]
pub struct NonceCache {
    capacity: usize,
    live: HashMap<[u8; 16], u64>,
    by_expiry: BinaryHeap<Reverse<(u64, [u8; 16])>>,
}

impl NonceCache {
    /// An empty cache holding at most `capacity` nonces.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            live: HashMap::new(),
            by_expiry: BinaryHeap::new(),
        }
    }

    /// Whether `nonce` is live at `now_ms` (does not record it).
    pub fn contains(&self, nonce: &[u8; 16], now_ms: u64) -> bool {
        self.live.get(nonce).is_some_and(|&exp| exp > now_ms)
    }

    /// Records `nonce` until `expires_ms`, or says why not.
    pub fn insert(
        &mut self,
        nonce: [u8; 16],
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<(), NonceRefusal> {
        self.prune_expired(now_ms);
        if self.live.contains_key(&nonce) {
            return Err(NonceRefusal::Reused);
        }
        if self.live.len() >= self.capacity {
            return Err(NonceRefusal::Full);
        }
        self.live.insert(nonce, expires_ms);
        self.by_expiry.push(Reverse((expires_ms, nonce)));
        Ok(())
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Drops expired entries.
    pub fn prune_expired(&mut self, now_ms: u64) {
        while let Some(Reverse((exp, nonce))) = self.by_expiry.peek().copied() {
            if exp > now_ms {
                break;
            }
            self.by_expiry.pop();
            if self.live.get(&nonce) == Some(&exp) {
                self.live.remove(&nonce);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_reuse_until_expiry_and_bounds_size() {
        let mut c = NonceCache::new(2);
        assert_eq!(c.insert([1; 16], 100, 0), Ok(()));
        assert_eq!(c.insert([1; 16], 100, 50), Err(NonceRefusal::Reused));
        assert!(c.contains(&[1; 16], 99));
        assert_eq!(c.insert([2; 16], 200, 50), Ok(()));
        assert_eq!(c.insert([3; 16], 200, 50), Err(NonceRefusal::Full));
        // At 100 the first nonce has expired: room again, and it could be recorded anew.
        assert_eq!(c.insert([3; 16], 200, 100), Ok(()));
        assert_eq!(c.len(), 2);
        assert!(!c.contains(&[1; 16], 100));
    }
}
