//! Control messages: every message of the enrollment, presence, session, relay and OnDemand
//! flows, each with a stable u16 type number, and their length-checked binary layout.
//!
//! A payload is `type: u16` then the fields in declaration order: integers big-endian, ids and
//! keys as fixed-size raw bytes, strings (UTF-8) and byte strings with a u16 length prefix and a
//! per-field cap, booleans as one byte 0/1. Decoding refuses unknown types, truncated or over-long
//! fields, invalid values and trailing bytes. `docs/protocol.md` has a table per message. This
//! module does not know which message is allowed when: the handshakes do.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error_code::ErrorCode;
use crate::frame::{Frame, FrameKind};
use crate::ids::{DeviceId, SessionId, Side};
pub use crate::message_fields::{
    DeviceInfo, EnrollRequest, EnrollResponse, EnrollState, GuestIdentity, OnDemandJoin,
    OnDemandKey, OnDemandKeyParseError,
};
use crate::permissions::PermissionSet;
use crate::wire::{Reader, put_bytes16, put_str16, truncate_utf8};

/// Cap of a ticket byte string.
pub const MAX_TICKET_LEN: usize = 512;
/// Cap of a human message / reason sentence.
pub const MAX_REASON_LEN: usize = 1024;
/// Cap of a guest access token.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Cap of a device credential.
pub const MAX_CREDENTIAL_LEN: usize = 1024;
/// Cap of an enrollment key.
pub const MAX_ENROLLMENT_KEY_LEN: usize = 128;
/// Cap of a host name.
pub const MAX_HOSTNAME_LEN: usize = 255;
/// Cap of an OS description.
pub const MAX_OS_LEN: usize = 128;
/// Cap of an agent version string.
pub const MAX_VERSION_LEN: usize = 64;
/// Cap of a user name.
pub const MAX_USERNAME_LEN: usize = 256;
/// Cap of a display name.
pub const MAX_DISPLAY_NAME_LEN: usize = 256;
/// Cap of a relay address (`host:port`).
pub const MAX_RELAY_ADDR_LEN: usize = 256;

/// A control payload that does not decode, or a message that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The payload ended inside `field`.
    #[error("message truncated in field {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// Bytes remain after the last field.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The type number is not known.
    #[error("unknown message type {0:#06x}")]
    UnknownType(u16),
    /// A length-prefixed field is longer than its cap.
    #[error("field {field} is {len} bytes, more than {max}")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// Its cap.
        max: usize,
    },
    /// A field holds a value outside its domain (unknown side, error code, bool, ...).
    #[error("field {field} has invalid value {value}")]
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
    },
    /// A string field is not UTF-8.
    #[error("field {field} is not UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A frame that should carry a control message has another kind.
    #[error("expected a control frame")]
    NotControl,
}

impl MessageError {
    /// The error code a peer is told.
    pub const fn code(&self) -> ErrorCode {
        ErrorCode::ProtocolViolation
    }
}

