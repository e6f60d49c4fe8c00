//! What the mux sends next: keep-alives first, then control frames (open, accept, credit,
//! end-of-stream, close) in the order they became due, then data frames round-robin, one frame
//! of at most `max_frame_payload` bytes per channel per turn, so one busy stream cannot starve
//! the others and a channel without window simply sits out.
//!
//! It only writes into the caller's buffer; sealing and sending the bytes is the driver's job.

use std::time::Instant;

use bytes::{BufMut, BytesMut};

use super::channel::{Channel, Phase};
use super::engine::{Mux, MuxEvent};
use super::error::MuxError;
use super::frame::{MUX_HEADER_LEN, MuxFrame, put_header, types};
use super::kind::ChannelId;

impl Mux {
    /// Appends frames to `dst`, about `max_bytes` of them (raised to one full frame if lower),
    /// and returns how many bytes were written (0: nothing to send). Seal them with the Noise
    /// transport and write them out.
    pub fn poll_transmit(
        &mut self,
        dst: &mut BytesMut,
        max_bytes: usize,
        now: Instant,
    ) -> Result<usize, MuxError> {
        if self.failed {
            return Err(MuxError::Failed);
        }
        let start = dst.len();
        let floor = MUX_HEADER_LEN.saturating_add(self.cfg.max_frame_payload);
        let limit = start.saturating_add(max_bytes.max(floor));
        let mut full = self.transmit_keepalive(dst, limit)?;
        if !full {
            full = self.transmit_control(dst, limit)?;
        }
        if !full {
            self.transmit_data(dst, limit);
        }
        let written = dst.len().saturating_sub(start);
        if written > 0 {
            self.last_sent = now;
        }
        Ok(written)
    }

    /// Pong, then Ping. Returns true when the budget is exhausted.
    fn transmit_keepalive(&mut self, dst: &mut BytesMut, limit: usize) -> Result<bool, MuxError> {
        if let Some(token) = self.pong_pending {
            let frame = MuxFrame::Pong { token };
            if !fits(dst, limit, frame.encoded_len()) {
                return Ok(true);
            }
            frame.encode(dst)?;
            self.pong_pending = None;
        }
        if let Some(token) = self.ping_pending {
            let frame = MuxFrame::Ping { token };
            if !fits(dst, limit, frame.encoded_len()) {
                return Ok(true);
            }
            frame.encode(dst)?;
            self.ping_pending = None;
            self.ping_outstanding = Some(token);
        }
        Ok(false)
    }

    /// Control frames per channel, in the order channels became due. Returns true when the
    /// budget is exhausted.
    fn transmit_control(&mut self, dst: &mut BytesMut, limit: usize) -> Result<bool, MuxError> {
        while let Some(&channel) = self.control.front() {
            let Some(ch) = self.channels.get_mut(&channel.get()) else {
                self.control.pop_front();
                continue;
            };
            let frames = control_frames(channel, ch);
            let needed = frames.iter().map(MuxFrame::encoded_len).sum();
            if !fits(dst, limit, needed) {
                return Ok(true);
            }
            self.control.pop_front();
            ch.in_control = false;
            for frame in &frames {
                frame.encode(dst)?;
            }
            let mut closed = false;
            for frame in frames {
                match frame {
                    MuxFrame::Open { .. } => ch.open_pending = None,
                    MuxFrame::Accept { .. } => ch.accept_pending = false,
                    MuxFrame::WindowCredit { credit, .. } => {
                        ch.credit_pending = ch.credit_pending.saturating_sub(u64::from(credit));
                    }
                    MuxFrame::Eof { .. } => ch.eof_sent = true,
                    MuxFrame::Close { .. } => closed = true,
                    MuxFrame::Data { .. } | MuxFrame::Ping { .. } | MuxFrame::Pong { .. } => {}
                }
            }
            if closed {
                self.channels.remove(&channel.get());
                continue;
            }
            let again = ch.has_control();
            if again {
                self.mark_control(channel);
            }
            self.finish_if_done(channel);
        }
        Ok(false)
    }

    /// Data frames, round-robin over channels that have both bytes and window.
    fn transmit_data(&mut self, dst: &mut BytesMut, limit: usize) {
        let max_payload = self.cfg.max_frame_payload;
        let send_buffer = self.cfg.send_buffer;
        while let Some(channel) = self.ready.pop_front() {
            let Some(ch) = self.channels.get_mut(&channel.get()) else {
                continue;
            };
            ch.in_ready = false;
            if !ch.can_send_data() {
                continue;
            }
            let room = limit
                .saturating_sub(dst.len())
                .saturating_sub(MUX_HEADER_LEN);
            let window = usize::try_from(ch.send_window).unwrap_or(usize::MAX);
            let n = ch.outbound.len().min(window).min(max_payload).min(room);
            let Ok(wire_len) = u16::try_from(n) else {
                // Cannot happen (max_payload <= 65,535); keep the channel queued regardless.
                ch.in_ready = true;
                self.ready.push_front(channel);
                return;
            };
            if n == 0 {
                ch.in_ready = true;
                self.ready.push_front(channel);
                return;
            }
            put_header(dst, types::DATA, wire_len, channel);
            let chunk = ch.outbound.split_to(n);
            dst.put_slice(&chunk);
            ch.send_window = ch.send_window.saturating_sub(u64::from(wire_len));
            if ch.writer_blocked && ch.outbound.len() < send_buffer {
                ch.writer_blocked = false;
                self.events.push_back(MuxEvent::Writable { channel });
            }
            if ch.can_send_data() {
                ch.in_ready = true;
                self.ready.push_back(channel);
            } else if ch.eof_ready() {
                if fits(dst, limit, MUX_HEADER_LEN) {
                    put_header(dst, types::EOF, 0, channel);
                    ch.eof_sent = true;
                    self.finish_if_done(channel);
                } else {
                    self.mark_control(channel);
                }
            }
        }
    }
}

fn fits(dst: &BytesMut, limit: usize, len: usize) -> bool {
    dst.len().saturating_add(len) <= limit
}

/// The control frames a channel owes, in wire order.
fn control_frames(channel: ChannelId, ch: &Channel) -> Vec<MuxFrame> {
    let mut frames = Vec::new();
    if let Some((reason, message)) = &ch.close_pending {
        frames.push(MuxFrame::Close {
            channel,
            reason: *reason,
            message: message.clone(),
        });
        return frames;
    }
    if let Some(metadata) = &ch.open_pending {
        let window = u32::try_from(ch.recv_window).unwrap_or(u32::MAX);
        frames.push(MuxFrame::Open {
            channel,
            kind: ch.kind,
            window,
            metadata: metadata.clone(),
        });
    }
    if ch.accept_pending {
        let window = u32::try_from(ch.recv_window).unwrap_or(u32::MAX);
        frames.push(MuxFrame::Accept { channel, window });
    }
    if ch.credit_pending > 0 && ch.phase == Phase::Open && !ch.accept_pending {
        let credit = u32::try_from(ch.credit_pending).unwrap_or(u32::MAX);
        frames.push(MuxFrame::WindowCredit { channel, credit });
    }
    if ch.eof_ready() {
        frames.push(MuxFrame::Eof { channel });
    }
    frames
}
