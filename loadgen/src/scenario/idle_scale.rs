//! `idle-scale`: open and hold paired sessions in steps (default 1k, 2k, 5k, 10k, 20k, 50k,
//! 100k, up to `--idle-max`, bounded by `--duration`); after each step, sample the server
//! (`procstat` on the spawned `switchboard serve`, whose relay is in process) and this
//! process, and record per-session memory against the step-0 baseline, descriptors and the
//! step's setup rate. With `--relay-quic` both sides reach the relay over QUIC (one UDP
//! socket each), so neither process spends a descriptor per session.
//!
//! Series: `rss_per_session` (server bytes per held session), `loadgen_rss_per_session`,
//! `server_fds`, `setup_rate`. Figures at the largest step held, plus what stopped it
//! (`config.outcome.stopped_by`: the max, the duration, an fd limit, or the first error
//! reason). A `rate_limited` refusal is retried after a pause (counted under
//! `retried_rate_limited`, not as a failure); other failures are counted and not retried.
//! Sessions stay idle (the mux keep-alive pings only). With `--idle-hold S`, the largest
//! step is then held for S seconds: the server's CPU over that time (`server_cpu_holding`,
//! in cores: the cost of idle sessions' keep-alives) and the sessions that ended meanwhile
//! (`ended_while_held`, a failure) are reported. All are closed at the end.

use std::time::Duration;

use serde_json::json;
use switchboard_agent::control::guest::GuestError;
use switchboard_codec::{DeviceId, ErrorCode};
use tokio::time::Instant;

use super::Ctx;
use super::open::close_all;
use crate::error::LoadgenError;
use crate::guests::{GuestPool, OpenedSession};
use crate::procstat::{self, CpuMeter, ProcSample};
use crate::progress::Progress;
use crate::results::{ErrorCounts, Figure, LatencyRecorder, ScenarioReport, Series};

/// Default steps (sessions held after each), cut at `--idle-max`.
const DEFAULT_STEPS: &[usize] = &[1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000];
/// Pause after a step before sampling, so freed setup buffers and late binds settle.
const SETTLE: Duration = Duration::from_millis(500);
/// Pause before retrying a `rate_limited` open.
const RATE_LIMIT_PAUSE: Duration = Duration::from_millis(100);
/// The descriptor limit of one process here; within this margin of it counts as "hit".
const FD_LIMIT_MARGIN: u64 = 200;

/// idle-scale options.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct IdleScaleArgs {
    /// idle-scale: most sessions held (the last step).
    #[arg(long, default_value_t = 10_000)]
    pub idle_max: usize,
    /// idle-scale: sessions held after each step, comma separated (default 1k, 2k, 5k, 10k,
    /// 20k, 50k, 100k up to --idle-max).
    #[arg(long, value_delimiter = ',')]
    pub idle_steps: Vec<usize>,
    /// idle-scale: after the last step, hold every session this many seconds (at most 3600,
    /// on top of --duration) and report the server's CPU meanwhile and sessions lost.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub idle_hold: u64,
}

impl IdleScaleArgs {
    /// The steps, ascending, each at most `idle_max`, ending at `idle_max`.
    pub fn steps(&self) -> Vec<usize> {
        let given = if self.idle_steps.is_empty() {
            DEFAULT_STEPS
        } else {
            &self.idle_steps[..]
        };
        let mut steps: Vec<usize> = given
            .iter()
            .copied()
            .filter(|&s| s > 0 && s < self.idle_max)
            .collect();
        steps.push(self.idle_max);
        steps.sort_unstable();
        steps.dedup();
        steps
    }
}

/// One step's sample.
#[derive(Debug, Clone, Copy)]
struct Step {
    held: usize,
    setup_rate: f64,
    server: Option<ProcSample>,
    me: ProcSample,
}

