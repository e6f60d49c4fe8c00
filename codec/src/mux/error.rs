//! The mux's error type: malformed frames, protocol violations by the peer, and misuse of the
//! local API. Every peer-caused error is final for the session (close the connection).

use super::kind::ChannelId;

/// Everything that can go wrong in channel multiplexing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MuxError {
    /// A frame type this version does not know.
    #[error("mux frame type {0} is unknown")]
    UnknownFrameType(u8),
    /// The flags byte of a frame was not zero.
    #[error("mux frame type {frame_type} carries flags {flags:#04x}; version 1 requires zero")]
    BadFlags {
        /// Frame type number.
        frame_type: u8,
        /// Flags received.
        flags: u8,
    },
    /// A frame announced more payload than the configured maximum.
    #[error("mux frame payload of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Announced length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// A frame's payload length does not fit its type.
    #[error("mux {frame_type} frame has an invalid payload length {len}")]
    BadFrameLength {
        /// Frame type name.
        frame_type: &'static str,
        /// Announced length.
        len: usize,
    },
    /// A frame used a channel id its type does not allow (0 for channel frames, non-0 for
    /// `Ping`/`Pong`).
    #[error("mux {frame_type} frame on {channel} is not allowed")]
    BadChannelForFrame {
        /// Frame type name.
        frame_type: &'static str,
        /// Channel id used.
        channel: ChannelId,
    },
    /// A `Close` message was not UTF-8.
    #[error("mux close message on {0} is not valid UTF-8")]
    BadCloseMessage(ChannelId),
    /// The peer sent more data than the window it was granted.
    #[error("peer sent {len} bytes on {channel} beyond its window of {window} bytes")]
    FlowControlViolation {
        /// Channel.
        channel: ChannelId,
        /// Bytes in the offending frame.
        len: usize,
        /// Window that remained.
        window: u64,
    },
    /// The peer granted credit that pushes a window past 2^32 − 1 bytes.
    #[error("peer credit on {0} overflows the window limit")]
    WindowOverflow(ChannelId),
    /// The peer opened a channel with an id it may not use.
    #[error("peer opened {channel} with an invalid id: {why}")]
    BadChannelId {
        /// Channel id used.
        channel: ChannelId,
        /// Which rule it broke.
        why: &'static str,
    },
    /// The peer sent a frame the channel's state does not allow.
    #[error("peer sent {frame_type} on {channel}, which is not allowed {why}")]
    UnexpectedFrame {
        /// Frame type name.
        frame_type: &'static str,
        /// Channel.
        channel: ChannelId,
        /// The state that forbids it.
        why: &'static str,
    },
    /// The peer announced more metadata than allowed.
    #[error("channel metadata of {len} bytes exceeds the maximum of {max}")]
    MetadataTooLarge {
        /// Bytes announced or given.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The channel table is full.
    #[error("too many channels (maximum {max})")]
    TooManyChannels {
        /// Configured maximum.
        max: usize,
    },
    /// Nothing was received from the peer for the configured peer timeout.
    #[error("peer silent for longer than the keep-alive timeout")]
    KeepaliveTimeout,
    /// The mux already failed; close the session.
    #[error("mux already failed; close the session")]
    Failed,
    /// The local application named a channel that does not exist (any more).
    #[error("{0} does not exist")]
    UnknownChannel(ChannelId),
    /// The local application tried an operation the channel's state does not allow.
    #[error("{channel}: {why}")]
    InvalidState {
        /// Channel.
        channel: ChannelId,
        /// What is wrong.
        why: &'static str,
    },
    /// Every channel id of this side has been used.
    #[error("channel ids exhausted for this session")]
    ChannelIdsExhausted,
    /// The configuration is unusable.
    #[error("invalid mux configuration: {0}")]
    InvalidConfig(&'static str),
}

impl MuxError {
    /// True when the peer broke the protocol (as opposed to a local misuse or a timeout).
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            Self::UnknownFrameType(_)
                | Self::BadFlags { .. }
                | Self::FrameTooLarge { .. }
                | Self::BadFrameLength { .. }
                | Self::BadChannelForFrame { .. }
                | Self::BadCloseMessage(_)
                | Self::FlowControlViolation { .. }
                | Self::WindowOverflow(_)
                | Self::BadChannelId { .. }
                | Self::UnexpectedFrame { .. }
                | Self::MetadataTooLarge { .. }
                | Self::TooManyChannels { .. }
        )
    }
}
