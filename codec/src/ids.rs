//! Identifiers that cross the wire: 16-byte session, tenant, device and user ids, the relay id,
//! and the side of a session.
//!
//! Ids are opaque bytes here: the codec neither generates them (the caller brings randomness)
//! nor looks them up. They print as lowercase uuid-style hex (`8-4-4-4-12`) and parse from that
//! form or from 32 plain hex digits.

use std::fmt;
use std::str::FromStr;

/// The text given to `FromStr` for an id was not 32 hex digits (dashes allowed in uuid style).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a 16-byte hex id: {0:?}")]
pub struct IdParseError(pub String);

fn fmt_uuid_like(bytes: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_str("-")?;
        }
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_uuid_like(text: &str) -> Result<[u8; 16], IdParseError> {
    let err = || IdParseError(text.chars().take(64).collect());
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'-').collect();
    let dashes = text.len() - digits.len();
    if digits.len() != 32 || !(dashes == 0 || (dashes == 4 && text.len() == 36)) {
        return Err(err());
    }
    let mut out = [0u8; 16];
    for (slot, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (hi, lo) = match pair {
            [hi, lo] => (
                hex_value(*hi).ok_or_else(err)?,
                hex_value(*lo).ok_or_else(err)?,
            ),
            _ => return Err(err()),
        };
        *slot = hi << 4 | lo;
    }
    Ok(out)
}

macro_rules! id16 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 16]);

        impl $name {
            /// Wraps 16 raw bytes.
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }

            /// The raw bytes, as sent on the wire.
            pub const fn to_bytes(self) -> [u8; 16] {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_uuid_like(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                fmt_uuid_like(&self.0, f)?;
                write!(f, ")")
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_uuid_like(s).map(Self)
            }
        }

        impl From<[u8; 16]> for $name {
            fn from(bytes: [u8; 16]) -> Self {
                Self(bytes)
            }
        }
    };
}

id16!(
    /// One session between a Guest and a Host (one ticket per side carries it).
    SessionId
);
id16!(
    /// A tenant (customer account); every other object lives inside one.
    TenantId
);
id16!(
    /// An enrolled device (a Host).
    DeviceId
);
id16!(
    /// A user (technician, administrator).
    UserId
);

/// A relay node, as registered with the broker. Prints as a decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct RelayId(pub u64);

impl fmt::Display for RelayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which end of a session a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    /// The device being reached (enrolled Host or OnDemand agent).
    Host = 1,
    /// The technician reaching it.
    Guest = 2,
}

impl Side {
    /// The wire byte.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// The side for a wire byte, `None` for anything but 1 and 2.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::Host),
            2 => Some(Self::Guest),
            _ => None,
        }
    }

    /// The other side.
    pub const fn peer(self) -> Self {
        match self {
            Self::Host => Self::Guest,
            Self::Guest => Self::Host,
        }
    }

    /// `host` or `guest`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Guest => "guest",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse_uuid_style() {
        let id = SessionId([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0, 1, 2, 3, 4, 5, 6, 0xff,
        ]);
        let text = id.to_string();
        assert_eq!(text, "01234567-89ab-cdef-0001-0203040506ff");
        assert_eq!(text.parse::<SessionId>(), Ok(id));
        assert_eq!(
            "0123456789ABCDEF00010203040506ff".parse::<SessionId>(),
            Ok(id)
        );
        assert_eq!(
            format!("{id:?}"),
            "SessionId(01234567-89ab-cdef-0001-0203040506ff)"
        );
    }

    #[test]
    fn bad_ids_are_refused() {
        for bad in [
            "",
            "xyz",
            "0123456789abcdef0001020304050",
            "0123456789abcdef00010203040506fg",
            "--0123456789abcdef00010203040506ff",
            "é123456789abcdef00010203040506ff",
        ] {
            assert!(bad.parse::<DeviceId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn side_numbers_are_stable() {
        assert_eq!(Side::Host.number(), 1);
        assert_eq!(Side::Guest.number(), 2);
        assert_eq!(Side::from_number(2), Some(Side::Guest));
        assert_eq!(Side::from_number(0), None);
        assert_eq!(Side::from_number(3), None);
        assert_eq!(Side::Host.peer(), Side::Guest);
    }
}
