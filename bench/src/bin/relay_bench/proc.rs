//! Reading a relay process's CPU time and resident memory from `/proc`.
//!
//! CPU is user + system time of the process, its reaped children and its live children
//! (socat forks one process per connection), in seconds. Memory is `VmRSS` of the process
//! and its live children.

use std::fs;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on Linux).
fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// (ppid, utime + stime + cutime + cstime in ticks) of one process.
fn stat(pid: u32) -> Option<(u32, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] = state (field 3); ppid = field 4; utime = 14, stime = 15, cutime = 16, cstime = 17.
    let num = |field: usize| f.get(field - 3).and_then(|v| v.parse::<u64>().ok());
    let ppid = num(4)? as u32;
    Some((ppid, num(14)? + num(15)? + num(16)? + num(17)?))
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat(p).is_some_and(|(ppid, _)| ppid == pid))
        .collect()
}

/// CPU seconds used so far by `pid` and its children.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let own = stat(pid).map_or(0, |s| s.1);
    let kids: u64 = children(pid)
        .into_iter()
        .filter_map(stat)
        .map(|s| s.1)
        .sum();
    (own + kids) as f64 / clk_tck()
}

fn vm_rss(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Resident bytes of `pid` and its live children.
pub(crate) fn rss_bytes(pid: u32) -> u64 {
    vm_rss(pid) + children(pid).into_iter().map(vm_rss).sum::<u64>()
}

/// CPU meter over an interval (no-op without a pid: direct TCP has no relay).
pub(crate) struct CpuMeter {
    pid: Option<u32>,
    start: f64,
}

impl CpuMeter {
    pub(crate) fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            start: pid.map_or(0.0, cpu_seconds),
        }
    }
    /// CPU seconds since `start`, or None without a relay process.
    pub(crate) fn stop(&self) -> Option<f64> {
        self.pid.map(|p| cpu_seconds(p) - self.start)
    }
}