/// Runs the scenario.
pub async fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, LoadgenError> {
    let a = ctx.args.idle_scale.clone();
    let c = ctx.args.common.clone();
    let steps = a.steps();
    let hosts = ctx.start_hosts(c.hosts).await?;
    let guests = ctx.guests(c.guests).await?;
    let devices = ctx.device_ids(c.hosts);
    let pid = ctx.server_pid();
    let fd_limit = fd_limit();
    let progress = ctx.progress("idle-scale", Some(a.idle_max as u64));
    let errors = ErrorCounts::new();
    let setup = LatencyRecorder::new();

    // Step 0: hosts and guests connected, no session.
    tokio::time::sleep(SETTLE).await;
    let server0 = pid.map(procstat::sample).transpose()?;
    let me0 = procstat::sample(std::process::id())?;

    let started = Instant::now();
    let deadline = started + ctx.max_duration();
    let ticker = progress.start();
    let mut held: Vec<OpenedSession> = Vec::new();
    let mut samples: Vec<Step> = Vec::new();
    let mut stopped_by = "reached --idle-max".to_owned();
    for (i, &target) in steps.iter().enumerate() {
        if Instant::now() >= deadline {
            stopped_by = "--duration".into();
            break;
        }
        progress.set_note(format!("step {}/{}: {target}", i + 1, steps.len()));
        let want = target.saturating_sub(held.len());
        let failures_before = errors.total();
        let t = Instant::now();
        let opener = Opener {
            guests: &guests,
            devices: &devices,
            deadline,
            errors: &errors,
            setup: &setup,
            progress: &progress,
        };
        let opened = opener.open(want, c.concurrency).await;
        let secs = t.elapsed().as_secs_f64();
        let got = opened.len();
        held.extend(opened);
        tokio::time::sleep(SETTLE).await;
        let step = Step {
            held: held.len(),
            setup_rate: got as f64 / secs.max(1e-9),
            server: pid.map(procstat::sample).transpose()?,
            me: procstat::sample(std::process::id())?,
        };
        samples.push(step);
        if let Some(why) = limit_hit(&step, fd_limit) {
            stopped_by = why;
            break;
        }
        if got < want {
            stopped_by = if Instant::now() >= deadline {
                "--duration".into()
            } else {
                let new = errors.total().saturating_sub(failures_before);
                format!("{new} failed opens: {}", top_reason(&errors))
            };
            break;
        }
    }
    progress.set_note(format!("holding {} for {} s", held.len(), a.idle_hold));
    let hold = hold(&held, Duration::from_secs(a.idle_hold), pid).await?;
    let elapsed = started.elapsed().as_secs_f64();
    ticker.finish();
    let sessions_held = held.len();
    close_all(held, c.concurrency.max(64)).await;
    errors.absorb(&hosts.errors.snapshot());
    hosts.shutdown().await;

    let mut r = ScenarioReport {
        config: json!({
            "idle_max": a.idle_max, "steps": steps, "hosts": c.hosts,
            "guest_connections": c.guests, "concurrency": c.concurrency,
            "duration_s": c.duration, "quic_control": ctx.args.target.quic,
            "relay_transport": switchboard_agent::session::default_relay_transport().name(),
            "server_pid_sampled": pid.is_some(), "fd_limit": fd_limit,
            "outcome": { "stopped_by": stopped_by, "largest_held": samples.last().map_or(0, |s| s.held) },
        }),
        duration_s: elapsed,
        ..Default::default()
    };
    add_results(&mut r, &samples, server0.as_ref(), &me0);
    r.figures.insert(
        "errors".into(),
        Figure::lower(failures(&errors) as f64, "count"),
    );
    r.figures.insert(
        "sessions_opened".into(),
        Figure::info(sessions_held as f64, "count"),
    );
    if let Some(h) = hold {
        h.add_to(&mut r, &errors);
    }
    r.latencies.insert("setup".into(), setup.summary());
    r.errors = errors.snapshot();
    Ok(r)
}

/// What holding the largest step for `--idle-hold` cost and kept.
#[derive(Debug, Clone, Copy)]
struct Hold {
    secs: f64,
    /// Server CPU seconds per second over the hold (None: the server is not ours to sample).
    server_cores: Option<f64>,
    loadgen_cores: f64,
    ended: usize,
}

