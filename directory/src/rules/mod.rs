//! The rules: pure functions over the model and an instant. No IO, no clock reads.
//!
//! Layout: `schedule` (when a schedule is active), `evaluate` (effective permissions straight
//! from the model, the reference), `snapshot` (the compiled, allocation-free evaluator),
//! `user_types` (the type hierarchy), `password` and `totp` (credentials), `roles`,
//! `assignments`, `groups`, `tenant` (bootstrap, MFA policy, quotas), `package` (enrollment),
//! `ondemand_key`.

pub mod schedule;
pub mod access;
pub mod evaluate;
pub mod roles;
pub mod snapshot;
pub mod tenant;

#[cfg(test)]
pub(crate) mod fixture;
pub mod ondemand_key;
pub mod package;
pub mod password;
pub mod random;
pub mod totp;
pub mod user_types;
