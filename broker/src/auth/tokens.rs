//! Secrets handed out once and kept only as hashes: bearer tokens and MFA tickets.
//!
//! A secret is 32 random bytes, given to the client as unpadded base64url; the store keys its
//! SHA-256, so a memory dump does not yield usable tokens. Each entry expires after the TTL;
//! the store is bounded (expired entries are swept when it is full, then it refuses).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashmap::DashMap;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Why a secret could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The store is full of live entries.
    #[error("too many live sessions")]
    Full,
    /// The random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}

#[derive(Debug)]
struct Entry<T> {
    value: T,
    expires: Instant,
}

/// Hashed secrets with a TTL, mapping to a `T` (who the token is for).
#[derive(Debug)]
pub struct SecretStore<T> {
    map: DashMap<[u8; 32], Entry<T>>,
    ttl: Duration,
    max_entries: usize,
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

impl<T: Clone> SecretStore<T> {
    /// An empty store.
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            map: DashMap::new(),
            ttl,
            max_entries,
        }
    }

    /// The lifetime of new entries.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a new secret for `value`.
    pub fn issue(&self, value: T) -> Result<String, TokenError> {
        let now = Instant::now();
        if self.map.len() >= self.max_entries {
            self.map.retain(|_, e| e.expires > now);
            if self.map.len() >= self.max_entries {
                return Err(TokenError::Full);
            }
        }
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| TokenError::Random(e.to_string()))?;
        let secret = URL_SAFE_NO_PAD.encode(raw);
        self.map.insert(
            digest(&secret),
            Entry {
                value,
                expires: now + self.ttl,
            },
        );
        Ok(secret)
    }

    /// The value of a live secret (an expired one is dropped).
    pub fn get(&self, secret: &str) -> Option<T> {
        let key = digest(secret);
        let now = Instant::now();
        let live = self.map.get(&key).map(|e| {
            if e.expires > now {
                Some(e.value.clone())
            } else {
                None
            }
        })?;
        if live.is_none() {
            self.map.remove(&key);
        }
        live
    }

    /// Changes the value of a live secret in place; `false` if it is gone.
    pub fn update(&self, secret: &str, edit: impl FnOnce(&mut T)) -> bool {
        match self.map.get_mut(&digest(secret)) {
            Some(mut e) if e.expires > Instant::now() => {
                edit(&mut e.value);
                true
            }
            _ => false,
        }
    }

    /// Removes a secret and returns its value if it was live.
    pub fn take(&self, secret: &str) -> Option<T> {
        self.map
            .remove(&digest(secret))
            .filter(|(_, e)| e.expires > Instant::now())
            .map(|(_, e)| e.value)
    }

    /// Removes every entry whose value matches.
    pub fn revoke_where(&self, pred: impl Fn(&T) -> bool) {
        self.map.retain(|_, e| !pred(&e.value));
    }

    /// Live and expired entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokens_expire_and_are_single_lookup_by_hash() {
        let s = SecretStore::new(Duration::from_secs(10), 2);
        let a = s.issue(1u32).unwrap();
        assert_eq!(s.get(&a), Some(1));
        assert_eq!(s.get("not-a-token"), None);
        let _b = s.issue(2).unwrap();
        assert_eq!(s.issue(3), Err(TokenError::Full));
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(s.get(&a), None);
        assert!(s.issue(4).is_ok(), "expired entries are swept when full");
        let c = s.issue(5).unwrap();
        assert_eq!(s.take(&c), Some(5));
        assert_eq!(s.take(&c), None);
    }
}
