//! Opening many sessions at once with bounded concurrency (bulk, interactive, and any
//! scenario that holds sessions): devices are used in turn, failures are counted by reason,
//! the setup latency of each success is recorded.
//!
//! It does not run anything inside the sessions.

use tokio::time::Instant;

use futures::StreamExt as _;
use switchboard_codec::DeviceId;

use crate::guests::{GuestPool, OpenedSession};
use crate::progress::Progress;
use crate::results::{ErrorCounts, LatencyRecorder};

/// Where the opens are counted.
#[derive(Debug, Clone, Copy)]
pub struct Tally<'a> {
    /// Setup latency (to ready) of each success.
    pub setup: &'a LatencyRecorder,
    /// Failures by reason.
    pub errors: &'a ErrorCounts,
    /// One unit per open.
    pub progress: &'a Progress,
}

/// Opens `n` sessions, `concurrency` at a time, to `devices` in turn; stops starting new ones
/// at `deadline`. The sessions that opened.
pub async fn open_many(
    guests: &GuestPool,
    devices: &[DeviceId],
    n: usize,
    concurrency: usize,
    deadline: Instant,
    tally: Tally<'_>,
) -> Vec<OpenedSession> {
    let Tally {
        setup,
        errors,
        progress,
    } = tally;
    if devices.is_empty() {
        errors.add_n("no_devices", n as u64);
        return Vec::new();
    }
    futures::stream::iter(0..n)
        .map(|i| {
            let device = devices[i % devices.len()];
            async move {
                if Instant::now() >= deadline {
                    errors.add("not_started_duration_over");
                    return None;
                }
                match guests.open(device).await {
                    Ok(s) => {
                        setup.record(s.timings.ready);
                        progress.inc();
                        Some(s)
                    }
                    Err(e) => {
                        errors.add_guest_error(&e);
                        progress.fail();
                        None
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|s| async move { s })
        .collect()
        .await
}

/// Closes every session, `concurrency` at a time.
pub async fn close_all(sessions: Vec<OpenedSession>, concurrency: usize) {
    futures::stream::iter(sessions)
        .for_each_concurrent(concurrency.max(1), OpenedSession::close)
        .await;
}
