//! Supervision: a panicking session actor ends its session for both sides with `internal`, is
//! audited and leaks nothing; a panicking device actor closes that Host's connection; neither
//! disturbs other sessions. Plus a Host reconnect storm that must leak no actor.

use std::collections::HashMap;
use std::time::Duration;

use switchboard_actors::{HostState, SessionEvent};
use switchboard_codec::{ControlMessage, ErrorCode, RelayId};
use tokio::sync::mpsc;

use crate::support::{World, closed, eventually, recv};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_panic_ends_that_session_only() {
    let w = World::redb().await;
    let base = w.hub.counts();
    let (_a, mut h1) = w.connect(w.server, HostState::default()).await;
    let (_b, mut h2) = w.connect(w.server2, HostState::default()).await;
    let (g1, mut g1rx) = w.guest(w.bob);
    let (g2, mut g2rx) = w.guest(w.bob);
    let s1 = w
        .hub
        .request_session(w.request(&g1, w.server))
        .await
        .unwrap();
    let s2 = w
        .hub
        .request_session(w.request(&g2, w.server2))
        .await
        .unwrap();
    recv(&mut h1).await;
    recv(&mut h2).await;
    recv(&mut g1rx).await;
    recv(&mut g2rx).await;
    w.hub.session_event(s1, SessionEvent::HostAccepted);
    recv(&mut h1).await;
    recv(&mut g1rx).await;
    assert_eq!(w.relays.assigned(RelayId(1)), Some(1));
    assert_eq!(w.hub.counts().sessions, base.sessions + 2);

    assert!(w.hub.inject_panic_session(s1));
    for rx in [&mut g1rx, &mut h1] {
        assert_eq!(
            recv(rx).await,
            ControlMessage::SessionCancel {
                session_id: s1,
                code: ErrorCode::Internal
            }
        );
    }
    eventually("panicked session cleaned up", || {
        w.hub.session_count() == 1 && w.hub.counts().sessions == base.sessions + 1
    })
    .await;
    assert_eq!(
        w.relays.assigned(RelayId(1)),
        Some(0),
        "relay slot released"
    );
    // The other session goes on.
    assert!(w.hub.session_event(s2, SessionEvent::HostAccepted));
    assert!(matches!(
        recv(&mut h2).await,
        ControlMessage::RelayAssignment { .. }
    ));
    assert!(matches!(
        recv(&mut g2rx).await,
        ControlMessage::RelayAssignment { .. }
    ));
    let mut audited = false;
    for _ in 0..500 {
        audited = w
            .audit(Some(s1))
            .await
            .iter()
            .any(|r| r.what.contains("internal failure"));
        if audited {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(audited, "the abort is audited");
    w.hub.session_event(
        s2,
        SessionEvent::Cancelled {
            by: switchboard_codec::Side::Guest,
        },
    );
    eventually("back to baseline", || {
        w.hub.counts().sessions == base.sessions
    })
    .await;
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_panic_closes_that_connection_only() {
    let w = World::redb().await;
    let base = w.hub.counts();
    let (_a, mut h1) = w.connect(w.server, HostState::default()).await;
    let (_b, mut h2) = w.connect(w.server2, HostState::default()).await;
    assert_eq!(w.presence.online_count(), 2);
    assert!(w.hub.inject_panic_device(w.server));
    // The actor's state (and the connection's sender) is dropped: the writer ends.
    closed(&mut h1).await;
    eventually("device actor gone", || {
        w.hub.counts().devices == base.devices + 1 && w.hub.device_count() == 1
    })
    .await;
    assert_eq!(w.presence.online_count(), 1);
    // The other Host still gets offers.
    let (g, _grx) = w.guest(w.bob);
    w.hub
        .request_session(w.request(&g, w.server2))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut h2).await,
        ControlMessage::SessionOffer { .. }
    ));
    // The panicked Host reconnects.
    let (_c, mut h1b) = w.connect(w.server, HostState::default()).await;
    w.hub
        .request_session(w.request(&g, w.server))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut h1b).await,
        ControlMessage::SessionOffer { .. }
    ));
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_storm_leaks_no_actor() {
    let w = World::redb().await;
    let base = w.hub.counts();
    let devices = [w.server, w.server2, w.kiosk];
    let mut current: HashMap<_, mpsc::Receiver<ControlMessage>> = HashMap::new();
    let mut replaced = Vec::new();
    for i in 0..1000usize {
        // Half the reconnects hit the same device, the rest rotate over three.
        let d = if i % 2 == 0 {
            w.server
        } else {
            devices[(i / 2) % 3]
        };
        let (_r, rx) = w.connect(d, HostState::default()).await;
        if let Some(old) = current.insert(d, rx) {
            replaced.push(old);
        }
        if replaced.len() > 50 {
            for mut old in replaced.drain(..) {
                let seen = closed(&mut old).await;
                assert!(
                    matches!(
                        seen.last(),
                        Some(ControlMessage::Error {
                            code: ErrorCode::Cancelled,
                            ..
                        })
                    ),
                    "a replaced connection is told and closed: {seen:?}"
                );
            }
        }
    }
    for mut old in replaced.drain(..) {
        closed(&mut old).await;
    }
    eventually("one actor per connected device", || {
        w.hub.counts().devices == base.devices + 3 && w.hub.device_count() == 3
    })
    .await;
    assert_eq!(w.presence.online_count(), 3);
    drop(current);
    eventually("no device actor left", || {
        w.hub.counts().devices == base.devices && w.hub.device_count() == 0
    })
    .await;
    assert_eq!(w.presence.online_count(), 0);
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_actor_and_releases_relays() {
    let w = World::redb().await;
    let (_a, mut h1) = w.connect(w.server, HostState::default()).await;
    let (g, _grx) = w.guest(w.bob);
    let sid = w
        .hub
        .request_session(w.request(&g, w.server))
        .await
        .unwrap();
    recv(&mut h1).await;
    w.hub.session_event(sid, SessionEvent::HostAccepted);
    recv(&mut h1).await;
    assert_eq!(w.relays.assigned(RelayId(1)), Some(1));
    let c = w.hub.counts();
    assert!(c.tenants == 1 && c.devices == 1 && c.sessions == 1, "{c:?}");
    w.hub.shutdown().await;
    eventually("everything stopped", || {
        let c = w.hub.counts();
        c.tenants == 0 && c.devices == 0 && c.sessions == 0
    })
    .await;
    assert_eq!(w.hub.session_count(), 0);
    assert_eq!(w.hub.device_count(), 0);
    assert_eq!(w.relays.assigned(RelayId(1)), Some(0));
    assert_eq!(w.presence.online_count(), 0);
}
