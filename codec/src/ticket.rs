//! Session tickets: the broker signs one per side with ed25519; a relay verifies it offline
//! with only the broker's public keys (two may be valid at once during a key rotation).
//!
//! Signed layout: an 86-byte body (below) then a 64-byte ed25519 signature over
//! `TICKET_DOMAIN || body`. Body, big-endian: `version: u8` (= 1), `key_id: u32`,
//! `session_id: [u8;16]`, `tenant_id: [u8;16]`, `side: u8`, `relay_id: u64`,
//! `permissions: u64`, `byte_rate_limit: u64`, `expires_at_unix_ms: u64`, `nonce: [u8;16]`.
//! Replay detection (the nonce cache) is the relay's job, not this module's.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::error_code::ErrorCode;
use crate::ids::{RelayId, SessionId, Side, TenantId};
use crate::permissions::PermissionSet;
use crate::ticket_memo::IssuedTickets;
use crate::wire::Reader;

/// Domain-separation prefix of the signed message.
pub const TICKET_DOMAIN: &[u8] = b"switchboard/session-ticket/v1\0";
/// Ticket body format version.
pub const TICKET_VERSION: u8 = 1;
/// Bytes in a ticket body.
pub const TICKET_BODY_LEN: usize = 86;
/// Bytes in a signed ticket (body + signature).
pub const SIGNED_TICKET_LEN: usize = TICKET_BODY_LEN + 64;

/// What a ticket grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTicket {
    /// The broker signing key that signed it.
    pub key_id: u32,
    /// The session.
    pub session_id: SessionId,
    /// The tenant (for per-tenant limits and accounting).
    pub tenant_id: TenantId,
    /// Which side may present it.
    pub side: Side,
    /// The only relay that accepts it.
    pub relay_id: RelayId,
    /// Permissions granted in the session.
    pub permissions: PermissionSet,
    /// Bytes per second for this session, 0 = unlimited.
    pub byte_rate_limit: u64,
    /// Expiry, Unix milliseconds; the ticket is refused at or after it.
    pub expires_at_unix_ms: u64,
    /// Random, single-use.
    pub nonce: [u8; 16],
}

/// Why a ticket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// The bytes do not parse as a signed ticket.
    #[error("ticket malformed")]
    Malformed,
    /// The key id is not among the verifier's keys.
    #[error("ticket signed with an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("ticket signature invalid")]
    Forged,
    /// The ticket has expired.
    #[error("ticket expired")]
    Expired,
    /// The ticket is for another relay.
    #[error("ticket is for another relay")]
    WrongRelay,
    /// The ticket is for the other side.
    #[error("ticket is for the other side")]
    WrongSide,
}

impl TicketError {
    /// The error code a client is told.
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::Malformed => ErrorCode::TicketMalformed,
            Self::UnknownKey => ErrorCode::TicketUnknownKey,
            Self::Forged => ErrorCode::TicketForged,
            Self::Expired => ErrorCode::TicketExpired,
            Self::WrongRelay => ErrorCode::TicketWrongRelay,
            Self::WrongSide => ErrorCode::TicketWrongSide,
        }
    }
}

/// A public key given to `TicketVerifier::new` is not a valid ed25519 point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ticket verification key {key_id} is not a valid ed25519 public key")]
pub struct TicketKeyError {
    /// The offending key id.
    pub key_id: u32,
}

impl SessionTicket {
    /// Appends the 86-byte body.
    pub fn encode_body(&self, dst: &mut BytesMut) {
        dst.reserve(TICKET_BODY_LEN);
        dst.put_u8(TICKET_VERSION);
        dst.put_u32(self.key_id);
        dst.put_slice(&self.session_id.0);
        dst.put_slice(&self.tenant_id.0);
        dst.put_u8(self.side.number());
        dst.put_u64(self.relay_id.0);
        dst.put_u64(self.permissions.bits());
        dst.put_u64(self.byte_rate_limit);
        dst.put_u64(self.expires_at_unix_ms);
        dst.put_slice(&self.nonce);
    }

