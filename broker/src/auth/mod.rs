//! Login state: bearer tokens and MFA tickets ([`tokens`]) and login rate limits
//! ([`ratelimit`]).
//!
//! Tokens are random 32-byte values handed out once; only their SHA-256 is kept, in memory,
//! with a TTL (12 h by default): a broker restart logs everybody out. The HTTP side of login
//! (`POST /api/v1/login`, `/login/mfa`) is in `api::login`.

pub mod ratelimit;
pub mod tokens;

pub use ratelimit::RateLimiter;
pub use tokens::{SecretStore, TokenError};
