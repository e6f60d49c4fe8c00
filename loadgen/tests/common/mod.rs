//! What the loadgen's end-to-end tests share: the `switchboard` binary built next to the test
//! (the server `--spawn` mode starts) and running `switchboard-loadgen run ... --json FILE`.
//!
//! It checks nothing of the run's results; each test does.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `switchboard` in this test's target dir (`target/<profile>/deps/<test>-xxxx` →
/// `target/<profile>/switchboard`); an error naming the build command when it is not built.
pub fn switchboard_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| anyhow::anyhow!("no target dir above {}", exe.display()))?;
    let bin = profile.join("switchboard");
    anyhow::ensure!(
        bin.is_file(),
        "build the server first: cargo build -p switchboard-broker (looked at {})",
        bin.display()
    );
    Ok(bin)
}

/// The `switchboard-loadgen` binary under test.
pub fn loadgen() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_switchboard-loadgen"))
}

/// Runs `switchboard-loadgen run <args> --quiet --json <json>` against a spawned server to its
/// exit; its output is printed (the harness shows it when the test fails).
pub fn run_loadgen(args: &[&str], json: &Path) -> anyhow::Result<Output> {
    let out = Command::new(loadgen())
        .env("SWITCHBOARD_BIN", switchboard_bin()?)
        .arg("run")
        .args(args)
        .args(["--quiet", "--json"])
        .arg(json)
        .output()?;
    eprintln!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(out)
}
