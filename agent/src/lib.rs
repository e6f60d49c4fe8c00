//! The Host and Guest endpoints.
//!
//! Enrollment, presence, the confirm prompt, the end-to-end Noise channel and TCP tunnels
//! carried over it, as a library (used by `loadgen` too) and as the `switchboard-agent` binary.
//!
//! It does not trust the relay: everything past the handshake is end-to-end encrypted.
#![forbid(unsafe_code)]

pub mod error;
pub mod http;
pub mod pin;

pub use error::AgentError;
