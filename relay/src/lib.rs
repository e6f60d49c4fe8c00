//! The relay data plane.
//!
//! Listeners accept endpoints, check their session tickets offline with the broker's public
//! keys, pair the two sides of a session in a bounded waiting room and then forward bytes with
//! one of the engines: `splice` (Linux default, zero copy through pooled pipes), `uring`
//! (io_uring multishot receive with provided buffers), `copy` (portable, 64 KiB buffers), and
//! QUIC. It enforces byte-rate limits, idle timeouts and drain, and emits one record per ended
//! session.
//!
//! It never sees plaintext (sessions are end-to-end encrypted) and never reads the directory.
//!
//! # Layout
//!
//! - `config`: the TOML configuration, defaults, validation.
//! - `server`: [`RelayHandle`]: listeners, per-connection tasks, parked sides, sessions, drain.
//! - `handshake`: IO around the codec's `RelayAcceptor` (read the bind, polite close).
//! - `kill`: the broker's session kill switch (cut a session's pipes, refuse its later binds).
//! - `waiting_room`: pairing decisions under one lock (caps, replay, duplicate side).
//! - `nonce_cache`: bounded replay cache of ticket nonces.
//! - `engine`: the forwarding engines (`splice`, `copy`, `uring`) and their shared types.
//! - `limiter`: token buckets (per session, per tenant).
//! - `record`, `record_redis`: session-end records and their sinks.
//! - `metrics`, `metrics_http`: metric names and the `/metrics` + `POST /drain` endpoint.
//! - `error`: [`RelayError`].
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod config;
pub mod engine;
pub mod error;
mod handshake;
mod kill;
pub mod limiter;
pub mod metrics;
pub mod metrics_http;
pub mod nonce_cache;
pub mod quic;
pub mod record;
pub mod record_redis;
mod server;
mod waiting_room;

pub use config::RelayConfig;
pub use engine::{EngineKind, Transport};
pub use error::{Party, RelayError};
pub use record::{ChannelSink, NullSink, RecordSink, SessionRecord};
pub use record_redis::RedisSink;
pub use server::RelayHandle;
