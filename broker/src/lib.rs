//! The Switchboard broker: the control plane.
//!
//! Control listeners (TLS over TCP, QUIC), login and MFA, the admin HTTP API, configuration and
//! `/metrics`; it wires the directory, the actors and (for `switchboard serve`) an in-process
//! relay together. The `switchboard` binary lives here.
//!
//! It never forwards session payload: that is the relay's job.
#![forbid(unsafe_code)]
