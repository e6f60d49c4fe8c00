//! OnDemand keys: create a one-time 9-digit key valid 24 h; the end user's agent joins with it
//! (queue), the technician starts (the one connection: the key is gone) or rejects, and the
//! session finishes; list a tenant's sessions. The state rules are `rules::ondemand_key`; this
//! file stores them.
//!
//! The key index is global (`odkey/<key>` in the global scope) because an agent joins with the
//! key alone.

use super::audit::append;
use super::codec::{Rec, Tx, read};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{AuditKind, OnDemandId, OnDemandSession, TenantId, UserId};
use crate::rules::ondemand_key::{self, is_dead, new_session};
use crate::store::Scope;

/// Tries to draw an unused key this many times.
const MAX_KEY_DRAWS: u32 = 16;

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct KeyIndex {
    tenant: TenantId,
    id: OnDemandId,
}

/// A step of an OnDemand session's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Join,
    Start,
    Reject,
}

impl Directory {
    /// Creates an OnDemand session with a fresh 9-digit key (valid 24 h). Whether the actor may
    /// (OnDemand flag + OnDemand role assignment) is checked by the caller on the snapshot.
    pub async fn create_ondemand(
        &self,
        tenant: TenantId,
        actor: &Actor,
    ) -> Result<OnDemandSession, DirectoryError> {
        let Some(by) = actor.user_id() else {
            return Err(DirectoryError::NotAllowed(
                "OnDemand sessions are created by a user",
            ));
        };
        let t = self.tenant_rec(tenant).await?.value;
        let now = self.now();
        for _ in 0..MAX_KEY_DRAWS {
            let s = new_session(tenant, by, now)?;
            let key = keys::ondemand_key(&s.key);
            // A live key of any tenant blocks the draw; a dead one is replaced.
            let cur: Option<Rec<KeyIndex>> = read(&*self.store, &Scope::global(), &key).await?;
            if let Some(cur) = &cur {
                let old: Option<Rec<OnDemandSession>> = read(
                    &*self.store,
                    &scope(cur.value.tenant)?,
                    &keys::ondemand(cur.value.id),
                )
                .await?;
                if old.is_some_and(|r| !is_dead(&r.value, now)) {
                    continue;
                }
            }
            let mut g = Tx::new(Scope::global());
            g.expect(&key, cur.map(|r| r.version));
            g.put(&key, &KeyIndex { tenant, id: s.id })?;
            match g.commit(&*self.store).await {
                Ok(_) => {}
                Err(DirectoryError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
            let mut tx = Tx::new(scope(tenant)?);
            tx.create(&keys::ondemand(s.id), &s)?;
            append(
                &mut tx,
                &t,
                now,
                &actor.audit,
                AuditKind::OnDemand,
                "OnDemand session key created".to_owned(),
                None,
            )?;
            tx.commit(&*self.store).await?;
            return Ok(s);
        }
        Err(DirectoryError::NotAllowed(
            "no free OnDemand key could be drawn",
        ))
    }

    /// The tenant's OnDemand sessions, oldest first: those `created_by` made when given (the
    /// "Own invitations" view, 003), else every one (the queue, 002/004 §6.2). With `live_only`
    /// the finished, rejected and expired ones are left out ("Only the running OnDemand
    /// Sessions can be seen in the queue").
    pub async fn ondemand_sessions(
        &self,
        tenant: TenantId,
        created_by: Option<UserId>,
        live_only: bool,
    ) -> Result<Vec<OnDemandSession>, DirectoryError> {
        let now = self.now();
        let mut all: Vec<OnDemandSession> = self
            .list_records::<OnDemandSession>(tenant)
            .await?
            .into_iter()
            .filter(|s| created_by.is_none_or(|u| s.created_by == u))
            .filter(|s| !live_only || !is_dead(s, now))
            .collect();
        all.sort_by_key(|s| (s.created_at, s.id));
        Ok(all)
    }

    /// The OnDemand session a key names (whatever its state).
    pub async fn ondemand_by_key(&self, key: &str) -> Result<OnDemandSession, DirectoryError> {
        let idx: Option<Rec<KeyIndex>> = read(
            &*self.store,
            &Scope::global(),
            &keys::ondemand_key(key.trim()),
        )
        .await?;
        let Some(idx) = idx else {
            return Err(DirectoryError::unknown(OnDemandId::KIND, "(key)"));
        };
        self.get_record(idx.value.tenant, idx.value.id).await
    }

    /// The end user's agent joins the queue with the key (refused once expired or used).
    pub async fn join_ondemand(&self, key: &str) -> Result<OnDemandSession, DirectoryError> {
        self.ondemand_step(key, Step::Join).await
    }

    /// The technician starts the session: its one connection. The key is deleted, so any
    /// further use fails (002/004: "valid only for one remote connection").
    pub async fn start_ondemand(&self, key: &str) -> Result<OnDemandSession, DirectoryError> {
        self.ondemand_step(key, Step::Start).await
    }

    /// The technician rejects a queued session: "A new OnDemand session is necessary".
    pub async fn reject_ondemand(&self, key: &str) -> Result<OnDemandSession, DirectoryError> {
        self.ondemand_step(key, Step::Reject).await
    }

    /// The connection ended.
    pub async fn finish_ondemand(
        &self,
        tenant: TenantId,
        id: OnDemandId,
    ) -> Result<(), DirectoryError> {
        let sc = scope(tenant)?;
        retry(|| async {
            let rec: Rec<OnDemandSession> = self.read_record(&sc, id).await?;
            let mut s = rec.value.clone();
            ondemand_key::finish(&mut s);
            let mut tx = Tx::new(sc.clone());
            tx.update(&keys::ondemand(id), rec.version, &s)?;
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    async fn ondemand_step(
        &self,
        key: &str,
        step: Step,
    ) -> Result<OnDemandSession, DirectoryError> {
        let found = self.ondemand_by_key(key).await?;
        let sc = scope(found.tenant)?;
        let done = retry(|| async {
            let now = self.now();
            let rec: Rec<OnDemandSession> = self.read_record(&sc, found.id).await?;
            let mut s = rec.value.clone();
            match step {
                Step::Join => ondemand_key::join(&mut s, now)?,
                Step::Start => ondemand_key::start(&mut s, now)?,
                Step::Reject => ondemand_key::reject(&mut s)?,
            }
            let t = self.tenant_rec(found.tenant).await?.value;
            let mut tx = Tx::new(sc.clone());
            tx.update(&keys::ondemand(found.id), rec.version, &s)?;
            append(
                &mut tx,
                &t,
                now,
                &crate::model::AuditActor::System,
                AuditKind::OnDemand,
                format!("OnDemand session {step:?}"),
                None,
            )?;
            tx.commit(&*self.store).await?;
            Ok(s)
        })
        .await?;
        if matches!(step, Step::Start | Step::Reject) {
            self.store
                .delete(&Scope::global(), &keys::ondemand_key(&found.key))
                .await?;
        }
        Ok(done)
    }
}
