//! The confirm prompt a Host (or OnDemand agent) shows its local user before accepting a
//! session that requires confirmation, with a reader that tests can inject.
//!
//! Only `y` / `yes` (any case) allow; anything else, an empty line, end of input or no answer
//! within the timeout deny. Prompts are serialized: one question at a time on the terminal.
//! It does not decide whether confirmation is needed (the broker's offer says so).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

/// How long the local user has to answer (the broker's confirm timeout is longer).
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(55);

/// Whether an answer line allows.
pub fn parse_answer(line: &str) -> bool {
    let a = line.trim();
    a.eq_ignore_ascii_case("y") || a.eq_ignore_ascii_case("yes")
}

/// Where answers come from.
type Reader = Box<dyn AsyncBufRead + Unpin + Send>;

/// Asks questions on stdout and reads answers from a reader.
#[derive(Clone)]
pub struct Confirmer {
    inner: Arc<Inner>,
}

struct Inner {
    auto: bool,
    timeout: Duration,
    reader: tokio::sync::Mutex<Option<Reader>>,
    print: crate::control::Printer,
}

impl std::fmt::Debug for Confirmer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmer")
            .field("auto", &self.inner.auto)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Confirmer {
    /// Says yes to everything without asking (`--auto-accept`, `--yes`).
    pub fn auto_accept(print: crate::control::Printer) -> Self {
        Self::build(true, CONFIRM_TIMEOUT, None, print)
    }

    /// Asks on the terminal (stdin).
    pub fn terminal(print: crate::control::Printer) -> Self {
        let r: Reader = Box::new(BufReader::new(tokio::io::stdin()));
        Self::build(false, CONFIRM_TIMEOUT, Some(r), print)
    }

    /// Reads answers from `reader`, waiting at most `timeout` each.
    pub fn with_reader(
        reader: impl AsyncBufRead + Unpin + Send + 'static,
        timeout: Duration,
        print: crate::control::Printer,
    ) -> Self {
        Self::build(false, timeout, Some(Box::new(reader)), print)
    }

    fn build(
        auto: bool,
        timeout: Duration,
        reader: Option<Reader>,
        print: crate::control::Printer,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                auto,
                timeout,
                reader: tokio::sync::Mutex::new(reader),
                print,
            }),
        }
    }

    /// Asks `question`; true only on y/yes within the timeout.
    pub async fn confirm(&self, question: &str) -> bool {
        if self.inner.auto {
            return true;
        }
        let mut guard = self.inner.reader.lock().await;
        let Some(reader) = guard.as_mut() else {
            return false;
        };
        (self.inner.print)(question);
        let mut line = String::new();
        match tokio::time::timeout(self.inner.timeout, reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => parse_answer(&line),
            Ok(Ok(_)) | Ok(Err(_)) => {
                // End of input: nobody can answer any more.
                *guard = None;
                false
            }
            Err(_) => {
                (self.inner.print)("no answer in time: denied");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiet() -> crate::control::Printer {
        Arc::new(|_: &str| {})
    }

    #[test]
    fn answers() {
        for yes in ["y", "Y", "yes", " YES \n", "Yes\r\n"] {
            assert!(parse_answer(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "y e s", "ja"] {
            assert!(!parse_answer(no), "{no:?}");
        }
    }

    #[tokio::test]
    async fn reads_one_line_per_question() {
        let c = Confirmer::with_reader(&b"y\n\nno\nyes\n"[..], CONFIRM_TIMEOUT, quiet());
        let got = [
            c.confirm("q1").await,
            c.confirm("q2").await,
            c.confirm("q3").await,
            c.confirm("q4").await,
            // End of input denies, and keeps denying.
            c.confirm("q5").await,
        ];
        assert_eq!(got, [true, false, false, true, false]);
    }

    #[tokio::test]
    async fn silence_is_a_no() {
        let (_keep_open, rx) = tokio::io::duplex(64);
        let c = Confirmer::with_reader(BufReader::new(rx), Duration::from_millis(50), quiet());
        assert!(!c.confirm("anyone?").await);
    }

    #[tokio::test]
    async fn auto_accept_does_not_read() {
        assert!(Confirmer::auto_accept(quiet()).confirm("q").await);
    }

    #[tokio::test]
    async fn the_question_is_printed() {
        let seen = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
        let s2 = seen.clone();
        let print: crate::control::Printer = Arc::new(move |l: &str| s2.lock().push(l.to_owned()));
        let c = Confirmer::with_reader(&b"n\n"[..], CONFIRM_TIMEOUT, print);
        assert!(!c.confirm("Allow Tech (tunnel)? [y/N]").await);
        assert_eq!(seen.lock().as_slice(), ["Allow Tech (tunnel)? [y/N]"]);
    }
}
