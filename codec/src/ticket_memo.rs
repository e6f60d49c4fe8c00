//! Tickets this process signed and no relay has taken yet, so that a relay in the same
//! process (`switchboard serve`) accepts them by an exact byte comparison instead of an
//! ed25519 verification (~50 µs, two per session setup).
//!
//! A lookup matches the whole signed ticket (body and signature) that the signer produced,
//! so nothing the signer did not issue is ever accepted this way, and a taken ticket is
//! removed (a second presentation is verified normally; replay is the relay's nonce cache's
//! job either way). It holds at most [`ISSUED_CAPACITY`] tickets and forgets the oldest first:
//! a forgotten ticket is simply verified. A relay in another process never sees this memo.

use std::collections::{HashMap, VecDeque};

use parking_lot::{Mutex, MutexGuard};

use crate::ticket::{SIGNED_TICKET_LEN, TICKET_BODY_LEN};

/// Tickets remembered at most (outstanding binds: a few per session in setup).
pub const ISSUED_CAPACITY: usize = 8192;

type Signature = [u8; SIGNED_TICKET_LEN - TICKET_BODY_LEN];
type Body = [u8; TICKET_BODY_LEN];

/// Signed tickets waiting to be taken by an in-process relay.
#[derive(Debug, Default)]
pub struct IssuedTickets {
    inner: Mutex<Issued>,
}

#[derive(Debug, Default)]
struct Issued {
    by_signature: HashMap<Signature, Body>,
    order: VecDeque<Signature>,
}

fn split(signed: &[u8]) -> Option<(Signature, Body)> {
    if signed.len() != SIGNED_TICKET_LEN {
        return None;
    }
    let (body, signature) = signed.split_at(TICKET_BODY_LEN);
    Some((signature.try_into().ok()?, body.try_into().ok()?))
}

impl IssuedTickets {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Issued> {
        self.inner.lock()
    }

    /// Remembers a ticket the signer just produced (forgetting the oldest beyond capacity).
    pub fn remember(&self, signed: &[u8]) {
        let Some((signature, body)) = split(signed) else {
            return;
        };
        let mut m = self.lock();
        while m.order.len() >= ISSUED_CAPACITY {
            if let Some(old) = m.order.pop_front() {
                m.by_signature.remove(&old);
            }
        }
        if m.by_signature.insert(signature, body).is_none() {
            m.order.push_back(signature);
        }
    }

    /// `true` (and forgets it) when `signed` is exactly a ticket remembered here.
    pub fn take(&self, signed: &[u8]) -> bool {
        let Some((signature, body)) = split(signed) else {
            return false;
        };
        let mut m = self.lock();
        if m.by_signature.get(&signature) != Some(&body) {
            return false;
        }
        m.by_signature.remove(&signature);
        // The stale entry in `order` is dropped when it reaches the front.
        true
    }

    /// Tickets remembered now.
    pub fn len(&self) -> usize {
        self.lock().by_signature.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(n: u8) -> Vec<u8> {
        let mut t = vec![n; SIGNED_TICKET_LEN];
        t[0] = 1;
        t
    }

    #[test]
    fn a_remembered_ticket_is_taken_once() {
        let m = IssuedTickets::new();
        m.remember(&ticket(3));
        assert!(m.take(&ticket(3)));
        assert!(!m.take(&ticket(3)), "taken tickets are forgotten");
    }

    #[test]
    fn a_changed_body_or_signature_is_not_taken() {
        let m = IssuedTickets::new();
        m.remember(&ticket(3));
        let mut body = ticket(3);
        body[10] ^= 1;
        assert!(!m.take(&body));
        let mut sig = ticket(3);
        sig[SIGNED_TICKET_LEN - 1] ^= 1;
        assert!(!m.take(&sig));
        assert!(!m.take(&ticket(3)[..SIGNED_TICKET_LEN - 1]));
        assert!(m.take(&ticket(3)), "the original is still there");
    }

    #[test]
    fn the_oldest_are_forgotten_beyond_capacity() {
        let m = IssuedTickets::new();
        let mk = |i: usize| {
            let mut t = ticket(0);
            t[TICKET_BODY_LEN..TICKET_BODY_LEN + 8].copy_from_slice(&(i as u64).to_le_bytes());
            t
        };
        for i in 0..ISSUED_CAPACITY + 10 {
            m.remember(&mk(i));
        }
        assert_eq!(m.len(), ISSUED_CAPACITY);
        assert!(!m.take(&mk(0)));
        assert!(m.take(&mk(ISSUED_CAPACITY + 9)));
    }
}
