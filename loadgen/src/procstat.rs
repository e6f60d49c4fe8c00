//! Resource use of one process read from `/proc`: resident memory (now and peak), CPU seconds
//! (user + system) and open file descriptors.
//!
//! Used by the scenarios to size the server they drive (idle-scale: memory per session of a
//! spawned `switchboard serve`; [`CpuMeter`]: CPU over a stretch, such as setup-storm's CPU
//! per setup). It reads only `/proc/<pid>/{status,stat,fd}` and, once, the clock-tick rate
//! from this process's auxiliary vector (`AT_CLKTCK` in `/proc/self/auxv`), so it needs no
//! `unsafe` and no `sysconf`. It is Linux-only and does not follow children.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::LoadgenError;

/// `AT_CLKTCK`: the auxiliary-vector entry holding the `times(2)` / `/proc` clock-tick rate.
const AT_CLKTCK: u64 = 17;
/// `USER_HZ` on every architecture Linux ships today; used if the auxv cannot be read.
const DEFAULT_CLOCK_TICKS: u64 = 100;

/// One sample of a process's resource use.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct ProcSample {
    /// Resident set size now (`VmRSS`), bytes.
    pub rss_bytes: u64,
    /// Peak resident set size (`VmHWM`), bytes.
    pub rss_peak_bytes: u64,
    /// User + system CPU time consumed so far (all threads), seconds.
    pub cpu_seconds: f64,
    /// Open file descriptors (entries of `/proc/<pid>/fd`).
    pub fds: u64,
    /// Threads (`Threads` in `status`).
    pub threads: u64,
}

/// Samples `pid` now.
pub fn sample(pid: u32) -> Result<ProcSample, LoadgenError> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let status_path = base.join("status");
    let status = read(&status_path)?;
    let rss_bytes = status_kib(&status, "VmRSS:")
        .ok_or_else(|| malformed(&status_path, "no VmRSS line (a kernel thread or a zombie?)"))?
        * 1024;
    let rss_peak_bytes = status_kib(&status, "VmHWM:").unwrap_or(rss_bytes / 1024) * 1024;
    let threads = status_kib(&status, "Threads:").unwrap_or(0);

    let stat_path = base.join("stat");
    let stat = read(&stat_path)?;
    let ticks = cpu_ticks(&stat).ok_or_else(|| malformed(&stat_path, "utime/stime missing"))?;
    let cpu_seconds = ticks as f64 / clock_ticks_per_second() as f64;

    let fd_path = base.join("fd");
    let fds = std::fs::read_dir(&fd_path)
        .map_err(|e| with_path(&fd_path, e))?
        .count() as u64;
    Ok(ProcSample {
        rss_bytes,
        rss_peak_bytes,
        cpu_seconds,
        fds,
        threads,
    })
}

/// CPU seconds the server (when its pid is known) and this process use over a stretch of a
/// scenario: [`CpuMeter::start`] before, [`CpuMeter::stop`] after.
#[derive(Clone, Copy, Debug)]
pub struct CpuMeter {
    server: Option<(u32, f64)>,
    me: f64,
}

/// What a [`CpuMeter`] measured.
#[derive(Clone, Copy, Debug)]
pub struct CpuUsed {
    /// CPU seconds of the server, when it was sampled.
    pub server: Option<f64>,
    /// CPU seconds of this process (both sides of every simulated session).
    pub me: f64,
}

impl CpuMeter {
    /// Samples the server `pid` (if any) and this process now.
    pub fn start(pid: Option<u32>) -> Result<Self, LoadgenError> {
        Ok(Self {
            server: pid
                .map(|p| sample(p).map(|s| (p, s.cpu_seconds)))
                .transpose()?,
            me: sample(std::process::id())?.cpu_seconds,
        })
    }

    /// CPU seconds used since [`CpuMeter::start`].
    pub fn stop(&self) -> Result<CpuUsed, LoadgenError> {
        Ok(CpuUsed {
            server: self
                .server
                .map(|(p, before)| sample(p).map(|s| s.cpu_seconds - before))
                .transpose()?,
            me: sample(std::process::id())?.cpu_seconds - self.me,
        })
    }
}

