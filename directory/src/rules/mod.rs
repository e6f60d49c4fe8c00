//! The rules: pure functions over the model and an instant. No IO, no clock reads; the only
//! side effect is drawing random bytes (`random`) for keys, salts and codes.
//!
//! Layout:
//! - `schedule`: when a role-assignment schedule is active (boundaries, DST, leap years);
//! - `access`: what an evaluation returns and how assignments combine;
//! - `evaluate`: effective permissions straight from the model, and "Check permissions";
//! - `snapshot`: `PolicySnapshot`, the compiled, allocation-free evaluator;
//! - `roles`, `assignments`, `groups`: system roles, validation, bulk and cascade helpers;
//! - `user_types`: the type hierarchy; `tenant`: bootstrap, MFA policy, quotas, invitations;
//! - `password`, `totp`: credentials (Argon2id, RFC 6238, recovery codes);
//! - `package`: enrollment keys and rules; `ondemand_key`: OnDemand keys and their life;
//! - `wire`: mapping to the session actions of `switchboard_codec`.

pub mod access;
pub mod assignments;
pub mod evaluate;
pub mod groups;
pub mod ondemand_key;
pub mod package;
pub mod password;
pub mod random;
pub mod roles;
pub mod schedule;
pub mod snapshot;
pub mod tenant;
pub mod totp;
pub mod user_types;
pub mod wire;
pub mod zone;

#[cfg(test)]
pub(crate) mod fixture;
