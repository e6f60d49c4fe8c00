//! What the control-connection state machines share: configuration, the error type, the
//! authenticated peer, the domain-separated device-authentication message, and the framed
//! message channel both sides run on.
//!
//! The machines themselves are `ControlAcceptor` (broker side, `control_acceptor.rs`) and
//! `ControlConnector` (agent side, `control_connector.rs`). Nothing here reads a clock or a
//! directory: the driver brings instants, challenges and lookup results.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::error_code::ErrorCode;
use crate::frame::{DEFAULT_MAX_FRAME, FrameDecoder, FrameError, MAX_FRAME_LIMIT};
use crate::ids::DeviceId;
use crate::message::{ControlMessage, MessageError, OnDemandKey};

/// Domain-separation prefix of the message a device signs to answer a challenge.
pub const DEVICE_AUTH_DOMAIN: &[u8] = b"switchboard/device-auth/v1\0";

/// The exact bytes a device signs: `DEVICE_AUTH_DOMAIN || device_id || challenge`.
pub fn device_auth_message(device_id: DeviceId, challenge: &[u8; 32]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(DEVICE_AUTH_DOMAIN.len() + 16 + 32);
    msg.extend_from_slice(DEVICE_AUTH_DOMAIN);
    msg.extend_from_slice(&device_id.0);
    msg.extend_from_slice(challenge);
    msg
}

/// Signs a challenge with the device's ed25519 secret.
pub fn sign_device_challenge(
    secret: &[u8; 32],
    device_id: DeviceId,
    challenge: &[u8; 32],
) -> [u8; 64] {
    SigningKey::from_bytes(secret)
        .sign(&device_auth_message(device_id, challenge))
        .to_bytes()
}

/// Whether `signature` answers `challenge` for `device_id` under `public_key`.
pub fn verify_device_challenge(
    public_key: &[u8; 32],
    device_id: DeviceId,
    challenge: &[u8; 32],
    signature: &[u8; 64],
) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(
        &device_auth_message(device_id, challenge),
        &Signature::from_bytes(signature),
    )
    .is_ok()
}

/// The ed25519 public key of a device secret (what enrollment registers).
pub fn device_public_key(secret: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(secret).verifying_key().to_bytes()
}

/// Limits and timers of a control connection (both sides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlConfig {
    /// Largest frame payload accepted (clamped to 1 MiB).
    pub max_frame: usize,
    /// How long the whole handshake (hello to `Welcome`, driver lookups included) may take.
    pub auth_timeout: Duration,
    /// Broker: the heartbeat interval announced in `Welcome`.
    pub heartbeat_interval: Duration,
    /// After the handshake: the connection fails with `idle_timeout` when nothing arrives for
    /// this long (the broker should pick at least three heartbeat intervals).
    pub idle_timeout: Duration,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            auth_timeout: Duration::from_secs(10),
            heartbeat_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
        }
    }
}

impl ControlConfig {
    /// Refuses a `max_frame` above 1 MiB (call at configuration load).
    pub fn validate(&self) -> Result<(), FrameError> {
        FrameDecoder::new(self.max_frame).map(|_| ())
    }
}

/// Why a control connection failed, or why a driver call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlHandshakeError {
    /// A frame violation.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A control payload that does not decode (or cannot be encoded).
    #[error(transparent)]
    Message(#[from] MessageError),
    /// A message not allowed in the current state (type number).
    #[error("unexpected message type {0:#06x} on the control connection")]
    Unexpected(u16),
    /// `send` before the handshake completed.
    #[error("the control handshake has not completed")]
    NotEstablished,
    /// The connection is closed; nothing more is taken.
    #[error("the control connection is closed")]
    Closed,
}

impl ControlHandshakeError {
    /// The code the peer is told.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Frame(e) => e.code(),
            Self::Message(e) => e.code(),
            Self::Unexpected(_) | Self::NotEstablished | Self::Closed => {
                ErrorCode::ProtocolViolation
            }
        }
    }
}

/// Who the broker authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlPeer {
    /// An enrolled device that signed the challenge.
    Device {
        /// Its id.
        device_id: DeviceId,
    },
    /// A technician whose access token the driver accepted.
    Guest,
    /// An OnDemand agent whose key the driver accepted.
    OnDemand {
        /// The key it joined with.
        key: OnDemandKey,
    },
}

/// Messages that belong to a handshake and are refused once it is over.
pub(crate) fn is_handshake_message(msg: &ControlMessage) -> bool {
    matches!(
        msg,
        ControlMessage::HostHello { .. }
            | ControlMessage::GuestHello { .. }
            | ControlMessage::AuthChallenge { .. }
            | ControlMessage::AuthResponse { .. }
            | ControlMessage::Welcome { .. }
            | ControlMessage::EnrollRequest(_)
            | ControlMessage::EnrollResponse(_)
            | ControlMessage::OnDemandJoin(_)
            | ControlMessage::RelayBind { .. }
            | ControlMessage::RelayReady
            | ControlMessage::RelayClose { .. }
    )
}

/// Framing shared by both sides: an input buffer bounded by the frame maximum and a queue of
/// encoded frames to write.
#[derive(Debug)]
pub(crate) struct Channel {
    decoder: FrameDecoder,
    inbuf: BytesMut,
    transmit: VecDeque<Bytes>,
}

impl Channel {
    pub(crate) fn new(max_frame: usize) -> Self {
        Self {
            decoder: FrameDecoder::new(max_frame.min(MAX_FRAME_LIMIT)).unwrap_or_default(),
            inbuf: BytesMut::new(),
            transmit: VecDeque::new(),
        }
    }

    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.inbuf.extend_from_slice(data);
    }

    /// The next whole message in the input, if any.
    pub(crate) fn next_message(&mut self) -> Result<Option<ControlMessage>, ControlHandshakeError> {
        match self.decoder.decode(&mut self.inbuf)? {
            Some(frame) => Ok(Some(ControlMessage::from_frame(&frame)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn push(&mut self, msg: &ControlMessage) -> Result<(), ControlHandshakeError> {
        self.transmit.push_back(msg.to_frame()?.to_bytes());
        Ok(())
    }

    pub(crate) fn pop_transmit(&mut self) -> Option<Bytes> {
        self.transmit.pop_front()
    }

    pub(crate) fn clear_input(&mut self) {
        self.inbuf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_auth_is_bound_to_domain_device_and_challenge() {
        let secret = [3u8; 32];
        let public = device_public_key(&secret);
        let dev = DeviceId([1; 16]);
        let ch = [7u8; 32];
        let sig = sign_device_challenge(&secret, dev, &ch);
        assert!(verify_device_challenge(&public, dev, &ch, &sig));
        assert!(!verify_device_challenge(
            &public,
            DeviceId([2; 16]),
            &ch,
            &sig
        ));
        assert!(!verify_device_challenge(&public, dev, &[8; 32], &sig));
        assert!(!verify_device_challenge(
            &device_public_key(&[4; 32]),
            dev,
            &ch,
            &sig
        ));
        let msg = device_auth_message(dev, &ch);
        assert!(msg.starts_with(DEVICE_AUTH_DOMAIN));
        assert_eq!(msg.len(), DEVICE_AUTH_DOMAIN.len() + 48);
    }
}
