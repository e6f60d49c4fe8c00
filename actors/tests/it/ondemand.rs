//! OnDemand (002/004 §6.2): the queue, start/reject, one connection per key, the 1 h queue
//! limit (paused time) and the 24 h key life (injected wall clock).

use std::time::Duration;

use switchboard_actors::{OnDemandAgent, RelayRecord, SessionEvent};
use switchboard_codec::message::DeviceInfo;
use switchboard_codec::{ControlMessage, ErrorCode};
use tokio::sync::mpsc;

use crate::support::{World, closed, recv};

fn agent(host: &str) -> (OnDemandAgent, mpsc::Receiver<ControlMessage>) {
    let (tx, rx) = mpsc::channel(16);
    (
        OnDemandAgent {
            info: DeviceInfo {
                hostname: host.into(),
                os: "Windows".into(),
                agent_version: "1.0".into(),
                logged_in_user: "enduser".into(),
            },
            static_key: [3; 32],
            tx,
        },
        rx,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_start_and_one_connection_per_key() {
    let w = World::redb().await;
    // 002/004 §6.2: creating a key needs the OnDemand flag and an OnDemand role assignment.
    assert_eq!(
        w.hub
            .ondemand_create_key(w.tenant, w.dave)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotPermitted
    );
    let od = w.hub.ondemand_create_key(w.tenant, w.bob).await.unwrap();
    assert_eq!(od.key.len(), 9);
    let (a, mut arx) = agent("pc-1");
    assert_eq!(w.hub.ondemand_join(&od.key, a).await.unwrap(), 1);
    assert_eq!(
        recv(&mut arx).await,
        ControlMessage::OnDemandQueued { position: 1 }
    );
    // 002/004: "valid only for one remote connection".
    let (a2, mut a2rx) = agent("pc-2");
    assert_eq!(
        w.hub.ondemand_join(&od.key, a2).await.unwrap_err().code(),
        ErrorCode::OndemandKeyInvalid
    );
    assert!(matches!(
        recv(&mut a2rx).await,
        ControlMessage::OnDemandRejected { .. }
    ));
    // The queue shows the waiting time and the viewer's permission set.
    let view = w.hub.ondemand_queue(w.tenant, w.bob).await.unwrap();
    assert_eq!(view.items.len(), 1);
    assert_eq!(view.items[0].hostname, "pc-1");
    assert_eq!(view.items[0].created_by, w.bob);
    assert!(!view.permissions.is_empty());
    let view = w.hub.ondemand_queue(w.tenant, w.dave).await.unwrap();
    assert!(view.items.is_empty(), "dave sees nothing");
    // dave cannot start it.
    let (dave, _drx) = w.guest(w.dave);
    assert_eq!(
        w.hub
            .ondemand_start(w.tenant, &od.key, dave, None)
            .await
            .unwrap_err()
            .code(),
        ErrorCode::NotPermitted
    );
    // bob starts it; the end user must allow.
    let (tech, mut trx) = w.guest(w.bob);
    let sid = w
        .hub
        .ondemand_start(w.tenant, &od.key, tech, Some("eu".into()))
        .await
        .unwrap();
    assert_eq!(
        recv(&mut arx).await,
        ControlMessage::OnDemandStarted { session_id: sid }
    );
    match recv(&mut arx).await {
        ControlMessage::SessionOffer {
            session_id,
            confirm_required,
            ..
        } => {
            assert_eq!(session_id, sid);
            assert!(
                confirm_required,
                "002/004: the end user must allow the session"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        recv(&mut trx).await,
        ControlMessage::SessionCreated { .. }
    ));
    w.hub.session_event(sid, SessionEvent::HostAccepted);
    match recv(&mut arx).await {
        ControlMessage::RelayAssignment {
            peer_static_key, ..
        } => assert_eq!(peer_static_key, [5; 32]),
        other => panic!("{other:?}"),
    }
    match recv(&mut trx).await {
        ControlMessage::RelayAssignment {
            peer_static_key, ..
        } => assert_eq!(peer_static_key, [3; 32]),
        other => panic!("{other:?}"),
    }
    w.hub.session_event(
        sid,
        SessionEvent::RelayRecord(RelayRecord {
            bytes: 10,
            duration: Duration::from_secs(1),
            reason: ErrorCode::PeerClosed,
        }),
    );
    crate::support::eventually("session ended", || w.hub.session_count() == 0).await;
    // "the key is gone when the session ends".
    let (a3, _a3rx) = agent("pc-3");
    assert_eq!(
        w.hub.ondemand_join(&od.key, a3).await.unwrap_err().code(),
        ErrorCode::OndemandKeyInvalid
    );
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_disconnects_agent_and_disables_key() {
    let w = World::redb().await;
    let od = w.hub.ondemand_create_key(w.tenant, w.bob).await.unwrap();
    let (a, mut arx) = agent("pc-1");
    w.hub.ondemand_join(&od.key, a).await.unwrap();
    recv(&mut arx).await;
    w.hub
        .ondemand_reject(w.tenant, w.bob, &od.key)
        .await
        .unwrap();
    // 002/004: rejected: "A new OnDemand session is necessary".
    let seen = closed(&mut arx).await;
    assert_eq!(
        seen,
        vec![ControlMessage::OnDemandRejected {
            code: ErrorCode::OndemandRejected
        }]
    );
    let (a2, _rx) = agent("pc-1");
    assert!(w.hub.ondemand_join(&od.key, a2).await.is_err());
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn queue_wait_is_limited_to_one_hour() {
    let w = World::redb().await;
    let od = w.hub.ondemand_create_key(w.tenant, w.bob).await.unwrap();
    let (a, mut arx) = agent("pc-1");
    w.hub.ondemand_join(&od.key, a).await.unwrap();
    recv(&mut arx).await;
    tokio::time::pause();
    // 002/004 §6.2: the agent waits in the queue for 1 h at most.
    tokio::time::advance(Duration::from_secs(3599)).await;
    assert!(arx.try_recv().is_err());
    tokio::time::advance(Duration::from_secs(2)).await;
    let seen = closed(&mut arx).await;
    assert_eq!(
        seen,
        vec![ControlMessage::OnDemandRejected {
            code: ErrorCode::OndemandQueueTimeout
        }]
    );
    tokio::time::resume();
    let view = w.hub.ondemand_queue(w.tenant, w.bob).await.unwrap();
    assert!(view.items.is_empty());
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_after_24_hours() {
    let w = World::redb().await;
    let od = w.hub.ondemand_create_key(w.tenant, w.bob).await.unwrap();
    // 002/004: "An OnDemand session key is valid 24h since it was created."
    w.advance_clock(jiff::SignedDuration::from_hours(24));
    let (a, mut arx) = agent("pc-1");
    assert_eq!(
        w.hub.ondemand_join(&od.key, a).await.unwrap_err().code(),
        ErrorCode::OndemandKeyExpired
    );
    assert_eq!(
        recv(&mut arx).await,
        ControlMessage::OnDemandRejected {
            code: ErrorCode::OndemandKeyExpired
        }
    );
    w.hub.shutdown().await;
}
