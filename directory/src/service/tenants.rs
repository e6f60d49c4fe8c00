//! Tenants: creation with their built-ins (`Everyone`, `Everything`, the system roles and the
//! owner's membership), reading, account settings, ownership transfer, the audit toggle.

use super::audit::append;
use super::codec::{Rec, Tx, read_known};
use super::users::{NewUser, new_identity, undo_identity};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{AuditKind, EVERYONE, EVERYTHING, Quotas, Tenant, TenantId, User, UserId};
use crate::rules::tenant::new_tenant;
use crate::rules::user_types::Capability;
use crate::store::Scope;

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
            append(
                &mut tx,
                on,
                self.now(),
                &actor.audit,
                AuditKind::AccountConfiguration,
                format!(
                    "audit logging {}",
                    if enabled { "enabled" } else { "disabled" }
                ),
                None,
            )?;
            tx.commit(&*self.store).await.map(|_| ())
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
