//! Tenants: creation with their built-ins (`Everyone`, `Everything`, the system roles and the
//! owner's membership), reading, account settings (name, time zone, MFA policy), the audit
//! toggle. Ownership transfer lives with the users.

use super::audit::append;
use super::codec::{Rec, Tx, read_known};
use super::users::{NewUser, new_identity, undo_identity};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{
    AuditKind, EVERYONE, EVERYTHING, MfaPolicy, Quotas, Tenant, TenantId, User, UserId,
};
use crate::rules::schedule::resolve_time_zone;
use crate::rules::tenant::new_tenant;
use crate::rules::user_types::Capability;
use crate::store::Scope;

/// Longest account name, in characters.
pub(crate) const MAX_TENANT_NAME: usize = 200;

/// What a new tenant needs.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// Company / account / team name.
    pub name: String,
    /// IANA zone of the account (schedules' default).
    pub timezone: String,
    /// Plan limits.
    pub quotas: Quotas,
    /// The owner, a new identity whose primary account this becomes (003: "Every publicly
    /// registered account automatically gets a team and is its owner").
    pub owner: NewUser,
}

impl Directory {
    /// Reads a tenant (its `version` field is the current tenant version).
    pub async fn tenant(&self, id: TenantId) -> Result<Tenant, DirectoryError> {
        let rec = self.tenant_rec(id).await?;
        Ok(rec.value)
    }

    pub(crate) async fn tenant_rec(&self, id: TenantId) -> Result<Rec<Tenant>, DirectoryError> {
        let sc = scope(id)?;
        let mut rec: Rec<Tenant> =
            read_known(&*self.store, &sc, keys::TENANT, TenantId::KIND, id).await?;
        rec.value.version = self.store.scope_version(&sc).await?;
        Ok(rec)
    }

    /// Creates a tenant, its built-in groups and system roles, and its owner (identity +
    /// membership of type Account owner). Returns the tenant and the owner.
    pub async fn create_tenant(&self, new: NewTenant) -> Result<(Tenant, User), DirectoryError> {
        let now = self.now();
        let owner_id = UserId::new_random();
        let built = new_tenant(new.name.trim(), &new.timezone, owner_id, new.quotas, now)?;
        let id = built.tenant.id;
        let owner = new_identity(owner_id, id, &new.owner, now).await?;
        // Global scope first: the identity, its username and the tenant list entry.
        let mut g = Tx::new(Scope::global());
        g.create(&keys::username(&owner.username), &owner_id)?;
        g.create(&keys::user(owner_id), &owner)?;
        g.put(&keys::user_membership(owner_id, id), &id)?;
        g.create(&keys::tenant_entry(id), &id)?;
        g.commit(&*self.store).await.map_err(|e| match e {
            DirectoryError::Conflict { .. } => DirectoryError::DuplicateName {
                kind: "username",
                name: owner.username.clone(),
            },
            e => e,
        })?;

        let mut tx = Tx::new(scope(id)?);
        tx.create(keys::TENANT, &built.tenant)?;
        tx.create(&keys::ugroup(built.everyone.id), &built.everyone)?;
        tx.create(&keys::name("ugroup", EVERYONE), &built.everyone.id)?;
        tx.create(&keys::dgroup(built.everything.id), &built.everything)?;
        tx.create(&keys::name("dgroup", EVERYTHING), &built.everything.id)?;
        for role in &built.system_roles {
            tx.create(&keys::role(role.id), role)?;
            tx.create(&keys::name("role", &role.name), &role.id)?;
        }
        tx.create(&keys::member(owner_id), &built.owner_membership)?;
        append(
            &mut tx,
            &built.tenant,
            now,
            &Actor::user(owner_id).audit,
            AuditKind::AccountConfiguration,
            format!("account {:?} created", built.tenant.name),
            None,
        )?;
        let version = match tx.commit(&*self.store).await {
            Ok(v) => v,
            Err(e) => {
                undo_identity(self, &owner, id).await;
                let _ = self
                    .store
                    .delete(&Scope::global(), &keys::tenant_entry(id))
                    .await;
                return Err(e);
            }
        };
        let mut tenant = built.tenant;
        tenant.version = version;
        Ok((tenant, owner))
    }

