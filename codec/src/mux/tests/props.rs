//! Property tests: arbitrary input never panics, honest peers never violate.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

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

/// Frames with small ids and sizes, so a random sequence often hits real channel states.
fn hostile_frame() -> impl Strategy<Value = MuxFrame> {
    let id = (0..10_u32).prop_map(ChannelId::new);
    let small = proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
    prop_oneof![
        (id.clone(), 0..7_u8, any::<u32>(), small.clone()).prop_map(|(c, k, w, m)| {
            MuxFrame::Open {
                channel: c,
                kind: ChannelKind::from_number(k),
                window: w,
                metadata: m,
            }
        }),
        (id.clone(), any::<u32>()).prop_map(|(c, w)| MuxFrame::Accept {
            channel: c,
            window: w
        }),
        (id.clone(), 1..20_000_usize).prop_map(|(c, n)| MuxFrame::Data {
            channel: c,
            data: Bytes::from(vec![0; n])
        }),
        id.clone().prop_map(|c| MuxFrame::Eof { channel: c }),
        (id.clone(), any::<u16>()).prop_map(|(c, r)| MuxFrame::Close {
            channel: c,
            reason: CloseReason::from_number(r),
            message: String::new()
        }),
        (id, any::<u32>()).prop_map(|(c, n)| MuxFrame::WindowCredit {
            channel: c,
            credit: n
        }),
        any::<u64>().prop_map(|token| MuxFrame::Ping { token }),
        any::<u64>().prop_map(|token| MuxFrame::Pong { token }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A hostile peer sending well-formed frames in any order: the mux either accepts them or
    /// fails with a typed error, never panics, and after an error refuses all work.
    #[test]
    fn hostile_frame_sequences_never_panic(
        frames in proptest::collection::vec(hostile_frame(), 1..40),
        initiator in any::<bool>(),
        app_ops in proptest::collection::vec(0..4_u8, 40),
    ) {
        let role = if initiator { MuxRole::Initiator } else { MuxRole::Responder };
        let now = t0();
        let mut m = Mux::new(MuxConfig { max_channels: 3, ..cfg(role) }, now).unwrap();
        let local = m.open(ChannelKind::Tunnel, b"t").unwrap();
        let mut out = BytesMut::new();
        for (frame, op) in frames.iter().zip(app_ops) {
            // Channel 0 for channel frames is encodable; the decoder must refuse it.
            let mut buf = BytesMut::new();
            frame.encode(&mut buf).unwrap();
            if let Err(err) = m.handle_input(&buf, now) {
                prop_assert!(err.is_protocol_violation(), "{err:?}");
                prop_assert_eq!(m.handle_input(b"", now), Err(MuxError::Failed));
                break;
            }
            while let Some(ev) = m.poll_event() {
                match (ev, op) {
                    (MuxEvent::OpenRequest { channel, .. }, 0 | 1) => { let _ = m.accept(channel); }
                    (MuxEvent::OpenRequest { channel, .. }, _) => { let _ = m.close(channel, CloseReason::Refused, "no"); }
                    (MuxEvent::Readable { channel }, _) => { let _ = m.recv(channel, 1000); }
                    _ => {}
                }
            }
            match op {
                0 => { let _ = m.send(local, &[1; 3000]); }
                1 => { let _ = m.shutdown_write(local); }
                _ => {}
            }
            out.clear();
            m.poll_transmit(&mut out, BUDGET, now).unwrap();
        }
    }

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
