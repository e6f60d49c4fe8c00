//! The broker's control-plane actors and their supervision.
//!
//! `TenantActor` holds a tenant's compiled policy snapshot, quotas and rate limits;
//! `DeviceActor` (one per connected Host) tracks presence and delivers offers; `SessionActor`
//! (one per session) runs the session state machine with its timers and audit records; the relay
//! registry picks a relay for each session.
//!
//! Actors carry control, never payload, and parse no bytes: the broker decodes, the relay moves
//! session bytes.
#![forbid(unsafe_code)]
