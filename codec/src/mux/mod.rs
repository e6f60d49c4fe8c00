//! Channel multiplexing inside the end-to-end Noise channel.
//!
//! One session carries many channels — control, TCP tunnel streams, and the reserved kinds
//! screen, input, clipboard and file transfer, which this version refuses with a clear reason.
//! Each channel has its own flow-control window in each direction: a sender never has more
//! than the receiver's window in flight, the receiver grants credit as its application reads,
//! and the scheduler serves channels round-robin, so a stalled consumer stalls only its own
//! channel. Channels can half-close (`Eof`) or reset (`Close`). `Ping`/`Pong` keep an idle
//! session alive through the relay's byte-counting idle timeout.
//!
//! Sans-IO: the [`Mux`] consumes decrypted bytes and produces plaintext frames for the
//! [`crate::noise`] transport to seal; it never touches a socket or reads a clock. It does not
//! encrypt, and it does not interpret channel payloads or metadata. The byte-level
//! specification is `docs/protocol-e2e.md`.
//!
//! Layout: `kind.rs` (ids, kinds, close reasons), `frame.rs` (frame codec), `config.rs`,
//! `error.rs`, `channel.rs` (per-channel state), `engine.rs` (the `Mux`: peer input, local
//! API, events, timers), `scheduler.rs` (what is sent next), `sealed.rs` (`SealedMux`: a mux
//! joined to a Noise transport, for drivers that only want ciphertext in and out).
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

mod channel;
mod config;
mod engine;
mod error;
mod frame;
mod kind;
mod scheduler;
mod sealed;
#[cfg(test)]
mod tests;

pub use config::{
    MAX_CLOSE_MESSAGE, MAX_WINDOW, MIN_FRAME_PAYLOAD, MuxConfig, MuxRole, QUIC_KEEPALIVE_INTERVAL,
    QUIC_PEER_TIMEOUT,
};
pub use engine::{Mux, MuxEvent, Recv};
pub use error::MuxError;
pub use frame::{MAX_MUX_FRAME_PAYLOAD, MUX_HEADER_LEN, MuxFrame};
pub use kind::{ChannelId, ChannelKind, CloseReason};
pub use sealed::{SealedMux, SealedMuxError};
