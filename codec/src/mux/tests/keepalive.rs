//! Keep-alive timers and configuration checks.

use std::time::Duration;

use bytes::BytesMut;

use super::*;

#[test]
fn keepalive_pings_when_idle_and_times_out_a_silent_peer() {
    let mut p = Pair::with(|c| {
        c.keepalive_interval = Some(Duration::from_secs(10));
        c.peer_timeout = Some(Duration::from_secs(30));
    });
    let start = p.now;
    assert_eq!(
        p.guest.poll_timeout(),
        Some(start + Duration::from_secs(10))
    );
    p.now = start + Duration::from_secs(10);
    p.guest.handle_timeout(p.now).unwrap();
    let mut buf = BytesMut::new();
    p.guest.poll_transmit(&mut buf, BUDGET, p.now).unwrap();
    assert_eq!(frames(&buf), vec![MuxFrame::Ping { token: 1 }]);
    p.host.handle_input(&buf, p.now).unwrap();
    p.pump();
    assert_eq!(events(&mut p.guest), vec![MuxEvent::Pong { token: 1 }]);
    assert_eq!(
        p.guest.poll_timeout(),
        Some(p.now + Duration::from_secs(10))
    );
    // Unsolicited or stale pongs produce no event.
    p.guest
        .handle_input(&encode(&[MuxFrame::Pong { token: 9 }]), p.now)
        .unwrap();
    assert!(events(&mut p.guest).is_empty());

    // The host hears nothing more for 30 s.
    let silent = p.now + Duration::from_secs(30);
    p.host
        .handle_timeout(silent - Duration::from_millis(1))
        .unwrap();
    assert_eq!(
        p.host.handle_timeout(silent),
        Err(MuxError::KeepaliveTimeout)
    );
    assert!(p.host.is_failed());
}

#[test]
fn config_is_validated() {
    let now = t0();
    let bad: Vec<fn(&mut MuxConfig)> = vec![
        |c| c.initial_window = 0,
        |c| c.max_frame_payload = 100,
        |c| c.max_frame_payload = 70_000,
        |c| c.max_channels = 0,
        |c| c.max_metadata = 16 * 1024,
        |c| c.keepalive_interval = Some(Duration::ZERO),
    ];
    for tweak in bad {
        let mut c = cfg(MuxRole::Initiator);
        tweak(&mut c);
        assert!(matches!(Mux::new(c, now), Err(MuxError::InvalidConfig(_))));
    }
}
