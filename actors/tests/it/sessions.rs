//! Session requests: every refusal reason, and the permanent flow to active and ended with the
//! relay's record joined into the audit log.

use std::time::Duration;

use switchboard_actors::{ActorError, HostState, RelayRecord, SessionEvent};
use switchboard_codec::{ControlMessage, ErrorCode, Permission, PermissionSet, Side};
use switchboard_directory::model::AuditOutcome;

use crate::support::{World, recv};

async fn refused(
    w: &World,
    user: switchboard_codec::UserId,
    device: switchboard_codec::DeviceId,
) -> ErrorCode {
    let (guest, mut rx) = w.guest(user);
    let err = w
        .hub
        .request_session(w.request(&guest, device))
        .await
        .unwrap_err();
    let code = err.code();
    match recv(&mut rx).await {
        ControlMessage::SessionDenied {
            request_id,
            code: c,
            ..
        } => {
            assert_eq!(request_id, 42);
            assert_eq!(c, code);
        }
        other => panic!("expected SessionDenied, got {other:?}"),
    }
    code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_reason() {
    let w = World::redb().await;
    let (_srv, _srv_rx) = w.connect(w.server, HostState::default()).await;
    // 002/004 §4.1: Pending devices "are not reachable" until an administrator enrolls them.
    assert_eq!(
        refused(&w, w.bob, w.pending).await,
        ErrorCode::DevicePending
    );
    // 002/004 §4.3: devices of a revoked package are "listed but not reachable".
    assert_eq!(
        refused(&w, w.bob, w.revoked).await,
        ErrorCode::DeviceRevoked
    );
    assert_eq!(
        refused(&w, w.bob, switchboard_codec::DeviceId([0xee; 16])).await,
        ErrorCode::DeviceUnknown
    );
    // dave holds no assignment at all.
    assert_eq!(refused(&w, w.dave, w.server).await, ErrorCode::NotPermitted);
    // carol's only assignment is scheduled for weekends; it is Monday.
    assert_eq!(
        refused(&w, w.carol, w.server).await,
        ErrorCode::OutsideSchedule
    );
    // server2 is enrolled and permitted but not connected.
    assert_eq!(
        refused(&w, w.bob, w.server2).await,
        ErrorCode::DeviceOffline
    );
    // Wanting only actions no role grants is not permitted either.
    let (guest, _rx) = w.guest(w.bob);
    let mut req = w.request(&guest, w.server);
    req.wanted = PermissionSet::from_iter([Permission::FileTransfer]);
    assert_eq!(
        w.hub.request_session(req).await.unwrap_err().code(),
        ErrorCode::NotPermitted
    );
    // On Saturday carol gets in.
    w.advance_clock(jiff::SignedDuration::from_hours(24 * 5));
    let (guest, _rx) = w.guest(w.carol);
    w.hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    // Every refusal is audited with its code.
    let denied: Vec<String> = w
        .audit(None)
        .await
        .into_iter()
        .filter_map(|r| match r.outcome {
            AuditOutcome::Denied(c) => Some(c),
            _ => None,
        })
        .collect();
    for code in [
        "device_pending",
        "device_revoked",
        "device_unknown",
        "not_permitted",
        "outside_schedule",
        "device_offline",
    ] {
        assert!(
            denied.iter().any(|c| c == code),
            "{code} audited: {denied:?}"
        );
    }
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_and_quota() {
    let mut cfg = crate::support::config();
    cfg.session_rate_burst = 3;
    cfg.session_rate_per_second = 0.0;
    let w = World::redb_with(cfg).await;
    let (_srv, _srv_rx) = w.connect(w.server, HostState::default()).await;
    let (guest, _rx) = w.guest(w.bob);
    for _ in 0..3 {
        w.hub
            .request_session(w.request(&guest, w.server))
            .await
            .unwrap();
    }
    let err = w
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap_err();
    assert!(matches!(err, ActorError::Refused(ErrorCode::RateLimited)));

    let mut cfg = crate::support::config();
    cfg.max_sessions_per_tenant = 1;
    let w2 = World::redb_with(cfg).await;
    let (_srv, _srv_rx) = w2.connect(w2.server, HostState::default()).await;
    let (guest, _rx) = w2.guest(w2.bob);
    w2.hub
        .request_session(w2.request(&guest, w2.server))
        .await
        .unwrap();
    let err = w2
        .hub
        .request_session(w2.request(&guest, w2.server))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::QuotaExceeded);
    w.hub.shutdown().await;
    w2.hub.shutdown().await;
}

/// The whole permanent-device flow; shared with the Redis run.
pub(crate) async fn permanent_flow(w: &World) {
    let baseline = w.hub.counts();
    let (_srv, mut host) = w.connect(w.server, HostState::default()).await;
    let (guest, mut grx) = w.guest(w.bob);
    let sid = w
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    let granted = match recv(&mut grx).await {
        ControlMessage::SessionCreated {
            session_id,
            granted,
            confirm_required,
            ..
        } => {
            assert_eq!(session_id, sid);
            assert!(!confirm_required);
            granted
        }
        other => panic!("{other:?}"),
    };
    assert!(granted.contains(Permission::RemoteSession));
    assert!(granted.contains(Permission::ViewScreen));
    assert!(!granted.contains(Permission::FileTransfer));
    match recv(&mut host).await {
        ControlMessage::SessionOffer {
            session_id, guest, ..
        } => {
            assert_eq!(session_id, sid);
            assert_eq!(guest.user_id, w.bob);
        }
        other => panic!("{other:?}"),
    }
    assert!(w.hub.session_host_is(sid, w.server));
    assert!(w.hub.session_event(sid, SessionEvent::HostAccepted));
    for (rx, side, peer_key) in [
        (&mut host, Side::Host, [5u8; 32]),
        (&mut grx, Side::Guest, [7u8; 32]),
    ] {
        match recv(rx).await {
            ControlMessage::RelayAssignment {
                session_id,
                relay_addr,
                ticket,
                peer_static_key,
            } => {
                assert_eq!(session_id, sid);
                assert_eq!(relay_addr, "127.0.0.1:7001");
                assert_eq!(peer_static_key, peer_key);
                let now_ms = w.dir.now().as_millisecond() as u64;
                let t = w
                    .verifier
                    .verify(&ticket, switchboard_codec::RelayId(1), side, now_ms)
                    .unwrap();
                assert_eq!(t.side, side);
                assert_eq!(t.session_id, sid);
                assert_eq!(t.tenant_id, w.tenant);
                assert_eq!(t.permissions, granted);
                assert!(t.expires_at_unix_ms > now_ms);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(w.relays.assigned(switchboard_codec::RelayId(1)), Some(1));
    w.hub
        .session_event(sid, SessionEvent::RelayBound { side: Side::Host });
    w.hub
        .session_event(sid, SessionEvent::RelayBound { side: Side::Guest });
    w.hub.session_event(
        sid,
        SessionEvent::RelayRecord(RelayRecord {
            bytes: 123_456,
            duration: Duration::from_secs(90),
            reason: ErrorCode::PeerClosed,
        }),
    );
    crate::support::eventually("session gone", || w.hub.session_count() == 0).await;
    assert_eq!(w.relays.assigned(switchboard_codec::RelayId(1)), Some(0));
    let mut trail = Vec::new();
    for _ in 0..500 {
        trail = w.audit(Some(sid)).await;
        if trail.iter().any(|r| r.what.contains("123456 bytes")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let whats: Vec<&str> = trail.iter().map(|r| r.what.as_str()).collect();
    for needle in [
        "authorized",
        "accepted",
        "relay 1 assigned",
        "both sides bound at relay 1",
        "active",
        "123456 bytes in 90000 ms",
    ] {
        assert!(
            whats.iter().any(|w| w.contains(needle)),
            "{needle} in {whats:?}"
        );
    }
    crate::support::eventually("session actor stopped", || {
        w.hub.counts().sessions == baseline.sessions
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_flow_redb() {
    let w = World::redb().await;
    permanent_flow(&w).await;
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_by_guest_tells_host_and_bind_timeout() {
    let mut cfg = crate::support::config();
    cfg.bind_timeout = Duration::from_millis(200);
    let w = World::redb_with(cfg).await;
    let (_srv, mut host) = w.connect(w.server, HostState::default()).await;
    let (guest, mut grx) = w.guest(w.bob);
    let sid = w
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    recv(&mut host).await;
    w.hub
        .session_event(sid, SessionEvent::Cancelled { by: Side::Guest });
    match recv(&mut host).await {
        ControlMessage::SessionCancel { session_id, code } => {
            assert_eq!(session_id, sid);
            assert_eq!(code, ErrorCode::Cancelled);
        }
        other => panic!("{other:?}"),
    }
    recv(&mut grx).await; // SessionCreated
    // Bind timeout: accepted, assigned, nobody binds.
    let sid = w
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    recv(&mut host).await; // offer
    w.hub.session_event(sid, SessionEvent::HostAccepted);
    recv(&mut host).await; // assignment
    match recv(&mut host).await {
        ControlMessage::SessionCancel { code, .. } => assert_eq!(code, ErrorCode::BindTimeout),
        other => panic!("{other:?}"),
    }
    crate::support::eventually("relay released", || {
        w.relays.assigned(switchboard_codec::RelayId(1)) == Some(0)
    })
    .await;
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_package_disconnects_its_connected_devices() {
    let w = World::redb().await;
    let (_a, mut srv) = w.connect(w.server, HostState::default()).await;
    let (_b, mut kiosk) = w.connect(w.kiosk, HostState::default()).await;
    // 002/004 §4.3: "Revoking a package cuts off every device enrolled through it at once".
    w.dir
        .revoke_package(w.dir_tenant(), &w.owner, w.servers_package, "revoke")
        .await
        .unwrap();
    let seen = crate::support::closed(&mut srv).await;
    assert!(
        matches!(
            seen.last(),
            Some(ControlMessage::Error {
                code: ErrorCode::DeviceRevoked,
                ..
            })
        ),
        "{seen:?}"
    );
    // A device of another package stays connected and reachable.
    let (guest, _grx) = w.guest(w.bob);
    w.hub
        .request_session(w.request(&guest, w.kiosk))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut kiosk).await,
        ControlMessage::SessionOffer { .. }
    ));
    // The revoked device cannot come back.
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let err = w
        .hub
        .connect_device(switchboard_actors::DeviceConnection {
            tenant: w.tenant,
            device: w.server,
            tx,
            host_state: HostState::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DeviceRevoked);
    assert!(matches!(
        recv(&mut rx).await,
        ControlMessage::Error {
            code: ErrorCode::DeviceRevoked,
            ..
        }
    ));
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_disconnect_abandons_a_pending_session() {
    let w = World::redb().await;
    let (_srv, mut host) = w.connect(w.server, HostState::default()).await;
    let (guest, grx) = w.guest(w.bob);
    let sid = w
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    recv(&mut host).await; // offer
    drop(guest);
    drop(grx);
    assert_eq!(
        recv(&mut host).await,
        ControlMessage::SessionCancel {
            session_id: sid,
            code: ErrorCode::Cancelled
        }
    );
    crate::support::eventually("session gone", || w.hub.session_count() == 0).await;
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_reconnect_cancels_offers_of_the_old_connection() {
    let w = World::redb().await;
    let (_old, mut old_rx) = w.connect(w.server, HostState::default()).await;
    let (guest, mut grx) = w.guest(w.bob);
    let sid = w
        .hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    recv(&mut grx).await; // SessionCreated
    assert!(matches!(
        recv(&mut old_rx).await,
        ControlMessage::SessionOffer { .. }
    ));
    let (_new, mut new_rx) = w.connect(w.server, HostState::default()).await;
    assert_eq!(
        recv(&mut grx).await,
        ControlMessage::SessionCancel {
            session_id: sid,
            code: ErrorCode::DeviceOffline
        }
    );
    // The new connection gets new offers.
    w.hub
        .request_session(w.request(&guest, w.server))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut new_rx).await,
        ControlMessage::SessionOffer { .. }
    ));
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_rate_limit_per_tenant() {
    let mut cfg = crate::support::config();
    cfg.login_rate_burst = 2;
    cfg.login_rate_per_second = 0.0;
    let w = World::redb_with(cfg).await;
    w.hub.check_login_rate(w.tenant).await.unwrap();
    w.hub.check_login_rate(w.tenant).await.unwrap();
    assert_eq!(
        w.hub.check_login_rate(w.tenant).await.unwrap_err().code(),
        ErrorCode::RateLimited
    );
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_enrolled_after_the_last_snapshot_is_found() {
    // The tenant's policy rebuild is debounced; with a long debounce the snapshot cannot have
    // caught up when the request arrives, so the request must consult the directory.
    let w = World::redb_with(switchboard_actors::ActorConfig {
        rebuild_debounce: Duration::from_secs(60),
        ..crate::support::config()
    })
    .await;
    assert!(matches!(
        refused(&w, w.dave, w.server).await,
        ErrorCode::NotPermitted
    ));
    let t = w.dir_tenant();
    let servers = w
        .dir
        .device(t, switchboard_actors::ids::dir_device(w.server))
        .await
        .unwrap()
        .groups;
    let (_, key) = w
        .dir
        .create_package(
            t,
            &w.owner,
            switchboard_directory::service::NewPackage {
                name: "late".into(),
                enabled: true,
                target_group: servers.into_iter().next(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut e = crate::support::enrollment("late-1");
    e.keys.noise_x25519 = [9; 32];
    let late = w.dir.enroll_device(&key, e).await.unwrap();
    let late = switchboard_actors::ids::wire_device(late.id);
    let (_h, _hrx) = w.connect(late, HostState::default()).await;
    let (guest, mut grx) = w.guest(w.bob);
    w.hub
        .request_session(w.request(&guest, late))
        .await
        .expect("the new device is in the directory, so the request must not be device_unknown");
    assert!(matches!(
        recv(&mut grx).await,
        ControlMessage::SessionCreated { .. }
    ));
}
