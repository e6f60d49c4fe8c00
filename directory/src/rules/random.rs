//! Random bytes from the operating system, mapped to `DirectoryError::Random`.
//!
//! The only place this crate asks for entropy; everything else is deterministic.

use crate::error::DirectoryError;

/// Fills `buf` from the OS random source.
pub fn fill(buf: &mut [u8]) -> Result<(), DirectoryError> {
    getrandom::fill(buf).map_err(|e| DirectoryError::Random(e.to_string()))
}

/// `n` uniformly random characters from `alphabet` (rejection sampling, no modulo bias).
pub fn string_from(alphabet: &[u8], n: usize) -> Result<String, DirectoryError> {
    let len = alphabet.len();
    if len == 0 || len > 256 {
        return Err(DirectoryError::Random(
            "alphabet size must be 1 to 256".into(),
        ));
    }
    // Largest multiple of `len` not above 256: bytes at or above it are rejected.
    let limit = 256 - (256 % len);
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        fill(&mut buf)?;
        for b in buf {
            if (b as usize) < limit && out.len() < n {
                out.push(char::from(alphabet[b as usize % len]));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_use_the_alphabet_and_differ() {
        let a = string_from(b"0123456789", 9).unwrap();
        let b = string_from(b"0123456789", 9).unwrap();
        assert_eq!(a.len(), 9);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b, "two 9-digit draws colliding is a 1e-9 event");
        assert!(string_from(b"", 3).is_err());
    }
}
