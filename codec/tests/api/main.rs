//! API tests of `switchboard-codec`, compiled into one binary: the in-memory Host–Relay–Guest
//! harness with injected time, property tests of every decoder, and the protocol-doc checks.
// Helpers outside `#[test]` functions may fail loudly too: this whole binary is test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod corpus;
mod doc_tables;
mod harness;
mod proptests;
mod support;
