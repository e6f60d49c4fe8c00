//! The `idle-scale`, `churn` and `ondemand` scenarios end to end at tiny sizes: the binary in
//! `--spawn` mode (a real `switchboard serve` on loopback) runs each and writes JSON whose
//! figures say the work was done with no errors, plus the SVG plots and the HTML page;
//! idle-scale over `--relay-quic` holds its sessions (and keeps them through `--idle-hold`)
//! without a server fd per session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//!
//! Needs the `switchboard` binary built in the same target dir
//! (`cargo build -p switchboard-broker`). No timing assertion; each run is bounded.

mod common;

use std::path::Path;

use serde_json::Value;

/// Runs `switchboard-loadgen run <args> --json <dir>/out.json --quiet`; the one scenario's
/// report.
fn run(dir: &Path, args: &[&str]) -> Value {
    let json = dir.join("out.json");
    let out = common::run_loadgen(args, &json).unwrap();
    assert!(out.status.success(), "{args:?}: {:?}", out.status);
    let run: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let scenarios = run["scenarios"].as_array().unwrap();
    assert_eq!(scenarios.len(), 1);
    scenarios[0].clone()
}

fn figure(s: &Value, name: &str) -> f64 {
    s["figures"][name]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no figure {name}: {}", s["figures"]))
}

#[test]
fn idle_scale_holds_its_steps_and_plots_them() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("svg");
    let html = dir.path().join("report.html");
    let s = run(
        dir.path(),
        &[
            "idle-scale",
            "--idle-max",
            "80",
            "--idle-steps",
            "40",
            "--hosts",
            "4",
            "--guests",
            "2",
            "--duration",
            "60",
            "--svg",
            svg.to_str().unwrap(),
            "--html",
            html.to_str().unwrap(),
        ],
    );
    assert_eq!(s["name"], "idle-scale");
    assert_eq!(figure(&s, "sessions_held"), 80.0);
    assert_eq!(figure(&s, "errors"), 0.0, "{}", s["errors"]);
    // Present; at 80 sessions the growth can be 0 (the allocator reuses what provisioning
    // freed), so only its sign is checked.
    assert!(figure(&s, "server_rss_per_session") >= 0.0);
    assert!(
        figure(&s, "server_fds_per_session") >= 1.0,
        "TCP: fds per session"
    );
    assert_eq!(s["config"]["outcome"]["stopped_by"], "reached --idle-max");
    let points = s["series"]["rss_per_session"]["points"].as_array().unwrap();
    assert_eq!(points.len(), 2, "one point per step");
    assert_eq!(points[1][0], 80.0);
    assert!(svg.join("idle-scale-rss_per_session.svg").is_file());
    assert!(svg.join("idle-scale-latency.svg").is_file());
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("sessions_held") && page.contains("<svg "));
}

#[test]
fn idle_scale_over_relay_quic_costs_the_server_no_fd_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(
        dir.path(),
        &[
            "idle-scale",
            "--relay-quic",
            "--idle-max",
            "40",
            "--hosts",
            "4",
            "--guests",
            "2",
            "--duration",
            "60",
            "--idle-hold",
            "2",
        ],
    );
    assert_eq!(figure(&s, "sessions_held"), 40.0);
    assert_eq!(figure(&s, "errors"), 0.0, "{}", s["errors"]);
    assert_eq!(s["config"]["relay_transport"], "quic");
    // Held for 2 s after the last step: none lost, the server's CPU meanwhile measured.
    assert!(figure(&s, "hold") >= 2.0);
    assert_eq!(figure(&s, "ended_while_held"), 0.0);
    assert!(figure(&s, "server_cpu_holding") >= 0.0, "{}", s["figures"]);
    // TCP costs the server 2 fds per session (both sides); QUIC shares one UDP socket.
    assert!(
        figure(&s, "server_fds_per_session") < 0.5,
        "{}",
        s["figures"]
    );
}

#[test]
fn churn_connects_and_leaves_and_the_broker_returns_to_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(
        dir.path(),
        &[
            "churn",
            "--hosts",
            "2",
            "--guests",
            "1",
            "--churn-hosts",
            "3",
            "--churn-guests",
            "2",
            "--duration",
            "3",
        ],
    );
    assert_eq!(s["name"], "churn");
    assert!(figure(&s, "host_connects_per_s") > 0.0);
    assert!(figure(&s, "guest_connects_per_s") > 0.0);
    assert!(figure(&s, "sessions_per_s") > 0.0);
    assert_eq!(figure(&s, "errors"), 0.0, "{}", s["errors"]);
    assert_eq!(figure(&s, "leftover_actors"), 0.0, "{}", s["config"]);
    assert_eq!(figure(&s, "leftover_control_connections"), 0.0);
    // The gauges were really read after the run (not just absent).
    let after = &s["config"]["gauges"]["after"];
    assert_eq!(after["actors_device"], 0.0, "{after}");
    assert_eq!(after["control_connections"], 0.0, "{after}");
}

#[test]
fn ondemand_keys_are_created_joined_started_ended_and_gone() {
    let dir = tempfile::tempdir().unwrap();
    let s = run(
        dir.path(),
        &[
            "ondemand",
            "--count",
            "5",
            "--ondemand-concurrency",
            "2",
            "--hosts",
            "1",
            "--guests",
            "1",
            "--duration",
            "60",
        ],
    );
    assert_eq!(s["name"], "ondemand");
    assert_eq!(figure(&s, "flows"), 5.0, "{}", s["errors"]);
    assert_eq!(figure(&s, "errors"), 0.0, "{}", s["errors"]);
    for step in ["create", "join", "start", "end", "total"] {
        assert_eq!(s["latencies"][step]["count"], 5, "{step}");
    }
}
