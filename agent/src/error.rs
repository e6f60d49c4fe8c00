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
    // --- control ---
    /// The control connection could not be set up or broke (connect, TLS/QUIC, IO, timeout).
    #[error("control connection to {server}: {message}")]
    Control {
        /// The `host:port` of the broker.
        server: String,
        /// What went wrong.
        message: String,
    },
    /// The broker refused or ended something with a stable code.
    #[error("{}: {message}", .code.name())]
    Refused {
        /// The broker's code.
        code: switchboard_codec::ErrorCode,
        /// The broker's sentence.
        message: String,
    },
    /// A state file or directory could not be read, written, or is unsafe.
    #[error("state {path}: {message}")]
    State {
        /// The file or directory.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A command-line value or a local precondition is wrong (a sentence for the user).
    #[error("{0}")]
    Usage(String),
    // --- session ---
    /// The relay could not be reached (DNS, connect refused, timeout) or broke during setup.
    #[error("relay {addr}: {message}")]
    RelayConnect {
        /// The relay address tried.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The relay refused the bind (bad or expired ticket, peer never came, ...).
    #[error("the relay refused the session: {code}: {message}")]
    RelayRefused {
        /// The relay's refusal code.
        code: switchboard_codec::ErrorCode,
        /// The relay's sentence.
        message: String,
    },
    /// The end-to-end Noise handshake failed (wrong peer key, other session, tampering) or
    /// did not finish in time.
    #[error("end-to-end handshake with the peer failed: {0}")]
    Handshake(String),
    /// The host refused (or could not connect) a tunnel this side asked for.
    #[error("the host refused the tunnel to {target}: {}: {message}", .reason.name())]
    TunnelRefused {
        /// The `host:port` asked for.
        target: String,
        /// The mux close reason the host gave.
        reason: switchboard_codec::mux::CloseReason,
        /// The host's sentence.
        message: String,
    },
    /// The session is over; the operation could not be done.
    #[error("the session is over: {0}")]
    SessionEnded(crate::session::SessionEnd),
    /// An allow-list entry (`host:port`) did not parse.
    #[error("invalid allow-list entry {entry:?}: {why}")]
    AllowEntry {
        /// The entry as given.
        entry: String,
        /// Why it is invalid.
        why: &'static str,
    },
    /// Another session-level failure (local socket, internal).
    #[error("session: {0}")]
    Session(String),
}
