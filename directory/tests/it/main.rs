//! Black-box tests of the directory crate: the `KvStore` conformance suite (redb and Redis),
//! durability, and the `Directory` service. One test binary; `support` is shared.
// Tests may unwrap, expect and panic: a failing test should say where.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod durability;
mod service_edits;
mod service_flows;
mod service_suite;
mod store_suite;
mod support;
