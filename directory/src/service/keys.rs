//! Where each record lives in the store: one function per key shape, nothing else.
//!
//! Tenant scope (`Scope::tenant(<tenant id>)`): `tenant` (the record), `member/<user>`,
//! `ugroup/<id>`, `dgroup/<id>`, `device/<id>`, `role/<id>`, `assign/<id>`, `package/<id>`,
//! `ondemand/<id>`, `odkey/<9 digits>` (→ OnDemand id), `fav/<user>`, `audit/<ms>/<id>` (time
//! ordered, 16-digit zero-padded milliseconds) and `name/<kind>/<lowercased name>` (→ id, the
//! uniqueness index of named objects).
//!
//! Global scope: `user/<id>` (identity), `username/<lowercased>` (→ user id),
//! `umember/<user>/<tenant>` (the tenants a user belongs to), `tenant/<id>` (tenant list),
//! `pkgkey/<hex sha256>` (→ tenant id + package id).

use jiff::Timestamp;

use crate::model::{TenantId, UserId};

/// The tenant record.
pub(crate) const TENANT: &str = "tenant";

pub(crate) fn member(user: UserId) -> String {
    format!("member/{user}")
}
pub(crate) fn ugroup(id: impl std::fmt::Display) -> String {
    format!("ugroup/{id}")
}
pub(crate) fn dgroup(id: impl std::fmt::Display) -> String {
    format!("dgroup/{id}")
}
pub(crate) fn device(id: impl std::fmt::Display) -> String {
    format!("device/{id}")
}
pub(crate) fn role(id: impl std::fmt::Display) -> String {
    format!("role/{id}")
}
pub(crate) fn assignment(id: impl std::fmt::Display) -> String {
    format!("assign/{id}")
}
pub(crate) fn package(id: impl std::fmt::Display) -> String {
    format!("package/{id}")
}
pub(crate) fn ondemand(id: impl std::fmt::Display) -> String {
    format!("ondemand/{id}")
}
pub(crate) fn ondemand_key(key: &str) -> String {
    format!("odkey/{key}")
}
/// Applications of the whitelisting catalogue.
pub(crate) const APP_PREFIX: &str = "app/";
pub(crate) fn package_count(id: impl std::fmt::Display) -> String {
    format!("pkgcount/{id}")
}
pub(crate) fn favourites(user: UserId) -> String {
    format!("fav/{user}")
}
/// Name-uniqueness index entry of a named object of `kind` (case-insensitive).
pub(crate) fn name(kind: &str, name: &str) -> String {
    format!("name/{kind}/{}", name.trim().to_lowercase())
}

/// Milliseconds since the epoch, clamped at 0, zero-padded so keys sort by time.
pub(crate) fn audit_time(at: Timestamp) -> String {
    format!("{:016}", at.as_millisecond().max(0))
}
pub(crate) fn audit(at: Timestamp, id: impl std::fmt::Display) -> String {
    format!("audit/{}/{id}", audit_time(at))
}
pub(crate) const AUDIT_PREFIX: &str = "audit/";

// Global scope.
pub(crate) fn user(id: UserId) -> String {
    format!("user/{id}")
}
pub(crate) fn username(name: &str) -> String {
    format!("username/{}", name.trim().to_lowercase())
}
pub(crate) fn user_membership(user: UserId, tenant: TenantId) -> String {
    format!("umember/{user}/{tenant}")
}
pub(crate) fn user_memberships_prefix(user: UserId) -> String {
    format!("umember/{user}/")
}
pub(crate) fn tenant_entry(id: TenantId) -> String {
    format!("tenant/{id}")
}
pub(crate) fn package_key(hash: &[u8; 32]) -> String {
    format!("pkgkey/{}", hex::encode(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_keys_sort_by_time() {
        let a = audit(Timestamp::from_millisecond(999).unwrap(), "x");
        let b = audit(Timestamp::from_millisecond(1000).unwrap(), "a");
        assert!(a < b);
        assert_eq!(name("role", " Admin "), "name/role/admin");
    }
}
