//! Session-end records and the sinks that take them.
//!
//! When a paired session ends the relay builds one [`SessionRecord`] (ids, bytes each way,
//! duration, close reason, engine) and hands it to a [`RecordSink`]. `submit` never blocks and
//! never fails the session: sinks queue into a bounded channel and drop (and count, in
//! `switchboard_relay_records_dropped_total`) what does not fit. Sinks here: [`NullSink`],
//! [`ChannelSink`] (in-process, for `switchboard serve`); the Redis stream sink is in
//! `record_redis.rs`.

use std::fmt;

use tokio::sync::mpsc;

use crate::metrics as m;

/// What the relay reports about one ended session. No payload, no addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id (hex).
    pub session_id: String,
    /// Tenant id (hex).
    pub tenant_id: String,
    /// This relay.
    pub relay_id: u64,
    /// Bytes delivered to the Guest.
    pub bytes_host_to_guest: u64,
    /// Bytes delivered to the Host.
    pub bytes_guest_to_host: u64,
    /// From `Ready` to close, in milliseconds.
    pub duration_ms: u64,
    /// Close reason name (`peer_closed`, `idle_timeout`, `draining`, `host_error`, ...).
    pub close_reason: String,
    /// Engine that forwarded (`splice`, `uring`, `copy`).
    pub engine: String,
    /// Whether `splice` fell back to `copy` for lack of pipes.
    pub splice_fallback: bool,
    /// When `Ready` was sent, Unix ms.
    pub started_at_unix_ms: u64,
    /// When the session ended, Unix ms.
    pub ended_at_unix_ms: u64,
}

impl SessionRecord {
    /// Field/value pairs (stable names), as stored in the Redis stream.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("session_id", self.session_id.clone()),
            ("tenant_id", self.tenant_id.clone()),
            ("relay_id", self.relay_id.to_string()),
            ("bytes_host_to_guest", self.bytes_host_to_guest.to_string()),
            ("bytes_guest_to_host", self.bytes_guest_to_host.to_string()),
            ("duration_ms", self.duration_ms.to_string()),
            ("close_reason", self.close_reason.clone()),
            ("engine", self.engine.clone()),
            (
                "splice_fallback",
                u8::from(self.splice_fallback).to_string(),
            ),
            ("started_at_unix_ms", self.started_at_unix_ms.to_string()),
            ("ended_at_unix_ms", self.ended_at_unix_ms.to_string()),
        ]
    }
}

/// Takes session records. `submit` must not block.
pub trait RecordSink: Send + Sync + fmt::Debug {
    /// Queues one record (dropping it, counted, when the sink cannot keep up).
    fn submit(&self, record: SessionRecord);

    /// Both sides of `session` bound and were sent `Ready` (the in-process broker uses it to
    /// mark the session active). Must not block; ignored by default.
    fn paired(&self, _session: switchboard_codec::SessionId) {}
}

/// Drops every record.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl RecordSink for NullSink {
    fn submit(&self, _record: SessionRecord) {}
}

/// Sends records into a bounded in-process channel.
#[derive(Debug, Clone)]
pub struct ChannelSink {
    tx: mpsc::Sender<SessionRecord>,
}

impl ChannelSink {
    /// A sink and the receiver that gets its records (at most `capacity` queued).
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<SessionRecord>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }
}

impl RecordSink for ChannelSink {
    fn submit(&self, record: SessionRecord) {
        if let Err(e) = self.tx.try_send(record) {
            metrics::counter!(m::RECORDS_DROPPED_TOTAL).increment(1);
            tracing::warn!(error = %e, "session record dropped");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64) -> SessionRecord {
        SessionRecord {
            session_id: format!("{i:032x}"),
            tenant_id: "00".repeat(16),
            relay_id: 1,
            bytes_host_to_guest: i,
            bytes_guest_to_host: 0,
            duration_ms: 5,
            close_reason: "peer_closed".into(),
            engine: "copy".into(),
            splice_fallback: false,
            started_at_unix_ms: 1,
            ended_at_unix_ms: 6,
        }
    }

    #[tokio::test]
    async fn channel_sink_is_bounded_and_drops_overflow() {
        let (sink, mut rx) = ChannelSink::new(2);
        for i in 0..5 {
            sink.submit(rec(i));
        }
        assert_eq!(rx.recv().await.unwrap().bytes_host_to_guest, 0);
        assert_eq!(rx.recv().await.unwrap().bytes_host_to_guest, 1);
        assert!(rx.try_recv().is_err());
        assert_eq!(rec(3).fields().len(), 11);
    }
}
