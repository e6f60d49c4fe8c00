//! `ActorError`: the crate's one error type, and how a failure maps to a client-visible code.
//!
//! Refusals a client sees are `ErrorCode`s; this type wraps them together with the failures
//! that are the server's own (directory, actor spawn), which clients only see as `internal`.

use switchboard_codec::ErrorCode;
use switchboard_directory::DirectoryError;

/// Why an actor operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    /// A refusal with a stable client-visible code.
    #[error("refused: {0}")]
    Refused(ErrorCode),
    /// The directory failed.
    #[error("directory: {0}")]
    Directory(#[from] DirectoryError),
    /// An actor could not be spawned or reached.
    #[error("actor: {0}")]
    Actor(String),
}

impl ActorError {
    /// The code a client is told.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Refused(c) => *c,
            Self::Directory(_) | Self::Actor(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn actor(e: impl std::fmt::Display) -> Self {
        Self::Actor(e.to_string())
    }
}
