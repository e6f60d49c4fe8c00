//! The loadgen's one error type: what stops a run (a target that cannot be reached or
//! spawned, provisioning that failed, bad options, unreadable result files).
//!
//! Failures of single sessions during a scenario are not errors of the run: they are counted
//! by reason in `results::ErrorCounts`.

use switchboard_agent::AgentError;

/// Everything that can stop a loadgen run.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// A command-line value is wrong (a sentence for the user).
    #[error("{0}")]
    Usage(String),
    /// The server could not be spawned or did not come up.
    #[error("spawning switchboard serve: {0}")]
    Spawn(String),
    /// Creating the tenant's objects or enrolling devices failed.
    #[error("provisioning: {0}")]
    Provision(String),
    /// An agent-library call failed outside of a counted session.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A scenario could not run at all (e.g. no host came online).
    #[error("scenario {scenario}: {message}")]
    Scenario {
        /// The scenario name.
        scenario: String,
        /// What went wrong.
        message: String,
    },
    /// A result file could not be read or parsed.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: String,
        /// Why it is unreadable.
        message: String,
    },
    /// Local IO (writing a report, a temp dir).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// JSON encoding.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<switchboard_agent::control::guest::GuestError> for LoadgenError {
    fn from(e: switchboard_agent::control::guest::GuestError) -> Self {
        use switchboard_agent::control::guest::GuestError;
        match e {
            GuestError::Other(a) => Self::Agent(a),
            GuestError::Refused { code, message } => {
                Self::Agent(AgentError::Refused { code, message })
            }
            other => Self::Provision(other.to_string()),
        }
    }
}
