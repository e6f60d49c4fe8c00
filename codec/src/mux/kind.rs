//! Channel identifiers, channel kinds and close reasons: the small vocabulary of the mux.
//!
//! Only names and numbers live here; what a channel does with them is in `engine.rs`.

use std::fmt;

/// Identifies a channel within one end-to-end session.
///
/// The Guest (Noise initiator) allocates odd ids, the Host even ids, both strictly
/// increasing and never reused. Id 0 is the connection itself (keep-alives).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(u32);

impl ChannelId {
    /// The connection-level id carried by `Ping`/`Pong`.
    pub const CONNECTION: Self = Self(0);

    /// Wraps a raw id.
    pub const fn new(id: u32) -> Self {
        Self(id)
    }

    /// The raw id.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "channel {}", self.0)
    }
}

/// What a channel carries. Numbers are stable on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// Endpoint-to-endpoint control messages (0).
    Control,
    /// One TCP stream tunnelled through the session (1); metadata names the target.
    Tunnel,
    /// Reserved: screen sharing (2). Refused by this version.
    Screen,
    /// Reserved: remote keyboard and mouse (3). Refused by this version.
    Input,
    /// Reserved: clipboard transfer (4). Refused by this version.
    Clipboard,
    /// Reserved: file transfer (5). Refused by this version.
    FileTransfer,
    /// A number this version does not know; refused.
    Unknown(u8),
}

impl ChannelKind {
    /// The wire number.
    pub const fn number(self) -> u8 {
        match self {
            Self::Control => 0,
            Self::Tunnel => 1,
            Self::Screen => 2,
            Self::Input => 3,
            Self::Clipboard => 4,
            Self::FileTransfer => 5,
            Self::Unknown(n) => n,
        }
    }

    /// Maps a wire number to a kind (unknown numbers are kept as [`ChannelKind::Unknown`]).
    pub const fn from_number(n: u8) -> Self {
        match n {
            0 => Self::Control,
            1 => Self::Tunnel,
            2 => Self::Screen,
            3 => Self::Input,
            4 => Self::Clipboard,
            5 => Self::FileTransfer,
            other => Self::Unknown(other),
        }
    }

    /// Machine name, used in refusal messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Control => "control",
            Self::Tunnel => "tunnel",
            Self::Screen => "screen",
            Self::Input => "input",
            Self::Clipboard => "clipboard",
            Self::FileTransfer => "file_transfer",
            Self::Unknown(_) => "unknown",
        }
    }

    /// True for the kinds this version accepts from a peer.
    pub const fn is_supported(self) -> bool {
        matches!(self, Self::Control | Self::Tunnel)
    }

    /// True for the kinds declared for later versions.
    pub const fn is_reserved(self) -> bool {
        matches!(
            self,
            Self::Screen | Self::Input | Self::Clipboard | Self::FileTransfer
        )
    }
}

/// Why a channel was closed (reset) or refused. Numbers are stable on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Ordinary end, nothing went wrong (0).
    Normal,
    /// The application refused the channel (1).
    Refused,
    /// The channel kind is reserved or unknown to the peer (2).
    UnsupportedKind,
    /// The Host could not reach the tunnel target (3).
    ConnectFailed,
    /// The channel was aborted mid-stream, e.g. the local socket failed (4).
    Aborted,
    /// The peer already holds its maximum number of channels (5).
    TooManyChannels,
    /// The session's permissions do not allow this channel (6).
    NotPermitted,
    /// A number this version does not know.
    Other(u16),
}

impl CloseReason {
    /// The wire number.
    pub const fn number(self) -> u16 {
        match self {
            Self::Normal => 0,
            Self::Refused => 1,
            Self::UnsupportedKind => 2,
            Self::ConnectFailed => 3,
            Self::Aborted => 4,
            Self::TooManyChannels => 5,
            Self::NotPermitted => 6,
            Self::Other(n) => n,
        }
    }

    /// Maps a wire number to a reason.
    pub const fn from_number(n: u16) -> Self {
        match n {
            0 => Self::Normal,
            1 => Self::Refused,
            2 => Self::UnsupportedKind,
            3 => Self::ConnectFailed,
            4 => Self::Aborted,
            5 => Self::TooManyChannels,
            6 => Self::NotPermitted,
            other => Self::Other(other),
        }
    }

    /// Machine name (snake_case).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Refused => "refused",
            Self::UnsupportedKind => "unsupported_kind",
            Self::ConnectFailed => "connect_failed",
            Self::Aborted => "aborted",
            Self::TooManyChannels => "too_many_channels",
            Self::NotPermitted => "not_permitted",
            Self::Other(_) => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for n in 0..=u8::MAX {
            assert_eq!(ChannelKind::from_number(n).number(), n);
        }
        for n in 0..=300 {
            assert_eq!(CloseReason::from_number(n).number(), n);
        }
        assert_eq!(ChannelKind::Control.number(), 0);
        assert_eq!(ChannelKind::Tunnel.number(), 1);
        assert!(ChannelKind::Screen.is_reserved() && !ChannelKind::Screen.is_supported());
    }
}
