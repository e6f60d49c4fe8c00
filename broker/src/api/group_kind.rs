//! What the user-group and device-group routes do differently (the directory calls and the
//! JSON name of a list), stated once per kind, so `groups` writes list, create and delete once
//! for both. Nothing here checks rights or parses bodies.

use std::future::Future;

use serde::Serialize;
use switchboard_directory::error::DirectoryError;
use switchboard_directory::model::{DeviceGroup, DeviceGroupId, TenantId, UserGroup, UserGroupId};
use switchboard_directory::service::{Actor, Directory};

use super::known::KnownId;

/// A kind of group as the admin API serves it.
pub trait GroupKind: Serialize + Send + Sync + Sized + 'static {
    /// Its id.
    type Id: KnownId;
    /// The key of the list in the listing's answer (`"user_groups"`).
    const LIST: &'static str;

    /// Every group of the kind in `tenant`.
    fn list(
        dir: &Directory,
        tenant: TenantId,
    ) -> impl Future<Output = Result<Vec<Self>, DirectoryError>> + Send;

    /// Creates a group of the kind.
    fn create(
        dir: &Directory,
        tenant: TenantId,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> impl Future<Output = Result<Self, DirectoryError>> + Send;

    /// Deletes a group of the kind (its members stay).
    fn delete(
        dir: &Directory,
        tenant: TenantId,
        actor: &Actor,
        id: Self::Id,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;
}

impl GroupKind for UserGroup {
    type Id = UserGroupId;
    const LIST: &'static str = "user_groups";

    async fn list(dir: &Directory, tenant: TenantId) -> Result<Vec<Self>, DirectoryError> {
        dir.user_groups(tenant).await
    }
    async fn create(
        dir: &Directory,
        tenant: TenantId,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<Self, DirectoryError> {
        dir.create_user_group(tenant, actor, name, description)
            .await
    }
    async fn delete(
        dir: &Directory,
        tenant: TenantId,
        actor: &Actor,
        id: UserGroupId,
    ) -> Result<(), DirectoryError> {
        dir.delete_user_group(tenant, actor, id).await
    }
}

impl GroupKind for DeviceGroup {
    type Id = DeviceGroupId;
    const LIST: &'static str = "device_groups";

    async fn list(dir: &Directory, tenant: TenantId) -> Result<Vec<Self>, DirectoryError> {
        dir.device_groups(tenant).await
    }
    async fn create(
        dir: &Directory,
        tenant: TenantId,
        actor: &Actor,
        name: &str,
        description: &str,
    ) -> Result<Self, DirectoryError> {
        dir.create_device_group(tenant, actor, name, description)
            .await
    }
    async fn delete(
        dir: &Directory,
        tenant: TenantId,
        actor: &Actor,
        id: DeviceGroupId,
    ) -> Result<(), DirectoryError> {
        dir.delete_device_group(tenant, actor, id).await
    }
}