    /// Parses a signed ticket without checking its signature: the body and the signature.
    /// For the relay use `TicketVerifier::verify`; this is for tools and tests.
    pub fn parse_unverified(signed: &[u8]) -> Result<(Self, [u8; 64]), TicketError> {
        if signed.len() != SIGNED_TICKET_LEN {
            return Err(TicketError::Malformed);
        }
        let mut r = Reader::new(signed);
        let parsed = (|| {
            let version = r.u8("version")?;
            let key_id = r.u32("key_id")?;
            let session_id = SessionId(r.array("session_id")?);
            let tenant_id = TenantId(r.array("tenant_id")?);
            let side = r.u8("side")?;
            let ticket = (
                version,
                side,
                Self {
                    key_id,
                    session_id,
                    tenant_id,
                    side: Side::Host,
                    relay_id: RelayId(r.u64("relay_id")?),
                    permissions: PermissionSet::from_bits(r.u64("permissions")?),
                    byte_rate_limit: r.u64("byte_rate_limit")?,
                    expires_at_unix_ms: r.u64("expires_at_unix_ms")?,
                    nonce: r.array("nonce")?,
                },
                r.array::<64>("signature")?,
            );
            r.finish()?;
            Ok::<_, crate::message::MessageError>(ticket)
        })();
        let Ok((version, side, mut ticket, signature)) = parsed else {
            return Err(TicketError::Malformed);
        };
        if version != TICKET_VERSION {
            return Err(TicketError::Malformed);
        }
        ticket.side = Side::from_number(side).ok_or(TicketError::Malformed)?;
        Ok((ticket, signature))
    }
}

/// Signs tickets with one broker key.
pub struct TicketSigner {
    key_id: u32,
    key: SigningKey,
    issued: Option<Arc<IssuedTickets>>,
}

impl std::fmt::Debug for TicketSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TicketSigner {
    /// A signer for key `key_id` with the 32-byte ed25519 secret `secret`.
    pub fn new(key_id: u32, secret: [u8; 32]) -> Self {
        Self {
            key_id,
            key: SigningKey::from_bytes(&secret),
            issued: None,
        }
    }

    /// Remembers every ticket it signs in `issued`, for a relay in the same process
    /// ([`TicketVerifier::trusting_issued`]).
    pub fn remembering(mut self, issued: Arc<IssuedTickets>) -> Self {
        self.issued = Some(issued);
        self
    }

    /// The key id written into every ticket this signer signs.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The public key a relay needs (give it to `TicketVerifier::new` with `key_id`).
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The signed ticket bytes. The ticket's `key_id` is replaced by this signer's.
    pub fn sign(&self, ticket: &SessionTicket) -> Bytes {
        let mut msg = BytesMut::with_capacity(TICKET_DOMAIN.len() + SIGNED_TICKET_LEN);
        msg.put_slice(TICKET_DOMAIN);
        let ticket = SessionTicket {
            key_id: self.key_id,
            ..ticket.clone()
        };
        ticket.encode_body(&mut msg);
        let signature = self.key.sign(&msg);
        msg.put_slice(&signature.to_bytes());
        let signed = msg.split_off(TICKET_DOMAIN.len()).freeze();
        if let Some(issued) = &self.issued {
            issued.remember(&signed);
        }
        signed
    }
}

/// Verifies tickets with the broker's public keys only.
#[derive(Debug, Clone)]
pub struct TicketVerifier {
    keys: HashMap<u32, VerifyingKey>,
    issued: Option<Arc<IssuedTickets>>,
}

impl TicketVerifier {
    /// A verifier trusting `(key_id, ed25519 public key)` pairs; refuses invalid keys.
    pub fn new(keys: impl IntoIterator<Item = (u32, [u8; 32])>) -> Result<Self, TicketKeyError> {
        let mut map = HashMap::new();
        for (key_id, bytes) in keys {
            let key = VerifyingKey::from_bytes(&bytes).map_err(|_| TicketKeyError { key_id })?;
            map.insert(key_id, key);
        }
        Ok(Self {
            keys: map,
            issued: None,
        })
    }

