//! A hostile or broken peer: raw frames into one mux must fail with typed errors.

use bytes::{Bytes, BytesMut};

use super::*;

type ErrorCheck = fn(&MuxError) -> bool;

#[test]
fn data_beyond_the_window_is_a_protocol_violation() {
    let (mut g, now) = victim(4096);
    let ch = ChannelId::new(2);
    let open = MuxFrame::Open {
        channel: ch,
        kind: ChannelKind::Tunnel,
        window: 1000,
        metadata: Bytes::new(),
    };
    g.handle_input(&encode(&[open]), now).unwrap();
    g.accept(ch).unwrap();
    let mut out = BytesMut::new();
    g.poll_transmit(&mut out, BUDGET, now).unwrap();
    assert_eq!(
        frames(&out),
        vec![MuxFrame::Accept {
            channel: ch,
            window: 4096
        }]
    );
    let full = MuxFrame::Data {
        channel: ch,
        data: Bytes::from(vec![0; 4096]),
    };
    g.handle_input(&encode(&[full]), now).unwrap();
    let extra = MuxFrame::Data {
        channel: ch,
        data: Bytes::from_static(b"!"),
    };
    let err = g.handle_input(&encode(&[extra]), now).unwrap_err();
    assert_eq!(
        err,
        MuxError::FlowControlViolation {
            channel: ch,
            len: 1,
            window: 0
        }
    );
    assert!(err.is_protocol_violation());
    assert_eq!(g.handle_input(b"x", now), Err(MuxError::Failed));
    // A failed mux refuses all further work.
    assert_eq!(g.send(ch, &[1; 5000]), Err(MuxError::Failed));
}

#[test]
fn sender_respects_the_window_the_peer_advertised() {
    let (mut g, now) = victim(4096);
    let ch = ChannelId::new(2);
    let open = MuxFrame::Open {
        channel: ch,
        kind: ChannelKind::Tunnel,
        window: 1000,
        metadata: Bytes::new(),
    };
    g.handle_input(&encode(&[open]), now).unwrap();
    g.accept(ch).unwrap();
    g.send(ch, &[1; 5000]).unwrap();
    let mut out = BytesMut::new();
    g.poll_transmit(&mut out, BUDGET, now).unwrap();
    let sent: usize = frames(&out)
        .iter()
        .map(|f| {
            if let MuxFrame::Data { data, .. } = f {
                data.len()
            } else {
                0
            }
        })
        .sum();
    assert_eq!(sent, 1000);
    let credit = MuxFrame::WindowCredit {
        channel: ch,
        credit: 500,
    };
    g.handle_input(&encode(&[credit]), now).unwrap();
    out.clear();
    g.poll_transmit(&mut out, BUDGET, now).unwrap();
    assert_eq!(
        frames(&out),
        vec![MuxFrame::Data {
            channel: ch,
            data: Bytes::from(vec![1; 500])
        }]
    );
    let most = MuxFrame::WindowCredit {
        channel: ch,
        credit: u32::MAX,
    };
    let one_more = MuxFrame::WindowCredit {
        channel: ch,
        credit: 1,
    };
    assert_eq!(
        g.handle_input(&encode(&[most, one_more]), now),
        Err(MuxError::WindowOverflow(ch))
    );
}

