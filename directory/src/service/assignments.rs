//! Role assignments: create (role x user groups x device groups, optional schedule), activate
//! or deactivate, delete (its schedule goes with it), and bulk schedule set / remove in one
//! atomic batch.

use std::collections::BTreeSet;

use super::audit::append;
use super::codec::{Rec, Tx, duplicate_name, read};
use super::groups::activated;
use super::{Actor, Directory, keys, retry, scope};
use crate::error::DirectoryError;
use crate::model::{
    AssignmentId, AuditKind, DeviceGroup, DeviceGroupId, Role, RoleAssignment, RoleId, Schedule,
    TenantId, UserGroup, UserGroupId,
};
use crate::rules::assignments::{check_activation, validate_assignment};
use crate::rules::schedule::validate_schedule;
use crate::rules::user_types::Capability;

/// What a new role assignment needs.
#[derive(Clone, Debug)]
pub struct NewAssignment {
    /// Name (unique in the tenant).
    pub name: String,
    /// Description.
    pub description: String,
    /// The role.
    pub role: RoleId,
    /// One or more user groups.
    pub user_groups: BTreeSet<UserGroupId>,
    /// Device groups: one or more for device-access roles, none for OnDemand and
    /// administration roles.
    pub device_groups: BTreeSet<DeviceGroupId>,
    /// Optional schedule.
    pub schedule: Option<Schedule>,
}

impl Directory {
    /// Creates a role assignment (active). The rules check the role, the groups and the
    /// schedule; the batch requires the role and the named groups unchanged since read.
    pub async fn create_assignment(
        &self,
        tenant: TenantId,
        actor: &Actor,
        new: NewAssignment,
    ) -> Result<RoleAssignment, DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        let t = self.tenant_rec(tenant).await?.value;
        let sc = scope(tenant)?;
        let role: Option<Rec<Role>> = read(&*self.store, &sc, &keys::role(new.role)).await?;
        let ugs = self.read_records::<UserGroup>(&sc).await?;
        let dgs = self.read_records::<DeviceGroup>(&sc).await?;
        let now = self.now();
        let a = RoleAssignment {
            id: AssignmentId::new_random(),
            tenant,
            name: new.name.trim().to_owned(),
            description: new.description.clone(),
            active: true,
            auto_disabled: None,
            role: new.role,
            user_groups: new.user_groups.clone(),
            device_groups: new.device_groups.clone(),
            schedule: new.schedule.clone(),
            created_at: now,
            modified_at: now,
        };
        let ug_values: Vec<UserGroup> = ugs.iter().map(|(_, r)| r.value.clone()).collect();
        let dg_values: Vec<DeviceGroup> = dgs.iter().map(|(_, r)| r.value.clone()).collect();
        validate_assignment(&a, role.as_ref().map(|r| &r.value), &ug_values, &dg_values)?;
        let Some(role) = role else {
            return Err(DirectoryError::unknown(RoleId::KIND, new.role));
        };
        let mut tx = Tx::new(sc.clone());
        tx.expect(&keys::role(new.role), Some(role.version));
        for (k, g) in &ugs {
            if a.user_groups.contains(&g.value.id) {
                tx.expect(k, Some(g.version));
            }
        }
        for (k, g) in &dgs {
            if a.device_groups.contains(&g.value.id) {
                tx.expect(k, Some(g.version));
            }
        }
        tx.create(&keys::name("assign", &a.name), &a.id)?;
        tx.create(&keys::assignment(a.id), &a)?;
        append(
            &mut tx,
            &t,
            now,
            &actor.audit,
            AuditKind::RoleAssignment,
            format!(
                "role assignment {:?} created with role {:?}",
                a.name, role.value.name
            ),
            None,
        )?;
        tx.commit(&*self.store)
            .await
            .map_err(duplicate_name(AssignmentId::KIND, &a.name))?;
        Ok(a)
    }

    /// Reads a role assignment.
    pub async fn assignment(
        &self,
        tenant: TenantId,
        id: AssignmentId,
    ) -> Result<RoleAssignment, DirectoryError> {
        self.get_record(tenant, id).await
    }

    /// Every role assignment of the tenant.
    pub async fn assignments(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<RoleAssignment>, DirectoryError> {
        self.list_records(tenant).await
    }

    /// Activates or deactivates an assignment ("Disabling the role assignment does not remove
    /// it"). Re-activating clears an automatic disable only if its role still exists.
    pub async fn set_assignment_active(
        &self,
        tenant: TenantId,
        actor: &Actor,
        id: AssignmentId,
        active: bool,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let rec: Rec<RoleAssignment> = self.read_record(&sc, id).await?;
            let mut a = rec.value.clone();
            let mut tx = Tx::new(sc.clone());
            if active {
                let role: Option<Rec<Role>> = read(&*self.store, &sc, &keys::role(a.role)).await?;
                check_activation(&a, role.as_ref().map(|r| &r.value))?;
                tx.expect(&keys::role(a.role), role.map(|r| r.version));
                a.auto_disabled = None;
            }
            a.active = active;
            a.modified_at = self.now();
            tx.update(&keys::assignment(id), rec.version, &a)?;
            let what = format!("role assignment {:?} {}", a.name, activated(active));
            self.commit_audited(tx, &t, actor, AuditKind::RoleAssignment, what)
                .await
                .map(|_| ())
        })
        .await
    }

    /// Deletes assignments (with their schedules), all or none.
    pub async fn delete_assignments(
        &self,
        tenant: TenantId,
        actor: &Actor,
        ids: &[AssignmentId],
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let mut tx = Tx::new(sc.clone());
            for &id in ids {
                let rec: Rec<RoleAssignment> = self.read_record(&sc, id).await?;
                tx.remove(&keys::assignment(id), rec.version);
                tx.delete(&keys::name("assign", &rec.value.name));
                let what = format!("role assignment {:?} deleted", rec.value.name);
                self.audit_change(&mut tx, &t, actor, AuditKind::RoleAssignment, what)?;
            }
            tx.commit(&*self.store).await.map(|_| ())
        })
        .await
    }

    /// Sets (`Some`) or removes (`None`) the schedule of several assignments in one atomic
    /// batch (002/004: "You can assign a schedule to multiple role assignments").
    pub async fn set_schedules(
        &self,
        tenant: TenantId,
        actor: &Actor,
        ids: &[AssignmentId],
        schedule: Option<Schedule>,
    ) -> Result<(), DirectoryError> {
        self.require(tenant, actor, Capability::Administer).await?;
        if let Some(s) = &schedule {
            validate_schedule(s)?;
        }
        retry(|| async {
            let t = self.tenant_rec(tenant).await?.value;
            let sc = scope(tenant)?;
            let mut tx = Tx::new(sc.clone());
            for &id in ids {
                let rec: Rec<RoleAssignment> = self.read_record(&sc, id).await?;
                let mut a = rec.value.clone();
                a.schedule = schedule.clone();
                a.modified_at = self.now();
                tx.update(&keys::assignment(id), rec.version, &a)?;
            }
            let what = format!(
                "schedule {} on {} role assignment(s)",
                if schedule.is_some() { "set" } else { "removed" },
                ids.len()
            );
            self.commit_audited(tx, &t, actor, AuditKind::RoleAssignment, what)
                .await
                .map(|_| ())
        })
        .await
    }
}
