//! The agent's one error type.

/// Everything an agent operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// An admin-API exchange failed (connect, TLS pin, malformed answer, timeout).
    #[error("admin API: {0}")]
    Http(String),
    /// TLS could not be set up.
    #[error("tls: {0}")]
    Tls(String),
}