impl Hold {
    fn add_to(self, r: &mut ScenarioReport, errors: &ErrorCounts) {
        r.figures
            .insert("hold".into(), Figure::info(self.secs, "s"));
        if let Some(c) = self.server_cores {
            r.figures
                .insert("server_cpu_holding".into(), Figure::lower(c, "cores"));
        }
        r.figures.insert(
            "loadgen_cpu_holding".into(),
            Figure::info(self.loadgen_cores, "cores"),
        );
        r.figures.insert(
            "ended_while_held".into(),
            Figure::lower(self.ended as f64, "count"),
        );
        errors.add_n("ended_while_held", self.ended as u64);
    }
}

/// Holds `held` idle for `period` and measures CPU meanwhile (None when there is nothing to
/// hold).
async fn hold(
    held: &[OpenedSession],
    period: Duration,
    pid: Option<u32>,
) -> Result<Option<Hold>, LoadgenError> {
    if period.is_zero() || held.is_empty() {
        return Ok(None);
    }
    let meter = CpuMeter::start(pid)?;
    let t = Instant::now();
    tokio::time::sleep(period).await;
    let secs = t.elapsed().as_secs_f64();
    let used = meter.stop()?;
    Ok(Some(Hold {
        secs,
        server_cores: used.server.map(|c| c / secs),
        loadgen_cores: used.me / secs,
        ended: held.iter().filter(|s| s.session.is_closed()).count(),
    }))
}

/// Series over the steps and figures of the largest step.
fn add_results(
    r: &mut ScenarioReport,
    samples: &[Step],
    server0: Option<&ProcSample>,
    me0: &ProcSample,
) {
    let per = |now: u64, base: u64, n: usize| now.saturating_sub(base) as f64 / n.max(1) as f64;
    let mut rss = Vec::new();
    let mut me_rss = Vec::new();
    let mut fds = Vec::new();
    let mut rate = Vec::new();
    for s in samples.iter().filter(|s| s.held > 0) {
        let x = s.held as f64;
        if let (Some(now), Some(base)) = (s.server, server0) {
            rss.push((x, per(now.rss_bytes, base.rss_bytes, s.held)));
            fds.push((x, now.fds as f64));
        }
        me_rss.push((x, per(s.me.rss_bytes, me0.rss_bytes, s.held)));
        rate.push((x, s.setup_rate));
    }
    let series = |y: &str, points: Vec<(f64, f64)>| Series {
        x_label: "sessions held".into(),
        y_label: y.into(),
        points,
    };
    let Some(last) = samples.iter().rev().find(|s| s.held > 0) else {
        r.figures
            .insert("sessions_held".into(), Figure::higher(0.0, "count"));
        return;
    };
    r.figures.insert(
        "sessions_held".into(),
        Figure::higher(last.held as f64, "count"),
    );
    r.figures.insert(
        "setup_rate_last_step".into(),
        Figure::info(last.setup_rate, "1/s"),
    );
    if let (Some(now), Some(base)) = (last.server, server0) {
        r.figures.insert(
            "server_rss_per_session".into(),
            Figure::lower(per(now.rss_bytes, base.rss_bytes, last.held), "B"),
        );
        r.figures.insert(
            "server_fds_per_session".into(),
            Figure::info(per(now.fds, base.fds, last.held), "count"),
        );
        r.figures
            .insert("server_rss".into(), Figure::info(now.rss_bytes as f64, "B"));
        r.figures.insert(
            "server_cpu".into(),
            Figure::info(now.cpu_seconds - base.cpu_seconds, "s"),
        );
    }
    r.figures.insert(
        "loadgen_rss_per_session".into(),
        Figure::info(per(last.me.rss_bytes, me0.rss_bytes, last.held), "B"),
    );
    r.series.insert(
        "rss_per_session".into(),
        series("server RSS per session (B, over step 0)", rss),
    );
    r.series.insert(
        "loadgen_rss_per_session".into(),
        series("loadgen RSS per session (B, both sides)", me_rss),
    );
    r.series
        .insert("server_fds".into(), series("server open fds", fds));
    r.series
        .insert("setup_rate".into(), series("setups/s in the step", rate));
}

