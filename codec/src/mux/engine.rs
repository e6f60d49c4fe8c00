//! The [`Mux`]: channel table, peer input (`handle_*`), the local API (`open`, `accept`,
//! `send`, `recv`, `shutdown_write`, `close`), events and keep-alive timers.
//!
//! It enforces the protocol rules (id parity and order, phases, windows) and turns every peer
//! violation into a typed [`MuxError`] after which the mux refuses further work. What goes out
//! next, and in which order, is decided in `scheduler.rs`. No IO, no clock: `now` is an
//! argument.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::channel::{Channel, Phase};
use super::config::{MAX_CLOSE_MESSAGE, MAX_WINDOW, MuxConfig, MuxRole};
use super::error::MuxError;
use super::frame::{MAX_MUX_FRAME_PAYLOAD, MuxFrame};
use super::kind::{ChannelId, ChannelKind, CloseReason};

/// Something the application should act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MuxEvent {
    /// The peer opened a channel: answer with [`Mux::accept`] or [`Mux::close`].
    OpenRequest {
        /// New channel.
        channel: ChannelId,
        /// Its kind (always a supported one; reserved kinds are refused by the mux itself).
        kind: ChannelKind,
        /// Opaque metadata, e.g. a tunnel target.
        metadata: Bytes,
    },
    /// The peer accepted a channel we opened; queued data starts flowing.
    Opened {
        /// Channel.
        channel: ChannelId,
    },
    /// Data or the peer's `Eof` is waiting: call [`Mux::recv`] until it returns
    /// [`Recv::Pending`] (the event is edge-triggered).
    Readable {
        /// Channel.
        channel: ChannelId,
    },
    /// `send` had accepted fewer bytes than offered; there is room again.
    Writable {
        /// Channel.
        channel: ChannelId,
    },
    /// The peer reset or refused the channel; it no longer exists.
    Closed {
        /// Channel.
        channel: ChannelId,
        /// Why.
        reason: CloseReason,
        /// The peer's sentence.
        message: String,
    },
    /// Answer to our keep-alive `Ping`.
    Pong {
        /// Token of the answered ping.
        token: u64,
    },
}

/// Result of [`Mux::recv`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recv {
    /// Bytes, in order.
    Data(Bytes),
    /// Nothing yet; a `Readable` event will follow when there is.
    Pending,
    /// The peer will send no more (half-close); the channel may still send.
    Eof,
}

