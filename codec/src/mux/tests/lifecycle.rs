//! Channel life cycle: open, accept, half-close, reset, refusal, cleanup.

use bytes::BytesMut;

use super::*;

#[test]
fn open_accept_data_half_close_and_cleanup() {
    let mut p = Pair::new();
    let ch = p.guest.open(ChannelKind::Tunnel, b"127.0.0.1:22").unwrap();
    assert_eq!(ch.get(), 1, "the guest allocates odd ids");
    // Data queued before acceptance waits for the Accept.
    assert_eq!(p.guest.send(ch, b"SSH-2.0-client\r\n").unwrap(), 16);
    p.pump();
    assert!(matches!(
        events(&mut p.host).as_slice(),
        [MuxEvent::OpenRequest { .. }]
    ));
    assert_eq!(p.host.buffered_inbound(ch), Some(0));
    p.host.accept(ch).unwrap();
    p.pump();
    assert_eq!(events(&mut p.guest), vec![MuxEvent::Opened { channel: ch }]);
    assert_eq!(
        events(&mut p.host),
        vec![MuxEvent::Readable { channel: ch }]
    );
    assert_eq!(
        read_all(&mut p.host, ch),
        (b"SSH-2.0-client\r\n".to_vec(), false)
    );

    // Guest half-closes; the host can still answer.
    p.guest.shutdown_write(ch).unwrap();
    assert!(p.guest.send(ch, b"late").is_err());
    p.pump();
    assert_eq!(read_all(&mut p.host, ch), (Vec::new(), true));
    p.host.send(ch, b"SSH-2.0-server\r\n").unwrap();
    p.host.shutdown_write(ch).unwrap();
    p.pump();
    assert_eq!(
        read_all(&mut p.guest, ch),
        (b"SSH-2.0-server\r\n".to_vec(), true)
    );
    assert_eq!(p.guest.channel_count(), 0);
    assert_eq!(p.host.channel_count(), 0);
}

#[test]
fn host_opens_even_ids_and_ids_increase() {
    let mut p = Pair::new();
    let a = p.host.open(ChannelKind::Control, b"").unwrap();
    let b = p.host.open(ChannelKind::Control, b"").unwrap();
    assert_eq!((a.get(), b.get()), (2, 4));
    p.pump();
    assert_eq!(events(&mut p.guest).len(), 2);
}

#[test]
fn reserved_kinds_are_refused_with_a_clear_reason() {
    for kind in [
        ChannelKind::Screen,
        ChannelKind::Input,
        ChannelKind::Clipboard,
        ChannelKind::FileTransfer,
        ChannelKind::Unknown(42),
    ] {
        let mut p = Pair::new();
        let ch = p.guest.open(kind, b"").unwrap();
        p.pump();
        assert!(
            events(&mut p.host).is_empty(),
            "the host application never sees it"
        );
        let ev = events(&mut p.guest);
        let [
            MuxEvent::Closed {
                channel,
                reason,
                message,
            },
        ] = ev.as_slice()
        else {
            panic!("expected one Closed event, got {ev:?}");
        };
        assert_eq!(*channel, ch);
        assert_eq!(*reason, CloseReason::UnsupportedKind);
        if kind.is_reserved() {
            assert!(
                message.contains(kind.name()) && message.contains("reserved"),
                "{message}"
            );
        } else {
            assert!(
                message.contains("42") && message.contains("unknown"),
                "{message}"
            );
        }
        assert_eq!((p.guest.channel_count(), p.host.channel_count()), (0, 0));
    }
}

#[test]
fn reset_reaches_the_peer_and_late_frames_are_ignored() {
    let mut p = Pair::new();
    let ch = open_tunnel(&mut p, b"x");
    // Both act at once: the guest sends, the host resets.
    p.guest.send(ch, b"in flight").unwrap();
    p.guest.shutdown_write(ch).unwrap();
    p.host
        .close(ch, CloseReason::Aborted, "target socket reset")
        .unwrap();
    p.pump();
    assert_eq!(
        events(&mut p.guest),
        vec![MuxEvent::Closed {
            channel: ch,
            reason: CloseReason::Aborted,
            message: "target socket reset".into(),
        }]
    );
    assert!(events(&mut p.host).is_empty());
    assert_eq!((p.guest.channel_count(), p.host.channel_count()), (0, 0));
    assert_eq!(p.guest.send(ch, b"x"), Err(MuxError::UnknownChannel(ch)));
}

#[test]
fn refusal_by_the_application() {
    let mut p = Pair::new();
    let ch = p.guest.open(ChannelKind::Tunnel, b"10.0.0.1:3389").unwrap();
    p.pump();
    events(&mut p.host);
    p.host
        .close(
            ch,
            CloseReason::NotPermitted,
            "tunnels to 10.0.0.1 are not allowed",
        )
        .unwrap();
    p.pump();
    assert!(matches!(
        events(&mut p.guest).as_slice(),
        [MuxEvent::Closed {
            reason: CloseReason::NotPermitted,
            ..
        }]
    ));
}

#[test]
fn close_before_open_was_sent_sends_nothing() {
    let mut p = Pair::new();
    let ch = p.guest.open(ChannelKind::Tunnel, b"x").unwrap();
    p.guest.close(ch, CloseReason::Normal, "").unwrap();
    let mut buf = BytesMut::new();
    assert_eq!(p.guest.poll_transmit(&mut buf, BUDGET, p.now).unwrap(), 0);
    assert_eq!(p.guest.channel_count(), 0);
}

#[test]
fn eof_before_acceptance_waits_for_accept() {
    let mut p = Pair::new();
    let ch = p.guest.open(ChannelKind::Control, b"").unwrap();
    p.guest.shutdown_write(ch).unwrap();
    p.pump();
    events(&mut p.host);
    p.host.accept(ch).unwrap();
    p.pump();
    assert_eq!(read_all(&mut p.host, ch), (Vec::new(), true));
}

#[test]
fn close_message_is_truncated_on_a_char_boundary() {
    let mut p = Pair::new();
    let ch = open_tunnel(&mut p, b"x");
    let long = "é".repeat(200);
    p.host.close(ch, CloseReason::Aborted, &long).unwrap();
    p.pump();
    let ev = events(&mut p.guest);
    let [MuxEvent::Closed { message, .. }] = ev.as_slice() else {
        panic!("{ev:?}")
    };
    assert_eq!(message.len(), MAX_CLOSE_MESSAGE);
}
