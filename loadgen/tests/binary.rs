//! The `switchboard-loadgen` binary end to end: `--spawn` mode (no `--server`) starts a real
//! `switchboard serve` on loopback, provisions through the admin API, runs a tiny setup-storm
//! (40 setups: under the broker's default per-tenant burst of 50 session requests) and bulk
//! (2 sessions x 1 MiB each way, verified), and writes JSON with figures and zero errors. Then
//! `compare` of the file with itself exits 0, against a doctored worse copy exits 1, and
//! against an unreadable file exits 2.
//!
//! Needs the `switchboard` binary built in the same target dir
//! (`cargo build -p switchboard-broker`). No timing assertion.

mod common;

use std::path::Path;
use std::process::Command;

use common::{loadgen, run_loadgen};

fn compare(a: &Path, b: &Path) -> anyhow::Result<i32> {
    let out = Command::new(loadgen())
        .args(["compare"])
        .arg(a)
        .arg(b)
        .args(["--tolerance", "10%"])
        .output()?;
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out.status.code().unwrap_or(-1))
}

#[test]
fn spawn_run_json_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("base.json");
    let out = run_loadgen(
        &[
            "setup-storm",
            "bulk",
            "--count",
            "40",
            "--concurrency",
            "4",
            "--hosts",
            "4",
            "--guests",
            "2",
            "--bulk-sessions",
            "2",
            "--bulk-bytes",
            "1M",
            "--duration",
            "60",
        ],
        &json,
    )
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "loadgen run failed");
    assert!(
        stdout.contains("== setup-storm") && stdout.contains("== bulk"),
        "{stdout}"
    );

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(
        v["tool"]
            .as_str()
            .unwrap()
            .starts_with("switchboard-loadgen ")
    );
    assert_eq!(v["config"]["common"]["count"], 40);
    let scen = v["scenarios"].as_array().unwrap();
    assert_eq!(scen.len(), 2);
    let storm = &scen[0];
    assert_eq!(storm["name"], "setup-storm");
    assert_eq!(storm["errors"], serde_json::json!({}), "setup-storm errors");
    assert_eq!(storm["figures"]["setups"]["value"], 40.0);
    assert!(storm["figures"]["setups_per_s"]["value"].as_f64().unwrap() > 0.0);
    // CPU per setup of the spawned server and of the loadgen, from /proc.
    for f in ["server_cpu_us_per_setup", "loadgen_cpu_us_per_setup"] {
        let us = storm["figures"][f]["value"].as_f64();
        assert!(us.is_some_and(|us| us > 0.0), "{f}: {}", storm["figures"]);
    }
    assert_eq!(storm["latencies"]["setup"]["count"], 40);
    assert!(
        !storm["latencies"]["setup"]["histogram"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let bulk = &scen[1];
    assert_eq!(bulk["name"], "bulk");
    assert_eq!(bulk["errors"], serde_json::json!({}), "bulk errors");
    assert_eq!(
        bulk["figures"]["bytes_verified"]["value"],
        (4u64 << 20) as f64
    );
    assert!(bulk["figures"]["throughput"]["value"].as_f64().unwrap() > 0.0);

    assert_eq!(
        compare(&json, &json).unwrap(),
        0,
        "a run compared with itself"
    );
    let mut worse = v.clone();
    let rate = &mut worse["scenarios"][0]["figures"]["setups_per_s"]["value"];
    *rate = serde_json::json!(rate.as_f64().unwrap() * 0.5);
    let worse_path = dir.path().join("worse.json");
    std::fs::write(&worse_path, serde_json::to_string(&worse).unwrap()).unwrap();
    assert_eq!(
        compare(&json, &worse_path).unwrap(),
        1,
        "half the setup rate"
    );
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "not json").unwrap();
    assert_eq!(compare(&json, &junk).unwrap(), 2, "unreadable input");
}
