//! Confirm access (002/004 §5.5): accepted, denied, timed out (paused time), and the
//! locked / nobody-logged-in exceptions as reported by the Host.

use std::time::Duration;

use switchboard_actors::{HostState, SessionEvent};
use switchboard_codec::{ControlMessage, ErrorCode};

use crate::support::{World, recv};

async fn offer_needs_confirm(w: &World, state: HostState) -> bool {
    let (_k, mut host) = w.connect(w.kiosk, state).await;
    let (guest, _grx) = w.guest(w.bob);
    w.hub
        .request_session(w.request(&guest, w.kiosk))
        .await
        .unwrap();
    // A cancel of the previous call's session (its guest went away) may come first.
    loop {
        match recv(&mut host).await {
            ControlMessage::SessionOffer {
                confirm_required, ..
            } => return confirm_required,
            ControlMessage::SessionCancel { .. } => continue,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_accepted_and_denied() {
    let w = World::redb().await;
    let (_k, mut host) = w.connect(w.kiosk, HostState::default()).await;
    let (guest, mut grx) = w.guest(w.bob);
    // 002/004 §5.5: confirm access triggers if "enabled in any of their role assignments".
    let sid = w
        .hub
        .request_session(w.request(&guest, w.kiosk))
        .await
        .unwrap();
    assert!(matches!(
        recv(&mut grx).await,
        ControlMessage::SessionCreated {
            confirm_required: true,
            ..
        }
    ));
    recv(&mut host).await;
    w.hub.session_event(sid, SessionEvent::HostAccepted);
    assert!(matches!(
        recv(&mut host).await,
        ControlMessage::RelayAssignment { .. }
    ));
    assert!(matches!(
        recv(&mut grx).await,
        ControlMessage::RelayAssignment { .. }
    ));

    let sid = w
        .hub
        .request_session(w.request(&guest, w.kiosk))
        .await
        .unwrap();
    recv(&mut grx).await;
    recv(&mut host).await;
    w.hub.session_event(
        sid,
        SessionEvent::HostRejected {
            code: ErrorCode::ConfirmDenied,
        },
    );
    match recv(&mut grx).await {
        ControlMessage::SessionReject {
            session_id, code, ..
        } => {
            assert_eq!(session_id, sid);
            assert_eq!(code, ErrorCode::ConfirmDenied);
        }
        other => panic!("{other:?}"),
    }
    crate::support::eventually("denied session gone", || w.hub.session_count() == 1).await;
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "current_thread")]
async fn confirm_times_out_after_60_seconds() {
    let w = World::redb().await;
    let (_k, mut host) = w.connect(w.kiosk, HostState::default()).await;
    let (guest, mut grx) = w.guest(w.bob);
    tokio::time::pause();
    let sid = w
        .hub
        .request_session(w.request(&guest, w.kiosk))
        .await
        .unwrap();
    recv(&mut grx).await;
    recv(&mut host).await;
    // 002/004 §5.5 (digest): the local user has 60 s to answer.
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(grx.try_recv().is_err(), "nothing before 60 s");
    tokio::time::advance(Duration::from_secs(2)).await;
    match recv(&mut grx).await {
        ControlMessage::SessionCancel { session_id, code } => {
            assert_eq!(session_id, sid);
            assert_eq!(code, ErrorCode::ConfirmTimeout);
        }
        other => panic!("{other:?}"),
    }
    match recv(&mut host).await {
        ControlMessage::SessionCancel { code, .. } => assert_eq!(code, ErrorCode::ConfirmTimeout),
        other => panic!("{other:?}"),
    }
    tokio::time::resume();
    w.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_exception_only_when_the_host_reports_it() {
    // 002/004 §5.5: "Except when computer is locked" is honoured on Hosts that report their
    // state; "For other Hosts, the confirm access mechanism will always be triggered".
    let w = World::redb().await;
    let locked = HostState {
        reports_state: true,
        locked: true,
        no_user: false,
    };
    assert!(!offer_needs_confirm(&w, locked).await);
    let cannot_tell = HostState {
        reports_state: false,
        locked: true,
        no_user: true,
    };
    assert!(offer_needs_confirm(&w, cannot_tell).await);
    let unlocked = HostState {
        reports_state: true,
        locked: false,
        no_user: false,
    };
    assert!(offer_needs_confirm(&w, unlocked).await);
    w.hub.shutdown().await;
}
