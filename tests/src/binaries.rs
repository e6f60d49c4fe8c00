//! Finds the workspace's own binaries (`switchboard`, `switchboard-agent`) next to the running
//! test executable: `.../target/<profile>/deps/<test>` → `.../target/<profile>/<name>`.
//!
//! It never builds anything: a missing binary is an error naming the `cargo build` command to
//! run (cargo builds a package's binaries only for that package's own integration tests).

use std::path::PathBuf;

/// The path of binary `name`, or an error naming `build_hint` (a `cargo build ...` command).
pub fn target_binary(name: &str, build_hint: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let mut candidates = Vec::new();
    if let Some(deps) = exe.parent() {
        candidates.push(deps.join(name));
        if let Some(profile) = deps.parent() {
            candidates.push(profile.join(name));
        }
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the `{name}` binary is not built (looked at {candidates:?}): run `{build_hint}` \
                 with the same CARGO_TARGET_DIR and profile as the tests"
            )
        })
}

/// `switchboard` (the server binary of the broker package).
pub fn switchboard() -> anyhow::Result<PathBuf> {
    target_binary(
        "switchboard",
        "cargo build -p switchboard-broker --bin switchboard",
    )
}

/// `switchboard-agent`.
pub fn switchboard_agent() -> anyhow::Result<PathBuf> {
    target_binary(
        "switchboard-agent",
        "cargo build -p switchboard-agent --bin switchboard-agent",
    )
}
