//! The audit log: appended in the same batch as the change it records, queried by time range
//! with optional user / device / kind filters, exported as CSV, purged after six months.
//!
//! Records live under `audit/<ms>/<id>`, so a time range is one ordered scan and the purge drops
//! the oldest first (002/004: "older data is removed and the more recent is maintained"). A
//! record of an administrative change is written in the tenant scope, in the same batch as the
//! change; a record from outside the directory (sign-ins, session events) goes to the tenant's
//! separate audit scope, so it does not bump the tenant version that compiled policy snapshots
//! follow. A query reads both and merges them by time. Nothing here decides who may read the
//! log: the broker checks that.

use jiff::{Timestamp, ToSpan, tz::TimeZone};

use super::codec::{Rec, Tx, read};
use super::{Actor, Directory, keys, scope};
use crate::error::DirectoryError;
use crate::model::{
    AuditActor, AuditId, AuditKind, AuditOutcome, AuditRecord, DeviceId, Tenant, TenantId, UserId,
};
use crate::store::Scope;
use crate::store::{MAX_SCAN_LIMIT, WriteBatch};

/// How long records are kept: six calendar months (002/004 §9).
pub const AUDIT_RETENTION: &str = "6 months";

/// Most records one query returns.
pub const MAX_AUDIT_QUERY: usize = 100_000;

/// Which records to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditQuery {
    /// From (inclusive).
    pub from: Timestamp,
    /// To (exclusive).
    pub to: Timestamp,
    /// Only records whose actor is this user.
    pub user: Option<UserId>,
    /// Only records about this device.
    pub device: Option<DeviceId>,
    /// Only records of this kind.
    pub kind: Option<AuditKind>,
    /// At most this many (capped at [`MAX_AUDIT_QUERY`]).
    pub limit: usize,
}

impl AuditQuery {
    /// Everything in `[from, to)`.
    pub fn range(from: Timestamp, to: Timestamp) -> Self {
        Self {
            from,
            to,
            user: None,
            device: None,
            kind: None,
            limit: MAX_AUDIT_QUERY,
        }
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        self.user.is_none_or(|u| r.actor == AuditActor::User(u))
            && self.device.is_none_or(|d| r.device == Some(d))
            && self.kind.is_none_or(|k| r.kind == k)
    }
}

/// Adds an audit record to `tx` if the tenant's audit log is on.
pub(crate) fn append(
    tx: &mut Tx,
    tenant: &Tenant,
    at: Timestamp,
    actor: &AuditActor,
    kind: AuditKind,
    what: String,
    device: Option<DeviceId>,
) -> Result<(), DirectoryError> {
    if !tenant.audit_enabled {
        return Ok(());
    }
    let record = AuditRecord {
        id: AuditId::new_random(),
        tenant: tenant.id,
        at,
        actor: actor.clone(),
        kind,
        what,
        from: None,
        outcome: AuditOutcome::Success,
        device,
        session: None,
    };
    tx.put(&keys::audit(at, record.id), &record)
}

impl Directory {
    /// Adds to `tx` the audit record of an administrative change `actor` makes now, about no
    /// particular device (if the tenant's audit log is on).
    pub(crate) fn audit_change(
        &self,
        tx: &mut Tx,
        tenant: &Tenant,
        actor: &Actor,
        kind: AuditKind,
        what: String,
    ) -> Result<(), DirectoryError> {
        append(tx, tenant, self.now(), &actor.audit, kind, what, None)
    }

    /// Adds the audit record of the change in `tx` (as [`Directory::audit_change`]) and
    /// commits the batch; returns the new scope version.
    pub(crate) async fn commit_audited(
        &self,
        mut tx: Tx,
        tenant: &Tenant,
        actor: &Actor,
        kind: AuditKind,
        what: String,
    ) -> Result<u64, DirectoryError> {
        self.audit_change(&mut tx, tenant, actor, kind, what)?;
        tx.commit(&*self.store).await
    }
}

/// The instant before which records are purged, for `now`.
pub fn retention_cutoff(now: Timestamp) -> Timestamp {
    now.to_zoned(TimeZone::UTC)
        .checked_sub(6.months())
        .map_or(Timestamp::MIN, |z| z.timestamp())
}

fn csv_text(s: &str) -> String {
    // 002/004: comma delimiter, apostrophe text qualifier; a quote inside is doubled.
    format!("'{}'", s.replace('\'', "''"))
}

fn actor_text(a: &AuditActor) -> String {
    match a {
        AuditActor::User(u) => format!("user:{u}"),
        AuditActor::Device(d) => format!("device:{d}"),
        AuditActor::System => "system".to_owned(),
        AuditActor::Anonymous(name) => format!("anonymous:{}", name.as_deref().unwrap_or("")),
    }
}

