//! One `run`, as a library call (the binary and the tests use it): open the target, provision
//! the fleet, run each scenario in order, stop the server if it was spawned, and return the
//! [`RunReport`]. A scenario that cannot run at all stops the run with its error; failures
//! inside a scenario are in its report.
//!
//! It writes no files (`main.rs` does).

use std::io::BufRead as _;

use crate::cli::RunArgs;
use crate::error::LoadgenError;
use crate::fleet::Fleet;
use crate::report;
use crate::results::RunReport;
use crate::scenario::{self, Ctx};
use crate::target::{Target, TargetOptions};

/// The target options from the command line (reads the password from the environment
/// variable, or one line of stdin, for an existing server).
pub fn target_options(args: &RunArgs) -> Result<TargetOptions, LoadgenError> {
    let t = &args.target;
    let admin_password =
        match (&t.server, &t.admin_password_env) {
            (None, _) => None,
            (Some(_), Some(var)) => Some(std::env::var(var).map_err(|_| {
                LoadgenError::Usage(format!("--admin-password-env: {var} is not set"))
            })?),
            (Some(_), None) => {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            }
        };
    let extra_config = match &t.serve_config {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| LoadgenError::Usage(format!("--serve-config {}: {e}", p.display())))?,
        ),
        None => None,
    };
    Ok(TargetOptions {
        server: t.server.clone(),
        admin_url: t.admin_url.clone(),
        fingerprint: t.fingerprint.clone(),
        admin_user: t.admin_user.clone(),
        admin_password,
        directory: t.directory.clone(),
        extra_config,
        server_log: t.serve_log.clone(),
        transport: if t.quic {
            switchboard_agent::control::Transport::Quic
        } else {
            switchboard_agent::control::Transport::Tls
        },
    })
}

/// Runs every scenario of `args` against `opts`' target.
pub async fn run(args: RunArgs, opts: TargetOptions) -> Result<RunReport, LoadgenError> {
    let started_at = report::now_rfc3339();
    let config = serde_json::to_value(&args)?;
    let target = Target::open(&opts).await?;
    let result = run_on(&target, args).await;
    target.shutdown().await;
    let scenarios = result?;
    Ok(RunReport {
        tool: report::tool(),
        git_rev: report::git_rev(),
        started_at,
        machine: report::machine(),
        config,
        scenarios,
    })
}

async fn run_on(
    target: &Target,
    args: RunArgs,
) -> Result<Vec<crate::results::ScenarioReport>, LoadgenError> {
    if args.target.relay_quic {
        use switchboard_agent::session::{QuicDialer, RelayTransport};
        let addr = args.target.relay_quic_addr;
        switchboard_agent::session::set_default_relay_transport(RelayTransport::Quic {
            dialer: QuicDialer::new(None)?,
            addr,
        });
    }
    let c = &args.common;
    let fleet = Fleet::provision(target, c.hosts, c.enroll_concurrency).await?;
    let names = args.scenarios.clone();
    let mut ctx = Ctx::new(target, fleet, args);
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        out.push(scenario::run(&mut ctx, name).await?);
    }
    Ok(out)
}