fn read(path: &Path) -> Result<String, LoadgenError> {
    std::fs::read_to_string(path).map_err(|e| with_path(path, e))
}

/// The OS error with the file named (the process is gone, or no permission).
fn with_path(path: &Path, e: io::Error) -> LoadgenError {
    LoadgenError::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn malformed(path: &Path, why: &str) -> LoadgenError {
    LoadgenError::Io(io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    ))
}

/// The number after `key` in a `status` file (`VmRSS:    1234 kB` → 1234).
fn status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// utime + stime (fields 14 and 15) of a `stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, so utime (14) is the 12th token, stime the 13th.
    let mut fields = after_comm.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`), read once.
pub fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::fs::read("/proc/self/auxv")
            .ok()
            .and_then(|auxv| auxv_value(&auxv, AT_CLKTCK))
            .filter(|&t| t > 0)
            .unwrap_or(DEFAULT_CLOCK_TICKS)
    })
}

/// The value of `key` in an auxiliary vector (native-endian `usize` pairs, ended by 0).
fn auxv_value(auxv: &[u8], key: u64) -> Option<u64> {
    const W: usize = std::mem::size_of::<usize>();
    let word = |b: &[u8]| -> Option<u64> {
        let mut buf = [0u8; W];
        buf.copy_from_slice(b.get(..W)?);
        Some(usize::from_ne_bytes(buf) as u64)
    };
    for pair in auxv.chunks_exact(2 * W) {
        let k = word(pair)?;
        if k == 0 {
            break;
        }
        if k == key {
            return word(pair.get(W..)?);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        // Hold a few more descriptors and some touched memory between two samples.
        let before = sample(std::process::id()).unwrap();
        let files: Vec<_> = (0..8)
            .map(|_| std::fs::File::open("/proc/self/status").unwrap())
            .collect();
        let block = vec![1u8; 32 << 20];
        let mut spin = 0u64;
        for i in 0..20_000_000u64 {
            spin = spin.wrapping_mul(31).wrapping_add(i);
        }
        let after = sample(std::process::id()).unwrap();
        assert!(std::hint::black_box(spin) != 1 || block[0] == 1);
        assert!(after.fds >= before.fds + 8, "{before:?} -> {after:?}");
        assert!(
            after.rss_bytes >= before.rss_bytes + (16 << 20),
            "{after:?}"
        );
        assert!(after.rss_peak_bytes >= after.rss_bytes);
        assert!(after.cpu_seconds >= before.cpu_seconds);
        assert!(after.threads >= 1);
        drop((files, block));
    }

    #[test]
    fn a_missing_process_is_a_read_error() {
        // pid_max is at most 2^22; this pid cannot exist.
        let err = sample(u32::MAX - 1).unwrap_err();
        assert!(
            matches!(&err, LoadgenError::Io(e) if e.kind() == io::ErrorKind::NotFound),
            "{err}"
        );
        assert!(err.to_string().contains("/proc/4294967294/status"), "{err}");
    }

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "42 (a (tricky) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 1 0";
        assert_eq!(cpu_ticks(stat), Some(267));
        assert_eq!(cpu_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn status_lines_parse_in_kib() {
        let status = "Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\nThreads:\t3\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(1024));
        assert_eq!(status_kib(status, "VmHWM:"), Some(2048));
        assert_eq!(status_kib(status, "Threads:"), Some(3));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn clock_ticks_come_from_the_auxv() {
        let mut auxv = Vec::new();
        for (k, v) in [(6u64, 4096u64), (AT_CLKTCK, 250), (0, 0)] {
            auxv.extend_from_slice(&(k as usize).to_ne_bytes());
            auxv.extend_from_slice(&(v as usize).to_ne_bytes());
        }
        assert_eq!(auxv_value(&auxv, AT_CLKTCK), Some(250));
        assert_eq!(auxv_value(&auxv, 99), None);
        assert!(clock_ticks_per_second() >= 1);
    }
}
