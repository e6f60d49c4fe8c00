//! Writing a run's results: the JSON file (`--json`), the human summary table (stdout), and
//! the run's metadata (tool, git revision, start time, machine). `svg` draws the plots
//! (`--svg DIR`), `html` the one-page report embedding them (`--html FILE`).
//!
//! It measures nothing.

pub mod html;
pub mod svg;
pub mod table;

use std::path::Path;

use crate::error::LoadgenError;
use crate::results::RunReport;

/// `switchboard-loadgen <version>`.
pub fn tool() -> String {
    format!("switchboard-loadgen {}", env!("CARGO_PKG_VERSION"))
}

/// The git revision the loadgen was built from (recorded by `build.rs`), with `-dirty` when
/// the working directory is that same revision with uncommitted changes. Without a recorded
/// one (built outside a checkout): `git rev-parse --short HEAD` of the working directory (+
/// `-dirty`), else `unknown`.
pub fn git_rev() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let built = option_env!("SWITCHBOARD_GIT_REV");
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) if !rev.is_empty() && built.is_none_or(|b| b == rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        _ => built.unwrap_or("unknown").to_owned(),
    }
}

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

/// cpus, kernel, hostname.
pub fn machine() -> serde_json::Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    serde_json::json!({
        "cpus": cpus,
        "kernel": kernel,
        "hostname": switchboard_agent::control::local_hostname(),
    })
}

/// Writes `run` as pretty JSON.
pub fn write_json(path: &Path, run: &RunReport) -> Result<(), LoadgenError> {
    let text = serde_json::to_string_pretty(run)?;
    std::fs::write(path, text + "\n")?;
    Ok(())
}

/// Reads a JSON result file.
pub fn read_json(path: &Path) -> Result<RunReport, LoadgenError> {
    let input = |message: String| LoadgenError::Input {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| input(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| input(format!("not a loadgen result: {e}")))
}

/// Writes the optional HTML report and SVG plots; the files written.
pub fn write_extras(
    html: Option<&Path>,
    svg: Option<&Path>,
    run: &RunReport,
) -> Result<Vec<std::path::PathBuf>, LoadgenError> {
    let mut written = Vec::new();
    if let Some(dir) = svg {
        std::fs::create_dir_all(dir)?;
        written.extend(svg::write_svgs(run, dir)?);
    }
    if let Some(path) = html {
        html::write_html(run, path)?;
        written.push(path.to_owned());
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_filled() {
        assert!(tool().starts_with("switchboard-loadgen "));
        assert!(now_rfc3339().ends_with('Z'));
        assert!(machine()["cpus"].as_u64().unwrap_or(0) >= 1);
        assert!(!git_rev().is_empty());
    }

    #[test]
    fn json_file_round_trip_and_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        let run = RunReport {
            tool: tool(),
            git_rev: "x".into(),
            started_at: now_rfc3339(),
            machine: machine(),
            config: serde_json::json!({}),
            scenarios: vec![],
        };
        write_json(&p, &run).unwrap();
        assert_eq!(read_json(&p).unwrap(), run);
        std::fs::write(&p, "{}").unwrap();
        assert!(
            read_json(&p)
                .unwrap_err()
                .to_string()
                .contains("not a loadgen result")
        );
    }
}
