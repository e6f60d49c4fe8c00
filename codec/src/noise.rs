//! The end-to-end Noise channel between a Host and a Guest.
//!
//! Both endpoints know each other's static X25519 public key from the broker, so the channel
//! uses `Noise_KK_25519_ChaChaPoly_BLAKE2s`: the Guest is the initiator, the Host the responder,
//! and the prologue binds a fixed protocol label plus the 16-byte session id, so a handshake
//! meant for one session cannot complete in another. Every Noise message on the byte stream is
//! prefixed by its length as a 2-byte big-endian integer; large plaintexts are split across as
//! many messages as needed (at most [`MAX_PLAINTEXT_PER_MESSAGE`] bytes each).
//!
//! This module is sans-IO: [`NoiseHandshake`] and [`NoiseTransport`] read from and write to
//! caller-owned buffers and never touch a socket or a clock. It does not multiplex channels
//! (that is [`crate::mux`]), it does not rekey (a session would need 2^64 messages to exhaust
//! a nonce), and the X25519 static key here is separate from the ed25519 device identity key:
//! nothing is converted between the two. The byte-level specification is
//! `docs/protocol-e2e.md`.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::cast_possible_truncation
    )
)]

use std::fmt;

use bytes::{Bytes, BytesMut};
use snow::params::DHChoice;
use snow::resolvers::{CryptoResolver, DefaultResolver};

use crate::ids::{SessionId, Side};

/// The Noise protocol name; both sides must use exactly this.
pub const NOISE_PROTOCOL: &str = "Noise_KK_25519_ChaChaPoly_BLAKE2s";

/// Fixed label that opens the prologue; the 16-byte session id follows it.
pub const PROLOGUE_LABEL: &[u8] = b"switchboard/e2e/1";

/// Length of the big-endian length prefix in front of every Noise message.
pub const LENGTH_PREFIX_LEN: usize = 2;

/// Largest Noise message (ciphertext including the tag), fixed by the Noise specification.
pub const MAX_NOISE_MESSAGE: usize = 65_535;

/// Length of the ChaChaPoly authentication tag.
pub const TAG_LEN: usize = 16;

/// Largest plaintext carried by one transport message.
pub const MAX_PLAINTEXT_PER_MESSAGE: usize = MAX_NOISE_MESSAGE - TAG_LEN;

/// Largest handshake message accepted. A KK message with an empty payload is 48 bytes; the
/// bound only keeps a hostile peer from making us buffer much before we fail it.
pub const MAX_HANDSHAKE_MESSAGE: usize = 1_024;

/// Length of an X25519 key (private or public).
pub const KEY_LEN: usize = 32;

/// Length of the session id bound in the prologue.
pub const SESSION_ID_LEN: usize = 16;

/// Everything that can go wrong in the Noise channel.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoiseError {
    /// The peer's handshake message did not authenticate: wrong static key on either side,
    /// a different session id, or a tampered message. The cases are indistinguishable by design.
    #[error(
        "end-to-end handshake failed: the peer's key or session id does not match, or the message was altered"
    )]
    HandshakeFailed,
    /// A transport message did not authenticate (tampered, reordered, replayed or truncated).
    #[error("end-to-end message failed authentication: it was altered, reordered or replayed")]
    Decrypt,
    /// The length prefix announced a message that cannot be valid.
    #[error("end-to-end message length {len} is invalid (allowed {min}..={max})")]
    BadLength {
        /// Announced length.
        len: usize,
        /// Smallest valid length.
        min: usize,
        /// Largest valid length.
        max: usize,
    },
    /// The handshake carried a payload; protocol version 1 requires empty handshake payloads.
    #[error("end-to-end handshake message carried a {0}-byte payload; version 1 requires none")]
    UnexpectedPayload(usize),
    /// A handshake step was called out of order (writing when it is the peer's turn, or the
    /// reverse, or after the handshake finished).
    #[error("end-to-end handshake step out of order: {0}")]
    OutOfOrder(&'static str),
    /// `into_transport` was called before both handshake messages were exchanged.
    #[error("end-to-end handshake is not finished yet")]
    HandshakeIncomplete,
    /// A key could not be used (for example an all-zero public key yields a low-order point).
    #[error("an X25519 key was rejected by the Noise library")]
    InvalidKey,
    /// The send or receive nonce reached its maximum; the session must be re-established.
    #[error("end-to-end nonce exhausted; the session must be re-established")]
    NonceExhausted,
    /// A previous error left the channel unusable: the stream is out of sync, close it.
    #[error("end-to-end channel already failed; close the connection")]
    ChannelFailed,
    /// Unexpected failure inside the Noise library (missing primitive, RNG failure).
    #[error("end-to-end channel internal error: {0}")]
    Internal(String),
}

