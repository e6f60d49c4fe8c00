//! Deployment-package rules (002/004 §4.2): the enrollment key, when an enrollment is
//! accepted, revoking and removing.
//!
//! The key is 32 characters, shown once; only its SHA-256 is stored and looked up. Validity
//! instants are UTC: `valid_from` inclusive, `valid_to` exclusive ("only before this date").

use crate::error::{DirectoryError, EnrollmentRefusal};
use crate::model::{ArrivalState, DeploymentPackage, Device, EnrollmentState, PackageId};
use crate::rules::random;
use jiff::Timestamp;
use sha2::{Digest, Sha256};

/// Characters of an enrollment key (letters and digits).
const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Length of an enrollment key (004 screenshot: a 32-character key).
pub const ENROLLMENT_KEY_CHARS: usize = 32;
/// The literal confirmation revoking needs (002/004: "Type 'revoke' to confirm").
pub const REVOKE_CONFIRMATION: &str = "revoke";

/// A new enrollment key and its hash. Show the key once; store the hash.
pub fn generate_key() -> Result<(String, [u8; 32]), DirectoryError> {
    let key = random::string_from(KEY_ALPHABET, ENROLLMENT_KEY_CHARS)?;
    let hash = hash_key(&key);
    Ok((key, hash))
}

/// The stored form of a key (SHA-256; the key has 190 bits of entropy, so no slow hash is
/// needed). Surrounding whitespace is ignored.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.trim().as_bytes()).into()
}

/// Whether `package` accepts one more device at `now`, `enrolled_count` devices having
/// enrolled through it so far. Reasons are distinct and checked in this order: revoked,
/// disabled, not yet valid, expired, limit reached.
pub fn check_enrollment(
    package: &DeploymentPackage,
    now: Timestamp,
    enrolled_count: u32,
) -> Result<ArrivalState, DirectoryError> {
    let refuse = |r| Err(DirectoryError::EnrollmentRefused(r));
    if package.revoked_at.is_some() {
        return refuse(EnrollmentRefusal::Revoked);
    }
    if !package.enabled {
        return refuse(EnrollmentRefusal::Disabled);
    }
    if package.valid_from.is_some_and(|from| now < from) {
        return refuse(EnrollmentRefusal::NotYetValid);
    }
    if package.valid_to.is_some_and(|to| now >= to) {
        return refuse(EnrollmentRefusal::Expired);
    }
    if package
        .device_limit
        .is_some_and(|limit| enrolled_count >= limit)
    {
        return refuse(EnrollmentRefusal::DeviceLimitReached);
    }
    Ok(package.arrival_state)
}

/// The enrollment state a device gets on arrival through the package.
pub fn arrival_enrollment_state(state: ArrivalState) -> EnrollmentState {
    match state {
        ArrivalState::Pending => EnrollmentState::Pending,
        ArrivalState::Enrolled => EnrollmentState::Enrolled,
    }
}

/// Checks the typed confirmation of a revoke (exactly `revoke`, surrounding blanks ignored).
pub fn check_revoke_confirmation(typed: &str) -> Result<(), DirectoryError> {
    if typed.trim() == REVOKE_CONFIRMATION {
        Ok(())
    } else {
        Err(DirectoryError::RevokeConfirmationMismatch)
    }
}

/// Revokes the package and every device enrolled through it (002/004: they "can no longer
/// connect"; they stay listed as Revoked). Returns the ids of the devices newly revoked, for
/// the caller to disconnect. Revoking twice is refused.
pub fn revoke(
    package: &mut DeploymentPackage,
    devices: &mut [Device],
    typed_confirmation: &str,
    now: Timestamp,
) -> Result<Vec<crate::model::DeviceId>, DirectoryError> {
    check_revoke_confirmation(typed_confirmation)?;
    if package.revoked_at.is_some() {
        return Err(DirectoryError::NotAllowed("the package is already revoked"));
    }
    package.revoked_at = Some(now);
    package.enabled = false;
    let mut cut = Vec::new();
    for d in devices.iter_mut().filter(|d| d.package == Some(package.id)) {
        if d.enrollment != EnrollmentState::Revoked {
            d.enrollment = EnrollmentState::Revoked;
            cut.push(d.id);
        }
    }
    Ok(cut)
}

/// Whether the package may be removed: "You can only remove deployment packages that have no
/// devices associated or which are revoked."
pub fn check_package_removal(
    package: &DeploymentPackage,
    associated_devices: usize,
) -> Result<(), DirectoryError> {
    if associated_devices == 0 || package.revoked_at.is_some() {
        Ok(())
    } else {
        Err(DirectoryError::PackageHasDevices)
    }
}

/// Whether a device may connect given its package: revoked packages cut their devices off even
/// if the device record was not updated (e.g. re-created after a delete, statement 41).
pub fn device_package_allows(device: &Device, package: Option<&DeploymentPackage>) -> bool {
    match (device.package, package) {
        (Some(id), Some(p)) if p.id == id => p.revoked_at.is_none(),
        (Some(_), _) => false,
        (None, _) => true,
    }
}

