//! Adapter between the service and password handling: the policy check (a rule) and Argon2id
//! hashing/verification (CPU-heavy: callers run `hash`/`verify` in `spawn_blocking`).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{DirectoryError, PasswordProblem};

/// 002/004 §1.2: "minimum of 8 characters", "at least one uppercase letter", "at least one
/// lowercase letter", "at least one numeric character".
pub(crate) fn check_policy(password: &str) -> Result<(), DirectoryError> {
    let problem = if password.len() > 1024 {
        Some(PasswordProblem::TooLong)
    } else if password.chars().count() < 8 {
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

/// Argon2id (default parameters) PHC string of `password` with a fresh 16-byte salt.
pub(crate) fn hash(password: &str) -> Result<String, DirectoryError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| DirectoryError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| DirectoryError::PasswordHash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| DirectoryError::PasswordHash(e.to_string()))
}

/// Whether `password` matches the PHC string `phc`.
pub(crate) fn verify(password: &str, phc: &str) -> Result<bool, DirectoryError> {
    let parsed = PasswordHash::new(phc).map_err(|e| DirectoryError::PasswordHash(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_and_hash_round_trip() {
        assert!(check_policy("Passw0rd").is_ok());
        for (bad, why) in [
            ("Pass0rd", PasswordProblem::TooShort),
            ("passw0rd", PasswordProblem::NoUppercase),
            ("PASSW0RD", PasswordProblem::NoLowercase),
            ("Password", PasswordProblem::NoDigit),
        ] {
            assert!(matches!(check_policy(bad), Err(DirectoryError::PasswordPolicy(p)) if p == why));
        }
        let h = hash("Passw0rd").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Passw0rd", &h).unwrap());
        assert!(!verify("Passw0rd!", &h).unwrap());
    }
}
