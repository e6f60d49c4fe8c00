//! Who may reach what: the Switchboard access model.
//!
//! Tenants, users and their memberships, user and device groups, devices, roles, role
//! assignments with schedules, deployment packages, OnDemand keys and the audit log, with the
//! rules from the products Switchboard replaces; effective-permission evaluation from a compiled
//! snapshot; and the `KvStore` trait with its embedded (redb) and Redis backends.
//!
//! It knows nothing of sockets or actors: the broker drives it.
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
