//! `BrokerError`: the one public error type of the broker library.
//!
//! Configuration, key and certificate files, the directory, listeners. The admin API has its
//! own response type (`api::error::ApiError`) that maps these and `DirectoryError` to HTTP.

use std::path::PathBuf;

/// Every error of the broker library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The configuration is refused (the message names the key).
    #[error("configuration: {0}")]
    Config(String),
    /// A state file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key or certificate file holds something unusable.
    #[error("{path}: {detail}")]
    BadKeyMaterial {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Generating a certificate or key failed.
    #[error("generating key material: {0}")]
    Generate(String),
    /// The directory refused or failed.
    #[error(transparent)]
    Directory(#[from] switchboard_directory::DirectoryError),
    /// A listener could not be bound or served.
    #[error("listening on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// TLS setup failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The admin client could not talk to the server.
    #[error("admin client: {0}")]
    Client(String),
    /// The admin client's HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] switchboard_agent::AgentError),
    /// The actor layer could not start.
    #[error("actors: {0}")]
    Actors(#[from] switchboard_actors::ActorError),
    /// The in-process relay could not start.
    #[error("relay: {0}")]
    Relay(#[from] switchboard_relay::RelayError),
}

impl BrokerError {
    pub(crate) fn file(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::File {
            path: path.to_owned(),
            source,
        }
    }
}
