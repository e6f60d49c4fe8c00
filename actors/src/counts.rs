//! Live-actor counters: a guard kept in each actor's state increments on creation and
//! decrements when the state is dropped (normal stop, panic or kill alike), so the counts are
//! exact even when `post_stop` does not run. Also the gauges of `crate::metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::metrics;

/// Which kind of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorKind {
    /// `TenantActor`.
    Tenant,
    /// `DeviceActor`.
    Device,
    /// `SessionActor`.
    Session,
}

impl ActorKind {
    fn label(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Device => "device",
            Self::Session => "session",
        }
    }
}

/// Live actors and queued messages per kind.
#[derive(Debug, Default)]
pub struct ActorCounts {
    live: [AtomicI64; 3],
    queued: [AtomicI64; 3],
}

/// A snapshot of [`ActorCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountSnapshot {
    /// Tenant actors alive.
    pub tenants: i64,
    /// Device actors alive.
    pub devices: i64,
    /// Session actors alive.
    pub sessions: i64,
}

fn ix(kind: ActorKind) -> usize {
    match kind {
        ActorKind::Tenant => 0,
        ActorKind::Device => 1,
        ActorKind::Session => 2,
    }
}

impl ActorCounts {
    /// Current values.
    pub fn snapshot(&self) -> CountSnapshot {
        let get = |k| self.live[ix(k)].load(Ordering::Relaxed);
        CountSnapshot {
            tenants: get(ActorKind::Tenant),
            devices: get(ActorKind::Device),
            sessions: get(ActorKind::Session),
        }
    }

    /// Messages sent to actors of `kind` and not handled yet.
    pub fn mailbox_depth(&self, kind: ActorKind) -> i64 {
        self.queued[ix(kind)].load(Ordering::Relaxed)
    }

    pub(crate) fn sent(&self, kind: ActorKind) {
        let v = self.queued[ix(kind)].fetch_add(1, Ordering::Relaxed) + 1;
        ::metrics::gauge!(metrics::MAILBOX_DEPTH, "kind" => kind.label()).set(v as f64);
    }

    pub(crate) fn handled(&self, kind: ActorKind) {
        let v = self.queued[ix(kind)].fetch_sub(1, Ordering::Relaxed) - 1;
        ::metrics::gauge!(metrics::MAILBOX_DEPTH, "kind" => kind.label()).set(v as f64);
    }

    pub(crate) fn failed(&self, kind: ActorKind) {
        ::metrics::counter!(metrics::ACTOR_FAILURES_TOTAL, "kind" => kind.label()).increment(1);
    }
}

/// Kept in an actor's state; counts the actor alive until dropped.
#[derive(Debug)]
pub struct LiveGuard {
    counts: Arc<ActorCounts>,
    kind: ActorKind,
}

impl LiveGuard {
    pub(crate) fn new(counts: &Arc<ActorCounts>, kind: ActorKind) -> Self {
        let v = counts.live[ix(kind)].fetch_add(1, Ordering::Relaxed) + 1;
        ::metrics::gauge!(metrics::ACTORS, "kind" => kind.label()).set(v as f64);
        Self {
            counts: Arc::clone(counts),
            kind,
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let v = self.counts.live[ix(self.kind)].fetch_sub(1, Ordering::Relaxed) - 1;
        ::metrics::gauge!(metrics::ACTORS, "kind" => self.kind.label()).set(v as f64);
    }
}

/// Aborts a background task (timer, watcher) when dropped, so a stopped or panicked actor
/// leaves none behind.
#[derive(Debug, Default)]
pub struct TaskGuard(Option<tokio::task::AbortHandle>);

impl TaskGuard {
    pub(crate) fn new(handle: tokio::task::AbortHandle) -> Self {
        Self(Some(handle))
    }

    pub(crate) fn cancel(&mut self) {
        if let Some(h) = self.0.take() {
            h.abort();
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A message on its way to an actor of some kind: counted in the mailbox depth from sending
/// until it is handled or dropped with the mailbox.
#[derive(Debug)]
pub struct Envelope<M> {
    pub(crate) msg: M,
    _token: QueueToken,
}

#[derive(Debug)]
struct QueueToken {
    counts: Arc<ActorCounts>,
    kind: ActorKind,
}

impl Drop for QueueToken {
    fn drop(&mut self) {
        self.counts.handled(self.kind);
    }
}

impl<M> Envelope<M> {
    pub(crate) fn new(counts: &Arc<ActorCounts>, kind: ActorKind, msg: M) -> Self {
        counts.sent(kind);
        Self {
            msg,
            _token: QueueToken {
                counts: Arc::clone(counts),
                kind,
            },
        }
    }
}
