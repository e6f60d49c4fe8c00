//! `ondemand`: the OnDemand flow end to end, `--count` keys (bounded by `--duration`),
//! `--ondemand-concurrency` at a time. Setup (admin API, once): an OnDemand role
//! (RemoteSession, OwnInvitations) assigned to a user group holding the run's technician
//! (002/004 §6.2: creating keys needs an OnDemand role assignment).
//!
//! Each key: the technician (own control connection) creates a key → an end-user agent joins
//! with it (`control::ondemand::join`, auto-allow) and is queued → the technician starts →
//! the end-to-end session is ready → the technician ends it and the agent's join returns →
//! a second join with the same key must be refused (one connection, then the key is gone).
//!
//! Latencies per step: `create`, `join` (to queued), `start` (to session ready), `end` (to the
//! agent's join returning), `total`; figures: completed flows/s, errors (`key_reusable` when
//! a used key was accepted again).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::json;
use switchboard_agent::control::guest::{GuestError, connect_guest};
use switchboard_agent::control::ondemand::{self, JoinOptions};
use switchboard_agent::control::{ControlClient, Endpoint, Outcome, Printer, device_info};
use switchboard_agent::prompt::Confirmer;
use switchboard_agent::session::AllowList;
use switchboard_agent::state::GuestState;
use switchboard_codec::ControlCredentials;
use switchboard_codec::message::{OnDemandJoin, OnDemandKey};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Ctx;
use super::idle_scale::failures;
use crate::error::LoadgenError;
use crate::results::{ErrorCounts, Figure, LatencyRecorder, ScenarioReport, guest_reason};

/// How long the end user's agent may take to be queued, and to return after the end.
const STEP_WAIT: Duration = Duration::from_secs(20);

/// ondemand options.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct OndemandArgs {
    /// ondemand: flows in flight at once.
    #[arg(long, default_value_t = 4)]
    pub ondemand_concurrency: usize,
}

#[derive(Debug, Default)]
struct Tally {
    errors: ErrorCounts,
    create: LatencyRecorder,
    join: LatencyRecorder,
    start: LatencyRecorder,
    end: LatencyRecorder,
    total: LatencyRecorder,
}

