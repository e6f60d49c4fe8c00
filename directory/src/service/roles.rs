//! Roles: create (unique names, permissions fitting the purpose), edit (never a system role,
//! never the purpose), copy ("Copy of <name> role"), delete (dependent assignments are disabled,
//! not deleted, and their names returned), and the application catalogue.

use super::codec::{Rec, Tx, duplicate_name};
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{AuditKind, Role, RoleAssignment, RoleId, TenantId};
use crate::rules::roles::{apply_role_deletion, check_role_update, copy_role, validate_role};
use crate::rules::user_types::Capability;

impl Directory {
    /// Creates a custom role. The id, tenant, `system` and creation instant of `role` are set
    /// here.
    pub async fn create_role(
        &self,
        tenant: TenantId,
        actor: &Actor,
        mut role: Role,
    ) -> Result<Role, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        role.id = RoleId::new_random();
        role.tenant = tenant;
        role.system = None;
        role.created_at = self.now();
        role.name = role.name.trim().to_owned();
        validate_role(&role)?;
        self.insert_role(tenant, actor, &role, "created").await?;
        Ok(role)
    }

    async fn insert_role(
        &self,
        tenant: TenantId,
        actor: &Actor,
        role: &Role,
        verb: &str,
    ) -> Result<(), DirectoryError> {
        let t = self.tenant_rec(tenant).await?.value;
        let mut tx = Tx::new(scope(tenant)?);
        tx.create(&keys::name("role", &role.name), &role.id)?;
        tx.create(&keys::role(role.id), role)?;
        let what = format!("role {:?} {verb}", role.name);
        self.commit_audited(tx, &t, actor, AuditKind::Role, what)
            .await
            .map_err(duplicate_name(RoleId::KIND, &role.name))?;
        Ok(())
    }

    /// Reads a role.
    pub async fn role(&self, tenant: TenantId, id: RoleId) -> Result<Role, DirectoryError> {
        self.get_record(tenant, id).await
    }

    /// Every role of the tenant, system roles included.
    pub async fn roles(&self, tenant: TenantId) -> Result<Vec<Role>, DirectoryError> {
        self.list_records(tenant).await
    }

    /// Replaces a custom role (system roles and purposes are immutable; a rename must stay
    /// unique).
    pub async fn update_role(
        &self,
        tenant: TenantId,
        actor: &Actor,
        new: Role,
    ) -> Result<Role, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let old: Rec<Role> = self.read_record(&sc, new.id).await?;
            let mut new = new.clone();
            new.name = new.name.trim().to_owned();
            new.created_at = old.value.created_at;
            check_role_update(&old.value, &new)?;
            let mut tx = Tx::new(sc);
            tx.update(&keys::role(new.id), old.version, &new)?;
            let old_name = keys::name("role", &old.value.name);
            let new_name = keys::name("role", &new.name);
            if old_name != new_name {
                tx.delete(&old_name);
                tx.create(&new_name, &new.id)?;
            }
            let what = format!("role {:?} edited", new.name);
            self.commit_audited(tx, &t, actor, AuditKind::Role, what)
                .await
                .map_err(duplicate_name(RoleId::KIND, &new.name))?;
            Ok(new)
        })
        .await
    }

    /// Copies a role (system or not) into a new custom role named "Copy of <name> role", or
    /// `name` when given.
    pub async fn copy_role(
        &self,
        tenant: TenantId,
        actor: &Actor,
        source: RoleId,
        name: Option<&str>,
    ) -> Result<Role, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        let src = self.role(tenant, source).await?;
        let mut copy = copy_role(&src, self.now());
        if let Some(n) = name {
            copy.name = n.trim().to_owned();
        }
        validate_role(&copy)?;
        self.insert_role(tenant, actor, &copy, "copied").await?;
        Ok(copy)
    }

    /// Deletes a custom role; every assignment using it is disabled (not deleted). Returns the
    /// names of the assignments that were active and are now disabled (002/004 §5.1).
    pub async fn delete_role(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: RoleId,
    ) -> Result<Vec<String>, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let role: Rec<Role> = self.read_record(&sc, id).await?;
            let all = self.read_records::<RoleAssignment>(&sc).await?;
            let mut assignments: Vec<RoleAssignment> =
                all.iter().map(|(_, r)| r.value.clone()).collect();
            let disabled = apply_role_deletion(&role.value, &mut assignments, self.now())?;
            let mut tx = Tx::new(sc);
            tx.remove(&keys::role(id), role.version);
            tx.delete(&keys::name("role", &role.value.name));
            for ((k, old), new) in all.iter().zip(&assignments) {
                if old.value != *new {
                    tx.update(k, old.version, new)?;
                }
            }
            let what = format!(
                "role {:?} deleted; {} assignment(s) disabled",
                role.value.name,
                disabled.len()
            );
            self.commit_audited(tx, &t, actor, AuditKind::Role, what)
                .await?;
            Ok(disabled.into_iter().map(|(_, n)| n).collect())
        })
        .await
    }
}
