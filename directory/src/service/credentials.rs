//! Second factors of an identity: TOTP enrolment and verification (no replay), and recovery
//! codes in sets of 10 (a new set voids the old one; each code works once). The secrets and
//! the checks come from `rules::totp`; this file stores them with compare-and-set.

use super::Directory;
use crate::error::DirectoryError;
use crate::model::{TotpState, UserId};
use crate::rules::totp;

impl Directory {
    /// Enrols (or re-enrols) TOTP for a user; returns the new state (its secret goes into the
    /// authenticator app once, e.g. via `rules::totp::totp_uri`).
    pub async fn enroll_totp(&self, user: UserId) -> Result<TotpState, DirectoryError> {
        let state = totp::new_totp()?;
        self.update_credentials(user, |c| {
            c.totp = Some(state.clone());
            Ok(())
        })
        .await?;
        Ok(state)
    }

    /// Checks a TOTP code; the accepted step is stored so the same code cannot be replayed.
    pub async fn verify_totp(&self, user: UserId, code: &str) -> Result<(), DirectoryError> {
        let now = self.now();
        self.update_credentials(user, |c| match c.totp.as_mut() {
            Some(state) => totp::verify_totp(state, code, now),
            None => Err(DirectoryError::InvalidCode),
        })
        .await
    }

    /// Generates a new set of 10 recovery codes (the previous set becomes inactive) and returns
    /// them for display, once.
    pub async fn new_recovery_codes(&self, user: UserId) -> Result<Vec<String>, DirectoryError> {
        let (shown, set) = totp::generate_recovery_codes(self.now())?;
        self.update_credentials(user, |c| {
            c.recovery_codes = Some(set.clone());
            Ok(())
        })
        .await?;
        Ok(shown)
    }

    /// Uses a recovery code (each works once).
    pub async fn redeem_recovery_code(
        &self,
        user: UserId,
        code: &str,
    ) -> Result<(), DirectoryError> {
        let now = self.now();
        self.update_credentials(user, |c| match c.recovery_codes.as_mut() {
            Some(set) => totp::redeem_recovery_code(set, code, now),
            None => Err(DirectoryError::InvalidCode),
        })
        .await
    }
}
