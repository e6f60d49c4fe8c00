//! Deterministic tests of the mux: two in-memory endpoints, no IO, simulated time.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

const BUDGET: usize = 64 * 1024;

/// An arbitrary origin; from here on time is simulated by adding durations.
#[allow(clippy::disallowed_methods)] // the one real clock read: a starting point, never waited on
fn t0() -> Instant {
    Instant::now()
}

type ErrorCheck = fn(&MuxError) -> bool;

fn cfg(role: MuxRole) -> MuxConfig {
    MuxConfig::new(role)
}

struct Pair {
    guest: Mux,
    host: Mux,
    now: Instant,
}

impl Pair {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl Fn(&mut MuxConfig)) -> Self {
        let now = t0();
        let mut g = cfg(MuxRole::Initiator);
        let mut h = cfg(MuxRole::Responder);
        tweak(&mut g);
        tweak(&mut h);
        Self {
            guest: Mux::new(g, now).unwrap(),
            host: Mux::new(h, now).unwrap(),
            now,
        }
    }

    /// Moves bytes both ways until neither side has anything to send (bounded).
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let a = transfer(&mut self.guest, &mut self.host, self.now).unwrap();
            let b = transfer(&mut self.host, &mut self.guest, self.now).unwrap();
            if a == 0 && b == 0 {
                return;
            }
        }
        panic!("pump did not settle");
    }
}

fn transfer(from: &mut Mux, to: &mut Mux, now: Instant) -> Result<usize, MuxError> {
    let mut buf = BytesMut::new();
    let n = from.poll_transmit(&mut buf, BUDGET, now)?;
    to.handle_input(&buf, now)?;
    Ok(n)
}

fn events(m: &mut Mux) -> Vec<MuxEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn read_all(m: &mut Mux, ch: ChannelId) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        match m.recv(ch, 10_000).unwrap() {
            Recv::Data(b) => out.extend_from_slice(&b),
            Recv::Pending => return (out, false),
            Recv::Eof => return (out, true),
        }
    }
}

fn frames(bytes: &[u8]) -> Vec<MuxFrame> {
    let mut buf = BytesMut::from(bytes);
    std::iter::from_fn(|| MuxFrame::decode(&mut buf, MAX_MUX_FRAME_PAYLOAD).unwrap()).collect()
}

