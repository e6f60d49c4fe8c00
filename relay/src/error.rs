//! The relay's error enum: what failed, and on which side.
//!
//! A refusal a client sees is an `ErrorCode` in a `RelayClose` frame; this enum is for the
//! relay's own callers and logs. Variants that concern a connection carry a [`Party`], so a
//! log line says whether the Host, the Guest, an endpoint that had not bound yet, or the relay
//! itself failed.

use std::fmt;
use std::net::SocketAddr;

use switchboard_codec::{ErrorCode, Side};

/// Who a failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The Host side of a session.
    Host,
    /// The Guest side of a session.
    Guest,
    /// An endpoint that has not bound yet (side unknown).
    Endpoint,
    /// The relay itself.
    Relay,
}

impl From<Side> for Party {
    fn from(s: Side) -> Self {
        match s {
            Side::Host => Self::Host,
            Side::Guest => Self::Guest,
        }
    }
}

impl From<crate::engine::Peer> for Party {
    fn from(p: crate::engine::Peer) -> Self {
        match p {
            crate::engine::Peer::A => Self::Host,
            crate::engine::Peer::B => Self::Guest,
        }
    }
}

impl fmt::Display for Party {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Host => "host",
            Self::Guest => "guest",
            Self::Endpoint => "endpoint",
            Self::Relay => "relay",
        })
    }
}

/// Everything the relay reports to its caller.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The configuration is invalid (message names the key).
    #[error("config: {0}")]
    Config(String),
    /// A listener could not bind.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A socket operation failed on one side.
    #[error("{party} side: {source}")]
    Io {
        /// Whose socket.
        party: Party,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A connection was refused with a code.
    #[error("{party} side refused: {code}")]
    Refused {
        /// Who was refused.
        party: Party,
        /// The code sent in `RelayClose`.
        code: ErrorCode,
    },
    /// The forwarding engine failed.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    /// The record sink failed.
    #[error("record sink: {0}")]
    Sink(String),
    /// The metrics endpoint failed.
    #[error("metrics: {0}")]
    Metrics(String),
}

impl RelayError {
    /// The side this error belongs to.
    pub fn party(&self) -> Party {
        match self {
            Self::Io { party, .. } | Self::Refused { party, .. } => *party,
            Self::Engine(e) => e.peer.into(),
            _ => Party::Relay,
        }
    }
}
