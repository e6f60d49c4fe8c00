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
#![deny(unsafe_code)]