#[test]
fn ordering_and_id_violations_are_typed() {
    let open = |id| MuxFrame::Open {
        channel: ChannelId::new(id),
        kind: ChannelKind::Tunnel,
        window: 1000,
        metadata: Bytes::new(),
    };
    let data = |id| MuxFrame::Data {
        channel: ChannelId::new(id),
        data: Bytes::from_static(b"x"),
    };
    let cases: Vec<(Vec<MuxFrame>, ErrorCheck)> = vec![
        (vec![open(3)], |e| {
            matches!(e, MuxError::BadChannelId { .. })
        }),
        (vec![open(4), open(2)], |e| {
            matches!(e, MuxError::BadChannelId { .. })
        }),
        (vec![open(4), open(4)], |e| {
            matches!(e, MuxError::BadChannelId { .. })
        }),
        (vec![open(2), data(2)], |e| {
            matches!(e, MuxError::UnexpectedFrame { .. })
        }),
        (vec![data(100)], |e| {
            matches!(e, MuxError::UnexpectedFrame { .. })
        }),
        (vec![data(99)], |e| {
            matches!(e, MuxError::UnexpectedFrame { .. })
        }),
        (
            vec![MuxFrame::Accept {
                channel: ChannelId::new(2),
                window: 1,
            }],
            |e| matches!(e, MuxError::UnexpectedFrame { .. }),
        ),
        (
            vec![
                open(2),
                MuxFrame::Eof {
                    channel: ChannelId::new(2),
                },
                MuxFrame::Eof {
                    channel: ChannelId::new(2),
                },
            ],
            |e| matches!(e, MuxError::UnexpectedFrame { why: "twice", .. }),
        ),
    ];
    for (frames, check) in cases {
        let (mut g, now) = victim(4096);
        let err = g.handle_input(&encode(&frames), now).unwrap_err();
        assert!(check(&err), "{frames:?} gave {err:?}");
        assert!(err.is_protocol_violation());
    }
}

#[test]
fn metadata_limit_is_enforced_both_ways() {
    let (mut g, now) = victim(4096);
    assert!(matches!(
        g.open(ChannelKind::Tunnel, &[0; 1025]),
        Err(MuxError::MetadataTooLarge {
            len: 1025,
            max: 1024
        })
    ));
    // A peer configured with a larger limit gets a refusal, not a session error.
    let open = MuxFrame::Open {
        channel: ChannelId::new(2),
        kind: ChannelKind::Tunnel,
        window: 1,
        metadata: Bytes::from(vec![0; 2000]),
    };
    g.handle_input(&encode(&[open]), now).unwrap();
    assert!(g.poll_event().is_none());
    let mut out = BytesMut::new();
    g.poll_transmit(&mut out, BUDGET, now).unwrap();
    let sent = frames(&out);
    let [
        MuxFrame::Close {
            reason: CloseReason::Refused,
            message,
            ..
        },
    ] = sent.as_slice()
    else {
        panic!("{sent:?}");
    };
    assert!(message.contains("2000"), "{message}");
}

#[test]
fn peers_need_not_agree_on_frame_size() {
    let mut p = Pair::new();
    p.guest = Mux::new(
        MuxConfig {
            max_frame_payload: MAX_MUX_FRAME_PAYLOAD,
            ..cfg(MuxRole::Initiator)
        },
        p.now,
    )
    .unwrap();
    let ch = open_tunnel(&mut p, b"x");
    p.guest.send(ch, &[5; 200_000]).unwrap();
    p.pump();
    assert_eq!(p.host.buffered_inbound(ch), Some(200_000));
}

#[test]
fn channel_limit_refuses_then_fails() {
    let max = 4;
    let mut p = Pair::with(|c| c.max_channels = max);
    for _ in 0..max {
        p.guest.open(ChannelKind::Control, b"").unwrap();
    }
    assert_eq!(
        p.guest.open(ChannelKind::Control, b""),
        Err(MuxError::TooManyChannels { max })
    );

    // A peer that ignores the limit: first refused politely, then a violation.
    let (mut h, now) = {
        let now = t0();
        let mut c = cfg(MuxRole::Responder);
        c.max_channels = max;
        (Mux::new(c, now).unwrap(), now)
    };
    let open = |id| MuxFrame::Open {
        channel: ChannelId::new(id),
        kind: ChannelKind::Control,
        window: 1,
        metadata: Bytes::new(),
    };
    let first: Vec<MuxFrame> = (0..max as u32).map(|i| open(2 * i + 1)).collect();
    h.handle_input(&encode(&first), now).unwrap();
    h.handle_input(&encode(&[open(101)]), now).unwrap();
    let mut out = BytesMut::new();
    h.poll_transmit(&mut out, BUDGET, now).unwrap();
    assert!(frames(&out).iter().any(|f| matches!(
        f,
        MuxFrame::Close { channel, reason: CloseReason::TooManyChannels, .. } if channel.get() == 101
    )));
    let flood: Vec<MuxFrame> = (0..2 * max as u32).map(|i| open(201 + 2 * i)).collect();
    assert_eq!(
        h.handle_input(&encode(&flood), now),
        Err(MuxError::TooManyChannels { max })
    );
}
