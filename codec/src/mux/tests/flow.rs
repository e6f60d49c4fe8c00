//! Flow control and fairness: windows, credit, round-robin, stalled consumers.

use bytes::BytesMut;

use super::*;

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
