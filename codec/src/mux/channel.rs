//! The state of one channel: its phase, both flow-control windows, the outgoing and incoming
//! queues, and which control frames are still owed to the peer.
//!
//! This is plain data with small helpers; the rules that move a channel between phases are in
//! `engine.rs` (peer input and local API) and `scheduler.rs` (what goes out next).

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::kind::{ChannelKind, CloseReason};

/// Where a channel stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// We opened it; the peer has not accepted yet. We may buffer but not send data.
    Opening,
    /// The peer opened it; our application has not accepted yet.
    PendingAccept,
    /// Both sides agreed; data flows within the windows.
    Open,
    /// We reset or refused it; the `Close` frame is queued and the entry goes once it is sent.
    Closing,
}

/// One channel. `Debug` shows sizes and flags, never payload bytes.
pub(crate) struct Channel {
    pub(crate) kind: ChannelKind,
    pub(crate) phase: Phase,
    /// Bytes we may still send before the peer grants more.
    pub(crate) send_window: u64,
    /// Bytes the peer may still send before we grant more.
    pub(crate) recv_window: u64,
    /// Bytes waiting to be sent.
    pub(crate) outbound: BytesMut,
    /// Bytes received and not yet read by the application.
    pub(crate) inbound: VecDeque<Bytes>,
    pub(crate) inbound_len: usize,
    /// Bytes the application consumed that we have not yet granted back as credit.
    pub(crate) consumed_uncredited: u64,

    /// `Open` still to be sent, with its metadata.
    pub(crate) open_pending: Option<Bytes>,
    /// `Accept` still to be sent.
    pub(crate) accept_pending: bool,
    /// Credit still to be sent.
    pub(crate) credit_pending: u64,
    /// The application called `shutdown_write`.
    pub(crate) eof_requested: bool,
    /// Our `Eof` went out.
    pub(crate) eof_sent: bool,
    /// `Close` still to be sent.
    pub(crate) close_pending: Option<(CloseReason, String)>,

    /// The peer sent `Eof`.
    pub(crate) peer_eof: bool,
    /// The application has seen the end of the peer's data.
    pub(crate) eof_delivered: bool,

    /// Queued in the scheduler's data round.
    pub(crate) in_ready: bool,
    /// Queued in the scheduler's control list.
    pub(crate) in_control: bool,
    /// A `Readable` event is outstanding (edge-triggered).
    pub(crate) readable_signalled: bool,
    /// `send` accepted fewer bytes than offered; emit `Writable` when room frees up.
    pub(crate) writer_blocked: bool,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("kind", &self.kind)
            .field("phase", &self.phase)
            .field("send_window", &self.send_window)
            .field("recv_window", &self.recv_window)
            .field("outbound_len", &self.outbound.len())
            .field("inbound_len", &self.inbound_len)
            .field("eof_requested", &self.eof_requested)
            .field("eof_sent", &self.eof_sent)
            .field("peer_eof", &self.peer_eof)
            .finish_non_exhaustive()
    }
}

impl Channel {
    pub(crate) fn new(kind: ChannelKind, phase: Phase) -> Self {
        Self {
            kind,
            phase,
            send_window: 0,
            recv_window: 0,
            outbound: BytesMut::new(),
            inbound: VecDeque::new(),
            inbound_len: 0,
            consumed_uncredited: 0,
            open_pending: None,
            accept_pending: false,
            credit_pending: 0,
            eof_requested: false,
            eof_sent: false,
            close_pending: None,
            peer_eof: false,
            eof_delivered: false,
            in_ready: false,
            in_control: false,
            readable_signalled: false,
            writer_blocked: false,
        }
    }

    /// True when the scheduler could send a data frame now.
    pub(crate) fn can_send_data(&self) -> bool {
        self.phase == Phase::Open && !self.outbound.is_empty() && self.send_window > 0
    }

    /// True when our `Eof` may go out now (all data sent, channel open).
    pub(crate) fn eof_ready(&self) -> bool {
        self.phase == Phase::Open
            && self.eof_requested
            && !self.eof_sent
            && self.outbound.is_empty()
    }

    /// True when the control list has something to send for this channel.
    pub(crate) fn has_control(&self) -> bool {
        self.open_pending.is_some()
            || self.accept_pending
            || self.credit_pending > 0
            || self.close_pending.is_some()
            || self.eof_ready()
    }

    /// True when both directions ended and everything was delivered: the entry can go.
    pub(crate) fn is_finished(&self) -> bool {
        self.phase == Phase::Open
            && self.eof_sent
            && self.peer_eof
            && self.eof_delivered
            && self.inbound_len == 0
            && !self.has_control()
    }
}
