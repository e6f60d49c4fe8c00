//! `DirectoryError`: the one public error type of this crate.
//!
//! Each variant names a condition a caller can act on (refuse with a stable code, retry, show a
//! sentence). Rule refusals carry small typed reasons; store failures are added by the store
//! module. This module does not log or map errors to wire codes: the broker does.

use std::fmt;

/// What is missing from a password (002/004 §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PasswordProblem {
    /// "minimum of 8 characters".
    TooShort,
    /// "at least one uppercase letter".
    NoUppercase,
    /// "at least one lowercase letter".
    NoLowercase,
    /// "at least one numeric character".
    NoDigit,
    /// Longer than the 1024 bytes we are willing to hash.
    TooLong,
}

impl fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooShort => "the password needs at least 8 characters",
            Self::NoUppercase => "the password needs an uppercase letter",
            Self::NoLowercase => "the password needs a lowercase letter",
            Self::NoDigit => "the password needs a digit",
            Self::TooLong => "the password is longer than 1024 bytes",
        })
    }
}

/// Why a deployment package refuses an enrollment (002/004 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnrollmentRefusal {
    /// Before "Valid from".
    NotYetValid,
    /// At or after "Valid to".
    Expired,
    /// The device limit is reached.
    DeviceLimitReached,
    /// The package is disabled.
    Disabled,
    /// The package is revoked.
    Revoked,
    /// No package has that key.
    UnknownKey,
}

impl EnrollmentRefusal {
    /// Stable machine-readable code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::NotYetValid => "package_not_yet_valid",
            Self::Expired => "package_expired",
            Self::DeviceLimitReached => "package_device_limit",
            Self::Disabled => "package_disabled",
            Self::Revoked => "package_revoked",
            Self::UnknownKey => "package_unknown_key",
        }
    }
}

impl fmt::Display for EnrollmentRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotYetValid => "the deployment package is not valid yet",
            Self::Expired => "the deployment package has expired",
            Self::DeviceLimitReached => "the deployment package reached its device limit",
            Self::Disabled => "the deployment package is disabled",
            Self::Revoked => "the deployment package is revoked",
            Self::UnknownKey => "no deployment package has this enrollment key",
        })
    }
}

/// Why an OnDemand key cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OnDemandRefusal {
    /// More than 24 h since creation.
    Expired,
    /// Its one connection has happened (or is happening).
    AlreadyUsed,
    /// The technician rejected it.
    Rejected,
    /// The agent waited in the queue for more than 1 h.
    QueueTimeout,
    /// The operation does not fit the session's state.
    WrongState,
}

impl fmt::Display for OnDemandRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Expired => "the OnDemand key has expired",
            Self::AlreadyUsed => "the OnDemand key was already used",
            Self::Rejected => "the OnDemand session was rejected",
            Self::QueueTimeout => "the OnDemand session waited too long in the queue",
            Self::WrongState => "the OnDemand session is not in a state that allows this",
        })
    }
}

/// Which plan limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// Users.
    Users,
    /// OnDemand users.
    OnDemandUsers,
    /// Devices.
    Devices,
}

impl fmt::Display for QuotaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Users => "users",
            Self::OnDemandUsers => "OnDemand users",
            Self::Devices => "devices",
        })
    }
}

