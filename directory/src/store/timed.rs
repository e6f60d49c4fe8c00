//! Latency observation of store calls: [`Timed`] wraps whichever backend [`super::open`] opened
//! and reports every call's backend, operation, outcome and duration to one process-wide
//! [`Observer`] function.
//!
//! The directory does not depend on a metrics library: the broker installs an observer (its
//! metrics module turns each call into a histogram sample and an error count). Without an
//! observer the wrapper costs one clock read per call and reports nothing. It changes no
//! result, retries nothing and times nothing but the four store calls (`get`, `scan`,
//! `commit`, `scope_version`; `put` and `delete` are timed as the `commit` they make).

use std::sync::OnceLock;

use tokio::sync::broadcast;

use super::{KvStore, ScanPage, Scope, StoreEvent, StoreFuture, Versioned, WriteBatch};
use crate::error::DirectoryError;

/// How one store call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// It succeeded.
    Ok,
    /// A batch precondition failed (not a backend fault).
    Conflict,
    /// The backend failed or timed out.
    Error,
}

impl CallOutcome {
    /// Label value: `ok`, `conflict`, `error`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Conflict => "conflict",
            Self::Error => "error",
        }
    }

    fn of<T>(r: &Result<T, DirectoryError>) -> Self {
        match r {
            Ok(_) => Self::Ok,
            Err(DirectoryError::Conflict { .. }) => Self::Conflict,
            Err(_) => Self::Error,
        }
    }
}

/// Receives (backend, operation, outcome, seconds) for every timed store call.
pub type Observer = fn(&'static str, &'static str, CallOutcome, f64);

static OBSERVER: OnceLock<Observer> = OnceLock::new();

/// Installs the process's observer; `false` if one was installed before (it stays).
pub fn set_observer(f: Observer) -> bool {
    OBSERVER.set(f).is_ok()
}

/// A store whose calls are reported to the observer.
#[derive(Debug)]
pub struct Timed<S> {
    inner: S,
}

impl<S: KvStore> Timed<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        call: StoreFuture<'_, T>,
    ) -> Result<T, DirectoryError> {
        let start = tokio::time::Instant::now();
        let r = call.await;
        if let Some(observe) = OBSERVER.get() {
            observe(
                self.inner.backend(),
                op,
                CallOutcome::of(&r),
                start.elapsed().as_secs_f64(),
            );
        }
        r
    }
}

impl<S: KvStore> KvStore for Timed<S> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn get<'a>(&'a self, scope: &'a Scope, key: &'a str) -> StoreFuture<'a, Option<Versioned>> {
        Box::pin(self.timed("get", self.inner.get(scope, key)))
    }

    fn scan<'a>(
        &'a self,
        scope: &'a Scope,
        prefix: &'a str,
        after: Option<&'a str>,
        limit: usize,
    ) -> StoreFuture<'a, ScanPage> {
        Box::pin(self.timed("scan", self.inner.scan(scope, prefix, after, limit)))
    }

    fn commit(&self, batch: WriteBatch) -> StoreFuture<'_, u64> {
        Box::pin(self.timed("commit", self.inner.commit(batch)))
    }

    fn scope_version<'a>(&'a self, scope: &'a Scope) -> StoreFuture<'a, u64> {
        Box::pin(self.timed("scope_version", self.inner.scope_version(scope)))
    }

    fn subscribe(&self) -> broadcast::Receiver<StoreEvent> {
        self.inner.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::store::redb::RedbStore;

    thread_local! {
        // Per thread: other tests of this binary may run store calls on other threads.
        static SEEN: RefCell<Vec<(&'static str, &'static str, CallOutcome)>> =
            const { RefCell::new(Vec::new()) };
    }

    fn record(backend: &'static str, op: &'static str, outcome: CallOutcome, secs: f64) {
        if secs >= 0.0 {
            SEEN.with(|s| s.borrow_mut().push((backend, op, outcome)));
        }
    }

    #[tokio::test]
    async fn every_call_reaches_the_observer_and_results_are_unchanged() {
        set_observer(record);
        let dir = tempfile::tempdir().unwrap();
        let store = Timed::new(RedbStore::open(&dir.path().join("t.redb")).unwrap());
        let scope = Scope::tenant("acme").unwrap();
        assert_eq!(store.put(&scope, "k", b"v".to_vec()).await.unwrap(), 1);
        assert_eq!(store.get(&scope, "k").await.unwrap().unwrap().value, b"v");
        assert_eq!(
            store.scan(&scope, "", None, 10).await.unwrap().items.len(),
            1
        );
        assert_eq!(store.scope_version(&scope).await.unwrap(), 1);
        let mut stale = WriteBatch::new(scope.clone());
        stale.expect_version("k", 99);
        stale.put("k", b"w".to_vec());
        assert!(store.commit(stale).await.is_err());
        let seen = SEEN.with(|s| s.borrow().clone());
        use CallOutcome::{Conflict, Ok as Done};
        let want = [
            ("redb", "commit", Done),
            ("redb", "get", Done),
            ("redb", "scan", Done),
            ("redb", "scope_version", Done),
            ("redb", "commit", Conflict),
        ];
        assert_eq!(seen, want);
        assert_eq!(store.backend(), "redb");
    }
}