/// Every control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// `0x0001` A refusal: the sender closes after it.
    Error {
        /// Why.
        code: ErrorCode,
        /// A human sentence (≤ 1024 bytes).
        message: String,
    },
    /// `0x0101` Client → relay: present a ticket for one side.
    RelayBind {
        /// The side the client claims to be.
        side: Side,
        /// The signed ticket bytes (≤ 512).
        ticket: Bytes,
    },
    /// `0x0102` Relay → both sides once paired; after it the connection is an opaque pipe.
    RelayReady,
    /// `0x0103` Relay → client, then the relay closes.
    RelayClose {
        /// Why.
        code: ErrorCode,
        /// A human sentence (≤ 1024 bytes).
        message: String,
    },
    /// `0x0201` Host → broker: first message of an enrolled device.
    HostHello {
        /// The device id from enrollment.
        device_id: DeviceId,
        /// The credential from enrollment (≤ 1024 bytes).
        credential: Bytes,
        /// Agent version (≤ 64 bytes).
        agent_version: String,
    },
    /// `0x0202` Guest → broker: first message of a technician.
    GuestHello {
        /// Access token from the admin API login (≤ 4096 bytes).
        access_token: String,
        /// Agent version (≤ 64 bytes).
        agent_version: String,
    },
    /// `0x0203` Broker → Host: a random challenge to sign.
    AuthChallenge {
        /// 32 random bytes.
        challenge: [u8; 32],
    },
    /// `0x0204` Host → broker: ed25519 signature over the device-auth message.
    AuthResponse {
        /// The 64-byte signature.
        signature: [u8; 64],
    },
    /// `0x0205` Broker → client: the handshake succeeded.
    Welcome {
        /// How often the client sends `Heartbeat`, in milliseconds.
        heartbeat_interval_ms: u32,
    },
    /// `0x0206` New device → broker: enroll with a package key.
    EnrollRequest(EnrollRequest),
    /// `0x0207` Broker → new device: enrolled.
    EnrollResponse(EnrollResponse),
    /// `0x0208` Client → broker: still here.
    Heartbeat {
        /// Sequence number, echoed in the ack.
        seq: u64,
    },
    /// `0x0209` Broker → client: heartbeat seen.
    HeartbeatAck {
        /// The sequence number of the heartbeat.
        seq: u64,
    },
    /// `0x020a` Host → broker (after `Welcome`, again on every change): the computer's local
    /// state, for the confirm-access and whitelist exceptions.
    HostState {
        /// The computer is locked.
        locked: bool,
        /// Someone is logged in at the console.
        user_logged_in: bool,
    },
    /// `0x0301` Guest → broker: open a session to a device.
    SessionRequest {
        /// Chosen by the guest, echoed in the answer.
        request_id: u64,
        /// The device to reach.
        device_id: DeviceId,
        /// The actions wanted.
        wanted: PermissionSet,
        /// The Guest's static X25519 public key for the end-to-end Noise handshake (the Host
        /// receives it as `peer_static_key`).
        guest_static_key: [u8; 32],
    },
    /// `0x0302` Broker → Guest: the request is being offered to the Host.
    SessionCreated {
        /// The request this answers.
        request_id: u64,
        /// The new session.
        session_id: SessionId,
        /// The permissions granted (wanted ∩ effective).
        granted: PermissionSet,
        /// Whether the Host's local user must confirm first.
        confirm_required: bool,
    },
    /// `0x0303` Broker → Guest: the request is refused.
    SessionDenied {
        /// The request this answers.
        request_id: u64,
        /// Why.
        code: ErrorCode,
        /// A human sentence (≤ 1024 bytes).
        message: String,
    },
    /// `0x0304` Broker → Host: a guest wants a session.
    SessionOffer {
        /// The session.
        session_id: SessionId,
        /// Who asks.
        guest: GuestIdentity,
        /// The permissions granted.
        granted: PermissionSet,
        /// Whether the local user must confirm before accepting.
        confirm_required: bool,
    },
    /// `0x0305` Host → broker: the offer is accepted (confirmed if required).
    SessionAccept {
        /// The session.
        session_id: SessionId,
    },
    /// `0x0306` Host → broker (e.g. confirm_denied) or broker → Guest: the session is refused.
    SessionReject {
        /// The session.
        session_id: SessionId,
        /// Why.
        code: ErrorCode,
        /// A human sentence (≤ 1024 bytes).
        message: String,
    },
    /// `0x0307` Either direction: the session ends or is abandoned.
    SessionCancel {
        /// The session.
        session_id: SessionId,
        /// Why.
        code: ErrorCode,
    },
    /// `0x0308` Broker → each side: where to meet the peer.
    RelayAssignment {
        /// The session.
        session_id: SessionId,
        /// Relay address `host:port` (≤ 256 bytes).
        relay_addr: String,
        /// This side's signed ticket (≤ 512 bytes).
        ticket: Bytes,
        /// The peer's static X25519 public key for Noise.
        peer_static_key: [u8; 32],
    },
    /// `0x0401` Technician → broker: create a one-time OnDemand key.
    OnDemandCreateKey {
        /// Echoed in the answer.
        request_id: u64,
    },
    /// `0x0402` Broker → technician: the key.
    OnDemandKeyCreated {
        /// The request this answers.
        request_id: u64,
        /// The nine-digit key.
        key: OnDemandKey,
        /// Expiry (Unix milliseconds).
        expires_at_unix_ms: u64,
    },
    /// `0x0403` End user's agent → broker: join with a key (first message of that connection).
    OnDemandJoin(OnDemandJoin),
    /// `0x0404` Broker → end user's agent: waiting in the queue.
    OnDemandQueued {
        /// 1-based position in the queue.
        position: u32,
    },
    /// `0x0405` Technician → broker: start the session waiting on a key.
    OnDemandStart {
        /// The key.
        key: OnDemandKey,
        /// The technician's static X25519 public key for the end-to-end Noise handshake.
        guest_static_key: [u8; 32],
    },
    /// `0x0406` Technician → broker: reject the session waiting on a key.
    OnDemandReject {
        /// The key.
        key: OnDemandKey,
    },
    /// `0x0407` Broker → end user's agent: the technician started; an offer follows.
    OnDemandStarted {
        /// The session.
        session_id: SessionId,
    },
    /// `0x0408` Broker → end user's agent: refused (rejected, expired, queue timeout).
    OnDemandRejected {
        /// Why.
        code: ErrorCode,
    },
}

