//! The process's one Prometheus recorder, process-resource metrics, and the relay's tiny HTTP
//! endpoint: `GET /metrics` (Prometheus text) and `POST /drain`.
//!
//! The recorder is installed once per process by [`install`] (the broker calls it first with
//! the buckets of its own histograms; the relay's [`prometheus_handle`] then finds the same
//! handle), so a `switchboard serve` process has one registry whether it is read through the
//! admin API's `/metrics` or the relay's. Every histogram gets explicit buckets
//! ([`DEFAULT_SECONDS_BUCKETS`] unless a metric has its own). [`render`] is what every
//! `/metrics` endpoint answers: the registry plus `process_*` resource figures read from
//! `/proc/self` at scrape time (absent off Linux).
//!
//! The HTTP side is hand-written HTTP/1.1, one request per connection, `Connection: close`: the
//! request head is read with a 5 s timeout and an 8 KiB cap, the body ignored. `POST /drain` is
//! honoured only from a loopback peer (403 otherwise). It does not serve anything else.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics as m;
use crate::server::Inner;

const MAX_HEAD: usize = 8 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Buckets of every histogram without its own (seconds, 100 µs to 10 s).
pub const DEFAULT_SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Installs the process's Prometheus recorder on the first call, with the relay's buckets plus
/// `extra` (metric name, buckets); later calls return the same handle and ignore `extra`.
/// `None` when another global recorder was installed first or a bucket list was refused.
pub fn install(extra: &[(&str, &[f64])]) -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let own: [(&str, &[f64]); 2] = [
                (m::SESSION_DURATION_SECONDS, m::DURATION_BUCKETS),
                (m::SETUP_SECONDS, m::SETUP_BUCKETS),
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets(DEFAULT_SECONDS_BUCKETS)
                .and_then(|first| {
                    own.iter()
                        .chain(extra)
                        .try_fold(first, |b, (name, buckets)| {
                            b.set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
                        })
                });
            match builder.map(PrometheusBuilder::install_recorder) {
                Ok(Ok(h)) => {
                    m::describe();
                    Some(h)
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "prometheus recorder not installed");
                    None
                }
                Err(e) => {
                    tracing::warn!(error = %e, "prometheus buckets refused");
                    None
                }
            }
        })
        .clone()
}

/// The process-wide Prometheus handle ([`install`] with no extra buckets).
pub fn prometheus_handle() -> Option<PrometheusHandle> {
    install(&[])
}

/// The `/metrics` body: the registry (after its upkeep) and the process's resource figures.
pub fn render(prom: &PrometheusHandle) -> String {
    prom.run_upkeep();
    let mut text = prom.render();
    text.push_str(&process_metrics());
    text
}

pub(crate) async fn serve(listener: TcpListener, prom: PrometheusHandle, inner: Arc<Inner>) {
    let stop = inner.stop_token();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, prom.clone(), inner.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn answer(mut stream: TcpStream, prom: PrometheusHandle, inner: Arc<Inner>) {
    let loopback = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    let Ok(Some(head)) = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await else {
        return;
    };
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("");
    let path = words.next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4", render(&prom)),
        ("POST", "/drain") if loopback => {
            inner.start_drain();
            ("202 Accepted", "text/plain", "draining\n".to_owned())
        }
        ("POST", "/drain") => ("403 Forbidden", "text/plain", "loopback only\n".to_owned()),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(resp.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Reads up to the end of the request head; `None` when it is too long or the peer left.
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let line_end = buf.iter().position(|&b| b == b'\r')?;
            return String::from_utf8(buf.get(..line_end)?.to_vec()).ok();
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    }
}

/// Clock ticks per second of `/proc/self/stat` times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// Figures of `/proc/self/stat` after the command name: (utime, stime, starttime) in ticks.
fn parse_stat(stat: &str) -> Option<(u64, u64, u64)> {
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15, starttime 22.
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some((num(11)?, num(12)?, num(19)?))
}

/// A `Key:   123 kB` line of `/proc/self/status`, in bytes.
fn status_bytes(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line
        .get(key.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// `btime` of `/proc/stat`: boot time, seconds since the Unix epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft `Max open files` limit of `/proc/self/limits`.
fn max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.get("Max open files".len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The standard `process_*` metrics (Prometheus client conventions), read from `/proc` now.
/// Figures that cannot be read are left out rather than reported as zero.
pub fn process_metrics() -> String {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mut out = String::new();
    let mut put = |name: &str, kind: &str, help: &str, value: f64| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
    if let Some((utime, stime, _)) = stat {
        let cpu = (utime + stime) as f64 / USER_HZ;
        put(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            cpu,
        );
    }
    if let (Some((_, _, start)), Some(boot)) =
        (stat, read("/proc/stat").and_then(|s| boot_time(&s)))
    {
        let t = boot as f64 + start as f64 / USER_HZ;
        put(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            t,
        );
    }
    if let Some(status) = read("/proc/self/status") {
        if let Some(rss) = status_bytes(&status, "VmRSS:") {
            put(
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                rss as f64,
            );
        }
        if let Some(vsz) = status_bytes(&status, "VmSize:") {
            put(
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                vsz as f64,
            );
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        put(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            dir.count() as f64,
        );
    }
    if let Some(max) = read("/proc/self/limits").and_then(|s| max_fds(&s)) {
        put(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            max as f64,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        let stat = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0 12345 100 200";
        assert_eq!(parse_stat(stat), Some((150, 50, 12345)));
        assert_eq!(parse_stat("4242 (x"), None);
    }

    #[test]
    fn status_and_limits_lines_parse() {
        let status = "Name:\tx\nVmSize:\t  2048 kB\nVmRSS:\t    512 kB\n";
        assert_eq!(status_bytes(status, "VmRSS:"), Some(512 * 1024));
        assert_eq!(status_bytes(status, "VmSize:"), Some(2048 * 1024));
        assert_eq!(status_bytes(status, "VmSwap:"), None);
        let limits = "Limit  Soft Limit Hard Limit Units\nMax open files            1024                 524288               files\n";
        assert_eq!(max_fds(limits), Some(1024));
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\nprocesses 9\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn process_metrics_read_this_process() {
        let text = process_metrics();
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{name} ")),
                "{name} missing in {text}"
            );
        }
    }
}
