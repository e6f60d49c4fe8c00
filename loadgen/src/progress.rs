//! Live progress of a scenario on stderr: a line refreshed in place on a terminal (4 times a
//! second), plain periodic lines otherwise (every 5 s, for logs and CI).
//!
//! Scenarios bump counters on a shared [`Progress`]; a ticker task renders them. It measures
//! nothing that goes into the results.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use parking_lot::Mutex;

/// Refresh period on a terminal.
const TTY_PERIOD: Duration = Duration::from_millis(250);
/// Period of plain lines.
const PLAIN_PERIOD: Duration = Duration::from_secs(5);

/// Counters of one scenario, shared with its tasks.
#[derive(Debug)]
pub struct Progress {
    name: String,
    total: Option<u64>,
    done: AtomicU64,
    failed: AtomicU64,
    note: Mutex<String>,
    started: Instant,
    quiet: bool,
    finished: AtomicBool,
}

impl Progress {
    /// Progress of `name` towards `total` units (None when bounded by time only).
    pub fn new(name: &str, total: Option<u64>, quiet: bool) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_owned(),
            total,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            note: Mutex::new(String::new()),
            started: Instant::now(),
            quiet,
            finished: AtomicBool::new(false),
        })
    }

    /// One unit done.
    pub fn inc(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` units done.
    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// One unit failed (counted apart; the reason goes to `ErrorCounts`).
    pub fn fail(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Free text shown after the counters (e.g. `step 3/5: 4000 sessions`).
    pub fn set_note(&self, note: impl Into<String>) {
        *self.note.lock() = note.into();
    }

    /// Units done so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    /// The current line (without terminal control characters).
    pub fn line(&self) -> String {
        let done = self.done();
        let failed = self.failed.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        let note = self.note.lock().clone();
        let note = if note.is_empty() {
            String::new()
        } else {
            format!("  {note}")
        };
        format!(
            "[{}] {done}{of} done, {failed} failed, {rate:.0}/s, {secs:.1}s{note}",
            self.name
        )
    }

    /// Starts rendering; stop with [`Ticker::finish`].
    pub fn start(self: &Arc<Self>) -> Ticker {
        let tty = std::io::stderr().is_terminal();
        let me = self.clone();
        let task = (!self.quiet).then(|| {
            tokio::spawn(async move {
                let period = if tty { TTY_PERIOD } else { PLAIN_PERIOD };
                let mut tick =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    tick.tick().await;
                    if me.finished.load(Ordering::Relaxed) {
                        return;
                    }
                    let mut err = std::io::stderr().lock();
                    let _ = if tty {
                        write!(err, "\r\x1b[K{}", me.line())
                    } else {
                        writeln!(err, "{}", me.line())
                    };
                    let _ = err.flush();
                }
            })
        });
        Ticker {
            progress: self.clone(),
            task,
            tty,
        }
    }
}

/// The rendering task of one [`Progress`].
#[derive(Debug)]
pub struct Ticker {
    progress: Arc<Progress>,
    task: Option<tokio::task::JoinHandle<()>>,
    tty: bool,
}

impl Ticker {
    /// Stops rendering and prints the final line.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.progress.finished.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            t.abort();
            let mut err = std::io::stderr().lock();
            let prefix = if self.tty { "\r\x1b[K" } else { "" };
            let _ = writeln!(err, "{prefix}{}", self.progress.line());
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_counts() {
        let p = Progress::new("setup-storm", Some(10), true);
        p.inc();
        p.add(2);
        p.fail();
        p.set_note("c=4");
        let l = p.line();
        assert!(l.starts_with("[setup-storm] 3/10 done, 1 failed"), "{l}");
        assert!(l.ends_with("  c=4"), "{l}");
    }
}
