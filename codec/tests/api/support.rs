//! Shared test data: one sample of every control message, fixed keys and a time base.

use std::time::Instant;

use bytes::Bytes;
use switchboard_codec::message::{
    DeviceInfo, EnrollRequest, EnrollResponse, EnrollState, GuestIdentity, OnDemandJoin,
    OnDemandKey,
};
use switchboard_codec::{
    ControlMessage, DeviceId, ErrorCode, Permission, PermissionSet, RelayId, SessionId,
    SessionTicket, Side, TenantId, UserId,
};

/// A base instant for simulated time; nothing ever waits on it.
#[allow(clippy::disallowed_methods)]
pub(crate) fn t0() -> Instant {
    Instant::now()
}

pub(crate) const NOW_UNIX_MS: u64 = 1_800_000_000_000;

pub(crate) fn device_info() -> DeviceInfo {
    DeviceInfo {
        hostname: "reception-pc".into(),
        os: "Windows 11 23H2".into(),
        agent_version: "0.1.0".into(),
        logged_in_user: "anna".into(),
    }
}

pub(crate) fn key() -> OnDemandKey {
    "012345678".parse().unwrap()
}

pub(crate) fn ticket(side: Side) -> SessionTicket {
    SessionTicket {
        key_id: 1,
        session_id: SessionId([0x51; 16]),
        tenant_id: TenantId([0x7e; 16]),
        side,
        relay_id: RelayId(9),
        permissions: [
            Permission::RemoteSession,
            Permission::ViewScreen,
            Permission::Tunnel,
        ]
        .into_iter()
        .collect(),
        byte_rate_limit: 0,
        expires_at_unix_ms: NOW_UNIX_MS + 60_000,
        nonce: [0x0c; 16],
    }
}

/// One sample of every message type.
pub(crate) fn sample_messages() -> Vec<ControlMessage> {
    let sid = SessionId([0x51; 16]);
    let perms: PermissionSet = [Permission::RemoteSession, Permission::Chat]
        .into_iter()
        .collect();
    vec![
        ControlMessage::error(ErrorCode::NotPermitted, "no role assignment grants this"),
        ControlMessage::RelayBind {
            side: Side::Host,
            ticket: Bytes::from_static(&[1; 150]),
        },
        ControlMessage::RelayReady,
        ControlMessage::relay_close(ErrorCode::TicketExpired, "expired"),
        ControlMessage::HostHello {
            device_id: DeviceId([0xd1; 16]),
            credential: Bytes::from_static(b"credential"),
            agent_version: "0.1.0".into(),
        },
        ControlMessage::GuestHello {
            access_token: "tok".into(),
            agent_version: "0.1.0".into(),
        },
        ControlMessage::AuthChallenge {
            challenge: [0xcc; 32],
        },
        ControlMessage::AuthResponse {
            signature: [0x5a; 64],
        },
        ControlMessage::Welcome {
            heartbeat_interval_ms: 15_000,
        },
        ControlMessage::EnrollRequest(EnrollRequest {
            enrollment_key: "ENR-123".into(),
            device: device_info(),
            device_public_key: [0xed; 32],
            device_static_key: [0x25; 32],
        }),
        ControlMessage::EnrollResponse(EnrollResponse {
            device_id: DeviceId([0xd1; 16]),
            credential: Bytes::from_static(b"credential"),
            state: EnrollState::Pending,
        }),
        ControlMessage::Heartbeat { seq: 7 },
        ControlMessage::HeartbeatAck { seq: 7 },
        ControlMessage::HostState {
            locked: true,
            user_logged_in: false,
        },
        ControlMessage::SessionRequest {
            request_id: 1,
            device_id: DeviceId([0xd1; 16]),
            wanted: perms,
            guest_static_key: [0x27; 32],
        },
        ControlMessage::SessionCreated {
            request_id: 1,
            session_id: sid,
            granted: perms,
            confirm_required: true,
        },
        ControlMessage::SessionDenied {
            request_id: 2,
            code: ErrorCode::OutsideSchedule,
            message: "outside schedule".into(),
        },
        ControlMessage::SessionOffer {
            session_id: sid,
            guest: GuestIdentity {
                user_id: UserId([0x0e; 16]),
                display_name: "Tech One".into(),
            },
            granted: perms,
            confirm_required: false,
        },
        ControlMessage::SessionAccept { session_id: sid },
        ControlMessage::SessionReject {
            session_id: sid,
            code: ErrorCode::ConfirmDenied,
            message: "no".into(),
        },
        ControlMessage::SessionCancel {
            session_id: sid,
            code: ErrorCode::Cancelled,
        },
        ControlMessage::RelayAssignment {
            session_id: sid,
            relay_addr: "127.0.0.1:7443".into(),
            ticket: Bytes::from_static(&[2; 150]),
            peer_static_key: [0x25; 32],
        },
        ControlMessage::OnDemandCreateKey { request_id: 3 },
        ControlMessage::OnDemandKeyCreated {
            request_id: 3,
            key: key(),
            expires_at_unix_ms: NOW_UNIX_MS + 86_400_000,
        },
        ControlMessage::OnDemandJoin(OnDemandJoin {
            key: key(),
            device: device_info(),
            static_key: [0x26; 32],
        }),
        ControlMessage::OnDemandQueued { position: 1 },
        ControlMessage::OnDemandStart {
            key: key(),
            guest_static_key: [0x28; 32],
        },
        ControlMessage::OnDemandReject { key: key() },
        ControlMessage::OnDemandStarted { session_id: sid },
        ControlMessage::OnDemandRejected {
            code: ErrorCode::OndemandRejected,
        },
    ]
}

#[test]
fn samples_cover_every_message_type() {
    let mut numbers: Vec<u16> = sample_messages().iter().map(|m| m.type_number()).collect();
    numbers.sort_unstable();
    let mut all: Vec<u16> = switchboard_codec::message::MESSAGE_TYPES
        .iter()
        .map(|(n, _)| *n)
        .collect();
    all.sort_unstable();
    assert_eq!(numbers, all);
    for m in sample_messages() {
        assert_eq!(ControlMessage::decode(&m.to_bytes().unwrap()), Ok(m));
    }
}