fn encode(frames: &[MuxFrame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for f in frames {
        f.encode(&mut buf).unwrap();
    }
    buf.to_vec()
}

/// Opens a tunnel from the guest and has the host accept it.
fn open_tunnel(p: &mut Pair, target: &[u8]) -> ChannelId {
    let ch = p.guest.open(ChannelKind::Tunnel, target).unwrap();
    p.pump();
    let ev = events(&mut p.host);
    assert_eq!(
        ev,
        vec![MuxEvent::OpenRequest {
            channel: ch,
            kind: ChannelKind::Tunnel,
            metadata: Bytes::copy_from_slice(target),
        }]
    );
    p.host.accept(ch).unwrap();
    p.pump();
    assert_eq!(events(&mut p.guest), vec![MuxEvent::Opened { channel: ch }]);
    ch
}

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
fn stalled_consumer_stalls_only_its_own_channel() {
    let window = 64 * 1024;
    let mut p = Pair::with(|c| c.initial_window = window);
    let stalled = open_tunnel(&mut p, b"a");
    let b = open_tunnel(&mut p, b"b");
    let c = open_tunnel(&mut p, b"c");
    let total = 1024 * 1024;
    let payload: Vec<u8> = (0..total).map(|i| (i % 253) as u8).collect();
    let mut offered = [0_usize; 3];
    let mut got_b = Vec::new();
    let mut got_c = Vec::new();
    for _ in 0..10_000 {
        for (i, ch) in [stalled, b, c].into_iter().enumerate() {
            let rest = &payload[offered[i]..];
            offered[i] += p.host.send(ch, rest).unwrap();
        }
        let moved = transfer(&mut p.host, &mut p.guest, p.now).unwrap()
            + transfer(&mut p.guest, &mut p.host, p.now).unwrap();
        // The guest application reads b and c, never the stalled channel.
        got_b.extend(read_all(&mut p.guest, b).0);
        got_c.extend(read_all(&mut p.guest, c).0);
        if moved == 0 && got_b.len() == total && got_c.len() == total {
            break;
        }
    }
    assert_eq!(got_b, payload);
    assert_eq!(got_c, payload);
    // The stalled channel holds exactly one window at the receiver; the sender is blocked.
    assert_eq!(p.guest.buffered_inbound(stalled), Some(window as usize));
    assert_eq!(p.host.send_window(stalled), Some(0));
    assert!(p.host.buffered_outbound(stalled).unwrap() > 0);
    // Once the application reads, the stalled channel resumes.
    let (first, _) = read_all(&mut p.guest, stalled);
    assert_eq!(first.len(), window as usize);
    p.pump();
    // Credit is granted in quarter-window steps, so at least three quarters come back.
    let refilled = p.guest.buffered_inbound(stalled).unwrap();
    assert!(
        refilled >= window as usize * 3 / 4 && refilled <= window as usize,
        "{refilled}"
    );
}

#[test]
fn sender_round_robins_between_busy_channels() {
    let mut p = Pair::new();
    let a = open_tunnel(&mut p, b"a");
    let b = open_tunnel(&mut p, b"b");
    p.guest.send(a, &[1; 200 * 1024]).unwrap();
    p.guest.send(b, &[2; 200 * 1024]).unwrap();
    let mut buf = BytesMut::new();
    p.guest.poll_transmit(&mut buf, BUDGET, p.now).unwrap();
    let order: Vec<u32> = frames(&buf)
        .iter()
        .filter_map(|f| match f {
            MuxFrame::Data { channel, data } => {
                assert!(data.len() <= 16 * 1024);
                Some(channel.get())
            }
            _ => None,
        })
        .collect();
    assert!(order.len() >= 3, "{order:?}");
    for pair in order.windows(2) {
        assert_ne!(
            pair[0], pair[1],
            "consecutive frames from one channel: {order:?}"
        );
    }
}

#[test]
fn reading_grants_credit_and_sender_never_exceeds_window() {
    let window = 32 * 1024;
    let mut p = Pair::with(|c| c.initial_window = window);
    let ch = open_tunnel(&mut p, b"x");
    p.guest.send(ch, &vec![7; 100 * 1024]).unwrap();
    p.pump();
    assert_eq!(p.guest.send_window(ch), Some(0));
    assert_eq!(p.host.buffered_inbound(ch), Some(window as usize));
    // Reading a quarter of the window triggers a WindowCredit frame.
    let Recv::Data(d) = p.host.recv(ch, window as usize / 4).unwrap() else {
        panic!()
    };
    assert_eq!(d.len(), window as usize / 4);
    let mut buf = BytesMut::new();
    p.host.poll_transmit(&mut buf, BUDGET, p.now).unwrap();
    assert_eq!(
        frames(&buf),
        vec![MuxFrame::WindowCredit {
            channel: ch,
            credit: window / 4
        }]
    );
}

#[test]
fn short_send_then_writable_event() {
    let mut p = Pair::with(|c| c.send_buffer = 40 * 1024);
    let ch = open_tunnel(&mut p, b"x");
    assert_eq!(p.guest.send(ch, &[0; 50 * 1024]).unwrap(), 40 * 1024);
    assert_eq!(p.guest.send_capacity(ch), 0);
    p.pump();
    assert!(events(&mut p.guest).contains(&MuxEvent::Writable { channel: ch }));
    assert!(p.guest.send_capacity(ch) > 0);
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

// ---- peer violations (raw frames into one mux) -----------------------------------------

fn victim(window: u32) -> (Mux, Instant) {
    let now = t0();
    let mut c = cfg(MuxRole::Initiator);
    c.initial_window = window;
    (Mux::new(c, now).unwrap(), now)
}

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
    let open = MuxFrame::Open {
        channel: ChannelId::new(2),
        kind: ChannelKind::Tunnel,
        window: 1,
        metadata: Bytes::from(vec![0; 2000]),
    };
    assert!(matches!(
        g.handle_input(&encode(&[open]), now),
        Err(MuxError::MetadataTooLarge { .. })
    ));
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

// ---- keep-alive -------------------------------------------------------------------------

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

// ---- the whole pipe: Noise handshake, then mux frames sealed end to end ------------------

#[test]
fn mux_over_noise_end_to_end() {
    use crate::noise::{NoiseHandshake, generate_static_keypair};
    let session = crate::ids::SessionId([7_u8; 16]);
    let gk = generate_static_keypair().unwrap();
    let hk = generate_static_keypair().unwrap();
    let mut gh = NoiseHandshake::initiator(&gk.private, &hk.public, session).unwrap();
    let mut hh = NoiseHandshake::responder(&hk.private, &gk.public, session).unwrap();
    let (mut to_host, mut to_guest) = (BytesMut::new(), BytesMut::new());
    gh.write_message(&mut to_host).unwrap();
    assert!(hh.read_message(&mut to_host).unwrap());
    hh.write_message(&mut to_guest).unwrap();
    assert!(gh.read_message(&mut to_guest).unwrap());
    let (mut gt, mut ht) = (gh.into_transport().unwrap(), hh.into_transport().unwrap());

    let now = t0();
    let mut g = Mux::new(cfg(MuxRole::Initiator), now).unwrap();
    let mut h = Mux::new(cfg(MuxRole::Responder), now).unwrap();
    let ch = g.open(ChannelKind::Tunnel, b"127.0.0.1:5900").unwrap();
    let payload: Vec<u8> = (0..700_000_u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut sent = 0;
    let mut echoed = Vec::new();
    let mut plain = BytesMut::new();
    for _ in 0..10_000 {
        sent += g.send(ch, &payload[sent..]).unwrap_or(0);
        plain.clear();
        if g.poll_transmit(&mut plain, BUDGET, now).unwrap() > 0 {
            gt.seal(&plain, &mut to_host).unwrap();
        }
        while let Some(p) = ht.open(&mut to_host).unwrap() {
            h.handle_input(&p, now).unwrap();
        }
        while let Some(ev) = h.poll_event() {
            if let MuxEvent::OpenRequest { channel, .. } = ev {
                h.accept(channel).unwrap();
            }
        }
        // The host echoes whatever it reads, as far as its send buffer allows.
        loop {
            let room = h.send_capacity(ch).min(16 * 1024);
            if room == 0 {
                break;
            }
            match h.recv(ch, room).unwrap() {
                Recv::Data(d) => assert_eq!(h.send(ch, &d).unwrap(), d.len()),
                _ => break,
            }
        }
        plain.clear();
        if h.poll_transmit(&mut plain, BUDGET, now).unwrap() > 0 {
            ht.seal(&plain, &mut to_guest).unwrap();
        }
        while let Some(p) = gt.open(&mut to_guest).unwrap() {
            g.handle_input(&p, now).unwrap();
        }
        while g.poll_event().is_some() {}
        echoed.extend(read_all(&mut g, ch).0);
        if echoed.len() == payload.len() {
            break;
        }
    }
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload);
}

// ---- properties --------------------------------------------------------------------------

fn p_mux(p: &mut Pair, guest: bool) -> &mut Mux {
    if guest { &mut p.guest } else { &mut p.host }
}

#[derive(Clone, Debug)]
enum Op {
    Open(bool, u8),
    Send(bool, usize, usize),
    Read(bool, usize, usize),
    Shutdown(bool, usize),
    Close(bool, usize),
    Pump,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 0..6_u8).prop_map(|(g, k)| Op::Open(g, k)),
        (any::<bool>(), 0..8_usize, 1..100_000_usize).prop_map(|(g, c, n)| Op::Send(g, c, n)),
        (any::<bool>(), 0..8_usize, 1..100_000_usize).prop_map(|(g, c, n)| Op::Read(g, c, n)),
        (any::<bool>(), 0..8_usize).prop_map(|(g, c)| Op::Shutdown(g, c)),
        (any::<bool>(), 0..8_usize).prop_map(|(g, c)| Op::Close(g, c)),
        Just(Op::Pump),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..3000), initiator in any::<bool>()) {
        let role = if initiator { MuxRole::Initiator } else { MuxRole::Responder };
        let now = t0();
        let mut m = Mux::new(cfg(role), now).unwrap();
        for piece in data.chunks(97) {
            if m.handle_input(piece, now).is_err() {
                break;
            }
        }
        let mut out = BytesMut::new();
        let _ = m.poll_transmit(&mut out, BUDGET, now);
    }

    /// Whatever two honest endpoints do through the API, neither sees a protocol violation.
    #[test]
    fn honest_peers_never_violate(ops in proptest::collection::vec(op(), 1..60)) {
        let mut p = Pair::with(|c| {
            c.initial_window = 8 * 1024;
            c.max_frame_payload = 4 * 1024;
            c.max_channels = 6;
        });
        let mut ids: Vec<ChannelId> = Vec::new();
        for op in ops {
            match op {
                Op::Open(g, k) => {
                    if let Ok(id) = p_mux(&mut p, g).open(ChannelKind::from_number(k), b"t") {
                        ids.push(id);
                    }
                }
                Op::Send(g, c, n) => if let Some(&id) = ids.get(c) {
                    let _ = p_mux(&mut p, g).send(id, &vec![1; n]);
                },
                Op::Read(g, c, n) => if let Some(&id) = ids.get(c) {
                    let _ = p_mux(&mut p, g).recv(id, n);
                },
                Op::Shutdown(g, c) => if let Some(&id) = ids.get(c) {
                    let _ = p_mux(&mut p, g).shutdown_write(id);
                },
                Op::Close(g, c) => if let Some(&id) = ids.get(c) {
                    let _ = p_mux(&mut p, g).close(id, CloseReason::Normal, "bye");
                },
                Op::Pump => {
                    for _ in 0..50 {
                        let a = transfer(&mut p.guest, &mut p.host, p.now);
                        prop_assert!(a.is_ok(), "{a:?}");
                        let b = transfer(&mut p.host, &mut p.guest, p.now);
                        prop_assert!(b.is_ok(), "{b:?}");
                        for g in [true, false] {
                            while let Some(ev) = p_mux(&mut p, g).poll_event() {
                                if let MuxEvent::OpenRequest { channel, .. } = ev {
                                    ids.push(channel);
                                    p_mux(&mut p, g).accept(channel).unwrap();
                                }
                            }
                        }
                        if a == Ok(0) && b == Ok(0) {
                            break;
                        }
                    }
                }
            }
        }
    }
}
