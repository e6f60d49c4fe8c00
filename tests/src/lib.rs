//! Shared support for the black-box tests: free loopback ports and a private `redis-server`
//! per test (never the machine's own on 6379), killed when dropped.
//!
//! It holds no test itself; the tests live in `tests/tests/` and in the crates' own `tests/`.
#![forbid(unsafe_code)]

mod redis_server;

pub use redis_server::RedisServer;

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read, release).
pub fn free_tcp_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