impl NoiseError {
    fn from_snow(err: snow::Error, in_handshake: bool) -> Self {
        match err {
            snow::Error::Decrypt if in_handshake => Self::HandshakeFailed,
            snow::Error::Decrypt => Self::Decrypt,
            snow::Error::Dh => {
                if in_handshake {
                    Self::HandshakeFailed
                } else {
                    Self::InvalidKey
                }
            }
            snow::Error::State(snow::error::StateProblem::Exhausted) => Self::NonceExhausted,
            snow::Error::State(problem) => Self::Internal(format!("state: {problem:?}")),
            other => Self::Internal(format!("{other:?}")),
        }
    }
}

/// A static X25519 key pair for the end-to-end channel.
///
/// `Debug` prints only the public key. The private key is not zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticKeypair {
    /// Private key; keep it on the device.
    pub private: [u8; KEY_LEN],
    /// Public key; published through the broker.
    pub public: [u8; KEY_LEN],
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &HexKey(&self.public))
            .field("private", &"<redacted>")
            .finish()
    }
}

struct HexKey<'a>(&'a [u8]);

impl fmt::Debug for HexKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl StaticKeypair {
    /// Rebuilds a key pair from a stored private key (the public key is derived).
    pub fn from_private(private: &[u8; KEY_LEN]) -> Result<Self, NoiseError> {
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .ok_or_else(|| NoiseError::Internal("X25519 is unavailable".to_owned()))?;
        dh.set(private);
        let public = to_key(dh.pubkey())?;
        Ok(Self {
            private: *private,
            public,
        })
    }
}

/// Generates a fresh static X25519 key pair with the Noise library's random source.
pub fn generate_static_keypair() -> Result<StaticKeypair, NoiseError> {
    let keypair = snow::Builder::new(noise_params()?)
        .generate_keypair()
        .map_err(|e| NoiseError::from_snow(e, false))?;
    Ok(StaticKeypair {
        private: to_key(&keypair.private)?,
        public: to_key(&keypair.public)?,
    })
}

fn to_key(bytes: &[u8]) -> Result<[u8; KEY_LEN], NoiseError> {
    <[u8; KEY_LEN]>::try_from(bytes)
        .map_err(|_| NoiseError::Internal(format!("key of {} bytes, expected 32", bytes.len())))
}

fn noise_params() -> Result<snow::params::NoiseParams, NoiseError> {
    NOISE_PROTOCOL
        .parse()
        .map_err(|e| NoiseError::from_snow(e, false))
}

/// The prologue both sides feed into the handshake: label, then session id.
pub fn prologue(session_id: SessionId) -> [u8; PROLOGUE_LABEL.len() + SESSION_ID_LEN] {
    let mut out = [0_u8; PROLOGUE_LABEL.len() + SESSION_ID_LEN];
    let (label, id) = out.split_at_mut(PROLOGUE_LABEL.len());
    label.copy_from_slice(PROLOGUE_LABEL);
    id.copy_from_slice(&session_id.to_bytes());
    out
}

/// Which end of the handshake this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseRole {
    /// Sends the first message; the Guest.
    Initiator,
    /// Answers; the Host.
    Responder,
}

/// The KK handshake in progress (two messages: initiator → responder → initiator).
///
/// Call [`write_message`](Self::write_message) when [`is_my_turn`](Self::is_my_turn), feed
/// received bytes to [`read_message`](Self::read_message) otherwise, and once
/// [`is_finished`](Self::is_finished) turn it into a [`NoiseTransport`]. Bytes that follow the
/// last handshake message in the receive buffer are left there for the transport.
pub struct NoiseHandshake {
    state: snow::HandshakeState,
    role: NoiseRole,
}

impl fmt::Debug for NoiseHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseHandshake")
            .field("role", &self.role)
            .field("my_turn", &self.state.is_my_turn())
            .field("finished", &self.state.is_handshake_finished())
            .finish_non_exhaustive()
    }
}

impl NoiseRole {
    /// The Guest initiates, the Host responds.
    pub const fn for_side(side: Side) -> Self {
        match side {
            Side::Guest => Self::Initiator,
            Side::Host => Self::Responder,
        }
    }
}

impl NoiseHandshake {
    /// Starts the handshake on the Guest side.
    pub fn initiator(
        local_static_private: &[u8; KEY_LEN],
        remote_static_public: &[u8; KEY_LEN],
        session_id: SessionId,
    ) -> Result<Self, NoiseError> {
        Self::new(
            NoiseRole::Initiator,
            local_static_private,
            remote_static_public,
            session_id,
        )
    }

    /// Starts the handshake on the Host side.
    pub fn responder(
        local_static_private: &[u8; KEY_LEN],
        remote_static_public: &[u8; KEY_LEN],
        session_id: SessionId,
    ) -> Result<Self, NoiseError> {
        Self::new(
            NoiseRole::Responder,
            local_static_private,
            remote_static_public,
            session_id,
        )
    }

