//! `CodecError`: the crate's one error type, for callers that handle any codec failure alike.
//!
//! Each layer keeps its own precise error (`FrameError`, `TicketError`, `MuxError`, ...) so
//! its tests and callers can match exact conditions; this enum gathers them with `From`, so a
//! driver can use `?` across layers and still ask for the `ErrorCode` to send the peer.

use crate::control_handshake::ControlHandshakeError;
use crate::error_code::ErrorCode;
use crate::frame::FrameError;
use crate::message::MessageError;
use crate::mux::MuxError;
use crate::mux::SealedMuxError;
use crate::noise::NoiseError;
use crate::relay_handshake::RelayHandshakeError;
use crate::ticket::{TicketError, TicketKeyError};

/// Any failure of the wire format, the handshakes or the end-to-end channel.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    /// A frame header or length was invalid.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A control message did not decode or encode.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// A session ticket was refused.
    #[error(transparent)]
    Ticket(#[from] TicketError),
    /// A configured ticket public key is not a valid ed25519 key.
    #[error(transparent)]
    TicketKey(#[from] TicketKeyError),
    /// The relay handshake failed.
    #[error(transparent)]
    RelayHandshake(#[from] RelayHandshakeError),
    /// The control handshake failed.
    #[error(transparent)]
    ControlHandshake(#[from] ControlHandshakeError),
    /// The end-to-end Noise channel failed.
    #[error(transparent)]
    Noise(#[from] NoiseError),
    /// The channel multiplexer failed.
    #[error(transparent)]
    Mux(#[from] MuxError),
}

impl From<SealedMuxError> for CodecError {
    fn from(error: SealedMuxError) -> Self {
        match error {
            SealedMuxError::Noise(e) => Self::Noise(e),
            SealedMuxError::Mux(e) => Self::Mux(e),
        }
    }
}

impl CodecError {
    /// The code to send the peer when this error ends a connection: the layer's own code where
    /// it has one; otherwise `protocol_violation` for what the peer sent, `internal` for a
    /// local configuration fault.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Frame(e) => e.code(),
            Self::Message(e) => e.code(),
            Self::Ticket(e) => e.code(),
            Self::RelayHandshake(e) => e.code(),
            Self::ControlHandshake(e) => e.code(),
            Self::TicketKey(_) => ErrorCode::Internal,
            Self::Noise(_) | Self::Mux(_) => ErrorCode::ProtocolViolation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_keep_their_codes() {
        let ticket: CodecError = TicketError::Expired.into();
        assert_eq!(ticket.code(), ErrorCode::TicketExpired);
        let noise: CodecError = SealedMuxError::Noise(NoiseError::Decrypt).into();
        assert_eq!(noise, CodecError::Noise(NoiseError::Decrypt));
        assert_eq!(noise.code(), ErrorCode::ProtocolViolation);
    }
}