/// Ids of the devices enrolled through `package`.
pub fn devices_of(package: PackageId, devices: &[Device]) -> impl Iterator<Item = &Device> {
    devices.iter().filter(move |d| d.package == Some(package))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeviceId, DeviceKeys, TenantId};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn package() -> DeploymentPackage {
        let (_, key_hash) = generate_key().unwrap();
        DeploymentPackage {
            id: PackageId::new_random(),
            tenant: TenantId::new_random(),
            name: "Office".into(),
            description: String::new(),
            key_hash,
            valid_from: Some(ts("2026-01-01T00:00Z")),
            valid_to: Some(ts("2026-02-01T00:00Z")),
            device_limit: Some(2),
            enabled: true,
            arrival_state: ArrivalState::Pending,
            target_group: None,
            license_key: None,
            revoked_at: None,
            created_at: ts("2025-12-01T00:00Z"),
        }
    }

    fn device(p: &DeploymentPackage) -> Device {
        Device {
            id: DeviceId::new_random(),
            tenant: p.tenant,
            hostname: "h".into(),
            alias: None,
            description: String::new(),
            os: "Windows".into(),
            agent_version: "1".into(),
            logged_in_user: None,
            last_seen: None,
            enrollment: EnrollmentState::Enrolled,
            package: Some(p.id),
            groups: Default::default(),
            keys: DeviceKeys {
                auth_ed25519: [0; 32],
                noise_x25519: [0; 32],
            },
            enrolled_at: ts("2026-01-02T00:00Z"),
        }
    }

    fn refusal(r: Result<ArrivalState, DirectoryError>) -> Option<EnrollmentRefusal> {
        match r {
            Err(DirectoryError::EnrollmentRefused(x)) => Some(x),
            Ok(_) => None,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn keys_are_32_chars_unique_and_hashed() {
        let (k1, h1) = generate_key().unwrap();
        let (k2, _) = generate_key().unwrap();
        assert_eq!(k1.len(), 32);
        assert_ne!(k1, k2);
        assert_eq!(hash_key(&k1), h1);
        assert_eq!(hash_key(&format!(" {k1}\n")), h1);
        assert_ne!(hash_key(&k2), h1);
    }

    #[test]
    fn enrollment_window_limit_disabled_revoked() {
        // 002/004 §4.2: "Valid from: install only from this date (the time is UTC based)";
        // "Valid to: only before this date"; "Number of devices that can enroll with the key";
        // "If disabled, new device enrollments do not work."
        let mut p = package();
        let cases = [
            (
                "2025-12-31T23:59:59Z",
                0,
                Some(EnrollmentRefusal::NotYetValid),
            ),
            ("2026-01-01T00:00:00Z", 0, None),
            ("2026-01-31T23:59:59Z", 1, None),
            ("2026-02-01T00:00:00Z", 0, Some(EnrollmentRefusal::Expired)),
            (
                "2026-01-15T00:00:00Z",
                2,
                Some(EnrollmentRefusal::DeviceLimitReached),
            ),
        ];
        for (now, count, want) in cases {
            assert_eq!(
                refusal(check_enrollment(&p, ts(now), count)),
                want,
                "{now} {count}"
            );
        }
        assert_eq!(
            check_enrollment(&p, ts("2026-01-15T00:00Z"), 0).unwrap(),
            ArrivalState::Pending
        );
        p.enabled = false;
        assert_eq!(
            refusal(check_enrollment(&p, ts("2026-01-15T00:00Z"), 0)),
            Some(EnrollmentRefusal::Disabled)
        );
        p.revoked_at = Some(ts("2026-01-10T00:00Z"));
        assert_eq!(
            refusal(check_enrollment(&p, ts("2026-01-15T00:00Z"), 0)),
            Some(EnrollmentRefusal::Revoked)
        );
        // "If no date is selected, the enrollment key has no expiration date"; "Unlimited".
        let mut open = package();
        open.valid_from = None;
        open.valid_to = None;
        open.device_limit = None;
        assert!(check_enrollment(&open, ts("2099-01-01T00:00Z"), 1_000_000).is_ok());
    }

    #[test]
    fn revoke_needs_the_word_and_cuts_devices_off() {
        // 002/004: "Type 'revoke' to confirm"; "Devices enrolled using the deployment package,
        // can no longer connect to the Portal"; "Revoked devices are still displayed in the
        // device list with a state name Revoked."
        let mut p = package();
        let other = package();
        let mut devs = vec![device(&p), device(&p), device(&other)];
        for typed in ["Revoke", "yes", "", "revoked"] {
            assert!(matches!(
                revoke(&mut p, &mut devs, typed, ts("2026-01-20T00:00Z")),
                Err(DirectoryError::RevokeConfirmationMismatch)
            ));
        }
        assert!(p.revoked_at.is_none());
        let cut = revoke(&mut p, &mut devs, "revoke", ts("2026-01-20T00:00Z")).unwrap();
        assert_eq!(cut, vec![devs[0].id, devs[1].id]);
        assert_eq!(devs.len(), 3, "still listed");
        assert_eq!(devs[0].enrollment, EnrollmentState::Revoked);
        assert_eq!(devs[2].enrollment, EnrollmentState::Enrolled);
        assert!(revoke(&mut p, &mut devs, "revoke", ts("2026-01-21T00:00Z")).is_err());
        assert!(!device_package_allows(&devs[0], Some(&p)));
        assert!(device_package_allows(&devs[2], Some(&other)));
        assert!(
            !device_package_allows(&devs[2], None),
            "package gone: refuse"
        );
    }

    #[test]
    fn removal_only_without_devices_or_once_revoked() {
        // 002/004: "You can only remove deployment packages that have no devices associated or
        // which are revoked."
        let mut p = package();
        check_package_removal(&p, 0).unwrap();
        assert!(matches!(
            check_package_removal(&p, 3),
            Err(DirectoryError::PackageHasDevices)
        ));
        p.revoked_at = Some(ts("2026-01-20T00:00Z"));
        check_package_removal(&p, 3).unwrap();
        assert_eq!(
            arrival_enrollment_state(ArrivalState::Pending),
            EnrollmentState::Pending
        );
        assert_eq!(devices_of(p.id, &[device(&p)]).count(), 1);
    }
}
