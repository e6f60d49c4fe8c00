//! Where session transitions are audited: the `AuditSink` trait and its directory-backed
//! implementation, which writes behind and group-commits.
//!
//! On redb every commit is fsynced, so a session setup that waited for each of its audit lines
//! (several per setup) was bound by the store's single writer, however little CPU it used.
//! [`DirectoryAudit`] queues records to one writer task that takes whatever is waiting (up to
//! [`MAX_BATCH`]) and writes each tenant's share in ONE commit
//! (`Directory::record_audit_batch`, skipped for tenants whose audit log is off).
//! [`AuditSink::record`] returns once its line is queued, so a setup's transitions do not
//! wait for the disk; lines are stored in the order they were queued.
//! [`AuditSink::flush`] returns once every line queued before it is stored: a session's end,
//! a refused request and an audit query flush, so what they report is durable and what a
//! reader asks for is there. The queue is bounded ([`QUEUE`]); a full queue makes callers wait.
//! A store failure is logged and counted (`switchboard_audit_records_lost_total`), never fatal
//! to a session.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use switchboard_directory::model::AuditRecord;
use switchboard_directory::service::Directory;
use tokio::sync::{mpsc, oneshot};

use crate::metrics as m;

/// The boxed future `AuditSink` methods return.
pub type AuditFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Records waiting for the writer at most (callers wait beyond).
pub const QUEUE: usize = 4096;
/// Records written in one commit at most.
pub const MAX_BATCH: usize = 512;

/// Receives audit records.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Queues one record; returns once it is queued (waiting only while the queue is full).
    /// Errors are logged by the implementation.
    fn record(&self, record: AuditRecord) -> AuditFuture<'_>;
    /// Returns once every record queued before this call is stored (or lost and counted).
    fn flush(&self) -> AuditFuture<'_>;
}

#[derive(Debug)]
enum Queued {
    Record(AuditRecord),
    Flush(oneshot::Sender<()>),
}

/// Audit into the directory's log, written behind and group-committed by one writer task.
#[derive(Debug, Clone)]
pub struct DirectoryAudit {
    queue: mpsc::Sender<Queued>,
}

impl DirectoryAudit {
    /// Over `directory`; spawns the writer task (it ends when every handle is dropped, after
    /// writing what is queued).
    pub fn new(directory: Directory) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(directory, rx));
        Self { queue }
    }

    async fn enqueue(&self, item: Queued) -> bool {
        if self.queue.send(item).await.is_ok() {
            return true;
        }
        tracing::warn!("the audit writer has stopped");
        false
    }
}

impl AuditSink for DirectoryAudit {
    fn record(&self, record: AuditRecord) -> AuditFuture<'_> {
        Box::pin(async move {
            if !self.enqueue(Queued::Record(record)).await {
                metrics::counter!(m::AUDIT_RECORDS_LOST_TOTAL).increment(1);
            }
        })
    }

    fn flush(&self) -> AuditFuture<'_> {
        Box::pin(async move {
            let (done, stored) = oneshot::channel();
            if self.enqueue(Queued::Flush(done)).await {
                let _ = stored.await;
            }
        })
    }
}

async fn write_batches(directory: Directory, mut rx: mpsc::Receiver<Queued>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut by_tenant: BTreeMap<_, Vec<AuditRecord>> = BTreeMap::new();
        let mut waiters = Vec::new();
        for item in batch.drain(..) {
            match item {
                Queued::Record(record) => by_tenant.entry(record.tenant).or_default().push(record),
                Queued::Flush(done) => waiters.push(done),
            }
        }
        for (tenant, records) in by_tenant {
            let n = records.len() as u64;
            match directory.record_audit_batch(tenant, records).await {
                Ok(()) => {
                    metrics::counter!(m::AUDIT_COMMITS_TOTAL).increment(1);
                    metrics::counter!(m::AUDIT_RECORDS_TOTAL).increment(n);
                }
                Err(e) => {
                    metrics::counter!(m::AUDIT_RECORDS_LOST_TOTAL).increment(n);
                    tracing::warn!(error = %e, records = n, "audit records lost");
                }
            }
        }
        for done in waiters {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_directory::model::{AuditActor, AuditId, AuditKind, AuditOutcome};
    use switchboard_directory::service::{AuditQuery, NewTenant, NewUser};
    use switchboard_directory::store::StoreConfig;

    #[tokio::test]
    async fn queued_lines_are_stored_in_order_once_flushed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = switchboard_directory::store::open(StoreConfig::Redb {
            path: tmp.path().join("directory.redb"),
        })
        .await
        .unwrap();
        let dir = Directory::new(store);
        let (tenant, _) = dir
            .create_tenant(NewTenant {
                name: "Acme".into(),
                timezone: "UTC".into(),
                quotas: Default::default(),
                owner: NewUser {
                    username: "alice".into(),
                    first_name: "Alice".into(),
                    last_name: "Owner".into(),
                    email: "alice@example.invalid".into(),
                    password: Some("Corr3ctHorse".into()),
                    ..NewUser::default()
                },
            })
            .await
            .unwrap();
        let audit = DirectoryAudit::new(dir.clone());
        let lines: Vec<String> = (0..600).map(|i| format!("transition {i}")).collect();
        for what in &lines {
            audit
                .record(AuditRecord {
                    id: AuditId::new_random(),
                    tenant: tenant.id,
                    at: dir.now(),
                    actor: AuditActor::System,
                    kind: AuditKind::Session,
                    what: what.clone(),
                    from: None,
                    outcome: AuditOutcome::Success,
                    device: None,
                    session: None,
                })
                .await;
        }
        audit.flush().await;
        let mut q = AuditQuery::range(
            "2020-01-01T00:00:00Z".parse().unwrap(),
            "2100-01-01T00:00:00Z".parse().unwrap(),
        );
        q.kind = Some(AuditKind::Session);
        q.limit = 10_000;
        let stored: Vec<String> = dir
            .query_audit(tenant.id, &q)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.what)
            .collect();
        // More lines than one batch: every one is there after the flush, none twice.
        assert_eq!(stored.len(), lines.len());
        let mut sorted = stored.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), lines.len());
    }
}
