//! `switchboard-agent` as a child process with its own `--state` directory: long-running
//! commands (`host run`, `guest connect`) with captured lines, and one-shot commands
//! (`host enroll`, `guest login`) run to their exit.
//!
//! It knows the command line of the agent contract only as argument lists the tests pass; it
//! interprets no output.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::child::ChildProcess;

/// A running `switchboard-agent` (killed on drop).
#[derive(Debug)]
pub struct AgentProcess {
    proc: ChildProcess,
    state: PathBuf,
}

/// What a one-shot command did.
#[derive(Debug, Clone)]
pub struct AgentRun {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// stdout and stderr lines.
    pub output: String,
}

impl AgentProcess {
    /// Starts `switchboard-agent --state <state> <args>`; `stdin` is fed then closed.
    pub fn spawn(
        label: &str,
        state: &Path,
        args: &[&str],
        stdin: Option<String>,
    ) -> anyhow::Result<Self> {
        let program = crate::binaries::switchboard_agent()?;
        let mut all = vec!["--state".to_owned(), state.display().to_string()];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        let mut env = crate::child::log_env();
        env.push((
            "SWITCHBOARD_AGENT_STATE".to_owned(),
            state.display().to_string(),
        ));
        let proc = ChildProcess::spawn(label, &program, &all, &env, stdin)?;
        Ok(Self {
            proc,
            state: state.to_owned(),
        })
    }

    /// Runs a one-shot command to its exit (bounded by `timeout`).
    pub async fn run(
        label: &str,
        state: &Path,
        args: &[&str],
        stdin: Option<String>,
        timeout: Duration,
    ) -> anyhow::Result<AgentRun> {
        let mut p = Self::spawn(label, state, args, stdin)?;
        let code = p.wait_exit(timeout).await?;
        Ok(AgentRun {
            code,
            output: p.tail(usize::MAX),
        })
    }

    /// The state directory.
    pub fn state(&self) -> &Path {
        &self.state
    }
}

impl Deref for AgentProcess {
    type Target = ChildProcess;
    fn deref(&self) -> &ChildProcess {
        &self.proc
    }
}

impl DerefMut for AgentProcess {
    fn deref_mut(&mut self) -> &mut ChildProcess {
        &mut self.proc
    }
}
