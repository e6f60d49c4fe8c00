//! Where session transitions are audited: the `AuditSink` trait and its directory-backed
//! implementation (`Directory::record_audit`, which skips tenants whose audit log is off).
//!
//! A sink failure is logged and counted, never fatal to a session.

use std::future::Future;
use std::pin::Pin;

use switchboard_directory::model::AuditRecord;
use switchboard_directory::service::Directory;

/// The boxed future `AuditSink::record` returns.
pub type AuditFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Receives audit records.
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Stores one record (errors are logged by the implementation).
    fn record(&self, record: AuditRecord) -> AuditFuture<'_>;
}

/// Audit into the directory's log.
#[derive(Debug, Clone)]
pub struct DirectoryAudit {
    directory: Directory,
}

impl DirectoryAudit {
    /// Over `directory`.
    pub fn new(directory: Directory) -> Self {
        Self { directory }
    }
}

impl AuditSink for DirectoryAudit {
    fn record(&self, record: AuditRecord) -> AuditFuture<'_> {
        Box::pin(async move {
            if let Err(e) = self.directory.record_audit(record).await {
                tracing::warn!(error = %e, "audit record lost");
            }
        })
    }
}
