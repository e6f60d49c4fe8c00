//! The whole pipe: Noise handshake, then mux frames sealed end to end.

use bytes::BytesMut;

use super::*;

fn sealed_pair(now: Instant) -> (SealedMux, SealedMux) {
    use crate::noise::{NoiseHandshake, generate_static_keypair};
    let session = crate::ids::SessionId([7_u8; 16]);
    let gk = generate_static_keypair().unwrap();
    let hk = generate_static_keypair().unwrap();
    let mut gh = NoiseHandshake::initiator(&gk.private, &hk.public, session).unwrap();
    let mut hh = NoiseHandshake::responder(&hk.private, &gk.public, session).unwrap();
    let mut wire = BytesMut::new();
    gh.write_message(&mut wire).unwrap();
    assert!(hh.read_message(&mut wire).unwrap());
    hh.write_message(&mut wire).unwrap();
    assert!(gh.read_message(&mut wire).unwrap());
    let g = Mux::new(cfg(MuxRole::Initiator), now).unwrap();
    let h = Mux::new(cfg(MuxRole::Responder), now).unwrap();
    (
        SealedMux::new(gh.into_transport().unwrap(), g),
        SealedMux::new(hh.into_transport().unwrap(), h),
    )
}

#[test]
fn mux_over_noise_end_to_end() {
    let now = t0();
    let (mut g, mut h) = sealed_pair(now);
    let (mut to_host, mut to_guest) = (BytesMut::new(), BytesMut::new());
    let ch = g
        .mux()
        .open(ChannelKind::Tunnel, b"127.0.0.1:5900")
        .unwrap();
    let payload: Vec<u8> = (0..700_000_u32).map(|i| (i * 7 % 256) as u8).collect();
    let mut sent = 0;
    let mut echoed = Vec::new();
    for _ in 0..10_000 {
        sent += g.mux().send(ch, &payload[sent..]).unwrap_or(0);
        g.poll_ciphertext(&mut to_host, BUDGET, now).unwrap();
        // Deliver in odd-sized pieces, as a socket would.
        let mut inbox = BytesMut::new();
        while !to_host.is_empty() {
            let piece = to_host.split_to(to_host.len().min(5_000));
            inbox.extend_from_slice(&piece);
            h.handle_ciphertext(&mut inbox, now).unwrap();
        }
        assert!(inbox.is_empty());
        let hm = h.mux();
        while let Some(ev) = hm.poll_event() {
            if let MuxEvent::OpenRequest { channel, .. } = ev {
                hm.accept(channel).unwrap();
            }
        }
        // The host echoes whatever it reads, as far as its send buffer allows.
        loop {
            let room = hm.send_capacity(ch).min(16 * 1024);
            if room == 0 {
                break;
            }
            match hm.recv(ch, room).unwrap() {
                Recv::Data(d) => assert_eq!(hm.send(ch, &d).unwrap(), d.len()),
                _ => break,
            }
        }
        h.poll_ciphertext(&mut to_guest, BUDGET, now).unwrap();
        g.handle_ciphertext(&mut to_guest, now).unwrap();
        while g.mux().poll_event().is_some() {}
        echoed.extend(read_all(g.mux(), ch).0);
        if echoed.len() == payload.len() {
            break;
        }
    }
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload);
    assert_eq!(
        g.transport().handshake_hash(),
        h.transport().handshake_hash()
    );
}

#[test]
fn tampered_ciphertext_fails_the_sealed_mux() {
    let now = t0();
    let (mut g, mut h) = sealed_pair(now);
    let ch = g.mux().open(ChannelKind::Tunnel, b"x").unwrap();
    g.mux().send(ch, b"payload").unwrap();
    let mut wire = BytesMut::new();
    g.poll_ciphertext(&mut wire, BUDGET, now).unwrap();
    let last = wire.len() - 1;
    wire[last] ^= 0x01;
    assert_eq!(
        h.handle_ciphertext(&mut wire, now),
        Err(SealedMuxError::Noise(crate::noise::NoiseError::Decrypt))
    );
}