/// Every type number, for docs and tests.
pub const MESSAGE_TYPES: &[(u16, &str)] = &[
    (0x0001, "Error"),
    (0x0101, "RelayBind"),
    (0x0102, "RelayReady"),
    (0x0103, "RelayClose"),
    (0x0201, "HostHello"),
    (0x0202, "GuestHello"),
    (0x0203, "AuthChallenge"),
    (0x0204, "AuthResponse"),
    (0x0205, "Welcome"),
    (0x0206, "EnrollRequest"),
    (0x0207, "EnrollResponse"),
    (0x0208, "Heartbeat"),
    (0x0209, "HeartbeatAck"),
    (0x020a, "HostState"),
    (0x0301, "SessionRequest"),
    (0x0302, "SessionCreated"),
    (0x0303, "SessionDenied"),
    (0x0304, "SessionOffer"),
    (0x0305, "SessionAccept"),
    (0x0306, "SessionReject"),
    (0x0307, "SessionCancel"),
    (0x0308, "RelayAssignment"),
    (0x0401, "OnDemandCreateKey"),
    (0x0402, "OnDemandKeyCreated"),
    (0x0403, "OnDemandJoin"),
    (0x0404, "OnDemandQueued"),
    (0x0405, "OnDemandStart"),
    (0x0406, "OnDemandReject"),
    (0x0407, "OnDemandStarted"),
    (0x0408, "OnDemandRejected"),
];

fn read_code(r: &mut Reader<'_>) -> Result<ErrorCode, MessageError> {
    let n = r.u16("code")?;
    ErrorCode::from_number(n).ok_or(MessageError::InvalidValue {
        field: "code",
        value: u64::from(n),
    })
}

fn read_side(r: &mut Reader<'_>) -> Result<Side, MessageError> {
    let n = r.u8("side")?;
    Side::from_number(n).ok_or(MessageError::InvalidValue {
        field: "side",
        value: u64::from(n),
    })
}

