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
#![forbid(unsafe_code)]
