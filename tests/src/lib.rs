//! Shared support for the black-box tests in `tests/tests/`: free loopback ports, a private
//! `redis-server` per test, and starting the real binaries.
#![forbid(unsafe_code)]
