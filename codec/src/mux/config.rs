//! Mux configuration: which side allocates which channel ids, windows, limits and keep-alive
//! timers. Checked once by [`MuxConfig::validate`] when a `Mux` is built.

use std::time::Duration;

use super::error::MuxError;
use super::frame::MAX_MUX_FRAME_PAYLOAD;

/// Which end of the session this mux is; decides channel-id parity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MuxRole {
    /// The Guest (Noise initiator): opens odd channel ids.
    Initiator,
    /// The Host (Noise responder): opens even channel ids.
    Responder,
}

impl MuxRole {
    /// The Guest is the initiator, the Host the responder (same as the Noise roles).
    pub const fn for_side(side: crate::ids::Side) -> Self {
        match side {
            crate::ids::Side::Guest => Self::Initiator,
            crate::ids::Side::Host => Self::Responder,
        }
    }
}

/// Smallest accepted `max_frame_payload` (room for any control frame).
pub const MIN_FRAME_PAYLOAD: usize = 1_024;

/// Largest accepted window (it travels as a `u32`).
pub const MAX_WINDOW: u64 = u32::MAX as u64;

/// Longest close message sent; longer messages are cut at a character boundary.
pub const MAX_CLOSE_MESSAGE: usize = 256;

/// Keep-alive interval of an endpoint that reaches the relay over QUIC (`docs/protocol-e2e.md`
/// §2.10): QUIC's own keep-alives hold NAT state and notice a dead path, so the ping only has
/// to beat the relay's idle timeout. A relay `idle_timeout` must stay above it.
pub const QUIC_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// Peer timeout that goes with [`QUIC_KEEPALIVE_INTERVAL`]: three missed pings.
pub const QUIC_PEER_TIMEOUT: Duration = Duration::from_secs(180);

/// Limits and timers of one mux.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MuxConfig {
    /// Which side this is.
    pub role: MuxRole,
    /// Receive window advertised per channel: the peer may have this many unconsumed bytes
    /// in flight. Default 256 KiB.
    pub initial_window: u32,
    /// Live channels at once (both directions together). Default 1024.
    pub max_channels: usize,
    /// Largest frame payload we send (we accept up to 65,535). Default 16 KiB.
    pub max_frame_payload: usize,
    /// Largest `Open` metadata (e.g. a tunnel target). Default 1 KiB.
    pub max_metadata: usize,
    /// Outgoing bytes buffered per channel before `send` accepts fewer. Default 256 KiB.
    pub send_buffer: usize,
    /// Send a `Ping` when nothing was sent for this long. Default 15 s; `None` disables.
    pub keepalive_interval: Option<Duration>,
    /// Fail with `KeepaliveTimeout` when nothing was received for this long. Default 60 s.
    pub peer_timeout: Option<Duration>,
}

impl MuxConfig {
    /// Defaults for the given role.
    pub fn new(role: MuxRole) -> Self {
        Self {
            role,
            initial_window: 256 * 1024,
            max_channels: 1_024,
            max_frame_payload: 16 * 1024,
            max_metadata: 1_024,
            send_buffer: 256 * 1024,
            keepalive_interval: Some(Duration::from_secs(15)),
            peer_timeout: Some(Duration::from_secs(60)),
        }
    }

    /// Checks the limits are consistent.
    pub fn validate(&self) -> Result<(), MuxError> {
        if self.initial_window == 0 {
            return Err(MuxError::InvalidConfig("initial_window must be at least 1"));
        }
        if !(MIN_FRAME_PAYLOAD..=MAX_MUX_FRAME_PAYLOAD).contains(&self.max_frame_payload) {
            return Err(MuxError::InvalidConfig(
                "max_frame_payload must be 1024..=65535",
            ));
        }
        if self
            .max_metadata
            .saturating_add(super::frame::OPEN_FIXED_LEN)
            > self.max_frame_payload
        {
            return Err(MuxError::InvalidConfig(
                "max_metadata does not fit in a frame",
            ));
        }
        if self.max_channels == 0 || self.max_channels > (1 << 20) {
            return Err(MuxError::InvalidConfig("max_channels must be 1..=1048576"));
        }
        if self.send_buffer == 0 {
            return Err(MuxError::InvalidConfig("send_buffer must be at least 1"));
        }
        if self.keepalive_interval.is_some_and(|d| d.is_zero())
            || self.peer_timeout.is_some_and(|d| d.is_zero())
        {
            return Err(MuxError::InvalidConfig("timers must be positive (or None)"));
        }
        Ok(())
    }
}