    /// Accepts a ticket found in `issued` (signed by a [`TicketSigner`] of this process) by
    /// comparing bytes instead of verifying its signature; every other check still applies.
    pub fn trusting_issued(mut self, issued: Arc<IssuedTickets>) -> Self {
        self.issued = Some(issued);
        self
    }

    /// The trusted key ids.
    pub fn key_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// Checks, in order: parse, key id, signature, expiry, relay, side. `side` is the side the
    /// client declared in `RelayBind`.
    pub fn verify(
        &self,
        signed: &[u8],
        relay: RelayId,
        side: Side,
        now_unix_ms: u64,
    ) -> Result<SessionTicket, TicketError> {
        let (ticket, signature) = SessionTicket::parse_unverified(signed)?;
        let key = self
            .keys
            .get(&ticket.key_id)
            .ok_or(TicketError::UnknownKey)?;
        let signed_here = self.issued.as_ref().is_some_and(|i| i.take(signed));
        if !signed_here {
            let body = signed
                .get(..TICKET_BODY_LEN)
                .ok_or(TicketError::Malformed)?;
            let mut msg = Vec::with_capacity(TICKET_DOMAIN.len() + TICKET_BODY_LEN);
            msg.extend_from_slice(TICKET_DOMAIN);
            msg.extend_from_slice(body);
            key.verify_strict(&msg, &Signature::from_bytes(&signature))
                .map_err(|_| TicketError::Forged)?;
        }
        if now_unix_ms >= ticket.expires_at_unix_ms {
            return Err(TicketError::Expired);
        }
        if ticket.relay_id != relay {
            return Err(TicketError::WrongRelay);
        }
        if ticket.side != side {
            return Err(TicketError::WrongSide);
        }
        Ok(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn ticket() -> SessionTicket {
        SessionTicket {
            key_id: 7,
            session_id: SessionId([1; 16]),
            tenant_id: TenantId([2; 16]),
            side: Side::Host,
            relay_id: RelayId(42),
            permissions: PermissionSet::from_bits(0b1011),
            byte_rate_limit: 1_000_000,
            expires_at_unix_ms: NOW + 30_000,
            nonce: [9; 16],
        }
    }

    fn setup() -> (TicketSigner, TicketVerifier) {
        let signer = TicketSigner::new(7, [5; 32]);
        let verifier = TicketVerifier::new([(7, signer.public_key())]).unwrap();
        (signer, verifier)
    }

    #[test]
    fn signed_ticket_verifies_and_round_trips() {
        let (signer, verifier) = setup();
        let signed = signer.sign(&ticket());
        assert_eq!(signed.len(), SIGNED_TICKET_LEN);
        assert_eq!(
            verifier.verify(&signed, RelayId(42), Side::Host, NOW),
            Ok(ticket())
        );
    }

    #[test]
    fn issued_tickets_skip_the_signature_but_no_other_check() {
        let issued = Arc::new(IssuedTickets::new());
        let signer = TicketSigner::new(7, [5; 32]).remembering(Arc::clone(&issued));
        let verifier = TicketVerifier::new([(7, signer.public_key())])
            .unwrap()
            .trusting_issued(Arc::clone(&issued));
        let signed = signer.sign(&ticket());
        assert_eq!(issued.len(), 1);
        // Expiry, relay and side are still checked.
        for (relay, side, now, refused) in [
            (42, Side::Host, NOW + 30_000, TicketError::Expired),
            (43, Side::Host, NOW, TicketError::WrongRelay),
            (42, Side::Guest, NOW, TicketError::WrongSide),
        ] {
            issued.remember(&signed);
            assert_eq!(
                verifier.verify(&signed, RelayId(relay), side, now),
                Err(refused)
            );
        }
        issued.remember(&signed);
        assert_eq!(
            verifier.verify(&signed, RelayId(42), Side::Host, NOW),
            Ok(ticket())
        );
        assert!(issued.is_empty(), "taken by the relay");
        // A second presentation is verified (and still valid: replay is the nonce cache's job).
        assert_eq!(
            verifier.verify(&signed, RelayId(42), Side::Host, NOW),
            Ok(ticket())
        );
        // A ticket from another signer with the same key id is not in the memo: forged.
        let other = TicketSigner::new(7, [6; 32]).sign(&ticket());
        assert_eq!(
            verifier.verify(&other, RelayId(42), Side::Host, NOW),
            Err(TicketError::Forged)
        );
    }

    #[test]
    fn two_keys_valid_during_rotation() {
        let old = TicketSigner::new(1, [1; 32]);
        let new = TicketSigner::new(2, [2; 32]);
        let verifier = TicketVerifier::new([(1, old.public_key()), (2, new.public_key())]).unwrap();
        for s in [&old, &new] {
            let t = verifier
                .verify(&s.sign(&ticket()), RelayId(42), Side::Host, NOW)
                .unwrap();
            assert_eq!(t.key_id, s.key_id());
        }
    }

    #[test]
    fn malformed() {
        let (signer, verifier) = setup();
        let signed = signer.sign(&ticket());
        let v = |b: &[u8]| verifier.verify(b, RelayId(42), Side::Host, NOW);
        assert_eq!(v(&[]), Err(TicketError::Malformed));
        assert_eq!(
            v(&signed[..SIGNED_TICKET_LEN - 1]),
            Err(TicketError::Malformed)
        );
        let mut long = signed.to_vec();
        long.push(0);
        assert_eq!(v(&long), Err(TicketError::Malformed));
        let mut bad_version = signed.to_vec();
        bad_version[0] = 2;
        assert_eq!(v(&bad_version), Err(TicketError::Malformed));
        let mut bad_side = signed.to_vec();
        bad_side[37] = 3;
        assert_eq!(v(&bad_side), Err(TicketError::Malformed));
        assert_eq!(TicketError::Malformed.code(), ErrorCode::TicketMalformed);
    }

    #[test]
    fn unknown_key() {
        let (_, verifier) = setup();
        let other = TicketSigner::new(8, [5; 32]);
        let signed = other.sign(&ticket());
        assert_eq!(
            verifier.verify(&signed, RelayId(42), Side::Host, NOW),
            Err(TicketError::UnknownKey)
        );
    }

    #[test]
    fn forged() {
        let (_, verifier) = setup();
        // Right key id, wrong secret.
        let forger = TicketSigner::new(7, [6; 32]);
        let signed = forger.sign(&ticket());
        assert_eq!(
            verifier.verify(&signed, RelayId(42), Side::Host, NOW),
            Err(TicketError::Forged)
        );
        // A genuine ticket with a changed permission bit.
        let (signer, _) = setup();
        let mut tampered = signer.sign(&ticket()).to_vec();
        tampered[53] ^= 0x80;
        assert_eq!(
            verifier.verify(&tampered, RelayId(42), Side::Host, NOW),
            Err(TicketError::Forged)
        );
    }

    #[test]
    fn expired() {
        let (signer, verifier) = setup();
        let signed = signer.sign(&ticket());
        let exp = ticket().expires_at_unix_ms;
        assert!(
            verifier
                .verify(&signed, RelayId(42), Side::Host, exp - 1)
                .is_ok()
        );
        assert_eq!(
            verifier.verify(&signed, RelayId(42), Side::Host, exp),
            Err(TicketError::Expired)
        );
    }

    #[test]
    fn wrong_relay_and_wrong_side() {
        let (signer, verifier) = setup();
        let signed = signer.sign(&ticket());
        assert_eq!(
            verifier.verify(&signed, RelayId(43), Side::Host, NOW),
            Err(TicketError::WrongRelay)
        );
        assert_eq!(
            verifier.verify(&signed, RelayId(42), Side::Guest, NOW),
            Err(TicketError::WrongSide)
        );
    }

    #[test]
    fn invalid_public_key_is_refused() {
        // y = 2 does not decompress to a curve point.
        let mut bad = [0u8; 32];
        bad[0] = 2;
        assert_eq!(
            TicketVerifier::new([(3, bad)]).unwrap_err(),
            TicketKeyError { key_id: 3 }
        );
    }
}
