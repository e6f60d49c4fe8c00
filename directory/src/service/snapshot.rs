//! Loading a tenant's whole model and compiling its `PolicySnapshot`.
//!
//! The model is read prefix by prefix, between two reads of the tenant version; if a write
//! landed in between (the versions differ) the load starts over, so a snapshot never mixes two
//! states. The snapshot carries the version it was built from: the broker compares it with
//! change notifications and reloads only when its tenant changed.

use super::{Directory, keys, scope};
use crate::error::DirectoryError;
use crate::model::{
    Application, Device, DeviceGroup, Membership, Role, RoleAssignment, TenantId, UserGroup,
};
use crate::rules::evaluate::TenantModel;
use crate::rules::snapshot::PolicySnapshot;

/// How many times a load restarts because of concurrent writes before giving up.
const MAX_LOAD_ATTEMPTS: u32 = 16;

impl Directory {
    /// Every record of a tenant that evaluation needs, at one consistent version (the
    /// tenant's `version` field).
    pub async fn load_model(&self, tenant: TenantId) -> Result<TenantModel, DirectoryError> {
        let sc = scope(tenant)?;
        for _ in 0..MAX_LOAD_ATTEMPTS {
            let before = self.store.scope_version(&sc).await?;
            let mut t = self.tenant_rec(tenant).await?.value;
            let model = TenantModel {
                memberships: self.list_records::<Membership>(tenant).await?,
                user_groups: self.list_records::<UserGroup>(tenant).await?,
                device_groups: self.list_records::<DeviceGroup>(tenant).await?,
                devices: self.list_records::<Device>(tenant).await?,
                roles: self.list_records::<Role>(tenant).await?,
                assignments: self.list_records::<RoleAssignment>(tenant).await?,
                applications: self
                    .list_under::<Application>(tenant, keys::APP_PREFIX)
                    .await?,
                tenant: {
                    t.version = before;
                    t
                },
            };
            if self.store.scope_version(&sc).await? == before {
                return Ok(model);
            }
        }
        Err(DirectoryError::StoreBackend {
            backend: self.store.backend(),
            detail: format!("tenant {tenant} kept changing while its model was loaded"),
        })
    }

    /// Compiles the tenant's policy snapshot (its `version()` is the tenant version read).
    pub async fn load_snapshot(&self, tenant: TenantId) -> Result<PolicySnapshot, DirectoryError> {
        let model = self.load_model(tenant).await?;
        Ok(PolicySnapshot::build(&model.input()))
    }
}
