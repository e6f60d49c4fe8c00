//! The Host and Guest endpoints.
//!
//! Enrollment, presence, the confirm prompt, the end-to-end Noise channel and TCP tunnels
//! carried over it, as a library (used by `loadgen` too) and as the `switchboard-agent` binary.
//!
//! It does not trust the relay: everything past the handshake is end-to-end encrypted.
//!
//! # Layout
//!
//! - `control`: the control connection (`client::ControlClient`, TLS or QUIC, pinned), the
//!   reconnect `backoff`, and the commands: `host` (enroll, run loop, offers → sessions),
//!   `guest` (login, device list, session request, tunnels), `ondemand`.
//! - `session`: one end-to-end session (relay bind, Noise, mux, tunnels).
//! - `state`: `host.json` / `guest.json` (0600 in a 0700 dir, atomic writes).
//! - `cli`: the clap command line of the binary; `prompt`: the confirm prompt.
//! - `http`, `pin`: the admin-API client and certificate pinning.
#![forbid(unsafe_code)]

pub mod admin;
pub mod cli;
pub mod control;
pub mod error;
pub mod http;
pub mod pin;
pub mod prompt;
pub mod session;
pub mod state;

pub use error::AgentError;
