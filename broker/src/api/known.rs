//! Ids from a path or a body, resolved in the caller's tenant: parsed, then looked up, so a
//! malformed id, an unknown one and another tenant's one are the same 404 of that kind.
//!
//! Each kind of id names its 404 kind and its lookup once ([`KnownId`]); handlers call
//! [`known_id`] for one and [`known_ids`] for a list. Nothing here checks rights or writes.

use std::future::Future;
use std::str::FromStr;

use switchboard_directory::error::DirectoryError;
use switchboard_directory::model::{
    AssignmentId, DeviceGroupId, DeviceId, PackageId, RoleId, TenantId, UserGroupId, UserId,
};
use switchboard_directory::service::Directory;

use super::caller::Caller;
use super::error::{ApiResult, parse_id};
use super::state::AdminState;

/// An id the admin API accepts only when it names an object of the caller's tenant.
pub trait KnownId: FromStr + Copy + Send + Sync {
    /// The kind named in the 404 answer ("user group").
    const KIND: &'static str;
    /// Refuses (`UnknownId`) unless `id` names an object of `tenant`.
    fn look_up(
        dir: &Directory,
        tenant: TenantId,
        id: Self,
    ) -> impl Future<Output = Result<(), DirectoryError>> + Send;
}

macro_rules! known_id {
    ($id:ty, $kind:literal, $read:ident) => {
        impl KnownId for $id {
            const KIND: &'static str = $kind;
            async fn look_up(
                dir: &Directory,
                tenant: TenantId,
                id: Self,
            ) -> Result<(), DirectoryError> {
                dir.$read(tenant, id).await.map(|_| ())
            }
        }
    };
}

known_id!(UserId, "user", membership);
known_id!(UserGroupId, "user group", user_group);
known_id!(DeviceGroupId, "device group", device_group);
known_id!(DeviceId, "device", device);
known_id!(RoleId, "role", role);
known_id!(AssignmentId, "role assignment", assignment);
known_id!(PackageId, "deployment package", package);

/// `raw` as an id of kind `T` naming an object of the caller's tenant.
pub async fn known_id<T: KnownId>(state: &AdminState, caller: &Caller, raw: &str) -> ApiResult<T> {
    let id: T = parse_id(T::KIND, raw)?;
    T::look_up(&state.dir, caller.tenant, id).await?;
    Ok(id)
}

/// Every id of `raw` resolved as by [`known_id`]; the first bad one refuses them all.
pub async fn known_ids<T: KnownId, C: FromIterator<T>>(
    state: &AdminState,
    caller: &Caller,
    raw: &[String],
) -> ApiResult<C> {
    let mut out = Vec::with_capacity(raw.len());
    for s in raw {
        out.push(known_id::<T>(state, caller, s).await?);
    }
    Ok(out.into_iter().collect())
}
