//! Test-only builder of small tenants.

use crate::model::*;
use crate::rules::evaluate::TenantModel;
use crate::rules::tenant::new_tenant;
use jiff::Timestamp;
use std::collections::BTreeSet;

pub(crate) struct World {
    pub(crate) m: TenantModel,
    pub(crate) everyone: UserGroupId,
    pub(crate) everything: DeviceGroupId,
}

pub(crate) fn t0() -> Timestamp {
    "2026-01-01T00:00Z".parse().unwrap()
}

impl World {
    pub(crate) fn new(tz: &str) -> Self {
        let owner = UserId::new_random();
        let n = new_tenant("Test", tz, owner, Quotas::default(), t0()).unwrap();
        Self {
            everyone: n.everyone.id,
            everything: n.everything.id,
            m: n.into_model(),
        }
    }

    pub(crate) fn tenant(&self) -> TenantId {
        self.m.tenant.id
    }

    pub(crate) fn user_group(&mut self, name: &str) -> UserGroupId {
        let id = UserGroupId::new_random();
        self.m.user_groups.push(UserGroup {
            id,
            tenant: self.tenant(),
            name: name.into(),
            description: String::new(),
            active: true,
            kind: UserGroupKind::Local,
        });
        id
    }

    pub(crate) fn device_group(&mut self, name: &str) -> DeviceGroupId {
        let id = DeviceGroupId::new_random();
        self.m.device_groups.push(DeviceGroup {
            id,
            tenant: self.tenant(),
            name: name.into(),
            description: String::new(),
            active: true,
            everything: false,
        });
        id
    }

    pub(crate) fn user(&mut self, groups: &[UserGroupId]) -> UserId {
        let id = UserId::new_random();
        let mut m = Membership::invited(self.tenant(), id, None, t0());
        m.state = MembershipState::Active;
        m.groups = groups.iter().copied().collect();
        self.m.memberships.push(m);
        id
    }

    pub(crate) fn device(&mut self, groups: &[DeviceGroupId]) -> DeviceId {
        let id = DeviceId::new_random();
        self.m.devices.push(Device {
            id,
            tenant: self.tenant(),
            hostname: format!("host-{}", self.m.devices.len()),
            alias: None,
            description: String::new(),
            os: "Linux".into(),
            agent_version: "1.0".into(),
            logged_in_user: None,
            last_seen: None,
            enrollment: EnrollmentState::Enrolled,
            package: None,
            groups: groups.iter().copied().collect(),
            keys: DeviceKeys {
                auth_ed25519: [1; 32],
                noise_x25519: [2; 32],
            },
            enrolled_at: t0(),
        });
        id
    }

    pub(crate) fn role(&mut self, purpose: RolePurpose, perms: &[Permission]) -> RoleId {
        let id = RoleId::new_random();
        self.m.roles.push(Role {
            id,
            tenant: self.tenant(),
            name: format!("role-{}", self.m.roles.len()),
            description: String::new(),
            purpose,
            enabled: true,
            permissions: PermissionSet::from_slice(perms),
            confirm: ConfirmAccess::default(),
            whitelist: None,
            system: None,
            created_at: t0(),
        });
        id
    }

    pub(crate) fn assign(
        &mut self,
        name: &str,
        role: RoleId,
        ugs: &[UserGroupId],
        dgs: &[DeviceGroupId],
    ) -> AssignmentId {
        let id = AssignmentId::new_random();
        self.m.assignments.push(RoleAssignment {
            id,
            tenant: self.tenant(),
            name: name.into(),
            description: String::new(),
            active: true,
            auto_disabled: None,
            role,
            user_groups: ugs.iter().copied().collect::<BTreeSet<_>>(),
            device_groups: dgs.iter().copied().collect::<BTreeSet<_>>(),
            schedule: None,
            created_at: t0(),
            modified_at: t0(),
        });
        id
    }

    pub(crate) fn device_ref(&self, id: DeviceId) -> &Device {
        self.m.devices.iter().find(|d| d.id == id).unwrap()
    }

    pub(crate) fn role_mut(&mut self, id: RoleId) -> &mut Role {
        self.m.roles.iter_mut().find(|r| r.id == id).unwrap()
    }

    pub(crate) fn assignment_mut(&mut self, id: AssignmentId) -> &mut RoleAssignment {
        self.m.assignments.iter_mut().find(|a| a.id == id).unwrap()
    }
}