/// A process at its descriptor limit stops the steps.
fn limit_hit(step: &Step, limit: Option<u64>) -> Option<String> {
    let limit = limit?;
    if step
        .server
        .is_some_and(|s| s.fds + FD_LIMIT_MARGIN >= limit)
    {
        return Some(format!("server fd limit ({limit})"));
    }
    (step.me.fds + FD_LIMIT_MARGIN >= limit).then(|| format!("loadgen fd limit ({limit})"))
}

/// This process's hard `RLIMIT_NOFILE` (from `/proc/self/limits`; the server inherits it).
fn fd_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/self/limits")
        .ok()?
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(4)?
        .parse()
        .ok()
}

fn top_reason(errors: &ErrorCounts) -> String {
    errors
        .snapshot()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("retried_"))
        .max_by_key(|(_, n)| *n)
        .map_or_else(|| "unknown".to_owned(), |(k, n)| format!("{k} ({n})"))
}

/// Opens sessions, retrying `rate_limited` refusals until the deadline.
struct Opener<'a> {
    guests: &'a GuestPool,
    devices: &'a [DeviceId],
    deadline: Instant,
    errors: &'a ErrorCounts,
    setup: &'a LatencyRecorder,
    progress: &'a Progress,
}

impl Opener<'_> {
    async fn open(&self, n: usize, concurrency: usize) -> Vec<OpenedSession> {
        use futures::StreamExt as _;
        if self.devices.is_empty() {
            self.errors.add_n("no_devices", n as u64);
            return Vec::new();
        }
        futures::stream::iter(0..n)
            .map(|i| self.open_one(self.devices[i % self.devices.len()]))
            .buffer_unordered(concurrency.max(1))
            .filter_map(|s| async move { s })
            .collect()
            .await
    }

    async fn open_one(&self, device: DeviceId) -> Option<OpenedSession> {
        let s = open_retrying(self.guests, device, self.deadline, self.errors).await;
        match &s {
            Some(s) => {
                self.setup.record(s.timings.ready);
                self.progress.inc();
            }
            None => self.progress.fail(),
        }
        s
    }
}

/// One open to `device`; a `rate_limited` refusal is counted as `retried_rate_limited` and
/// retried after a pause until `deadline`; any other failure is counted by reason.
pub(super) async fn open_retrying(
    guests: &GuestPool,
    device: DeviceId,
    deadline: Instant,
    errors: &ErrorCounts,
) -> Option<OpenedSession> {
    while Instant::now() < deadline {
        match guests.open(device).await {
            Ok(s) => return Some(s),
            Err(GuestError::Refused {
                code: ErrorCode::RateLimited,
                ..
            }) => {
                errors.add("retried_rate_limited");
                tokio::time::sleep(RATE_LIMIT_PAUSE).await;
            }
            Err(e) => {
                errors.add_guest_error(&e);
                return None;
            }
        }
    }
    None
}

/// Failures that count against a run: every reason but the retried refusals.
pub(super) fn failures(errors: &ErrorCounts) -> u64 {
    errors
        .snapshot()
        .iter()
        .filter(|(k, _)| !k.starts_with("retried_"))
        .map(|(_, n)| n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_cut_at_the_max_and_end_there() {
        let a = IdleScaleArgs {
            idle_max: 7_000,
            idle_steps: vec![],
            idle_hold: 0,
        };
        assert_eq!(a.steps(), vec![1_000, 2_000, 5_000, 7_000]);
        let b = IdleScaleArgs {
            idle_max: 200,
            idle_steps: vec![100, 50, 100, 0, 400],
            idle_hold: 0,
        };
        assert_eq!(b.steps(), vec![50, 100, 200]);
    }

    #[test]
    fn the_fd_limit_is_read() {
        assert!(fd_limit().is_some_and(|l| l > 0));
    }

    #[test]
    fn a_step_near_the_fd_limit_stops() {
        let me = ProcSample {
            fds: 19_900,
            ..Default::default()
        };
        let step = Step {
            held: 9_000,
            setup_rate: 1.0,
            server: None,
            me,
        };
        assert!(limit_hit(&step, Some(20_000)).is_some_and(|w| w.contains("loadgen")));
        assert!(limit_hit(&step, Some(100_000)).is_none());
    }
}
