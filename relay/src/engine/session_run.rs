//! One paired session's engine under its supervisor, as a single plain future.
//!
//! [`SessionRun`] owns everything a forwarded session needs (sockets or streams, leftovers,
//! limits, counters, the drain/kill token) exactly once: no async-fn layers that each keep
//! their own copy of the arguments, which is most of what an idle session used to cost. It
//! resolves to the session's [`ForwardOutcome`] when the engine ends, the idle timeout
//! passes (`idle_timeout`) or the shutdown token is cancelled (`draining`, checked first),
//! and it drops the engine — closing both sides — before it resolves.
//!
//! It chooses nothing and forwards nothing itself: `mod.rs` picks the body (the poll-driven
//! `tcp_forward.rs` for `splice`/`copy`, a boxed future for `uring` and QUIC pairings).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use super::tcp_forward::TcpForward;
use super::{CloseReason, EngineError, EngineKind, ForwardCounters, ForwardOutcome, outcome};

/// A running engine that is not the poll-driven TCP one.
pub(crate) type BoxedEngine =
    Pin<Box<dyn Future<Output = Result<(), EngineError>> + Send + 'static>>;

/// What forwards the bytes.
// The TCP body is inline on purpose: it is the common case, and an idle session should cost
// one allocation (its task), not a second one for its engine.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Body {
    /// `splice` or `copy` between two TCP sockets.
    Tcp(TcpForward),
    /// `uring`, or `copy` over a QUIC stream.
    Boxed(BoxedEngine),
    /// Ended: the sockets are closed.
    Ended,
}

/// A forwarded session; await it for its outcome. See the module documentation.
pub struct SessionRun {
    body: Body,
    engine: EngineKind,
    counters: Arc<ForwardCounters>,
    idle_timeout: Option<Duration>,
    idle: Option<Pin<Box<Sleep>>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl fmt::Debug for SessionRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = match &self.body {
            Body::Tcp(_) => "tcp",
            Body::Boxed(_) => "boxed",
            Body::Ended => "ended",
        };
        f.debug_struct("SessionRun")
            .field("engine", &self.engine)
            .field("body", &body)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl SessionRun {
    pub(crate) fn new(
        body: Body,
        engine: EngineKind,
        counters: Arc<ForwardCounters>,
        idle_timeout: Option<Duration>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            body,
            engine,
            counters,
            idle_timeout,
            idle: None,
            cancelled: Box::pin(shutdown.cancelled_owned()),
        }
    }

    /// Live byte counters of this session.
    pub fn counters(&self) -> &Arc<ForwardCounters> {
        &self.counters
    }

    fn poll_reason(&mut self, cx: &mut Context<'_>) -> Poll<CloseReason> {
        if self.cancelled.as_mut().poll(cx).is_ready() {
            return Poll::Ready(CloseReason::Draining);
        }
        if let Some(timeout) = self.idle_timeout {
            let sleep = self
                .idle
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
            // Re-armed only when it fires: activity is read from the counters then.
            while sleep.as_mut().poll(cx).is_ready() {
                let now = Instant::now();
                let idle = self.counters.idle_for(now);
                if idle >= timeout {
                    return Poll::Ready(CloseReason::IdleTimeout);
                }
                sleep.as_mut().reset(now + timeout.saturating_sub(idle));
            }
        }
        let result = match &mut self.body {
            Body::Tcp(t) => ready!(Pin::new(t).poll(cx)),
            Body::Boxed(f) => ready!(f.as_mut().poll(cx)),
            Body::Ended => return Poll::Pending,
        };
        Poll::Ready(match result {
            Ok(()) => CloseReason::Completed,
            Err(e) => {
                tracing::debug!(error = %e, "session ended by a socket error");
                CloseReason::PeerError(e.peer)
            }
        })
    }
}

impl Future for SessionRun {
    type Output = ForwardOutcome;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ForwardOutcome> {
        let me = self.get_mut();
        let reason = ready!(me.poll_reason(cx));
        // Close both sides before anyone reads the outcome.
        me.body = Body::Ended;
        me.idle = None;
        Poll::Ready(outcome(&me.counters, reason, me.engine))
    }
}