/// Renders records as CSV (header line first).
pub fn to_csv(records: &[AuditRecord]) -> String {
    let mut out = String::from("time,actor,kind,what,outcome,device,session,from\n");
    for r in records {
        let outcome = match &r.outcome {
            AuditOutcome::Success => "success".to_owned(),
            AuditOutcome::Denied(c) => format!("denied:{c}"),
            AuditOutcome::Failure(c) => format!("failure:{c}"),
        };
        let line = [
            r.at.to_string(),
            csv_text(&actor_text(&r.actor)),
            csv_text(&format!("{:?}", r.kind)),
            csv_text(&r.what),
            csv_text(&outcome),
            r.device.map(|d| d.to_string()).unwrap_or_default(),
            r.session.map(|s| s.to_string()).unwrap_or_default(),
            r.from.map(|ip| ip.to_string()).unwrap_or_default(),
        ]
        .join(",");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

impl Directory {
    /// Appends a record from outside the directory (sign-in, session start/end, file transfer,
    /// confirm-access decisions). Skipped when the tenant's audit log is off.
    pub async fn record_audit(&self, record: AuditRecord) -> Result<(), DirectoryError> {
        let tenant = record.tenant;
        self.record_audit_batch(tenant, vec![record]).await
    }

    /// Appends several records of one tenant in ONE commit (one fsync on redb): the session
    /// actors' audit lines are group-committed this way. Every record's tenant is set to
    /// `tenant`. Skipped when the tenant's audit log is off.
    pub async fn record_audit_batch(
        &self,
        tenant: TenantId,
        records: Vec<AuditRecord>,
    ) -> Result<(), DirectoryError> {
        let sc = scope(tenant)?;
        let found: Option<Rec<Tenant>> = read(&*self.store, &sc, keys::TENANT).await?;
        let found = found.ok_or_else(|| DirectoryError::unknown(TenantId::KIND, tenant))?;
        if !found.value.audit_enabled || records.is_empty() {
            return Ok(());
        }
        let mut tx = Tx::new(audit_scope(found.value.id)?);
        for mut record in records {
            record.tenant = found.value.id;
            // A plain put, no "absent" precondition: the key holds the record's random id, so
            // it is new (and writing the same record again stores the same bytes). On Redis a
            // precondition is one more command per line, several per session setup.
            tx.put(&keys::audit(record.at, record.id), &record)?;
        }
        tx.commit(&*self.store).await.map(|_| ())
    }

    /// Records in `[from, to)` matching the filters, oldest first: the tenant scope's and the
    /// audit scope's, merged by time.
    pub async fn query_audit(
        &self,
        tenant: TenantId,
        q: &AuditQuery,
    ) -> Result<Vec<AuditRecord>, DirectoryError> {
        let limit = q.limit.min(MAX_AUDIT_QUERY);
        let mut out = self.query_audit_scope(&scope(tenant)?, q, limit).await?;
        out.extend(
            self.query_audit_scope(&audit_scope(tenant)?, q, limit)
                .await?,
        );
        // Each part is the oldest `limit` of its scope, so the oldest `limit` of both is here.
        out.sort_by_key(|r| (r.at, r.id));
        out.truncate(limit);
        Ok(out)
    }

    async fn query_audit_scope(
        &self,
        sc: &Scope,
        q: &AuditQuery,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, DirectoryError> {
        let end = format!("{}{}", keys::AUDIT_PREFIX, keys::audit_time(q.to));
        let mut after = Some(format!(
            "{}{}",
            keys::AUDIT_PREFIX,
            keys::audit_time(q.from)
        ));
        let mut out = Vec::new();
        // Bounded: each page advances `after`; the loop ends at the range end or the limit.
        while let Some(a) = after.take() {
            let page = self
                .store
                .scan(sc, keys::AUDIT_PREFIX, Some(&a), MAX_SCAN_LIMIT)
                .await?;
            for (k, v) in &page.items {
                if *k >= end || out.len() >= limit {
                    return Ok(out);
                }
                let r: AuditRecord = serde_json::from_slice(&v.value).map_err(|e| {
                    DirectoryError::CorruptRecord {
                        key: k.clone(),
                        detail: e.to_string(),
                    }
                })?;
                if r.at >= q.from && q.matches(&r) {
                    out.push(r);
                }
            }
            after = page.next;
        }
        Ok(out)
    }

    /// A CSV report of the records in the query (002/004 "Generate report").
    pub async fn export_audit_csv(
        &self,
        tenant: TenantId,
        q: &AuditQuery,
    ) -> Result<String, DirectoryError> {
        Ok(to_csv(&self.query_audit(tenant, q).await?))
    }

    /// Drops records older than six months, oldest first, in batches; returns how many.
    pub async fn purge_audit(&self, tenant: TenantId) -> Result<usize, DirectoryError> {
        let mut purged = self.purge_audit_scope(scope(tenant)?).await?;
        purged += self.purge_audit_scope(audit_scope(tenant)?).await?;
        Ok(purged)
    }

    async fn purge_audit_scope(&self, sc: Scope) -> Result<usize, DirectoryError> {
        let end = format!(
            "{}{}",
            keys::AUDIT_PREFIX,
            keys::audit_time(retention_cutoff(self.now()))
        );
        let mut purged = 0;
        // Bounded: every round deletes a page or ends.
        loop {
            let page = self
                .store
                .scan(&sc, keys::AUDIT_PREFIX, None, MAX_SCAN_LIMIT)
                .await?;
            let old: Vec<&String> = page
                .items
                .iter()
                .map(|(k, _)| k)
                .take_while(|k| **k < end)
                .collect();
            if old.is_empty() {
                return Ok(purged);
            }
            let mut batch = WriteBatch::new(sc.clone());
            for k in &old {
                batch.delete(k.as_str());
            }
            self.store.commit(batch).await?;
            purged += old.len();
        }
    }
}

/// The tenant's audit scope: records from outside the directory, kept apart from the tenant
/// scope so that appending one does not change the tenant's version.
fn audit_scope(tenant: TenantId) -> Result<Scope, DirectoryError> {
    Scope::tenant(&format!("{tenant}.audit"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_uses_apostrophe_qualifier() {
        assert_eq!(csv_text("it's, ok"), "'it''s, ok'");
        assert_eq!(to_csv(&[]).lines().count(), 1);
    }

    #[test]
    fn cutoff_is_six_calendar_months() {
        let now: Timestamp = "2026-08-31T12:00:00Z".parse().unwrap();
        let cut: Timestamp = "2026-02-28T12:00:00Z".parse().unwrap();
        assert_eq!(retention_cutoff(now), cut);
    }
}
