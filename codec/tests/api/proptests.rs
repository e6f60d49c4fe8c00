//! Property tests: every message, frames and tickets round-trip; arbitrary bytes never panic
//! any decoder or state machine, and never make a decoder reserve past its limit.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;
use switchboard_codec::message::{
    DeviceInfo, EnrollRequest, EnrollResponse, EnrollState, GuestIdentity, MAX_REASON_LEN,
    OnDemandJoin, OnDemandKey,
};
use switchboard_codec::{
    ControlAcceptor, ControlConfig, ControlMessage, DeviceId, ErrorCode, Frame, FrameDecoder,
    FrameError, FrameKind, PermissionSet, RelayAcceptor, RelayHandshakeConfig, RelayId, SessionId,
    SessionTicket, Side, TenantId, TicketSigner, TicketVerifier, UserId,
};

use crate::support::t0;

fn code() -> impl Strategy<Value = ErrorCode> {
    prop::sample::select(ErrorCode::ALL)
}
fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Host), Just(Side::Guest)]
}
fn id16() -> impl Strategy<Value = [u8; 16]> {
    any::<[u8; 16]>()
}
fn perms() -> impl Strategy<Value = PermissionSet> {
    any::<u64>().prop_map(PermissionSet::from_bits)
}
fn text(max: usize) -> impl Strategy<Value = String> {
    // Any characters (multi-byte included), up to the cap in bytes, so lengths near the cap
    // are exercised too.
    prop::collection::vec(any::<char>(), 0..=max).prop_map(move |chars| {
        let mut s = String::new();
        for c in chars {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        s
    })
}
fn blob(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}
fn odkey() -> impl Strategy<Value = OnDemandKey> {
    (0u32..=999_999_999).prop_map(|v| OnDemandKey::new(v).unwrap())
}
fn device_info() -> impl Strategy<Value = DeviceInfo> {
    (text(255), text(128), text(64), text(256)).prop_map(
        |(hostname, os, agent_version, logged_in_user)| DeviceInfo {
            hostname,
            os,
            agent_version,
            logged_in_user,
        },
    )
}

fn message() -> impl Strategy<Value = ControlMessage> {
    prop_oneof![
        (code(), text(MAX_REASON_LEN))
            .prop_map(|(code, message)| ControlMessage::Error { code, message }),
        (side(), blob(512)).prop_map(|(side, ticket)| ControlMessage::RelayBind { side, ticket }),
        Just(ControlMessage::RelayReady),
        (code(), text(MAX_REASON_LEN))
            .prop_map(|(code, message)| ControlMessage::RelayClose { code, message }),
        (id16(), blob(1024), text(64)).prop_map(|(d, credential, agent_version)| {
            ControlMessage::HostHello {
                device_id: DeviceId(d),
                credential,
                agent_version,
            }
        }),
        (text(4096), text(64)).prop_map(|(access_token, agent_version)| {
            ControlMessage::GuestHello {
                access_token,
                agent_version,
            }
        }),
        any::<[u8; 32]>().prop_map(|challenge| ControlMessage::AuthChallenge { challenge }),
        prop::collection::vec(any::<u8>(), 64).prop_map(|v| ControlMessage::AuthResponse {
            signature: v.try_into().unwrap()
        }),
        any::<u32>().prop_map(|heartbeat_interval_ms| ControlMessage::Welcome {
            heartbeat_interval_ms
        }),
        (
            text(128),
            device_info(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>()
        )
            .prop_map(|(k, device, p, s)| {
                ControlMessage::EnrollRequest(EnrollRequest {
                    enrollment_key: k,
                    device,
                    device_public_key: p,
                    device_static_key: s,
                })
            }),
        (
            id16(),
            blob(1024),
            prop_oneof![Just(EnrollState::Pending), Just(EnrollState::Enrolled)]
        )
            .prop_map(|(d, credential, state)| {
                ControlMessage::EnrollResponse(EnrollResponse {
                    device_id: DeviceId(d),
                    credential,
                    state,
                })
            }),
        any::<u64>().prop_map(|seq| ControlMessage::Heartbeat { seq }),
        any::<u64>().prop_map(|seq| ControlMessage::HeartbeatAck { seq }),
        any::<(bool, bool)>().prop_map(|(locked, user_logged_in)| ControlMessage::HostState {
            locked,
            user_logged_in,
        }),
        (any::<u64>(), id16(), perms(), any::<[u8; 32]>()).prop_map(
            |(request_id, d, wanted, guest_static_key)| {
                ControlMessage::SessionRequest {
                    request_id,
                    device_id: DeviceId(d),
                    wanted,
                    guest_static_key,
                }
            }
        ),
        (any::<u64>(), id16(), perms(), any::<bool>()).prop_map(
            |(request_id, s, granted, confirm_required)| {
                ControlMessage::SessionCreated {
                    request_id,
                    session_id: SessionId(s),
                    granted,
                    confirm_required,
                }
            }
        ),
        (any::<u64>(), code(), text(MAX_REASON_LEN)).prop_map(|(request_id, code, message)| {
            ControlMessage::SessionDenied {
                request_id,
                code,
                message,
            }
        }),
        (id16(), id16(), text(256), perms(), any::<bool>()).prop_map(
            |(s, u, display_name, granted, confirm_required)| {
                ControlMessage::SessionOffer {
                    session_id: SessionId(s),
                    guest: GuestIdentity {
                        user_id: UserId(u),
                        display_name,
                    },
                    granted,
                    confirm_required,
                }
            }
        ),
        id16().prop_map(|s| ControlMessage::SessionAccept {
            session_id: SessionId(s)
        }),
        (id16(), code(), text(MAX_REASON_LEN)).prop_map(|(s, code, message)| {
            ControlMessage::SessionReject {
                session_id: SessionId(s),
                code,
                message,
            }
        }),
        (id16(), code()).prop_map(|(s, code)| ControlMessage::SessionCancel {
            session_id: SessionId(s),
            code
        }),
        (id16(), text(256), blob(512), any::<[u8; 32]>()).prop_map(
            |(s, relay_addr, ticket, peer_static_key)| {
                ControlMessage::RelayAssignment {
                    session_id: SessionId(s),
                    relay_addr,
                    ticket,
                    peer_static_key,
                }
            }
        ),
        any::<u64>().prop_map(|request_id| ControlMessage::OnDemandCreateKey { request_id }),
        (any::<u64>(), odkey(), any::<u64>()).prop_map(|(request_id, key, expires_at_unix_ms)| {
            ControlMessage::OnDemandKeyCreated {
                request_id,
                key,
                expires_at_unix_ms,
            }
        }),
        (odkey(), device_info(), any::<[u8; 32]>()).prop_map(|(key, device, static_key)| {
            ControlMessage::OnDemandJoin(OnDemandJoin {
                key,
                device,
                static_key,
            })
        }),
        any::<u32>().prop_map(|position| ControlMessage::OnDemandQueued { position }),
        (odkey(), any::<[u8; 32]>()).prop_map(|(key, guest_static_key)| {
            ControlMessage::OnDemandStart {
                key,
                guest_static_key,
            }
        }),
        odkey().prop_map(|key| ControlMessage::OnDemandReject { key }),
        id16().prop_map(|s| ControlMessage::OnDemandStarted {
            session_id: SessionId(s)
        }),
        code().prop_map(|code| ControlMessage::OnDemandRejected { code }),
    ]
}

fn ticket() -> impl Strategy<Value = SessionTicket> {
    (
        any::<u32>(),
        id16(),
        id16(),
        side(),
        any::<u64>(),
        perms(),
        any::<u64>(),
        any::<u64>(),
        id16(),
    )
        .prop_map(
            |(
                key_id,
                s,
                t,
                side,
                relay,
                permissions,
                byte_rate_limit,
                expires_at_unix_ms,
                nonce,
            )| SessionTicket {
                key_id,
                session_id: SessionId(s),
                tenant_id: TenantId(t),
                side,
                relay_id: RelayId(relay),
                permissions,
                byte_rate_limit,
                expires_at_unix_ms,
                nonce,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(msg in message()) {
        let bytes = msg.to_bytes().unwrap();
        prop_assert_eq!(ControlMessage::decode(&bytes), Ok(msg.clone()));
        // Framed, then split at every possible point, it still comes out whole.
        let wire = msg.to_frame().unwrap().to_bytes();
        let cut = bytes.len() / 2;
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::from(&wire[..cut]);
        prop_assert_eq!(dec.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&wire[cut..]);
        let frame = dec.decode(&mut buf).unwrap().unwrap();
        prop_assert_eq!(ControlMessage::from_frame(&frame), Ok(msg));
        // One byte more or less is refused, never misread.
        prop_assert!(ControlMessage::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.to_vec();
        longer.push(0);
        prop_assert!(ControlMessage::decode(&longer).is_err());
    }

    #[test]
    fn frames_round_trip(payload in prop::collection::vec(any::<u8>(), 0..4096), split in any::<prop::sample::Index>()) {
        let frame = Frame::new(FrameKind::Control, Bytes::from(payload));
        let wire = frame.to_bytes();
        let at = split.index(wire.len() + 1);
        let mut dec = FrameDecoder::default();
        let mut buf = BytesMut::from(&wire[..at]);
        let first = dec.decode(&mut buf).unwrap();
        if at < wire.len() {
            prop_assert_eq!(first, None);
            buf.extend_from_slice(&wire[at..]);
            prop_assert_eq!(dec.decode(&mut buf).unwrap(), Some(frame));
        } else {
            prop_assert_eq!(first, Some(frame));
        }
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn tickets_round_trip(t in ticket(), secret in any::<[u8; 32]>()) {
        let signer = TicketSigner::new(t.key_id, secret);
        let verifier = TicketVerifier::new([(t.key_id, signer.public_key())]).unwrap();
        let signed = signer.sign(&t);
        let now = t.expires_at_unix_ms.saturating_sub(1);
        if t.expires_at_unix_ms > 0 {
            prop_assert_eq!(verifier.verify(&signed, t.relay_id, t.side, now), Ok(t.clone()));
        }
        let (parsed, _) = SessionTicket::parse_unverified(&signed).unwrap();
        prop_assert_eq!(parsed, t);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_over_reserve(input in prop::collection::vec(any::<u8>(), 0..2048), max in 0usize..=1024 * 1024) {
        let mut dec = FrameDecoder::new(max).unwrap();
        let mut buf = BytesMut::from(&input[..]);
        let cap = buf.capacity();
        while let Ok(Some(frame)) = dec.decode(&mut buf) {
            let _ = ControlMessage::from_frame(&frame);
        }
        prop_assert!(buf.capacity() <= cap);
        let _ = ControlMessage::decode(&input);
        let _ = SessionTicket::parse_unverified(&input);
        let verifier = TicketVerifier::new([(1, TicketSigner::new(1, [1; 32]).public_key())]).unwrap();
        let _ = verifier.verify(&input, RelayId(1), Side::Host, 0);
    }

    #[test]
    fn huge_declared_lengths_are_refused_before_allocating(len in (64u32 * 1024 + 1)..=u32::MAX, kind in any::<u8>(), flags in any::<u16>()) {
        let mut buf = BytesMut::with_capacity(8);
        buf.put_u8(1);
        buf.put_u8(1);
        buf.put_u16(0);
        buf.put_u32(len);
        let cap = buf.capacity();
        let mut dec = FrameDecoder::default();
        let is_too_large = matches!(dec.decode(&mut buf), Err(FrameError::TooLarge { .. }));
        prop_assert!(is_too_large);
        prop_assert_eq!(buf.capacity(), cap);
        // Whatever the kind and flags, the answer is an error or "need more", never a panic.
        let mut buf = BytesMut::new();
        buf.put_u8(1);
        buf.put_u8(kind);
        buf.put_u16(flags);
        buf.put_u32(len);
        let _ = dec.decode(&mut buf);
    }

    #[test]
    fn state_machines_survive_arbitrary_bytes(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8)) {
        let now = t0();
        let mut relay = RelayAcceptor::new(RelayHandshakeConfig { max_frame: 4096, bind_timeout: Duration::from_secs(1) }, now);
        let mut control = ControlAcceptor::new(ControlConfig::default(), [7; 32], now);
        for c in &chunks {
            let _ = relay.handle_bytes(c);
            let _ = control.handle_bytes(c, now);
        }
        while relay.poll_event().is_some() {}
        while relay.poll_transmit().is_some() {}
        while control.poll_event().is_some() {}
        while control.poll_transmit().is_some() {}
        relay.handle_timeout(now + Duration::from_secs(60));
        control.handle_timeout(now + Duration::from_secs(60));
        prop_assert!(relay.take_leftover().len() <= 4096);
    }
}
