//! The data model: plain, serde-serialisable records of everything the directory stores.
//!
//! Types here carry data and trivial accessors only; every rule that decides something lives
//! in `crate::rules`. All records derive `Serialize`, `Deserialize`, `Clone`, `Debug` and
//! `PartialEq`; new fields are added at the end and existing ones are not renamed.

pub mod assignment;
pub mod audit;
pub mod credentials;
pub mod device;
pub mod group;
pub mod ids;
pub mod ondemand;
pub mod package;
pub mod permission;
pub mod role;
pub mod schedule;
pub mod tenant;
pub mod user;

pub use assignment::{AutoDisabled, RoleAssignment};
pub use audit::{AuditActor, AuditKind, AuditOutcome, AuditRecord};
pub use credentials::{AuthMethod, Credentials, RecoveryCodeSet, RecoveryCodeSlot, TotpState};
pub use device::{Device, DeviceKeys, EnrollmentState, Favourites, FavouritesKey};
pub use group::{DeviceGroup, EVERYONE, EVERYTHING, UserGroup, UserGroupKind};
pub use ids::{
    ApplicationId, AssignmentId, AuditId, DeviceGroupId, DeviceId, OnDemandId, PackageId, RoleId,
    SessionId, TenantId, UserGroupId, UserId,
};
pub use ondemand::{OnDemandSession, OnDemandState};
pub use package::{ArrivalState, DeploymentPackage};
pub use permission::{Permission, PermissionSet};
pub use role::{Application, ConfirmAccess, Role, RolePurpose, SystemRole, Whitelist};
pub use schedule::{DailyPattern, Day, DaySet, MonthDay, Recurrence, Schedule};
pub use tenant::{MfaPolicy, Quotas, RemoteControlAction, Tenant};
pub use user::{DisabledReason, Membership, MembershipState, User, UserType};
