//! What every scenario gets ([`Ctx`]: the target, the provisioned fleet, the run's options)
//! and the dispatch from a [`ScenarioName`] to its `run` function.
//!
//! A scenario: takes what it needs from the `Ctx` (devices, a [`HostPool`], a [`GuestPool`]),
//! does bounded work (`--count`, `--duration`), feeds a [`Progress`], counts every failure by
//! reason, stops what it started, and returns one [`ScenarioReport`]. Scenarios do not print
//! (the summary table does) and do not write files.

pub mod bulk;
pub mod churn;
pub mod frames;
pub mod idle_scale;
pub mod interactive;
pub mod ondemand;
pub mod open;
pub mod setup_storm;

use std::sync::Arc;
use std::time::Duration;

use switchboard_agent::state::{GuestState, HostState};
use switchboard_codec::DeviceId;

use crate::cli::{RunArgs, ScenarioName};
use crate::error::LoadgenError;
use crate::fleet::Fleet;
use crate::guests::GuestPool;
use crate::hosts::HostPool;
use crate::progress::Progress;
use crate::results::ScenarioReport;
use crate::target::Target;

/// Longest wait for a host pool to come online, per 1,000 hosts (at least 30 s).
const ONLINE_WAIT_PER_1000: Duration = Duration::from_secs(20);

/// Everything a scenario may use.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The server.
    pub target: &'a Target,
    /// The provisioned tenant slice (devices enrolled so far).
    pub fleet: Fleet,
    /// The whole effective command line (common bounds and per-scenario options).
    pub args: RunArgs,
    guest_state: Option<GuestState>,
}

impl<'a> Ctx<'a> {
    /// A context over a provisioned fleet.
    pub fn new(target: &'a Target, fleet: Fleet, args: RunArgs) -> Self {
        Self {
            target,
            fleet,
            args,
            guest_state: None,
        }
    }

    /// The first `n` enrolled device identities (enrolling more first when needed).
    pub async fn devices(&mut self, n: usize) -> Result<&[HostState], LoadgenError> {
        let have = self.fleet.devices.len();
        if have < n {
            let c = self.args.common.enroll_concurrency;
            self.fleet.enroll_more(self.target, n - have, c).await?;
        }
        Ok(&self.fleet.devices[..n])
    }

    /// Device ids of the first `n` devices (as enrolled; call [`Self::devices`] first).
    pub fn device_ids(&self, n: usize) -> Vec<DeviceId> {
        self.fleet.devices[..n.min(self.fleet.devices.len())]
            .iter()
            .filter_map(|d| d.device_id().ok())
            .collect()
    }

    /// Starts `n` simulated hosts (devices `0..n`) and waits until they are online; an error
    /// when none came online.
    pub async fn start_hosts(&mut self, n: usize) -> Result<HostPool, LoadgenError> {
        let ep = self.target.endpoint();
        let wait = Duration::from_secs(30).max(ONLINE_WAIT_PER_1000 * (n as u32).div_ceil(1000));
        let devices = self.devices(n).await?.to_vec();
        let pool = HostPool::start(&ep, &devices, wait).await?;
        if pool.online() == 0 && n > 0 {
            let errors = pool.errors.snapshot();
            pool.shutdown().await;
            return Err(LoadgenError::Scenario {
                scenario: "hosts".into(),
                message: format!("no simulated host came online: {errors:?}"),
            });
        }
        Ok(pool)
    }

    /// `connections` guest control connections of the technician (logged in once per run).
    pub async fn guests(&mut self, connections: usize) -> Result<GuestPool, LoadgenError> {
        if self.guest_state.is_none() {
            self.guest_state = Some(self.fleet.login_tech(self.target).await?);
        }
        let state = self
            .guest_state
            .as_ref()
            .ok_or_else(|| LoadgenError::Provision("technician login state missing".into()))?;
        GuestPool::connect(&self.target.endpoint(), state, connections).await
    }

    /// A progress line for `name` towards `total` units.
    pub fn progress(&self, name: &str, total: Option<u64>) -> Arc<Progress> {
        Progress::new(name, total, self.args.output.quiet)
    }

    /// The bound on a scenario's measured part (`--duration`).
    pub fn max_duration(&self) -> Duration {
        Duration::from_secs_f64(self.args.common.duration.max(0.1))
    }

    /// The spawned server's pid, for process statistics (None for an existing server).
    pub fn server_pid(&self) -> Option<u32> {
        self.target.server_pid()
    }
}

/// Runs one scenario.
pub async fn run(ctx: &mut Ctx<'_>, name: ScenarioName) -> Result<ScenarioReport, LoadgenError> {
    let mut report = match name {
        ScenarioName::SetupStorm => setup_storm::run(ctx).await?,
        ScenarioName::Bulk => bulk::run(ctx).await?,
        ScenarioName::Interactive => interactive::run(ctx).await?,
        ScenarioName::IdleScale => idle_scale::run(ctx).await?,
        ScenarioName::Churn => churn::run(ctx).await?,
        ScenarioName::Ondemand => ondemand::run(ctx).await?,
    };
    report.name = name.as_str().to_owned();
    Ok(report)
}
