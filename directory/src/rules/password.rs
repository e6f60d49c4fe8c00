//! Passwords: the policy (002/004 §1.2) and Argon2id hashing.
//!
//! `hash_password` and `verify_password` are deliberately slow (Argon2id, the argon2 crate's
//! default cost: 19 MiB, 2 passes): they are synchronous and must be called from
//! `tokio::task::spawn_blocking`, never on a runtime thread. This module stores nothing.

use crate::error::{DirectoryError, PasswordProblem};
use crate::rules::random;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Minimum length (002/004: "minimum of 8 characters").
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Maximum length in bytes we accept to hash.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks the policy: at least 8 characters, one uppercase letter, one lowercase letter, one
/// digit. Reports the first problem found.
pub fn check_password_policy(password: &str) -> Result<(), DirectoryError> {
    let problem = if password.len() > MAX_PASSWORD_BYTES {
        Some(PasswordProblem::TooLong)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Some(PasswordProblem::TooShort)
    } else if !password.chars().any(char::is_uppercase) {
        Some(PasswordProblem::NoUppercase)
    } else if !password.chars().any(char::is_lowercase) {
        Some(PasswordProblem::NoLowercase)
    } else if !password.chars().any(|c| c.is_ascii_digit()) {
        Some(PasswordProblem::NoDigit)
    } else {
        None
    };
    problem.map_or(Ok(()), |p| Err(DirectoryError::PasswordPolicy(p)))
}

/// Hashes a password with Argon2id and a fresh 16-byte salt; returns the PHC string.
/// CPU-heavy: call from `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String, DirectoryError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(DirectoryError::PasswordPolicy(PasswordProblem::TooLong));
    }
    let mut salt = [0u8; 16];
    random::fill(&mut salt)?;
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| DirectoryError::PasswordHash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DirectoryError::PasswordHash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`. A malformed hash is an error, a mismatch is
/// `Ok(false)`. CPU-heavy: call from `spawn_blocking`.
pub fn verify_password(phc: &str, password: &str) -> Result<bool, DirectoryError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }
    let parsed = PasswordHash::new(phc).map_err(|e| DirectoryError::PasswordHash(e.to_string()))?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(DirectoryError::PasswordHash(e.to_string())),
    }
}

/// A PHC string to verify against when the username does not exist, so that a login for an
/// unknown user costs the same time as one for a known user (statement 1: no hint whether the
/// username exists). Computed once per process by the caller and kept.
pub fn dummy_hash() -> Result<String, DirectoryError> {
    hash_password("Dummy-password-0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_needs_length_upper_lower_digit() {
        // 002/004 §1.2: "minimum of 8 characters", "at least one uppercase letter", "at least
        // one lowercase letter", "at least one numeric character".
        let cases = [
            ("Abcdef1", Some(PasswordProblem::TooShort)),
            ("abcdefg1", Some(PasswordProblem::NoUppercase)),
            ("ABCDEFG1", Some(PasswordProblem::NoLowercase)),
            ("Abcdefgh", Some(PasswordProblem::NoDigit)),
            ("Abcdefg1", None),
            ("Äbcdéfg1", None),
        ];
        for (pw, want) in cases {
            let got = check_password_policy(pw).err().map(|e| match e {
                DirectoryError::PasswordPolicy(p) => p,
                other => panic!("{other}"),
            });
            assert_eq!(got, want, "{pw}");
        }
        assert!(check_password_policy(&format!("Aa1{}", "x".repeat(2000))).is_err());
    }

    #[test]
    fn hash_and_verify_round_trip() {
        let h = hash_password("Correct-horse-1").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "Correct-horse-1").unwrap());
        assert!(!verify_password(&h, "Correct-horse-2").unwrap());
        assert_ne!(
            h,
            hash_password("Correct-horse-1").unwrap(),
            "fresh salt each time"
        );
        assert!(verify_password("not a hash", "x").is_err());
    }
}
