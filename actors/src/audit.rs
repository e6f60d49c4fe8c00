//! Where session transitions are audited: the `AuditSink` trait and its directory-backed
//! implementation, which group-commits.
//!
//! On redb every commit is fsynced, so one commit per audit line made the store's single
//! writer the limit of session setups (a setup writes several lines). [`DirectoryAudit`]
//! queues records to one writer task that takes whatever is waiting (up to
//! [`MAX_BATCH`]), writes each tenant's share in ONE commit
//! (`Directory::record_audit_batch`, skipped for tenants whose audit log is off) and then
//! answers every caller: `record` still returns only once its line is stored, so the order
//! and durability callers saw before are kept, but concurrent sessions share the fsync.
//! The queue is bounded ([`QUEUE`]); a full queue makes callers wait. A store failure is
//! logged and counted (`switchboard_audit_records_lost_total`), never fatal to a session.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use switchboard_directory::model::AuditRecord;
use switchboard_directory::service::Directory;
use tokio::sync::{mpsc, oneshot};

use crate::metrics as m;

/// The boxed future `AuditSink::record` returns.
pub type AuditFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Records waiting for the writer at most (callers wait beyond).
pub const QUEUE: usize = 4096;
/// Records written in one commit at most.
pub const MAX_BATCH: usize = 512;

/// Receives audit records.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Stores one record (errors are logged by the implementation).
    fn record(&self, record: AuditRecord) -> AuditFuture<'_>;
}

type Queued = (AuditRecord, oneshot::Sender<()>);

/// Audit into the directory's log, group-committed by one writer task.
#[derive(Debug, Clone)]
pub struct DirectoryAudit {
    queue: mpsc::Sender<Queued>,
}

impl DirectoryAudit {
    /// Over `directory`; spawns the writer task (it ends when every handle is dropped).
    pub fn new(directory: Directory) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(directory, rx));
        Self { queue }
    }
}

impl AuditSink for DirectoryAudit {
    fn record(&self, record: AuditRecord) -> AuditFuture<'_> {
        Box::pin(async move {
            let (done, stored) = oneshot::channel();
            if self.queue.send((record, done)).await.is_err() {
                metrics::counter!(m::AUDIT_RECORDS_LOST_TOTAL).increment(1);
                tracing::warn!("audit record lost: the audit writer has stopped");
                return;
            }
            let _ = stored.await;
        })
    }
}

async fn write_batches(directory: Directory, mut rx: mpsc::Receiver<Queued>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut by_tenant: BTreeMap<_, Vec<AuditRecord>> = BTreeMap::new();
        let mut waiters = Vec::with_capacity(batch.len());
        for (record, done) in batch.drain(..) {
            by_tenant.entry(record.tenant).or_default().push(record);
            waiters.push(done);
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