/// The channel multiplexer of one end-to-end session (sans-IO).
///
/// Feed decrypted bytes to [`handle_input`](Self::handle_input), drain
/// [`poll_event`](Self::poll_event), and seal what [`poll_transmit`](Self::poll_transmit)
/// writes. Drive timers with [`poll_timeout`](Self::poll_timeout) /
/// [`handle_timeout`](Self::handle_timeout).
pub struct Mux {
    pub(super) cfg: MuxConfig,
    pub(super) channels: HashMap<u32, Channel>,
    /// Next id we allocate (u64 so exhaustion is detectable).
    next_local_id: u64,
    /// Highest id the peer opened.
    last_peer_id: u32,
    /// Decrypted bytes not yet decoded into frames.
    rx: BytesMut,
    pub(super) events: VecDeque<MuxEvent>,
    /// Channels owing control frames, in the order they became due.
    pub(super) control: VecDeque<ChannelId>,
    /// Channels with data and window, served round-robin one frame at a time.
    pub(super) ready: VecDeque<ChannelId>,
    pub(super) ping_pending: Option<u64>,
    pub(super) pong_pending: Option<u64>,
    pub(super) ping_outstanding: Option<u64>,
    next_ping_token: u64,
    pub(super) last_sent: Instant,
    last_received: Instant,
    pub(super) failed: bool,
    /// Consumed bytes are granted back once they reach this much.
    credit_threshold: u64,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("role", &self.cfg.role)
            .field("channels", &self.channels.len())
            .field("rx_buffered", &self.rx.len())
            .field("events", &self.events.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Mux {
    /// Builds a mux; `now` starts both keep-alive clocks.
    pub fn new(cfg: MuxConfig, now: Instant) -> Result<Self, MuxError> {
        cfg.validate()?;
        let next_local_id = match cfg.role {
            MuxRole::Initiator => 1,
            MuxRole::Responder => 2,
        };
        let credit_threshold = (u64::from(cfg.initial_window) / 4).max(1);
        Ok(Self {
            cfg,
            channels: HashMap::new(),
            next_local_id,
            last_peer_id: 0,
            rx: BytesMut::new(),
            events: VecDeque::new(),
            control: VecDeque::new(),
            ready: VecDeque::new(),
            ping_pending: None,
            pong_pending: None,
            ping_outstanding: None,
            next_ping_token: 1,
            last_sent: now,
            last_received: now,
            failed: false,
            credit_threshold,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &MuxConfig {
        &self.cfg
    }

    /// Live channels (including ones whose `Close` is still queued).
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// The kind of a live channel.
    pub fn kind(&self, channel: ChannelId) -> Option<ChannelKind> {
        self.channels.get(&channel.get()).map(|c| c.kind)
    }

    /// Bytes `send` would accept now on this channel (0 if unknown or not writable).
    pub fn send_capacity(&self, channel: ChannelId) -> usize {
        match self.channels.get(&channel.get()) {
            Some(c) if c.phase != Phase::Closing && !c.eof_requested => {
                self.cfg.send_buffer.saturating_sub(c.outbound.len())
            }
            _ => 0,
        }
    }

    /// Bytes we may still send on this channel before the peer grants more.
    pub fn send_window(&self, channel: ChannelId) -> Option<u64> {
        self.channels.get(&channel.get()).map(|c| c.send_window)
    }

    /// Bytes received on this channel and not yet read by the application.
    pub fn buffered_inbound(&self, channel: ChannelId) -> Option<usize> {
        self.channels.get(&channel.get()).map(|c| c.inbound_len)
    }

    /// Bytes queued for sending on this channel.
    pub fn buffered_outbound(&self, channel: ChannelId) -> Option<usize> {
        self.channels.get(&channel.get()).map(|c| c.outbound.len())
    }

    /// True once a peer violation or timeout made the mux unusable.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// True when `poll_transmit` may have something to write.
    pub fn wants_transmit(&self) -> bool {
        self.ping_pending.is_some()
            || self.pong_pending.is_some()
            || !self.control.is_empty()
            || !self.ready.is_empty()
    }

    /// Next event, if any.
    pub fn poll_event(&mut self) -> Option<MuxEvent> {
        self.events.pop_front()
    }

    // ---- peer input -------------------------------------------------------------------

    /// Feeds decrypted bytes (any split: frames may span calls). Frames are processed in
    /// order; the first violation fails the mux.
    pub fn handle_input(&mut self, plaintext: &[u8], now: Instant) -> Result<(), MuxError> {
        if self.failed {
            return Err(MuxError::Failed);
        }
        if plaintext.is_empty() {
            return Ok(());
        }
        self.last_received = now;
        self.rx.extend_from_slice(plaintext);
        loop {
            // Any length the 16-bit field allows is accepted (64 KiB bounds the allocation);
            // `max_frame_payload` bounds what we send, so peers need not agree on it.
            let step = match MuxFrame::decode(&mut self.rx, MAX_MUX_FRAME_PAYLOAD) {
                Ok(Some(frame)) => self.handle_frame(frame),
                Ok(None) => return Ok(()),
                Err(err) => Err(err),
            };
            if let Err(err) = step {
                self.failed = true;
                return Err(err);
            }
        }
    }

    fn handle_frame(&mut self, frame: MuxFrame) -> Result<(), MuxError> {
        match frame {
            MuxFrame::Open {
                channel,
                kind,
                window,
                metadata,
            } => self.on_open(channel, kind, window, metadata),
            MuxFrame::Accept { channel, window } => self.on_accept(channel, window),
            MuxFrame::Data { channel, data } => self.on_data(channel, data),
            MuxFrame::Eof { channel } => self.on_eof(channel),
            MuxFrame::Close {
                channel,
                reason,
                message,
            } => self.on_close(channel, reason, message),
            MuxFrame::WindowCredit { channel, credit } => self.on_credit(channel, credit),
            MuxFrame::Ping { token } => {
                self.pong_pending = Some(token);
                Ok(())
            }
            MuxFrame::Pong { token } => {
                if self.ping_outstanding == Some(token) {
                    self.ping_outstanding = None;
                    self.events.push_back(MuxEvent::Pong { token });
                }
                Ok(())
            }
        }
    }

    fn is_local(&self, id: u32) -> bool {
        (id % 2 == 1) == (self.cfg.role == MuxRole::Initiator)
    }

    /// A frame for a channel not in the table: fine if the id was used before (a late frame
    /// after we removed it), a violation otherwise.
    fn stale(&self, channel: ChannelId, frame_type: &'static str) -> Result<(), MuxError> {
        let id = channel.get();
        let used = if self.is_local(id) {
            u64::from(id) < self.next_local_id
        } else {
            id <= self.last_peer_id
        };
        if used {
            Ok(())
        } else {
            Err(MuxError::UnexpectedFrame {
                frame_type,
                channel,
                why: "on a channel never opened",
            })
        }
    }

    fn on_open(
        &mut self,
        channel: ChannelId,
        kind: ChannelKind,
        window: u32,
        metadata: Bytes,
    ) -> Result<(), MuxError> {
        let id = channel.get();
        if self.is_local(id) {
            return Err(MuxError::BadChannelId {
                channel,
                why: "it has the other side's parity",
            });
        }
        if id <= self.last_peer_id {
            return Err(MuxError::BadChannelId {
                channel,
                why: "ids must strictly increase",
            });
        }
        self.last_peer_id = id;
        let max = self.cfg.max_channels;
        if self.channels.len() >= max.saturating_mul(2) {
            return Err(MuxError::TooManyChannels { max });
        }
        if metadata.len() > self.cfg.max_metadata {
            let message = format!(
                "channel metadata of {} bytes exceeds this peer's limit of {}",
                metadata.len(),
                self.cfg.max_metadata
            );
            self.refuse_new(channel, kind, CloseReason::Refused, message);
        } else if self.channels.len() >= max {
            let message = format!("the peer already has its maximum of {max} channels open");
            self.refuse_new(channel, kind, CloseReason::TooManyChannels, message);
        } else if !kind.is_supported() {
            let message = if kind.is_reserved() {
                format!(
                    "channel kind {} ({}) is reserved and not supported yet by this peer",
                    kind.name(),
                    kind.number()
                )
            } else {
                format!("channel kind {} is unknown to this peer", kind.number())
            };
            self.refuse_new(channel, kind, CloseReason::UnsupportedKind, message);
        } else {
            let mut ch = Channel::new(kind, Phase::PendingAccept);
            ch.send_window = u64::from(window);
            self.channels.insert(id, ch);
            self.events.push_back(MuxEvent::OpenRequest {
                channel,
                kind,
                metadata,
            });
        }
        Ok(())
    }

    fn refuse_new(
        &mut self,
        channel: ChannelId,
        kind: ChannelKind,
        reason: CloseReason,
        message: String,
    ) {
        let mut ch = Channel::new(kind, Phase::Closing);
        ch.close_pending = Some((reason, message));
        self.channels.insert(channel.get(), ch);
        self.mark_control(channel);
    }

    fn on_accept(&mut self, channel: ChannelId, window: u32) -> Result<(), MuxError> {
        let local = self.is_local(channel.get());
        let Some(ch) = self.channels.get_mut(&channel.get()) else {
            return self.stale(channel, "Accept");
        };
        if local && ch.phase == Phase::Closing {
            return Ok(());
        }
        if !local || ch.phase != Phase::Opening || ch.open_pending.is_some() {
            return Err(MuxError::UnexpectedFrame {
                frame_type: "Accept",
                channel,
                why: "unless we opened the channel and await acceptance",
            });
        }
        ch.phase = Phase::Open;
        ch.send_window = u64::from(window);
        let (ready, control) = (ch.can_send_data(), ch.eof_ready());
        self.events.push_back(MuxEvent::Opened { channel });
        if ready {
            self.mark_ready(channel);
        }
        if control {
            self.mark_control(channel);
        }
        Ok(())
    }

    fn on_data(&mut self, channel: ChannelId, data: Bytes) -> Result<(), MuxError> {
        let Some(ch) = self.channels.get_mut(&channel.get()) else {
            return self.stale(channel, "Data");
        };
        match ch.phase {
            Phase::Closing => return Ok(()),
            Phase::Open => {}
            Phase::Opening | Phase::PendingAccept => {
                return Err(MuxError::UnexpectedFrame {
                    frame_type: "Data",
                    channel,
                    why: "before the channel was accepted",
                });
            }
        }
        if ch.peer_eof {
            return Err(MuxError::UnexpectedFrame {
                frame_type: "Data",
                channel,
                why: "after the peer's Eof",
            });
        }
        let len = data.len();
        let len64 = u64::try_from(len).unwrap_or(u64::MAX);
        if len64 > ch.recv_window {
            return Err(MuxError::FlowControlViolation {
                channel,
                len,
                window: ch.recv_window,
            });
        }
        ch.recv_window -= len64;
        ch.inbound_len = ch.inbound_len.saturating_add(len);
        ch.inbound.push_back(data);
        if !ch.readable_signalled {
            ch.readable_signalled = true;
            self.events.push_back(MuxEvent::Readable { channel });
        }
        Ok(())
    }

    fn on_eof(&mut self, channel: ChannelId) -> Result<(), MuxError> {
        let Some(ch) = self.channels.get_mut(&channel.get()) else {
            return self.stale(channel, "Eof");
        };
        match ch.phase {
            Phase::Closing => return Ok(()),
            Phase::Opening => {
                return Err(MuxError::UnexpectedFrame {
                    frame_type: "Eof",
                    channel,
                    why: "before the peer accepted the channel",
                });
            }
            Phase::PendingAccept | Phase::Open => {}
        }
        if ch.peer_eof {
            return Err(MuxError::UnexpectedFrame {
                frame_type: "Eof",
                channel,
                why: "twice",
            });
        }
        ch.peer_eof = true;
        if !ch.readable_signalled {
            ch.readable_signalled = true;
            self.events.push_back(MuxEvent::Readable { channel });
        }
        Ok(())
    }

    fn on_close(
        &mut self,
        channel: ChannelId,
        reason: CloseReason,
        message: String,
    ) -> Result<(), MuxError> {
        let Some(ch) = self.channels.get(&channel.get()) else {
            return self.stale(channel, "Close");
        };
        if ch.phase == Phase::Closing {
            return Ok(());
        }
        self.channels.remove(&channel.get());
        self.events.push_back(MuxEvent::Closed {
            channel,
            reason,
            message,
        });
        Ok(())
    }

    fn on_credit(&mut self, channel: ChannelId, credit: u32) -> Result<(), MuxError> {
        let Some(ch) = self.channels.get_mut(&channel.get()) else {
            return self.stale(channel, "WindowCredit");
        };
        match ch.phase {
            Phase::Closing => return Ok(()),
            Phase::Opening => {
                return Err(MuxError::UnexpectedFrame {
                    frame_type: "WindowCredit",
                    channel,
                    why: "before the peer accepted the channel",
                });
            }
            Phase::PendingAccept | Phase::Open => {}
        }
        let window = ch.send_window.saturating_add(u64::from(credit));
        if window > MAX_WINDOW {
            return Err(MuxError::WindowOverflow(channel));
        }
        ch.send_window = window;
        if ch.can_send_data() {
            self.mark_ready(channel);
        }
        Ok(())
    }

    // ---- local API --------------------------------------------------------------------

    fn check_alive(&self) -> Result<(), MuxError> {
        if self.failed {
            Err(MuxError::Failed)
        } else {
            Ok(())
        }
    }

    fn channel_mut(&mut self, channel: ChannelId) -> Result<&mut Channel, MuxError> {
        self.channels
            .get_mut(&channel.get())
            .ok_or(MuxError::UnknownChannel(channel))
    }

    /// Opens a channel towards the peer. Data may be queued at once; it flows after the
    /// peer accepts (`MuxEvent::Opened`) or is dropped if it refuses (`MuxEvent::Closed`).
    pub fn open(&mut self, kind: ChannelKind, metadata: &[u8]) -> Result<ChannelId, MuxError> {
        self.check_alive()?;
        if metadata.len() > self.cfg.max_metadata {
            return Err(MuxError::MetadataTooLarge {
                len: metadata.len(),
                max: self.cfg.max_metadata,
            });
        }
        if self.channels.len() >= self.cfg.max_channels {
            return Err(MuxError::TooManyChannels {
                max: self.cfg.max_channels,
            });
        }
        let id = u32::try_from(self.next_local_id).map_err(|_| MuxError::ChannelIdsExhausted)?;
        self.next_local_id = self.next_local_id.saturating_add(2);
        let channel = ChannelId::new(id);
        let mut ch = Channel::new(kind, Phase::Opening);
        ch.recv_window = u64::from(self.cfg.initial_window);
        ch.open_pending = Some(Bytes::copy_from_slice(metadata));
        self.channels.insert(id, ch);
        self.mark_control(channel);
        Ok(channel)
    }

    /// Accepts a channel announced by `MuxEvent::OpenRequest`.
    pub fn accept(&mut self, channel: ChannelId) -> Result<(), MuxError> {
        self.check_alive()?;
        let window = u64::from(self.cfg.initial_window);
        let ch = self.channel_mut(channel)?;
        if ch.phase != Phase::PendingAccept {
            return Err(MuxError::InvalidState {
                channel,
                why: "not awaiting acceptance",
            });
        }
        ch.phase = Phase::Open;
        ch.recv_window = window;
        ch.accept_pending = true;
        let ready = ch.can_send_data();
        self.mark_control(channel);
        if ready {
            self.mark_ready(channel);
        }
        Ok(())
    }

    /// Resets a channel in both directions, or refuses one awaiting acceptance. Queued data
    /// in both directions is dropped. Closing a closed channel again does nothing.
    pub fn close(
        &mut self,
        channel: ChannelId,
        reason: CloseReason,
        message: &str,
    ) -> Result<(), MuxError> {
        self.check_alive()?;
        let ch = self.channel_mut(channel)?;
        if ch.phase == Phase::Closing {
            return Ok(());
        }
        if ch.open_pending.is_some() {
            // The peer never heard of it: forget it silently.
            self.channels.remove(&channel.get());
            return Ok(());
        }
        ch.phase = Phase::Closing;
        ch.outbound.clear();
        ch.inbound.clear();
        ch.inbound_len = 0;
        ch.accept_pending = false;
        ch.credit_pending = 0;
        ch.close_pending = Some((reason, truncate_message(message)));
        self.mark_control(channel);
        Ok(())
    }

    /// Queues bytes for the peer; returns how many were accepted (bounded by the per-channel
    /// send buffer). A short count means "full": wait for `MuxEvent::Writable`.
    pub fn send(&mut self, channel: ChannelId, data: &[u8]) -> Result<usize, MuxError> {
        self.check_alive()?;
        let limit = self.cfg.send_buffer;
        let ch = self.channel_mut(channel)?;
        if ch.phase == Phase::Closing {
            return Err(MuxError::InvalidState {
                channel,
                why: "the channel is closed",
            });
        }
        if ch.eof_requested {
            return Err(MuxError::InvalidState {
                channel,
                why: "the write side was shut down",
            });
        }
        let room = limit.saturating_sub(ch.outbound.len());
        let n = room.min(data.len());
        if n < data.len() {
            ch.writer_blocked = true;
        }
        ch.outbound
            .extend_from_slice(data.get(..n).unwrap_or_default());
        if ch.can_send_data() {
            self.mark_ready(channel);
        }
        Ok(n)
    }

    /// Half-closes: no more data from us on this channel (sent after the queued data).
    pub fn shutdown_write(&mut self, channel: ChannelId) -> Result<(), MuxError> {
        self.check_alive()?;
        let ch = self.channel_mut(channel)?;
        if ch.phase == Phase::Closing {
            return Err(MuxError::InvalidState {
                channel,
                why: "the channel is closed",
            });
        }
        ch.eof_requested = true;
        if ch.eof_ready() {
            self.mark_control(channel);
        }
        Ok(())
    }

    /// Reads up to `max` bytes (at least 1) received on the channel. Reading grants the peer
    /// credit for what was read. After `Recv::Eof` the peer sends no more; once our side has
    /// also sent `Eof`, the channel is gone.
    pub fn recv(&mut self, channel: ChannelId, max: usize) -> Result<Recv, MuxError> {
        self.check_alive()?;
        let threshold = self.credit_threshold;
        let ch = self.channel_mut(channel)?;
        if ch.phase == Phase::Closing {
            return Err(MuxError::InvalidState {
                channel,
                why: "the channel is closed",
            });
        }
        if let Some(front) = ch.inbound.front_mut() {
            let max = max.max(1);
            let data = if front.len() <= max {
                ch.inbound.pop_front().unwrap_or_default()
            } else {
                front.split_to(max)
            };
            ch.inbound_len = ch.inbound_len.saturating_sub(data.len());
            let mut grant = false;
            if !ch.peer_eof {
                let n = u64::try_from(data.len()).unwrap_or(u64::MAX);
                ch.consumed_uncredited = ch.consumed_uncredited.saturating_add(n);
                if ch.consumed_uncredited >= threshold {
                    let credit = std::mem::take(&mut ch.consumed_uncredited);
                    ch.credit_pending = ch.credit_pending.saturating_add(credit);
                    ch.recv_window = ch.recv_window.saturating_add(credit);
                    grant = true;
                }
            }
            if grant {
                self.mark_control(channel);
            }
            return Ok(Recv::Data(data));
        }
        if ch.peer_eof {
            ch.eof_delivered = true;
            self.finish_if_done(channel);
            return Ok(Recv::Eof);
        }
        ch.readable_signalled = false;
        Ok(Recv::Pending)
    }

    // ---- keep-alive -------------------------------------------------------------------

    /// Queues a `Ping` now; returns its token (a matching `MuxEvent::Pong` follows).
    pub fn ping(&mut self) -> u64 {
        let token = self.next_ping_token;
        self.next_ping_token = self.next_ping_token.wrapping_add(1);
        self.ping_pending = Some(token);
        token
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keepalive = match (self.cfg.keepalive_interval, self.ping_pending) {
            (Some(interval), None) => self.last_sent.checked_add(interval),
            _ => None,
        };
        let dead = self
            .cfg
            .peer_timeout
            .and_then(|t| self.last_received.checked_add(t));
        match (keepalive, dead) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on timers: queues a keep-alive `Ping` after `keepalive_interval` without sending,
    /// fails with `KeepaliveTimeout` after `peer_timeout` without receiving.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), MuxError> {
        self.check_alive()?;
        if let Some(timeout) = self.cfg.peer_timeout
            && now.saturating_duration_since(self.last_received) >= timeout
        {
            self.failed = true;
            return Err(MuxError::KeepaliveTimeout);
        }
        if let Some(interval) = self.cfg.keepalive_interval
            && self.ping_pending.is_none()
            && now.saturating_duration_since(self.last_sent) >= interval
        {
            self.ping();
        }
        Ok(())
    }

    // ---- shared helpers (also used by the scheduler) -----------------------------------

    pub(super) fn mark_ready(&mut self, channel: ChannelId) {
        if let Some(ch) = self.channels.get_mut(&channel.get())
            && !ch.in_ready
        {
            ch.in_ready = true;
            self.ready.push_back(channel);
        }
    }

    pub(super) fn mark_control(&mut self, channel: ChannelId) {
        if let Some(ch) = self.channels.get_mut(&channel.get())
            && !ch.in_control
        {
            ch.in_control = true;
            self.control.push_back(channel);
        }
    }

    /// Removes a channel whose both directions ended and were delivered.
    pub(super) fn finish_if_done(&mut self, channel: ChannelId) {
        if self
            .channels
            .get(&channel.get())
            .is_some_and(Channel::is_finished)
        {
            self.channels.remove(&channel.get());
        }
    }
}

/// Cuts a close message to [`MAX_CLOSE_MESSAGE`] bytes at a character boundary.
fn truncate_message(message: &str) -> String {
    let mut end = message.len().min(MAX_CLOSE_MESSAGE);
    while !message.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    message.get(..end).unwrap_or_default().to_owned()
}
