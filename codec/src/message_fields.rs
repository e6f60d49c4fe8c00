//! The composite fields and payload structs that control messages share: device facts,
//! the guest identity shown to a Host, enrollment request/response, the OnDemand key and join.
//!
//! Each type encodes and decodes itself with the length caps of `message.rs`; none of them
//! decides anything (whether a key is valid is the broker's question).

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::ids::{DeviceId, UserId};
use crate::message::{
    MAX_CREDENTIAL_LEN, MAX_DISPLAY_NAME_LEN, MAX_ENROLLMENT_KEY_LEN, MAX_HOSTNAME_LEN, MAX_OS_LEN,
    MAX_USERNAME_LEN, MAX_VERSION_LEN, MessageError,
};
use crate::wire::{Reader, put_bytes16, put_str16};

/// Facts a Host agent reports about its machine (enrollment and OnDemand join).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceInfo {
    /// Host name (≤ 255 bytes).
    pub hostname: String,
    /// Operating system name and version (≤ 128 bytes).
    pub os: String,
    /// Agent version (≤ 64 bytes).
    pub agent_version: String,
    /// The user logged in at the console, empty when none (≤ 256 bytes).
    pub logged_in_user: String,
}

impl DeviceInfo {
    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), MessageError> {
        put_str16(dst, "hostname", MAX_HOSTNAME_LEN, &self.hostname)?;
        put_str16(dst, "os", MAX_OS_LEN, &self.os)?;
        put_str16(dst, "agent_version", MAX_VERSION_LEN, &self.agent_version)?;
        put_str16(
            dst,
            "logged_in_user",
            MAX_USERNAME_LEN,
            &self.logged_in_user,
        )
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            hostname: r.str16("hostname", MAX_HOSTNAME_LEN)?,
            os: r.str16("os", MAX_OS_LEN)?,
            agent_version: r.str16("agent_version", MAX_VERSION_LEN)?,
            logged_in_user: r.str16("logged_in_user", MAX_USERNAME_LEN)?,
        })
    }
}

/// Who is asking for a session, as shown to the Host's local user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuestIdentity {
    /// The technician's user id.
    pub user_id: UserId,
    /// The technician's display name (≤ 256 bytes).
    pub display_name: String,
}

impl GuestIdentity {
    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), MessageError> {
        dst.put_slice(&self.user_id.0);
        put_str16(
            dst,
            "display_name",
            MAX_DISPLAY_NAME_LEN,
            &self.display_name,
        )
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            user_id: UserId(r.array("user_id")?),
            display_name: r.str16("display_name", MAX_DISPLAY_NAME_LEN)?,
        })
    }
}

/// The state a device is enrolled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EnrollState {
    /// Waits for an administrator's Enroll action before it can be reached.
    Pending = 1,
    /// Enrolled and reachable.
    Enrolled = 2,
}

impl EnrollState {
    /// The state for a wire byte.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::Pending),
            2 => Some(Self::Enrolled),
            _ => None,
        }
    }
}

/// A device asks to enroll with a deployment package's key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnrollRequest {
    /// The package's enrollment key (≤ 128 bytes).
    pub enrollment_key: String,
    /// Facts about the machine.
    pub device: DeviceInfo,
    /// The device's ed25519 public key (signs control-handshake challenges).
    pub device_public_key: [u8; 32],
    /// The device's static X25519 public key (end-to-end Noise).
    pub device_static_key: [u8; 32],
}

impl EnrollRequest {
    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), MessageError> {
        put_str16(
            dst,
            "enrollment_key",
            MAX_ENROLLMENT_KEY_LEN,
            &self.enrollment_key,
        )?;
        self.device.encode(dst)?;
        dst.put_slice(&self.device_public_key);
        dst.put_slice(&self.device_static_key);
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            enrollment_key: r.str16("enrollment_key", MAX_ENROLLMENT_KEY_LEN)?,
            device: DeviceInfo::decode(r)?,
            device_public_key: r.array("device_public_key")?,
            device_static_key: r.array("device_static_key")?,
        })
    }
}

/// The broker's answer to an accepted enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollResponse {
    /// The new device id.
    pub device_id: DeviceId,
    /// An opaque credential the agent stores and presents in `HostHello` (≤ 1024 bytes).
    pub credential: Bytes,
    /// Pending or Enrolled, from the package.
    pub state: EnrollState,
}

impl EnrollResponse {
    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), MessageError> {
        dst.put_slice(&self.device_id.0);
        put_bytes16(dst, "credential", MAX_CREDENTIAL_LEN, &self.credential)?;
        dst.put_u8(self.state as u8);
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let device_id = DeviceId(r.array("device_id")?);
        let credential = r.bytes16("credential", MAX_CREDENTIAL_LEN)?;
        let n = r.u8("state")?;
        let state = EnrollState::from_number(n).ok_or(MessageError::InvalidValue {
            field: "state",
            value: u64::from(n),
        })?;
        Ok(Self {
            device_id,
            credential,
            state,
        })
    }
}

/// A one-time OnDemand key: exactly nine decimal digits (leading zeros allowed), sent as a u32.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OnDemandKey(u32);

/// The largest key value (`999999999`).
const ONDEMAND_KEY_MAX: u32 = 999_999_999;

impl OnDemandKey {
    /// The key for `value`, `None` above 999 999 999.
    pub const fn new(value: u32) -> Option<Self> {
        if value <= ONDEMAND_KEY_MAX {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn value(self) -> u32 {
        self.0
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let v = r.u32("ondemand_key")?;
        Self::new(v).ok_or(MessageError::InvalidValue {
            field: "ondemand_key",
            value: u64::from(v),
        })
    }
}

impl fmt::Display for OnDemandKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:09}", self.0)
    }
}

impl fmt::Debug for OnDemandKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnDemandKey({:09})", self.0)
    }
}

/// The text was not exactly nine ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an OnDemand key is exactly nine digits")]
pub struct OnDemandKeyParseError;

impl FromStr for OnDemandKey {
    type Err = OnDemandKeyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 9 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(OnDemandKeyParseError);
        }
        s.parse::<u32>()
            .ok()
            .and_then(Self::new)
            .ok_or(OnDemandKeyParseError)
    }
}

/// An end user's OnDemand agent joins the queue of a technician's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDemandJoin {
    /// The nine-digit key the end user typed.
    pub key: OnDemandKey,
    /// Facts about the machine.
    pub device: DeviceInfo,
    /// The agent's one-off static X25519 public key (end-to-end Noise).
    pub static_key: [u8; 32],
}

impl OnDemandJoin {
    pub(crate) fn encode(&self, dst: &mut BytesMut) -> Result<(), MessageError> {
        dst.put_u32(self.key.value());
        self.device.encode(dst)?;
        dst.put_slice(&self.static_key);
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        Ok(Self {
            key: OnDemandKey::decode(r)?,
            device: DeviceInfo::decode(r)?,
            static_key: r.array("static_key")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ondemand_key_is_nine_digits() {
        // 004 (digest 21): the OnDemand page "shows the session key (9-digit example)".
        let k: OnDemandKey = "000123456".parse().unwrap();
        assert_eq!(k.value(), 123_456);
        assert_eq!(k.to_string(), "000123456");
        assert_eq!(OnDemandKey::new(1_000_000_000), None);
        for bad in ["12345678", "1234567890", "12345678a", "+12345678", ""] {
            assert!(bad.parse::<OnDemandKey>().is_err(), "{bad}");
        }
    }
}