    /// Turns the audit log on or off (002/004: on by default; the toggle itself is audited).
    pub async fn set_audit_enabled(
        &self,
        tenant: TenantId,
        actor: &Actor,
        enabled: bool,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let rec = self.tenant_rec(tenant).await?;
            let mut t = rec.value.clone();
            t.audit_enabled = enabled;
            let mut tx = Tx::new(scope(tenant)?);
            tx.update(keys::TENANT, rec.version, &t)?;
            // Recorded while the log is (still or newly) on.
            let on = if enabled { &t } else { &rec.value };
            self.commit_audited(
                tx,
                on,
                actor,
                AuditKind::AccountConfiguration,
                format!(
                    "audit logging {}",
                    if enabled { "enabled" } else { "disabled" }
                ),
            )
            .await
            .map(|_| ())
        })
        .await
    }

    /// Changes the account's MFA policy: Disabled, Enabled per user, or Enforced (002/004
    /// §1.4; "MFA settings need administrator or higher"). Members' own flags are kept, so
    /// going back to per-user restores each member's choice. Returns the updated tenant.
    pub async fn set_mfa_policy(
        &self,
        tenant: TenantId,
        actor: &Actor,
        policy: MfaPolicy,
    ) -> Result<Tenant, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        self.edit_tenant(tenant, actor, |t| {
            if t.mfa_policy == policy {
                return Ok(None);
            }
            let was = t.mfa_policy;
            t.mfa_policy = policy;
            Ok(Some(format!(
                "multi-factor authentication policy changed from {was:?} to {policy:?}"
            )))
        })
        .await
    }

    /// Changes the account's name and/or IANA time zone (account configuration: Account owner
    /// only, 002/004 §2.2). The name is trimmed and needs 1 to 200 characters;
    /// an unknown zone is refused with `UnknownTimeZone`, another account's name (any case)
    /// with `DuplicateName`. Returns the updated tenant.
    pub async fn set_tenant_profile(
        &self,
        tenant: TenantId,
        actor: &Actor,
        name: Option<&str>,
        timezone: Option<&str>,
    ) -> Result<Tenant, DirectoryError> {
        self.require(tenant, actor, Capability::ConfigureAccount)
            .await?;
        let name = name.map(str::trim);
        if let Some(n) = name
            && (n.is_empty() || n.chars().count() > MAX_TENANT_NAME)
        {
            return Err(DirectoryError::NotAllowed(
                "an account name needs 1 to 200 characters",
            ));
        }
        if let Some(z) = timezone {
            resolve_time_zone(z)?;
        }
        if let Some(n) = name {
            // Login resolves an account by name: two accounts must not share one. Best effort
            // (tenant names have no index; creation does not check either).
            for other in self.tenants().await? {
                if other != tenant && self.tenant(other).await?.name.eq_ignore_ascii_case(n) {
                    return Err(DirectoryError::DuplicateName {
                        kind: TenantId::KIND,
                        name: n.to_owned(),
                    });
                }
            }
        }
        self.edit_tenant(tenant, actor, |t| {
            let mut changes = Vec::new();
            if let Some(n) = name
                && n != t.name
            {
                changes.push(format!("name changed from {:?} to {n:?}", t.name));
                t.name = n.to_owned();
            }
            if let Some(z) = timezone
                && z != t.timezone
            {
                changes.push(format!("time zone changed from {:?} to {z:?}", t.timezone));
                t.timezone = z.to_owned();
            }
            Ok((!changes.is_empty()).then(|| format!("account {}", changes.join(", "))))
        })
        .await
    }

    /// Applies `edit` to the tenant record in one batch with its audit record; `edit` returns
    /// the audit text, or `None` when nothing changed (then nothing is written).
    async fn edit_tenant(
        &self,
        tenant: TenantId,
        actor: &Actor,
        edit: impl Fn(&mut Tenant) -> Result<Option<String>, DirectoryError>,
    ) -> Result<Tenant, DirectoryError> {
        retry(|| async {
            let rec = self.tenant_rec(tenant).await?;
            let mut t = rec.value.clone();
            let Some(what) = edit(&mut t)? else {
                return Ok(rec.value);
            };
            let mut tx = Tx::new(scope(tenant)?);
            tx.update(keys::TENANT, rec.version, &t)?;
            let kind = AuditKind::AccountConfiguration;
            t.version = self.commit_audited(tx, &t, actor, kind, what).await?;
            Ok(t)
        })
        .await
    }

    /// The ids of every tenant.
    pub async fn tenants(&self) -> Result<Vec<TenantId>, DirectoryError> {
        let all =
            super::codec::read_all::<TenantId>(&*self.store, &Scope::global(), "tenant/").await?;
        Ok(all.into_iter().map(|(_, r)| r.value).collect())
    }
}
