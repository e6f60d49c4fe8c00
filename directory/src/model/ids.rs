//! Typed identifiers: one newtype over a random (v4) UUID per kind of object.
//!
//! A `UserId` cannot be passed where a `DeviceId` is expected. Every id converts to and from
//! the 16 raw bytes the wire format carries (`as_bytes` / `from_bytes`). This module does not
//! decide how ids are stored or looked up.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }

            /// The id from its 16 wire bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }

            /// The 16 wire bytes of the id.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// The kind of object this id names, as used in error messages (`"user"`, ...).
            pub const KIND: &'static str = $label;
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }
    };
}

id_type!(
    /// A tenant (an "account" in 002/004, a "team" in 003).
    TenantId,
    "tenant"
);
id_type!(
    /// A user identity; one identity may be a member of several tenants.
    UserId,
    "user"
);
id_type!(
    /// A user group (local, LDAP, Azure AD, or the built-in `Everyone`).
    UserGroupId,
    "user group"
);
id_type!(
    /// A device group (local, or the built-in `Everything`).
    DeviceGroupId,
    "device group"
);
id_type!(
    /// An enrolled (or pending, or revoked) device.
    DeviceId,
    "device"
);
id_type!(
    /// A role: a named permission set with a purpose.
    RoleId,
    "role"
);
id_type!(
    /// A role assignment: role x user groups x device groups (+ schedule).
    AssignmentId,
    "role assignment"
);
id_type!(
    /// A deployment package (enrollment key + rules).
    PackageId,
    "deployment package"
);
id_type!(
    /// An application in the whitelisted-application catalogue.
    ApplicationId,
    "application"
);
id_type!(
    /// An OnDemand session (one 9-digit key, one connection).
    OnDemandId,
    "OnDemand session"
);
id_type!(
    /// One audit record.
    AuditId,
    "audit record"
);
id_type!(
    /// A remote session brokered between a Guest and a Host.
    SessionId,
    "session"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_parse() {
        let id = DeviceId::new_random();
        assert_eq!(DeviceId::from_bytes(*id.as_bytes()), id);
        let parsed: DeviceId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert_ne!(DeviceId::new_random(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
    }
}
