//! Who may reach what: the Switchboard access model.
//!
//! Tenants, users and their memberships, user and device groups, devices, roles, role
//! assignments with schedules, deployment packages, OnDemand keys and the audit log, with the
//! rules from the products Switchboard replaces; effective-permission evaluation from a compiled
//! snapshot; and the `KvStore` trait with its embedded (redb) and Redis backends.
//!
//! It knows nothing of sockets or actors: the broker drives it.
//!
//! Layout:
//! - `model`: plain serde records (ids, tenants, users and memberships, groups, devices,
//!   roles, assignments and schedules, packages, OnDemand sessions, audit records);
//! - `rules`: pure functions over the model and an instant: schedules, effective permissions
//!   (`rules::evaluate` as the reference, `rules::snapshot::PolicySnapshot` compiled for the hot
//!   path), the user-type hierarchy, credentials, roles, packages, OnDemand keys;
//! - `store`: the `KvStore` trait and its redb and Redis backends;
//! - `service`: the `Directory` service that persists the model and applies the rules;
//! - `error`: `DirectoryError`, the crate's one error type.
#![forbid(unsafe_code)]

pub mod error;
pub mod model;
pub mod rules;
pub mod service;
pub mod store;

pub use error::DirectoryError;
/// The time library of the model (`Timestamp`, civil dates and times, zones), re-exported so
/// callers use the same version.
pub use jiff;