/// Runs the scenario.
pub async fn run(ctx: &mut Ctx<'_>) -> Result<ScenarioReport, LoadgenError> {
    let a = ctx.args.ondemand.clone();
    let c = ctx.args.common.clone();
    let tag = ctx.fleet.tag.clone();
    let admin = &ctx.fleet.admin;
    let users = admin.call("GET", "/api/v1/users", None).await?;
    let tech_id = find_id(&users, &ctx.fleet.tech_user).ok_or_else(|| LoadgenError::Scenario {
        scenario: "ondemand".into(),
        message: format!(
            "the technician {:?} is not in GET /api/v1/users",
            ctx.fleet.tech_user
        ),
    })?;
    let group = admin
        .create_user_group(&format!("{tag} ondemand"), &[tech_id.as_str()])
        .await?;
    let role = admin
        .create_ondemand_role(
            &format!("{tag} helpdesk"),
            &["RemoteSession", "OwnInvitations"],
        )
        .await?;
    admin
        .create_assignment(&format!("{tag} ondemand"), &role, &[group.as_str()], &[])
        .await?;
    let tech = Arc::new(ctx.fleet.login_tech(ctx.target).await?);
    let ep = ctx.target.endpoint();
    let progress = ctx.progress("ondemand", Some(c.count));
    let t = Arc::new(Tally::default());

    let started = Instant::now();
    let deadline = started + ctx.max_duration();
    let ticker = progress.start();
    futures::stream::iter(0..c.count)
        .for_each_concurrent(a.ondemand_concurrency.max(1), |_| {
            let (ep, tech, t, progress) = (ep.clone(), tech.clone(), t.clone(), progress.clone());
            async move {
                if Instant::now() >= deadline {
                    return;
                }
                let t0 = Instant::now();
                match flow(&ep, &tech, &t).await {
                    Ok(()) => {
                        t.total.record(t0.elapsed());
                        progress.inc();
                    }
                    Err(reason) => {
                        t.errors.add(&reason);
                        progress.fail();
                    }
                }
            }
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    ticker.finish();

    let mut r = ScenarioReport {
        config: json!({
            "count": c.count, "duration_s": c.duration,
            "ondemand_concurrency": a.ondemand_concurrency, "quic_control": ctx.args.target.quic,
        }),
        duration_s: elapsed,
        ..Default::default()
    };
    let done = t.total.count();
    r.figures.insert(
        "flows_per_s".into(),
        Figure::higher(done as f64 / elapsed.max(1e-9), "1/s"),
    );
    r.figures
        .insert("flows".into(), Figure::info(done as f64, "count"));
    r.figures.insert(
        "errors".into(),
        Figure::lower(failures(&t.errors) as f64, "count"),
    );
    for (name, rec) in [
        ("create", &t.create),
        ("join", &t.join),
        ("start", &t.start),
        ("end", &t.end),
        ("total", &t.total),
    ] {
        r.latencies.insert(name.into(), rec.summary());
    }
    r.errors = t.errors.snapshot();
    Ok(r)
}

/// The `id` of the object whose `username` is `name`, anywhere in an admin-API answer.
fn find_id(v: &serde_json::Value, name: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(o) => {
            if o.get("username").and_then(|u| u.as_str()) == Some(name) {
                return o.get("id").and_then(|i| i.as_str()).map(str::to_owned);
            }
            o.values().find_map(|x| find_id(x, name))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_id(x, name)),
        _ => None,
    }
}

/// One key's whole flow; the failure reason of the first step that failed.
async fn flow(ep: &Endpoint, tech: &GuestState, t: &Tally) -> Result<(), String> {
    let g = |e: GuestError| guest_reason(&e);
    let mut control = connect_guest(ep, &tech.token).await.map_err(g)?;
    let t0 = Instant::now();
    let (key, _expires) = ondemand::create_key(&mut control).await.map_err(g)?;
    t.create.record(t0.elapsed());

    // The end user's agent: joins, is queued (its printer says so), allows, serves.
    let queued = Arc::new(Notify::new());
    let print: Printer = {
        let queued = queued.clone();
        Arc::new(move |line: &str| {
            if line.starts_with("queued at position") {
                queued.notify_one();
            }
        })
    };
    let opts = JoinOptions {
        endpoint: ep.clone(),
        key,
        confirmer: Confirmer::auto_accept(print.clone()),
        allow: AllowList::default(),
    };
    let t1 = Instant::now();
    let mut agent = tokio::spawn(ondemand::join(opts, print));
    tokio::select! {
        () = queued.notified() => t.join.record(t1.elapsed()),
        joined = &mut agent => {
            return Err(match joined {
                Ok(Err(e)) => format!("join_{}", guest_reason(&e)),
                _ => "join_ended_before_queued".into(),
            });
        }
        () = tokio::time::sleep(STEP_WAIT) => {
            agent.abort();
            return Err("join_not_queued_in_time".into());
        }
    }

    let t2 = Instant::now();
    let session = match ondemand::start(control, key).await {
        Ok(s) => s,
        Err(e) => {
            agent.abort();
            return Err(format!("start_{}", guest_reason(&e)));
        }
    };
    t.start.record(t2.elapsed());

    let t3 = Instant::now();
    session.session.close();
    match tokio::time::timeout(STEP_WAIT, &mut agent).await {
        Ok(Ok(Ok(()))) => t.end.record(t3.elapsed()),
        Ok(Ok(Err(e))) => return Err(format!("end_{}", guest_reason(&e))),
        Ok(Err(_)) => return Err("end_agent_task_failed".into()),
        Err(_) => {
            agent.abort();
            return Err("end_agent_did_not_return".into());
        }
    }
    drop(session);
    if join_accepted(ep, key).await {
        return Err("key_reusable".into());
    }
    Ok(())
}

/// Whether the broker accepts a join with `key` (it must not once the key was used).
async fn join_accepted(ep: &Endpoint, key: OnDemandKey) -> bool {
    let Ok(keys) = switchboard_agent::control::guest::fresh_keys() else {
        return false;
    };
    let creds = ControlCredentials::OnDemand(OnDemandJoin {
        key,
        device: device_info(None),
        static_key: keys.public,
    });
    matches!(
        ControlClient::connect(ep, creds).await,
        Ok(Outcome::Established(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_id_is_found_by_name() {
        let v = json!({"items": [
            {"id": "u1", "username": "owner"},
            {"id": "u2", "username": "lg1-tech", "groups": []},
        ]});
        assert_eq!(find_id(&v, "lg1-tech").as_deref(), Some("u2"));
        assert_eq!(find_id(&v, "nobody"), None);
    }
}
