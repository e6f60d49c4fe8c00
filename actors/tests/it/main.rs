//! Black-box tests of the actor layer: sessions and their refusals, confirm access, OnDemand,
//! supervision and the reconnect storm, on redb and (key flows) on a private Redis. One test
//! binary; `support` is shared.
// Tests may unwrap, expect and panic: a failing test should say where.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cluster;
mod confirm;
mod ondemand;
mod redis;
mod sessions;
mod supervision;
mod support;
