//! Loading a tenant's whole model and compiling its `PolicySnapshot`.
//!
//! The model is read prefix by prefix, between two reads of the tenant version; if a write
//! landed in between (the versions differ) the load starts over, so a snapshot never mixes two
//! states. The snapshot carries the version it was built from: the broker compares it with
//! change notifications and reloads only when its tenant changed.

use super::codec::read_all;
use super::{Directory, keys, scope};
use crate::error::DirectoryError;
use crate::model::{
    Application, Device, DeviceGroup, Membership, Role, RoleAssignment, TenantId, UserGroup,
};
use crate::rules::evaluate::TenantModel;
use crate::rules::snapshot::PolicySnapshot;

/// How many times a load restarts because of concurrent writes before giving up.
const MAX_LOAD_ATTEMPTS: u32 = 16;

async fn values<T: serde::de::DeserializeOwned>(
    d: &Directory,
    tenant: TenantId,
    prefix: &str,
) -> Result<Vec<T>, DirectoryError> {
    let all = read_all::<T>(&*d.store, &scope(tenant)?, prefix).await?;
    Ok(all.into_iter().map(|(_, r)| r.value).collect())
}

impl Directory {
    /// Every record of a tenant that evaluation needs, at one consistent version (the
    /// tenant's `version` field).
    pub async fn load_model(&self, tenant: TenantId) -> Result<TenantModel, DirectoryError> {
        let sc = scope(tenant)?;
        for _ in 0..MAX_LOAD_ATTEMPTS {
            let before = self.store.scope_version(&sc).await?;
            let mut t = self.tenant_rec(tenant).await?.value;
            let model = TenantModel {
                memberships: values::<Membership>(self, tenant, "member/").await?,
                user_groups: values::<UserGroup>(self, tenant, "ugroup/").await?,
                device_groups: values::<DeviceGroup>(self, tenant, "dgroup/").await?,
                devices: values::<Device>(self, tenant, "device/").await?,
                roles: values::<Role>(self, tenant, "role/").await?,
                assignments: values::<RoleAssignment>(self, tenant, "assign/").await?,
                applications: values::<Application>(self, tenant, keys::APP_PREFIX).await?,
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
