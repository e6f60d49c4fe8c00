//! A child process whose stdout and stderr lines are captured (in memory and in a log file),
//! with bounded waits for a line and for the exit, killed (SIGKILL) when dropped.
//!
//! On drop it prints the captured lines to the test's stderr, which the test harness shows
//! only when the test fails. It does not interpret any line; the owners do.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// Lines printed at most when a process is dropped.
const PRINTED_LINES: usize = 400;

/// What every child of the tests gets in its environment: `RUST_LOG=info`, `NO_COLOR=1`.
pub fn log_env() -> Vec<(String, String)> {
    vec![
        ("RUST_LOG".into(), "info".into()),
        ("NO_COLOR".into(), "1".into()),
    ]
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `true` for stderr.
    pub stderr: bool,
    /// The text without its line end.
    pub text: String,
}

/// A running child with captured output.
#[derive(Debug)]
pub struct ChildProcess {
    label: String,
    child: Option<Child>,
    lines: watch::Receiver<Vec<Line>>,
    sender: watch::Sender<Vec<Line>>,
    cursor: usize,
    log_dir: tempfile::TempDir,
    exit: Option<Option<i32>>,
}

impl ChildProcess {
    /// Starts `program args` with the given environment additions, stdin fed `stdin` (then
    /// closed) when given, else null. `label` names it in messages.
    pub fn spawn(
        label: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        stdin: Option<String>,
    ) -> anyhow::Result<Self> {
        let (sender, lines) = watch::channel(Vec::new());
        let mut p = Self {
            label: label.to_owned(),
            child: None,
            lines,
            sender,
            cursor: 0,
            log_dir: tempfile::tempdir()?,
            exit: None,
        };
        p.start(program, args, env, stdin)?;
        Ok(p)
    }

    /// Starts the program again in this object (after [`Self::kill`]); the captured lines of
    /// the previous run stay and the cursor is kept.
    pub fn start(
        &mut self,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        stdin: Option<String>,
    ) -> anyhow::Result<()> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| anyhow::anyhow!("{}: starting {}: {e}", self.label, program.display()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            tokio::spawn(async move {
                let _ = pipe.write_all(text.as_bytes()).await;
                let _ = pipe.shutdown().await;
            });
        }
        let log = self.log_path();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, false, self.sender.clone(), log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, true, self.sender.clone(), log));
        }
        self.child = Some(child);
        self.exit = None;
        Ok(())
    }

    /// The file every captured line is appended to.
    pub fn log_path(&self) -> PathBuf {
        self.log_dir.path().join(format!("{}.log", self.label))
    }

    /// Every line captured so far (stdout and stderr, in arrival order per stream).
    pub fn lines(&self) -> Vec<Line> {
        self.lines.borrow().clone()
    }

    /// Whether some captured line matches.
    pub fn has_line(&self, pred: impl Fn(&str) -> bool) -> bool {
        self.lines.borrow().iter().any(|l| pred(&l.text))
    }

    /// Waits (bounded) for a line after the cursor that matches, moves the cursor past it and
    /// returns it. A line printed again later is found by a second call.
    pub async fn wait_for_line(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let start = self.cursor;
        let mut rx = self.lines.clone();
        let found = tokio::time::timeout(timeout, async {
            let mut seen = start;
            loop {
                {
                    let v = rx.borrow_and_update();
                    if let Some(i) = v.iter().skip(seen).position(|l| pred(&l.text)) {
                        let idx = seen + i;
                        return Ok((idx, v[idx].text.clone()));
                    }
                    seen = v.len();
                }
                if rx.changed().await.is_err() {
                    return Err(());
                }
            }
        })
        .await;
        match found {
            Ok(Ok((idx, text))) => {
                self.cursor = idx + 1;
                Ok(text)
            }
            Ok(Err(())) => anyhow::bail!("{}: output channel closed", self.label),
            Err(_) => anyhow::bail!(
                "{}: no matching line within {timeout:?}; output so far:\n{}",
                self.label,
                self.tail(60)
            ),
        }
    }

    /// Waits (bounded) for the exit; its code (`None` when killed by a signal).
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<i32>> {
        if let Some(code) = self.exit {
            return Ok(code);
        }
        let Some(child) = self.child.as_mut() else {
            anyhow::bail!("{}: not running", self.label);
        };
        let status = tokio::time::timeout(timeout, child.wait())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "{}: still running after {timeout:?}; output so far:\n{}",
                    self.label,
                    self.tail(60)
                )
            })??;
        // Let the pumps read the last lines.
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.exit = Some(status.code());
        Ok(status.code())
    }

    /// Whether the child has exited (without waiting).
    pub fn try_exit(&mut self) -> Option<Option<i32>> {
        if self.exit.is_some() {
            return self.exit;
        }
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.exit = Some(status.code());
        self.exit
    }

    /// Kills (SIGKILL) and reaps the child.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
    }

    /// The process id while running.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// The last `n` lines, one per line, stderr marked.
    pub fn tail(&self, n: usize) -> String {
        let v = self.lines.borrow();
        let from = v.len().saturating_sub(n);
        v[from..]
            .iter()
            .map(|l| format!("{}{}", if l.stderr { "[err] " } else { "" }, l.text))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        // Captured by the test harness: shown only when the test fails.
        eprintln!(
            "----- {} output (last {PRINTED_LINES} lines; log {}) -----\n{}\n----- end of {} -----",
            self.label,
            self.log_path().display(),
            self.tail(PRINTED_LINES),
            self.label
        );
    }
}

async fn pump(
    stream: impl AsyncRead + Unpin,
    stderr: bool,
    sender: watch::Sender<Vec<Line>>,
    log: PathBuf,
) {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .await
        .ok();
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(text)) = reader.next_line().await {
        if let Some(f) = file.as_mut() {
            let _ = f
                .write_all(format!("{}{text}\n", if stderr { "[err] " } else { "" }).as_bytes())
                .await;
        }
        sender.send_modify(|v| v.push(Line { stderr, text }));
    }
}