/// Every error of the directory crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// No object of that kind has that id (in that tenant).
    #[error("unknown {kind} {id}")]
    UnknownId {
        /// Kind of object (`UserId::KIND`, ...).
        kind: &'static str,
        /// The id as text.
        id: String,
    },
    /// The name is already used by another object of that kind.
    #[error("a {kind} named {name:?} already exists")]
    DuplicateName {
        /// Kind of object.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The password breaks the policy.
    #[error("password refused: {0}")]
    PasswordPolicy(PasswordProblem),
    /// The actor may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(&'static str),
    /// System roles cannot be edited or deleted.
    #[error("system roles cannot be edited or deleted")]
    SystemRoleImmutable,
    /// A role's purpose is fixed at creation.
    #[error("a role's purpose cannot be changed")]
    RolePurposeImmutable,
    /// The role holds permissions its purpose does not allow.
    #[error("the role holds permissions its purpose does not allow")]
    PermissionNotForPurpose,
    /// Built-in groups cannot be renamed or deleted and have no manual members.
    #[error("built-in groups cannot be renamed, deleted or have members attached")]
    BuiltinGroupImmutable,
    /// The group's membership comes from a directory (LDAP / Azure AD).
    #[error("this group's members come from its directory and cannot be edited")]
    GroupMembershipManaged,
    /// An OnDemand-type role assignment names device groups.
    #[error("OnDemand role assignments cannot name device groups")]
    OnDemandRoleWithDeviceGroups,
    /// An administration role assignment names device groups.
    #[error("administration role assignments cannot name device groups")]
    AdministrationRoleWithDeviceGroups,
    /// The assignment is malformed (no user group, no device group for a device role, ...).
    #[error("invalid role assignment: {0}")]
    InvalidAssignment(&'static str),
    /// The schedule is malformed.
    #[error("invalid schedule: {0}")]
    InvalidSchedule(&'static str),
    /// Not an IANA time zone known to the bundled database.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// Revoking a package needs the literal confirmation `revoke`.
    #[error("type 'revoke' to confirm")]
    RevokeConfirmationMismatch,
    /// A package with devices can be removed only once revoked.
    #[error("a deployment package with devices can be removed only once revoked")]
    PackageHasDevices,
    /// The package refuses the enrollment.
    #[error("enrollment refused: {0}")]
    EnrollmentRefused(EnrollmentRefusal),
    /// The OnDemand key cannot be used.
    #[error("OnDemand refused: {0}")]
    OnDemandRefused(OnDemandRefusal),
    /// A plan limit would be exceeded.
    #[error("the plan allows at most {limit} {kind}")]
    QuotaExceeded {
        /// Which limit.
        kind: QuotaKind,
        /// The limit.
        limit: u32,
    },
    /// The account's MFA policy forbids this change.
    #[error("the account's multi-factor policy does not allow this: {0}")]
    MfaPolicy(&'static str),
    /// A TOTP or recovery code did not match (or was used before).
    #[error("invalid code")]
    InvalidCode,
    /// The user authenticates elsewhere (LDAP, ADFS/Azure AD, SAML).
    #[error("this user's password is managed by an external directory")]
    ExternalAuthentication,
    /// Hashing or verifying a password failed for a reason other than a mismatch.
    #[error("password hashing failed: {0}")]
    PasswordHash(String),
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// A store batch precondition failed (a concurrent write won): nothing was written.
    /// Retry from a fresh read.
    #[error("conflict on {scope}/{key}: expected version {expected:?}, found {found:?}")]
    Conflict {
        /// Scope (tenant id or `~global`).
        scope: String,
        /// The key whose check failed.
        key: String,
        /// Version expected (`None`: absent).
        expected: Option<u64>,
        /// Version found (`None`: absent).
        found: Option<u64>,
    },
    /// A store key, tenant id or namespace is not acceptable.
    #[error("invalid store key: {0}")]
    InvalidStoreKey(String),
    /// A store limit (batch size, value size, scan size) would be exceeded.
    #[error("store limit: {0}")]
    StoreLimit(String),
    /// The store backend failed (I/O, corrupt file, connection refused, protocol error).
    #[error("{backend} store failed: {detail}")]
    StoreBackend {
        /// `"redb"` or `"redis"`.
        backend: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The store backend did not answer in time (retry later).
    #[error("{backend} store did not answer within {after_ms} ms")]
    StoreTimeout {
        /// `"redb"` or `"redis"`.
        backend: &'static str,
        /// The bound that expired (0 when the driver's own timeout fired).
        after_ms: u64,
    },
    /// A stored record could not be decoded (written by an incompatible version?).
    #[error("corrupt stored record {key}: {detail}")]
    CorruptRecord {
        /// The key.
        key: String,
        /// The decoder's complaint.
        detail: String,
    },
}

impl DirectoryError {
    /// `UnknownId` for an id of a typed kind.
    pub fn unknown<T: fmt::Display>(kind: &'static str, id: T) -> Self {
        Self::UnknownId {
            kind,
            id: id.to_string(),
        }
    }
}