fn read_permissions(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<PermissionSet, MessageError> {
    Ok(PermissionSet::from_bits(r.u64(field)?))
}

impl ControlMessage {
    /// A refusal, its sentence cut to the cap on a character boundary.
    pub fn error(code: ErrorCode, message: &str) -> Self {
        Self::Error {
            code,
            message: truncate_utf8(message, MAX_REASON_LEN).to_owned(),
        }
    }

    /// A relay close, its sentence cut to the cap on a character boundary.
    pub fn relay_close(code: ErrorCode, message: &str) -> Self {
        Self::RelayClose {
            code,
            message: truncate_utf8(message, MAX_REASON_LEN).to_owned(),
        }
    }

    /// The stable type number.
    pub const fn type_number(&self) -> u16 {
        match self {
            Self::Error { .. } => 0x0001,
            Self::RelayBind { .. } => 0x0101,
            Self::RelayReady => 0x0102,
            Self::RelayClose { .. } => 0x0103,
            Self::HostHello { .. } => 0x0201,
            Self::GuestHello { .. } => 0x0202,
            Self::AuthChallenge { .. } => 0x0203,
            Self::AuthResponse { .. } => 0x0204,
            Self::Welcome { .. } => 0x0205,
            Self::EnrollRequest(_) => 0x0206,
            Self::EnrollResponse(_) => 0x0207,
            Self::Heartbeat { .. } => 0x0208,
            Self::HeartbeatAck { .. } => 0x0209,
            Self::HostState { .. } => 0x020a,
            Self::SessionRequest { .. } => 0x0301,
            Self::SessionCreated { .. } => 0x0302,
            Self::SessionDenied { .. } => 0x0303,
            Self::SessionOffer { .. } => 0x0304,
            Self::SessionAccept { .. } => 0x0305,
            Self::SessionReject { .. } => 0x0306,
            Self::SessionCancel { .. } => 0x0307,
            Self::RelayAssignment { .. } => 0x0308,
            Self::OnDemandCreateKey { .. } => 0x0401,
            Self::OnDemandKeyCreated { .. } => 0x0402,
            Self::OnDemandJoin(_) => 0x0403,
            Self::OnDemandQueued { .. } => 0x0404,
            Self::OnDemandStart { .. } => 0x0405,
            Self::OnDemandReject { .. } => 0x0406,
            Self::OnDemandStarted { .. } => 0x0407,
            Self::OnDemandRejected { .. } => 0x0408,
        }
    }

    /// The variant name (as in `MESSAGE_TYPES`).
    pub fn type_name(&self) -> &'static str {
        let n = self.type_number();
        MESSAGE_TYPES
            .iter()
            .find(|(t, _)| *t == n)
            .map_or("?", |(_, name)| name)
    }

    /// Appends the payload (type number then fields) to `dst`. Fails when a field exceeds its
    /// cap: the codec never emits what its decoder would refuse.
    pub fn encode(&self, dst: &mut BytesMut) -> Result<(), MessageError> {
        dst.put_u16(self.type_number());
        match self {
            Self::Error { code, message } | Self::RelayClose { code, message } => {
                dst.put_u16(code.number());
                put_str16(dst, "message", MAX_REASON_LEN, message)?;
            }
            Self::RelayBind { side, ticket } => {
                dst.put_u8(side.number());
                put_bytes16(dst, "ticket", MAX_TICKET_LEN, ticket)?;
            }
            Self::RelayReady => {}
            Self::HostHello {
                device_id,
                credential,
                agent_version,
            } => {
                dst.put_slice(&device_id.0);
                put_bytes16(dst, "credential", MAX_CREDENTIAL_LEN, credential)?;
                put_str16(dst, "agent_version", MAX_VERSION_LEN, agent_version)?;
            }
            Self::GuestHello {
                access_token,
                agent_version,
            } => {
                put_str16(dst, "access_token", MAX_TOKEN_LEN, access_token)?;
                put_str16(dst, "agent_version", MAX_VERSION_LEN, agent_version)?;
            }
            Self::AuthChallenge { challenge } => dst.put_slice(challenge),
            Self::AuthResponse { signature } => dst.put_slice(signature),
            Self::Welcome {
                heartbeat_interval_ms,
            } => dst.put_u32(*heartbeat_interval_ms),
            Self::EnrollRequest(req) => req.encode(dst)?,
            Self::EnrollResponse(resp) => resp.encode(dst)?,
            Self::Heartbeat { seq } | Self::HeartbeatAck { seq } => dst.put_u64(*seq),
            Self::HostState {
                locked,
                user_logged_in,
            } => {
                dst.put_u8(u8::from(*locked));
                dst.put_u8(u8::from(*user_logged_in));
            }
            Self::SessionRequest {
                request_id,
                device_id,
                wanted,
                guest_static_key,
            } => {
                dst.put_u64(*request_id);
                dst.put_slice(&device_id.0);
                dst.put_u64(wanted.bits());
                dst.put_slice(guest_static_key);
            }
            Self::SessionCreated {
                request_id,
                session_id,
                granted,
                confirm_required,
            } => {
                dst.put_u64(*request_id);
                dst.put_slice(&session_id.0);
                dst.put_u64(granted.bits());
                dst.put_u8(u8::from(*confirm_required));
            }
            Self::SessionDenied {
                request_id,
                code,
                message,
            } => {
                dst.put_u64(*request_id);
                dst.put_u16(code.number());
                put_str16(dst, "message", MAX_REASON_LEN, message)?;
            }
            Self::SessionOffer {
                session_id,
                guest,
                granted,
                confirm_required,
            } => {
                dst.put_slice(&session_id.0);
                guest.encode(dst)?;
                dst.put_u64(granted.bits());
                dst.put_u8(u8::from(*confirm_required));
            }
            Self::SessionAccept { session_id } | Self::OnDemandStarted { session_id } => {
                dst.put_slice(&session_id.0);
            }
            Self::SessionReject {
                session_id,
                code,
                message,
            } => {
                dst.put_slice(&session_id.0);
                dst.put_u16(code.number());
                put_str16(dst, "message", MAX_REASON_LEN, message)?;
            }
            Self::SessionCancel { session_id, code } => {
                dst.put_slice(&session_id.0);
                dst.put_u16(code.number());
            }
            Self::RelayAssignment {
                session_id,
                relay_addr,
                ticket,
                peer_static_key,
            } => {
                dst.put_slice(&session_id.0);
                put_str16(dst, "relay_addr", MAX_RELAY_ADDR_LEN, relay_addr)?;
                put_bytes16(dst, "ticket", MAX_TICKET_LEN, ticket)?;
                dst.put_slice(peer_static_key);
            }
            Self::OnDemandCreateKey { request_id } => dst.put_u64(*request_id),
            Self::OnDemandKeyCreated {
                request_id,
                key,
                expires_at_unix_ms,
            } => {
                dst.put_u64(*request_id);
                dst.put_u32(key.value());
                dst.put_u64(*expires_at_unix_ms);
            }
            Self::OnDemandJoin(join) => join.encode(dst)?,
            Self::OnDemandQueued { position } => dst.put_u32(*position),
            Self::OnDemandStart {
                key,
                guest_static_key,
            } => {
                dst.put_u32(key.value());
                dst.put_slice(guest_static_key);
            }
            Self::OnDemandReject { key } => dst.put_u32(key.value()),
            Self::OnDemandRejected { code } => dst.put_u16(code.number()),
        }
        Ok(())
    }

    /// The encoded payload as one buffer.
    pub fn to_bytes(&self) -> Result<Bytes, MessageError> {
        let mut dst = BytesMut::with_capacity(64);
        self.encode(&mut dst)?;
        Ok(dst.freeze())
    }

    /// The message wrapped in a `Control` frame.
    pub fn to_frame(&self) -> Result<Frame, MessageError> {
        Ok(Frame::new(FrameKind::Control, self.to_bytes()?))
    }

    /// Decodes a `Control` frame's payload.
    pub fn from_frame(frame: &Frame) -> Result<Self, MessageError> {
        match frame.kind {
            FrameKind::Control => Self::decode(&frame.payload),
        }
    }

    /// Decodes one whole payload; refuses unknown types, bad fields and trailing bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, MessageError> {
        let mut r = Reader::new(payload);
        let ty = r.u16("type")?;
        let msg = match ty {
            0x0001 => Self::Error {
                code: read_code(&mut r)?,
                message: r.str16("message", MAX_REASON_LEN)?,
            },
            0x0101 => Self::RelayBind {
                side: read_side(&mut r)?,
                ticket: r.bytes16("ticket", MAX_TICKET_LEN)?,
            },
            0x0102 => Self::RelayReady,
            0x0103 => Self::RelayClose {
                code: read_code(&mut r)?,
                message: r.str16("message", MAX_REASON_LEN)?,
            },
            0x0201 => Self::HostHello {
                device_id: DeviceId(r.array("device_id")?),
                credential: r.bytes16("credential", MAX_CREDENTIAL_LEN)?,
                agent_version: r.str16("agent_version", MAX_VERSION_LEN)?,
            },
            0x0202 => Self::GuestHello {
                access_token: r.str16("access_token", MAX_TOKEN_LEN)?,
                agent_version: r.str16("agent_version", MAX_VERSION_LEN)?,
            },
            0x0203 => Self::AuthChallenge {
                challenge: r.array("challenge")?,
            },
            0x0204 => Self::AuthResponse {
                signature: r.array("signature")?,
            },
            0x0205 => Self::Welcome {
                heartbeat_interval_ms: r.u32("heartbeat_interval_ms")?,
            },
            0x0206 => Self::EnrollRequest(EnrollRequest::decode(&mut r)?),
            0x0207 => Self::EnrollResponse(EnrollResponse::decode(&mut r)?),
            0x0208 => Self::Heartbeat { seq: r.u64("seq")? },
            0x0209 => Self::HeartbeatAck { seq: r.u64("seq")? },
            0x020a => Self::HostState {
                locked: r.bool("locked")?,
                user_logged_in: r.bool("user_logged_in")?,
            },
            0x0301 => Self::SessionRequest {
                request_id: r.u64("request_id")?,
                device_id: DeviceId(r.array("device_id")?),
                wanted: read_permissions(&mut r, "wanted")?,
                guest_static_key: r.array("guest_static_key")?,
            },
            0x0302 => Self::SessionCreated {
                request_id: r.u64("request_id")?,
                session_id: SessionId(r.array("session_id")?),
                granted: read_permissions(&mut r, "granted")?,
                confirm_required: r.bool("confirm_required")?,
            },
            0x0303 => Self::SessionDenied {
                request_id: r.u64("request_id")?,
                code: read_code(&mut r)?,
                message: r.str16("message", MAX_REASON_LEN)?,
            },
            0x0304 => Self::SessionOffer {
                session_id: SessionId(r.array("session_id")?),
                guest: GuestIdentity::decode(&mut r)?,
                granted: read_permissions(&mut r, "granted")?,
                confirm_required: r.bool("confirm_required")?,
            },
            0x0305 => Self::SessionAccept {
                session_id: SessionId(r.array("session_id")?),
            },
            0x0306 => Self::SessionReject {
                session_id: SessionId(r.array("session_id")?),
                code: read_code(&mut r)?,
                message: r.str16("message", MAX_REASON_LEN)?,
            },
            0x0307 => Self::SessionCancel {
                session_id: SessionId(r.array("session_id")?),
                code: read_code(&mut r)?,
            },
            0x0308 => Self::RelayAssignment {
                session_id: SessionId(r.array("session_id")?),
                relay_addr: r.str16("relay_addr", MAX_RELAY_ADDR_LEN)?,
                ticket: r.bytes16("ticket", MAX_TICKET_LEN)?,
                peer_static_key: r.array("peer_static_key")?,
            },
            0x0401 => Self::OnDemandCreateKey {
                request_id: r.u64("request_id")?,
            },
            0x0402 => Self::OnDemandKeyCreated {
                request_id: r.u64("request_id")?,
                key: OnDemandKey::decode(&mut r)?,
                expires_at_unix_ms: r.u64("expires_at_unix_ms")?,
            },
            0x0403 => Self::OnDemandJoin(OnDemandJoin::decode(&mut r)?),
            0x0404 => Self::OnDemandQueued {
                position: r.u32("position")?,
            },
            0x0405 => Self::OnDemandStart {
                key: OnDemandKey::decode(&mut r)?,
                guest_static_key: r.array("guest_static_key")?,
            },
            0x0406 => Self::OnDemandReject {
                key: OnDemandKey::decode(&mut r)?,
            },
            0x0407 => Self::OnDemandStarted {
                session_id: SessionId(r.array("session_id")?),
            },
            0x0408 => Self::OnDemandRejected {
                code: read_code(&mut r)?,
            },
            other => return Err(MessageError::UnknownType(other)),
        };
        r.finish()?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_bind_layout_byte_by_byte() {
        let msg = ControlMessage::RelayBind {
            side: Side::Guest,
            ticket: Bytes::from_static(&[0xaa, 0xbb]),
        };
        let bytes = msg.to_bytes().unwrap();
        assert_eq!(&bytes[..], &[0x01, 0x01, 2, 0, 2, 0xaa, 0xbb]);
        assert_eq!(ControlMessage::decode(&bytes), Ok(msg));
        assert_eq!(
            &ControlMessage::RelayReady.to_bytes().unwrap()[..],
            &[0x01, 0x02]
        );
    }

    #[test]
    fn decoder_refuses_garbage_with_named_errors() {
        assert_eq!(
            ControlMessage::decode(&[]),
            Err(MessageError::Truncated { field: "type" })
        );
        assert_eq!(
            ControlMessage::decode(&[0xff, 0xff]),
            Err(MessageError::UnknownType(0xffff))
        );
        assert_eq!(
            ControlMessage::decode(&[0x01, 0x02, 0]),
            Err(MessageError::TrailingBytes(1))
        );
        assert_eq!(
            ControlMessage::decode(&[0x01, 0x01, 3, 0, 0]),
            Err(MessageError::InvalidValue {
                field: "side",
                value: 3
            })
        );
        assert_eq!(
            ControlMessage::decode(&[0x01, 0x01, 1, 0x02, 0x01]),
            Err(MessageError::FieldTooLong {
                field: "ticket",
                len: 513,
                max: MAX_TICKET_LEN
            })
        );
        assert_eq!(
            ControlMessage::decode(&[0x00, 0x01, 0, 0, 0, 0]),
            Err(MessageError::InvalidValue {
                field: "code",
                value: 0
            })
        );
        assert_eq!(
            ControlMessage::decode(&[0x00, 0x01, 0, 100, 0, 1, 0xff]),
            Err(MessageError::InvalidUtf8 { field: "message" })
        );
    }

    #[test]
    fn encoder_refuses_over_long_fields() {
        let msg = ControlMessage::RelayBind {
            side: Side::Host,
            ticket: Bytes::from(vec![0u8; MAX_TICKET_LEN + 1]),
        };
        assert!(matches!(
            msg.to_bytes(),
            Err(MessageError::FieldTooLong { .. })
        ));
        let long = "é".repeat(MAX_REASON_LEN);
        let ControlMessage::Error { message, .. } =
            ControlMessage::error(ErrorCode::Internal, &long)
        else {
            unreachable!()
        };
        assert!(message.len() <= MAX_REASON_LEN);
    }

    #[test]
    fn type_numbers_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (n, name) in MESSAGE_TYPES {
            assert!(seen.insert(*n), "{name}");
        }
    }
}