    /// Starts the handshake for `side` (Guest: initiator, Host: responder).
    pub fn for_side(
        side: Side,
        local_static_private: &[u8; KEY_LEN],
        remote_static_public: &[u8; KEY_LEN],
        session_id: SessionId,
    ) -> Result<Self, NoiseError> {
        let role = NoiseRole::for_side(side);
        Self::new(role, local_static_private, remote_static_public, session_id)
    }

    fn new(
        role: NoiseRole,
        local_static_private: &[u8; KEY_LEN],
        remote_static_public: &[u8; KEY_LEN],
        session_id: SessionId,
    ) -> Result<Self, NoiseError> {
        let prologue = prologue(session_id);
        let map = |e| NoiseError::from_snow(e, false);
        let builder = snow::Builder::new(noise_params()?)
            .local_private_key(local_static_private)
            .map_err(map)?
            .remote_public_key(remote_static_public)
            .map_err(map)?
            .prologue(&prologue)
            .map_err(map)?;
        let state = match role {
            NoiseRole::Initiator => builder.build_initiator(),
            NoiseRole::Responder => builder.build_responder(),
        }
        .map_err(map)?;
        Ok(Self { state, role })
    }

    /// This side's role.
    pub fn role(&self) -> NoiseRole {
        self.role
    }

    /// True when this side must write the next handshake message.
    pub fn is_my_turn(&self) -> bool {
        !self.state.is_handshake_finished() && self.state.is_my_turn()
    }

    /// True once both handshake messages have been exchanged.
    pub fn is_finished(&self) -> bool {
        self.state.is_handshake_finished()
    }

    /// Appends this side's next handshake message (length-prefixed) to `dst`.
    pub fn write_message(&mut self, dst: &mut BytesMut) -> Result<(), NoiseError> {
        if !self.is_my_turn() {
            return Err(NoiseError::OutOfOrder(
                "write_message when it is not our turn",
            ));
        }
        let mut message = [0_u8; MAX_HANDSHAKE_MESSAGE];
        let len = self
            .state
            .write_message(&[], &mut message)
            .map_err(|e| NoiseError::from_snow(e, true))?;
        let body = message
            .get(..len)
            .ok_or(NoiseError::Internal("short write".to_owned()))?;
        let prefix = u16::try_from(len).map_err(|_| NoiseError::Internal("long write".into()))?;
        dst.reserve(LENGTH_PREFIX_LEN + len);
        dst.extend_from_slice(&prefix.to_be_bytes());
        dst.extend_from_slice(body);
        Ok(())
    }

    /// Consumes one length-prefixed handshake message from the front of `src`.
    ///
    /// Returns `Ok(false)` when `src` does not hold a whole message yet (nothing consumed).
    /// Any failure is final: drop the handshake and close the connection.
    pub fn read_message(&mut self, src: &mut BytesMut) -> Result<bool, NoiseError> {
        if self.state.is_handshake_finished() {
            return Err(NoiseError::OutOfOrder(
                "read_message after the handshake finished",
            ));
        }
        if self.state.is_my_turn() {
            return Err(NoiseError::OutOfOrder(
                "read_message when it is our turn to write",
            ));
        }
        let Some(len) = peek_length(src) else {
            return Ok(false);
        };
        if !(TAG_LEN..=MAX_HANDSHAKE_MESSAGE).contains(&len) {
            return Err(NoiseError::BadLength {
                len,
                min: TAG_LEN,
                max: MAX_HANDSHAKE_MESSAGE,
            });
        }
        let Some(frame) = take_frame(src, len) else {
            return Ok(false);
        };
        let body = frame.get(LENGTH_PREFIX_LEN..).unwrap_or_default();
        let mut payload = [0_u8; MAX_HANDSHAKE_MESSAGE];
        let n = self
            .state
            .read_message(body, &mut payload)
            .map_err(|e| NoiseError::from_snow(e, true))?;
        if n != 0 {
            return Err(NoiseError::UnexpectedPayload(n));
        }
        Ok(true)
    }

    /// Finishes the handshake and returns the transport.
    pub fn into_transport(self) -> Result<NoiseTransport, NoiseError> {
        if !self.state.is_handshake_finished() {
            return Err(NoiseError::HandshakeIncomplete);
        }
        let handshake_hash = to_key(self.state.get_handshake_hash())?;
        let state = self
            .state
            .into_transport_mode()
            .map_err(|e| NoiseError::from_snow(e, true))?;
        Ok(NoiseTransport {
            state,
            role: self.role,
            handshake_hash,
            failed: false,
        })
    }
}

/// Reads the 2-byte length prefix without consuming it.
fn peek_length(src: &[u8]) -> Option<usize> {
    match src {
        [hi, lo, ..] => Some(usize::from(u16::from_be_bytes([*hi, *lo]))),
        _ => None,
    }
}

