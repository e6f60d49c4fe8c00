//! The Switchboard wire format, without IO.
//!
//! This crate owns every byte that crosses a Switchboard socket: the versioned frame header,
//! the control messages with their stable type numbers, the table of error codes a client can
//! see, the ed25519-signed session tickets the relay checks offline, the relay and control
//! handshakes as deterministic state machines (inputs through `handle_*` with an explicit `now`,
//! outputs through `poll_*`), and the end-to-end Noise channel with its channel multiplexing.
//!
//! It does no IO, reads no clock and spawns no task: drivers in `relay`, `broker` and `agent`
//! feed it bytes and instants and act on what it returns. The byte-level specification is
//! `docs/protocol.md`.
//!
//! # Layout
//!
//! - `frame`: the 8-byte versioned header and `FrameDecoder` (length checked before allocating).
//! - `message`, `message_fields`: `ControlMessage` with stable type numbers and its layout.
//! - `error_code`: the stable `ErrorCode` table every refusal carries; `error`: `CodecError`,
//!   the crate's one error type gathering each layer's own.
//! - `ids`, `permissions`: 16-byte ids, `RelayId`, `Side`, `Permission` and `PermissionSet`.
//! - `ticket`: ed25519-signed `SessionTicket`, `TicketSigner`, `TicketVerifier`.
//! - `relay_handshake`: `RelayAcceptor` / `RelayConnector`.
//! - `control_handshake`, `control_acceptor`, `control_connector`: the control connection's
//!   handshake (device challenge, guest token, enrollment, OnDemand join) and heartbeats.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod control_acceptor;
pub mod control_connector;
pub mod control_handshake;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod ids;
pub mod message;
mod message_fields;
pub mod mux;
pub mod noise;
pub mod permissions;
pub mod relay_handshake;
pub mod ticket;
pub mod ticket_memo;
mod wire;

pub use control_acceptor::{ControlAcceptor, ControlAcceptorEvent};
pub use control_connector::{ControlConnector, ControlConnectorEvent, ControlCredentials};
pub use control_handshake::{ControlConfig, ControlHandshakeError, ControlPeer};
pub use error::CodecError;
pub use error_code::ErrorCode;
pub use frame::{Frame, FrameDecoder, FrameError, FrameKind};
pub use ids::{DeviceId, RelayId, SessionId, Side, TenantId, UserId};
pub use message::{ControlMessage, MessageError};
pub use permissions::{Permission, PermissionSet};
pub use relay_handshake::{
    AcceptorEvent, ConnectorEvent, RelayAcceptor, RelayConnector, RelayHandshakeConfig,
    RelayHandshakeError,
};
pub use ticket::{SessionTicket, TicketError, TicketKeyError, TicketSigner, TicketVerifier};
pub use ticket_memo::IssuedTickets;

/// UDP payload size every Switchboard QUIC endpoint (relay, agents, control) uses from the
/// start, without MTU probing (which costs about 2 KB per connection and extra packets at
/// setup). Fits a 1500-byte path over IPv6; on a smaller path quinn's black-hole detection
/// falls back to 1200.
pub const QUIC_INITIAL_MTU: u16 = 1452;
