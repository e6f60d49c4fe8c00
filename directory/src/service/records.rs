//! Typed access to the records a tenant keeps one per id (groups, devices, roles, assignments,
//! packages, OnDemand sessions, memberships): [`TenantRecord`] names each kind's key prefix and `UnknownId` kind
//! once, and `Directory` reads one (with or without its version) or lists them all.
//!
//! Nothing here writes, checks rights or audits; the key shapes themselves stay in `keys`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::codec::{Rec, read_all, read_known};
use super::{Directory, keys, scope};
use crate::error::DirectoryError;
use crate::model::{
    AssignmentId, DeploymentPackage, Device, DeviceGroup, DeviceGroupId, DeviceId, Membership,
    OnDemandId, OnDemandSession, PackageId, Role, RoleAssignment, RoleId, TenantId, UserGroup,
    UserGroupId, UserId,
};
use crate::store::Scope;

/// A kind of record stored under `<prefix><id>` in its tenant's scope.
pub(crate) trait TenantRecord: Serialize + DeserializeOwned + Clone + Send + Sync {
    /// The id that names one record.
    type Id: std::fmt::Display + Serialize + Copy + Send + Sync;
    /// The kind named in `UnknownId` errors.
    const KIND: &'static str;
    /// The key prefix every record of the kind shares (`device/`).
    const PREFIX: &'static str;
    /// The key of the record `id`.
    fn key(id: Self::Id) -> String;
}

macro_rules! tenant_record {
    ($record:ty, $id:ty, $kind:expr, $prefix:literal, $key:path) => {
        impl TenantRecord for $record {
            type Id = $id;
            const KIND: &'static str = $kind;
            const PREFIX: &'static str = $prefix;
            fn key(id: $id) -> String {
                $key(id)
            }
        }
    };
}

tenant_record!(Membership, UserId, UserId::KIND, "member/", keys::member);
tenant_record!(
    UserGroup,
    UserGroupId,
    UserGroupId::KIND,
    "ugroup/",
    keys::ugroup
);
tenant_record!(
    DeviceGroup,
    DeviceGroupId,
    DeviceGroupId::KIND,
    "dgroup/",
    keys::dgroup
);
tenant_record!(Device, DeviceId, DeviceId::KIND, "device/", keys::device);
tenant_record!(Role, RoleId, RoleId::KIND, "role/", keys::role);
tenant_record!(
    RoleAssignment,
    AssignmentId,
    AssignmentId::KIND,
    "assign/",
    keys::assignment
);
tenant_record!(
    DeploymentPackage,
    PackageId,
    PackageId::KIND,
    "package/",
    keys::package
);
tenant_record!(
    OnDemandSession,
    OnDemandId,
    OnDemandId::KIND,
    "ondemand/",
    keys::ondemand
);

impl Directory {
    /// Reads the record `id` of kind `T` (`UnknownId` when it does not exist).
    pub(crate) async fn get_record<T: TenantRecord>(
        &self,
        tenant: TenantId,
        id: T::Id,
    ) -> Result<T, DirectoryError> {
        Ok(self.read_record::<T>(&scope(tenant)?, id).await?.value)
    }

    /// Reads the record `id` of kind `T` with its version, for a compare-and-set write.
    pub(crate) async fn read_record<T: TenantRecord>(
        &self,
        sc: &Scope,
        id: T::Id,
    ) -> Result<Rec<T>, DirectoryError> {
        read_known(&*self.store, sc, &T::key(id), T::KIND, id).await
    }

    /// Every record of kind `T` in the tenant.
    pub(crate) async fn list_records<T: TenantRecord>(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<T>, DirectoryError> {
        self.list_under::<T>(tenant, T::PREFIX).await
    }

    /// Every record of kind `T` in the scope, with its key and version.
    pub(crate) async fn read_records<T: TenantRecord>(
        &self,
        sc: &Scope,
    ) -> Result<Vec<(String, Rec<T>)>, DirectoryError> {
        read_all::<T>(&*self.store, sc, T::PREFIX).await
    }

    /// Every record under `prefix` in the tenant, decoded as `T` (kinds without an id of
    /// their own, such as the application catalogue).
    pub(crate) async fn list_under<T: DeserializeOwned>(
        &self,
        tenant: TenantId,
        prefix: &str,
    ) -> Result<Vec<T>, DirectoryError> {
        let all = read_all::<T>(&*self.store, &scope(tenant)?, prefix).await?;
        Ok(all.into_iter().map(|(_, r)| r.value).collect())
    }
}