/// Splits off prefix + body when the whole message is buffered; otherwise reserves room for it.
fn take_frame(src: &mut BytesMut, body_len: usize) -> Option<BytesMut> {
    let total = LENGTH_PREFIX_LEN + body_len;
    if src.len() < total {
        src.reserve(total - src.len());
        return None;
    }
    Some(src.split_to(total))
}

/// The established channel: seals outgoing plaintext and opens incoming messages.
///
/// Any error is final (the stream is out of sync afterwards): every later call returns
/// [`NoiseError::ChannelFailed`].
pub struct NoiseTransport {
    state: snow::TransportState,
    role: NoiseRole,
    handshake_hash: [u8; KEY_LEN],
    failed: bool,
}

impl fmt::Debug for NoiseTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseTransport")
            .field("role", &self.role)
            .field("sending_nonce", &self.state.sending_nonce())
            .field("receiving_nonce", &self.state.receiving_nonce())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl NoiseTransport {
    /// This side's role.
    pub fn role(&self) -> NoiseRole {
        self.role
    }

    /// The handshake hash: identical on both sides, usable as a channel binding or to show a
    /// short verification code.
    pub fn handshake_hash(&self) -> &[u8; KEY_LEN] {
        &self.handshake_hash
    }

    /// Bytes `seal` appends for a plaintext of `plaintext_len` bytes.
    pub fn sealed_len(plaintext_len: usize) -> usize {
        let messages = plaintext_len.div_ceil(MAX_PLAINTEXT_PER_MESSAGE);
        plaintext_len.saturating_add(messages.saturating_mul(LENGTH_PREFIX_LEN + TAG_LEN))
    }

    /// Encrypts `plaintext` and appends it to `dst` as one or more length-prefixed messages.
    /// An empty plaintext appends nothing.
    pub fn seal(&mut self, plaintext: &[u8], dst: &mut BytesMut) -> Result<(), NoiseError> {
        if self.failed {
            return Err(NoiseError::ChannelFailed);
        }
        let start = dst.len();
        dst.reserve(Self::sealed_len(plaintext.len()));
        for chunk in plaintext.chunks(MAX_PLAINTEXT_PER_MESSAGE) {
            if let Err(err) = self.seal_one(chunk, dst) {
                dst.truncate(start);
                self.failed = true;
                return Err(err);
            }
        }
        Ok(())
    }

    fn seal_one(&mut self, chunk: &[u8], dst: &mut BytesMut) -> Result<(), NoiseError> {
        let message_len = chunk.len() + TAG_LEN;
        let prefix = u16::try_from(message_len)
            .map_err(|_| NoiseError::Internal("chunk larger than a Noise message".to_owned()))?;
        let at = dst.len();
        dst.resize(at + LENGTH_PREFIX_LEN + message_len, 0);
        let (head, body) = dst
            .get_mut(at..)
            .and_then(|tail| tail.split_at_mut_checked(LENGTH_PREFIX_LEN))
            .ok_or_else(|| NoiseError::Internal("seal buffer".to_owned()))?;
        head.copy_from_slice(&prefix.to_be_bytes());
        let written = self
            .state
            .write_message(chunk, body)
            .map_err(|e| NoiseError::from_snow(e, false))?;
        if written != message_len {
            return Err(NoiseError::Internal(
                "unexpected ciphertext length".to_owned(),
            ));
        }
        Ok(())
    }

    /// Decrypts one length-prefixed message from the front of `src`.
    ///
    /// Returns `Ok(None)` when `src` does not hold a whole message yet (nothing consumed; room
    /// for the rest is reserved). A message with an empty plaintext yields an empty `Bytes`.
    pub fn open(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, NoiseError> {
        if self.failed {
            return Err(NoiseError::ChannelFailed);
        }
        match self.open_inner(src) {
            Err(err) => {
                self.failed = true;
                Err(err)
            }
            ok => ok,
        }
    }

    fn open_inner(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, NoiseError> {
        let Some(len) = peek_length(src) else {
            return Ok(None);
        };
        if len < TAG_LEN {
            return Err(NoiseError::BadLength {
                len,
                min: TAG_LEN,
                max: MAX_NOISE_MESSAGE,
            });
        }
        let Some(frame) = take_frame(src, len) else {
            return Ok(None);
        };
        let body = frame.get(LENGTH_PREFIX_LEN..).unwrap_or_default();
        let mut plaintext = BytesMut::zeroed(len - TAG_LEN);
        let n = self
            .state
            .read_message(body, &mut plaintext)
            .map_err(|e| NoiseError::from_snow(e, false))?;
        plaintext.truncate(n);
        Ok(Some(plaintext.freeze()))
    }
}

#[cfg(test)]
mod tests;
