//! Session kill switch: the broker ends a session and the relay cuts its pipes.
//!
//! Each session the relay holds (a parked side, then the paired session) watches one
//! cancellation token, a child of the drain-deadline token, registered here by session id.
//! [`Kills::kill`] cancels it and leaves a tombstone with the reason: the parked side is
//! refused with that code, the paired session's engine stops and both sockets close (EOF for
//! both endpoints), the session record carries the reason instead of `draining`, and a side
//! that binds later with a ticket of the killed session is refused with the same code.
//!
//! Bounded: live entries are removed when their session ends; tombstones are kept in
//! insertion order and the oldest is dropped beyond [`MAX_TOMBSTONES`] (tickets live about a
//! minute, so an old tombstone guards nothing). It does no IO and reads no clock.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use switchboard_codec::{ErrorCode, SessionId};
use tokio_util::sync::CancellationToken;

/// Killed session ids remembered at most.
pub(crate) const MAX_TOMBSTONES: usize = 65_536;

#[derive(Debug, Default)]
struct Table {
    live: HashMap<SessionId, CancellationToken>,
    killed: HashMap<SessionId, ErrorCode>,
    order: VecDeque<SessionId>,
}

/// The relay's kill table. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Kills {
    table: Mutex<Table>,
}

impl Kills {
    /// The token `session` watches (created as a child of `parent` on first use).
    pub(crate) fn watch(
        &self,
        session: SessionId,
        parent: &CancellationToken,
    ) -> CancellationToken {
        let mut t = self.table.lock();
        let token = t
            .live
            .entry(session)
            .or_insert_with(|| parent.child_token())
            .clone();
        if t.killed.contains_key(&session) {
            token.cancel();
        }
        token
    }

    /// The session ended at this relay: forget its token (the tombstone stays).
    pub(crate) fn forget(&self, session: &SessionId) {
        self.table.lock().live.remove(session);
    }

    /// Why `session` was killed, if it was.
    pub(crate) fn reason(&self, session: &SessionId) -> Option<ErrorCode> {
        self.table.lock().killed.get(session).copied()
    }

    /// Kills `session` with `reason`; true when something was running (parked or paired).
    pub(crate) fn kill(&self, session: SessionId, reason: ErrorCode) -> bool {
        let mut t = self.table.lock();
        if t.killed.insert(session, reason).is_none() {
            t.order.push_back(session);
            while t.order.len() > MAX_TOMBSTONES {
                if let Some(old) = t.order.pop_front() {
                    t.killed.remove(&old);
                }
            }
        }
        match t.live.get(&session) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Tombstones held (tests, metrics).
    #[cfg(test)]
    pub(crate) fn tombstones(&self) -> usize {
        self.table.lock().killed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_cancels_the_watched_token_and_remembers_why() {
        let k = Kills::default();
        let parent = CancellationToken::new();
        let s = SessionId([7; 16]);
        let token = k.watch(s, &parent);
        assert!(!token.is_cancelled());
        assert!(k.kill(s, ErrorCode::Cancelled));
        assert!(token.is_cancelled());
        assert_eq!(k.reason(&s), Some(ErrorCode::Cancelled));
        // The same session watched again (the second side) is cut at once.
        assert!(k.watch(s, &parent).is_cancelled());
        k.forget(&s);
        assert_eq!(k.reason(&s), Some(ErrorCode::Cancelled));
    }

    #[test]
    fn kill_before_any_bind_leaves_a_tombstone() {
        let k = Kills::default();
        let s = SessionId([1; 16]);
        assert!(!k.kill(s, ErrorCode::AccountDisabled));
        assert!(k.watch(s, &CancellationToken::new()).is_cancelled());
        assert_eq!(k.reason(&s), Some(ErrorCode::AccountDisabled));
    }

    #[test]
    fn drain_deadline_reaches_watched_tokens_and_others_are_untouched() {
        let k = Kills::default();
        let parent = CancellationToken::new();
        let a = k.watch(SessionId([1; 16]), &parent);
        let b = k.watch(SessionId([2; 16]), &parent);
        k.kill(SessionId([1; 16]), ErrorCode::Cancelled);
        assert!(a.is_cancelled() && !b.is_cancelled());
        parent.cancel();
        assert!(b.is_cancelled());
        assert_eq!(k.reason(&SessionId([2; 16])), None);
    }

    #[test]
    fn tombstones_are_bounded() {
        let k = Kills::default();
        for i in 0..(MAX_TOMBSTONES + 10) {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_le_bytes());
            k.kill(SessionId(id), ErrorCode::Cancelled);
        }
        assert_eq!(k.tombstones(), MAX_TOMBSTONES);
        assert_eq!(k.reason(&SessionId([0; 16])), None, "the oldest went first");
    }
}
