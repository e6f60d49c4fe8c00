//! Second factors: TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits, one step of clock skew
//! either way, no replay of an accepted step) and recovery codes (002/004: "come in sets of
//! 10", a used code "becomes inactive", a new set makes the previous one "automatically
//! inactive").
//!
//! Pure functions over `TotpState` / `RecoveryCodeSet` and an instant; the only side effect is
//! drawing random secrets. Only SHA-256 hashes of recovery codes are kept.

use crate::error::DirectoryError;
use crate::model::{RecoveryCodeSet, RecoveryCodeSlot, TotpState};
use crate::rules::random;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Step length in seconds.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Digits per code.
pub const TOTP_DIGITS: u32 = 6;
/// Accepted steps on either side of the current one.
pub const TOTP_SKEW_STEPS: u64 = 1;
/// Secret length in bytes (160 bits, RFC 4226's recommendation).
pub const TOTP_SECRET_BYTES: usize = 20;
/// Codes per recovery set.
pub const RECOVERY_CODES_PER_SET: usize = 10;

/// A fresh TOTP enrolment.
pub fn new_totp() -> Result<TotpState, DirectoryError> {
    let mut secret = vec![0u8; TOTP_SECRET_BYTES];
    random::fill(&mut secret)?;
    Ok(TotpState {
        secret,
        last_step: None,
    })
}

/// The time step of an instant (0 before 1970).
pub fn totp_step(at: Timestamp) -> u64 {
    u64::try_from(at.as_second().div_euclid(TOTP_STEP_SECONDS)).unwrap_or(0)
}

/// The code of `secret` at `step` (RFC 4226 dynamic truncation, 6 digits).
pub fn totp_code(secret: &[u8], step: u64) -> Result<u32, DirectoryError> {
    let mut mac =
        <Hmac<Sha1> as Mac>::new_from_slice(secret).map_err(|_| DirectoryError::InvalidCode)?;
    mac.update(&step.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h.get(19).copied().unwrap_or(0) & 0x0f);
    let b = |i: usize| u32::from(h.get(offset + i).copied().unwrap_or(0));
    let bin = ((b(0) & 0x7f) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
    Ok(bin % 10u32.pow(TOTP_DIGITS))
}

/// The code formatted with leading zeros.
pub fn format_code(code: u32) -> String {
    format!("{code:06}")
}

/// Checks `code` at `now` within ±1 step; on success records the step so neither it nor an
/// earlier step is accepted again.
pub fn verify_totp(
    state: &mut TotpState,
    code: &str,
    now: Timestamp,
) -> Result<(), DirectoryError> {
    let code = code.trim();
    if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Err(DirectoryError::InvalidCode);
    }
    let given: u32 = code.parse().map_err(|_| DirectoryError::InvalidCode)?;
    let current = totp_step(now);
    let mut matched = None;
    for step in current.saturating_sub(TOTP_SKEW_STEPS)..=current + TOTP_SKEW_STEPS {
        // Check every candidate step (no early exit) so timing does not tell which matched.
        if totp_code(&state.secret, step)? == given && matched.is_none() {
            matched = Some(step);
        }
    }
    match matched {
        Some(step) if state.last_step.is_none_or(|last| step > last) => {
            state.last_step = Some(step);
            Ok(())
        }
        _ => Err(DirectoryError::InvalidCode),
    }
}

fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in bytes {
        acc = (acc << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI authenticator apps scan (secret in unpadded base32).
pub fn totp_uri(state: &TotpState, issuer: &str, account: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        base32(&state.secret),
        enc(issuer)
    )
}

/// Alphabet of recovery codes: no 0/O, 1/I/L, U (78 bits in 16 characters).
const RECOVERY_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTVWXYZ23456789";

fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn hash_code(normalised: &str) -> [u8; 32] {
    Sha256::digest(normalised.as_bytes()).into()
}

/// A new set of 10 recovery codes: the plaintexts (shown once, `XXXX-XXXX-XXXX-XXXX`) and the
/// set to store, which replaces (voids) any previous set.
pub fn generate_recovery_codes(
    now: Timestamp,
) -> Result<(Vec<String>, RecoveryCodeSet), DirectoryError> {
    let mut shown = Vec::with_capacity(RECOVERY_CODES_PER_SET);
    let mut slots = Vec::with_capacity(RECOVERY_CODES_PER_SET);
    for _ in 0..RECOVERY_CODES_PER_SET {
        let raw = random::string_from(RECOVERY_ALPHABET, 16)?;
        slots.push(RecoveryCodeSlot {
            hash: hash_code(&raw),
            used_at: None,
        });
        let groups: Vec<&str> = (0..4).filter_map(|i| raw.get(i * 4..i * 4 + 4)).collect();
        shown.push(groups.join("-"));
    }
    Ok((
        shown,
        RecoveryCodeSet {
            created_at: now,
            slots,
        },
    ))
}

/// Uses one recovery code: it must be in the set and unused; it becomes used.
pub fn redeem_recovery_code(
    set: &mut RecoveryCodeSet,
    code: &str,
    now: Timestamp,
) -> Result<(), DirectoryError> {
    let h = hash_code(&normalise(code));
    match set.slots.iter_mut().find(|s| s.hash == h) {
        Some(slot) if slot.used_at.is_none() => {
            slot.used_at = Some(now);
            Ok(())
        }
        _ => Err(DirectoryError::InvalidCode),
    }
}

/// How many codes of the set are still usable.
pub fn remaining_recovery_codes(set: &RecoveryCodeSet) -> usize {
    set.slots.iter().filter(|s| s.used_at.is_none()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_vectors_truncated_to_six_digits() {
        // RFC 6238 Appendix B (SHA1): 8-digit codes; the last 6 digits are the 6-digit codes.
        for (t, eight) in [
            (59i64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            let step = totp_step(Timestamp::from_second(t).unwrap());
            assert_eq!(
                totp_code(RFC_SECRET, step).unwrap(),
                eight % 1_000_000,
                "t={t}"
            );
        }
    }

    #[test]
    fn verify_accepts_one_step_of_skew_and_no_replay() {
        let mut st = TotpState {
            secret: RFC_SECRET.to_vec(),
            last_step: None,
        };
        let now = Timestamp::from_second(1_234_567_890).unwrap();
        let step = totp_step(now);
        let prev = format_code(totp_code(RFC_SECRET, step - 1).unwrap());
        let cur = format_code(totp_code(RFC_SECRET, step).unwrap());
        let far = format_code(totp_code(RFC_SECRET, step + 2).unwrap());
        assert!(
            verify_totp(&mut st.clone(), &far, now).is_err(),
            "two steps ahead"
        );
        verify_totp(&mut st, &prev, now).unwrap();
        assert!(
            verify_totp(&mut st, &prev, now).is_err(),
            "replay of the same step"
        );
        verify_totp(&mut st, &cur, now).unwrap();
        assert!(verify_totp(&mut st, &cur, now).is_err(), "replay");
        assert!(verify_totp(&mut st, "12345", now).is_err());
        assert!(verify_totp(&mut st, "abcdef", now).is_err());
    }

    #[test]
    fn uri_carries_base32_secret() {
        let st = TotpState {
            secret: RFC_SECRET.to_vec(),
            last_step: None,
        };
        let uri = totp_uri(&st, "Switchboard", "ana@example.com");
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.starts_with("otpauth://totp/Switchboard:ana%40example.com?"));
        assert_eq!(new_totp().unwrap().secret.len(), 20);
    }

    #[test]
    fn recovery_codes_sets_of_ten_single_use_new_set_voids_old() {
        // 002/004 §1.4: codes "come in sets of 10"; "Generating a new set makes the previous
        // set automatically inactive"; "A used code becomes inactive".
        let now = Timestamp::UNIX_EPOCH;
        let (codes, mut set) = generate_recovery_codes(now).unwrap();
        assert_eq!(codes.len(), 10);
        assert_eq!(set.slots.len(), 10);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 19 && c.matches('-').count() == 3)
        );
        redeem_recovery_code(&mut set, &codes[3].to_lowercase().replace('-', " "), now).unwrap();
        assert!(
            redeem_recovery_code(&mut set, &codes[3], now).is_err(),
            "used once"
        );
        assert_eq!(remaining_recovery_codes(&set), 9);
        assert!(redeem_recovery_code(&mut set, "AAAA-BBBB-CCCC-DDDD", now).is_err());
        // The stored set holds hashes, never the codes.
        let stored = format!("{set:?}");
        assert!(!stored.contains(&codes[0].replace('-', "")));
        // A new set replaces the old one: old codes no longer work against what is stored.
        let (_, mut newer) = generate_recovery_codes(now).unwrap();
        assert!(redeem_recovery_code(&mut newer, &codes[0], now).is_err());
    }
}
