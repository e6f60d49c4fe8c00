//! Shared support for the black-box tests: free loopback ports, a private `redis-server` per
//! test (never the machine's own on 6379), and for the agent acceptance tests the real
//! binaries as child processes (`switchboard serve`, `switchboard-agent`, a throwaway `sshd`)
//! plus tenant set-up through the admin API; every child is killed when dropped.
//!
//! It holds no test itself; the tests live in `tests/tests/` and in the crates' own `tests/`.
#![forbid(unsafe_code)]

pub mod admin;
pub mod agent_proc;
pub mod binaries;
pub mod child;
mod redis_server;
pub mod serve;
pub mod sshd;

pub use redis_server::RedisServer;
/// A TCP port on 127.0.0.1 that was free a moment ago (the loadgen's, which spawns servers too).
pub use switchboard_loadgen::target::free_tcp_port;
