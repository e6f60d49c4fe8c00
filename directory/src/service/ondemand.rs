//! OnDemand keys: create a one-time 9-digit key valid 24 h, look it up, consume it once.
//!
//! The key index is global (`odkey/<key>` in the global scope) because an end user's agent
//! joins with the key alone. Queue handling (1 h wait, start, reject) is the session layer's.

use jiff::SignedDuration;

use super::audit::append;
use super::codec::{Rec, Tx, read, read_known};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::{DirectoryError, OnDemandRefusal};
use crate::model::{AuditKind, OnDemandId, OnDemandSession, OnDemandState, TenantId};
use crate::store::Scope;

/// 002/004: "An OnDemand session key is valid 24h since it was created."
pub const ONDEMAND_KEY_LIFETIME: SignedDuration = SignedDuration::from_hours(24);

/// Tries to draw an unused key this many times.
const MAX_KEY_DRAWS: u32 = 16;

fn draw_key() -> Result<String, DirectoryError> {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).map_err(|e| DirectoryError::Random(e.to_string()))?;
    // 9 digits, no leading zero (100000000..=999999999); the modulo bias of a 64-bit draw
    // over 9e8 values is negligible.
    Ok((100_000_000 + u64::from_le_bytes(raw) % 900_000_000).to_string())
}

#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct KeyIndex {
    tenant: TenantId,
    id: OnDemandId,
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
            return Err(DirectoryError::NotAllowed("OnDemand sessions are created by a user"));
        };
        let t = self.tenant_rec(tenant).await?.value;
        let now = self.now();
        for _ in 0..MAX_KEY_DRAWS {
            let key = draw_key()?;
            let s = OnDemandSession {
                id: OnDemandId::new_random(),
                tenant,
                key: key.clone(),
                created_by: by,
                created_at: now,
                expires_at: now.checked_add(ONDEMAND_KEY_LIFETIME).unwrap_or(jiff::Timestamp::MAX),
                state: OnDemandState::Created,
            };
            // A live key of any tenant blocks the draw; an expired one is replaced.
            let cur: Option<Rec<KeyIndex>> =
                read(&*self.store, &Scope::global(), &keys::ondemand_key(&key)).await?;
            if let Some(cur) = &cur {
                let live = read::<OnDemandSession>(&*self.store, &scope(cur.value.tenant)?, &keys::ondemand(cur.value.id))
                    .await?
                    .is_some_and(|r| r.value.expires_at > now);
                if live {
                    continue;
                }
            }
            let mut g = Tx::new(Scope::global());
            g.expect(&keys::ondemand_key(&key), cur.map(|r| r.version));
            g.put(&keys::ondemand_key(&key), &KeyIndex { tenant, id: s.id })?;
            match g.commit(&*self.store).await {
                Ok(_) => {}
                Err(DirectoryError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
            let mut tx = Tx::new(scope(tenant)?);
            tx.create(&keys::ondemand(s.id), &s)?;
            append(&mut tx, &t, now, &actor.audit, AuditKind::OnDemand,
                "OnDemand session key created".to_owned(), None)?;
            tx.commit(&*self.store).await?;
            return Ok(s);
        }
        Err(DirectoryError::NotAllowed("no free OnDemand key could be drawn"))
    }

    /// Finds the OnDemand session of a key (refused once expired).
    pub async fn ondemand_by_key(&self, key: &str) -> Result<OnDemandSession, DirectoryError> {
        let idx: Option<Rec<KeyIndex>> =
            read(&*self.store, &Scope::global(), &keys::ondemand_key(key.trim())).await?;
        let Some(idx) = idx else {
            return Err(DirectoryError::unknown(OnDemandId::KIND, "key"));
        };
        let s: Rec<OnDemandSession> = read_known(
            &*self.store,
            &scope(idx.value.tenant)?,
            &keys::ondemand(idx.value.id),
            OnDemandId::KIND,
            idx.value.id,
        )
        .await?;
        if s.value.expires_at <= self.now() {
            return Err(DirectoryError::OnDemandRefused(OnDemandRefusal::Expired));
        }
        Ok(s.value)
    }

    /// Uses the key for its one connection: the session becomes Connected and the key index is
    /// deleted, so a second use fails.
    pub async fn consume_ondemand(&self, key: &str) -> Result<OnDemandSession, DirectoryError> {
        let s = self.ondemand_by_key(key).await?;
        let sc = scope(s.tenant)?;
        let used = retry(|| async {
            let now = self.now();
            let rec: Rec<OnDemandSession> =
                read_known(&*self.store, &sc, &keys::ondemand(s.id), OnDemandId::KIND, s.id).await?;
            match rec.value.state {
                OnDemandState::Created | OnDemandState::Waiting { .. } => {}
                OnDemandState::Rejected => {
                    return Err(DirectoryError::OnDemandRefused(OnDemandRefusal::Rejected));
                }
                _ => return Err(DirectoryError::OnDemandRefused(OnDemandRefusal::AlreadyUsed)),
            }
            let t = self.tenant_rec(s.tenant).await?.value;
            let mut s2 = rec.value.clone();
            s2.state = OnDemandState::Connected { since: now };
            let mut tx = Tx::new(sc.clone());
            tx.update(&keys::ondemand(s.id), rec.version, &s2)?;
            append(&mut tx, &t, now, &crate::model::AuditActor::System, AuditKind::OnDemand,
                "OnDemand session key used".to_owned(), None)?;
            tx.commit(&*self.store).await?;
            Ok(s2)
        })
        .await?;
        self.store.delete(&Scope::global(), &keys::ondemand_key(&s.key)).await?;
        Ok(used)
    }
}
