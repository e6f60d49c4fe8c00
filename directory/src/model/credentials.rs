//! Stored secrets of a user identity: password hash, TOTP secret, recovery codes.
//!
//! Only hashes and secrets at rest; generating, hashing and checking them is in
//! `rules::password` and `rules::totp`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How a user authenticates (002/004 §1.3). External methods store no password.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthMethod {
    /// Username + password kept (as an Argon2id hash) by Switchboard.
    #[default]
    Internal,
    /// An LDAP method, by its configured name; credentials checked on every login.
    Ldap(String),
    /// An ADFS / Azure AD / SAML method, by its configured name.
    Federated(String),
}

impl AuthMethod {
    /// Whether Switchboard stores and may change this user's password.
    pub fn has_local_password(&self) -> bool {
        matches!(self, Self::Internal)
    }
}

/// One recovery code at rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodeSlot {
    /// SHA-256 of the normalised code.
    pub hash: [u8; 32],
    /// When it was used; a used code "becomes inactive" (002/004).
    pub used_at: Option<Timestamp>,
}

/// A set of 10 recovery codes (002/004: "come in sets of 10"). A user holds at most one set:
/// storing a new one voids the previous ("automatically inactive").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodeSet {
    /// When the set was generated.
    pub created_at: Timestamp,
    /// The codes.
    pub slots: Vec<RecoveryCodeSlot>,
}

/// TOTP enrolment of an identity (RFC 6238, HMAC-SHA1, 30 s, 6 digits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpState {
    /// The shared secret (20 random bytes).
    pub secret: Vec<u8>,
    /// The last time step accepted, so the same code cannot be replayed.
    pub last_step: Option<u64>,
}

/// Everything secret about one identity.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Argon2id PHC string; `None` for external methods and not-yet-accepted invitations.
    pub password_hash: Option<String>,
    /// TOTP enrolment, if any.
    pub totp: Option<TotpState>,
    /// The current recovery-code set, if any.
    pub recovery_codes: Option<RecoveryCodeSet>,
}
