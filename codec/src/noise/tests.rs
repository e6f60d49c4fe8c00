//! Tests of the Noise channel: handshakes in memory, tampering, chunking, arbitrary input.

use super::*;
use proptest::prelude::*;

const SESSION: SessionId = SessionId(*b"0123456789abcdef");

struct Keys {
    guest: StaticKeypair,
    host: StaticKeypair,
}

fn keys() -> Keys {
    Keys {
        guest: generate_static_keypair().unwrap(),
        host: generate_static_keypair().unwrap(),
    }
}

/// Runs the two-message handshake in memory; returns (guest, host) transports.
fn handshake(
    guest: NoiseHandshake,
    host: NoiseHandshake,
) -> Result<(NoiseTransport, NoiseTransport), NoiseError> {
    let (mut guest, mut host) = (guest, host);
    let mut wire = BytesMut::new();
    guest.write_message(&mut wire)?;
    assert!(host.read_message(&mut wire)?);
    host.write_message(&mut wire)?;
    assert!(guest.read_message(&mut wire)?);
    assert!(wire.is_empty());
    Ok((guest.into_transport()?, host.into_transport()?))
}

fn pair(k: &Keys) -> (NoiseTransport, NoiseTransport) {
    let g = NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION).unwrap();
    let h = NoiseHandshake::responder(&k.host.private, &k.guest.public, SESSION).unwrap();
    handshake(g, h).unwrap()
}

#[test]
fn handshake_then_both_directions() {
    let k = keys();
    let (mut g, mut h) = pair(&k);
    assert_eq!(g.handshake_hash(), h.handshake_hash());
    let mut wire = BytesMut::new();
    g.seal(b"hello host", &mut wire).unwrap();
    assert_eq!(h.open(&mut wire).unwrap().unwrap(), &b"hello host"[..]);
    h.seal(b"hello guest", &mut wire).unwrap();
    assert_eq!(g.open(&mut wire).unwrap().unwrap(), &b"hello guest"[..]);
    assert_eq!(g.open(&mut wire).unwrap(), None);
}

#[test]
fn handshake_messages_are_length_prefixed_48_bytes() {
    let k = keys();
    let mut g = NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION).unwrap();
    let mut wire = BytesMut::new();
    g.write_message(&mut wire).unwrap();
    assert_eq!(&wire[..2], &[0, 48]);
    assert_eq!(wire.len(), 50);
}

#[test]
fn for_side_maps_guest_to_initiator() {
    let k = keys();
    let g = NoiseHandshake::for_side(Side::Guest, &k.guest.private, &k.host.public, SESSION);
    let h = NoiseHandshake::for_side(Side::Host, &k.host.private, &k.guest.public, SESSION);
    let (g, h) = (g.unwrap(), h.unwrap());
    assert_eq!(
        (g.role(), h.role()),
        (NoiseRole::Initiator, NoiseRole::Responder)
    );
    handshake(g, h).unwrap();
}

#[test]
fn wrong_remote_key_fails_handshake() {
    let k = keys();
    let stranger = generate_static_keypair().unwrap();
    // The Guest believes the Host's key is someone else's.
    let g = NoiseHandshake::initiator(&k.guest.private, &stranger.public, SESSION).unwrap();
    let h = NoiseHandshake::responder(&k.host.private, &k.guest.public, SESSION).unwrap();
    assert_eq!(handshake(g, h).unwrap_err(), NoiseError::HandshakeFailed);
    // The Host believes the Guest's key is someone else's.
    let g = NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION).unwrap();
    let h = NoiseHandshake::responder(&k.host.private, &stranger.public, SESSION).unwrap();
    assert_eq!(handshake(g, h).unwrap_err(), NoiseError::HandshakeFailed);
}

#[test]
fn different_session_id_fails_handshake() {
    let k = keys();
    let mut other = SESSION;
    other.0[15] ^= 1;
    let g = NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION).unwrap();
    let h = NoiseHandshake::responder(&k.host.private, &k.guest.public, other).unwrap();
    assert_eq!(handshake(g, h).unwrap_err(), NoiseError::HandshakeFailed);
}

#[test]
fn tampered_handshake_message_fails() {
    let k = keys();
    for flip in [2, 20, 49] {
        let mut g = NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION).unwrap();
        let mut h = NoiseHandshake::responder(&k.host.private, &k.guest.public, SESSION).unwrap();
        let mut wire = BytesMut::new();
        g.write_message(&mut wire).unwrap();
        wire[flip] ^= 0x80;
        assert_eq!(
            h.read_message(&mut wire).unwrap_err(),
            NoiseError::HandshakeFailed
        );
    }
}

#[test]
fn tampered_transport_byte_fails_and_poisons() {
    let k = keys();
    let (mut g, mut h) = pair(&k);
    let mut wire = BytesMut::new();
    g.seal(b"attack at dawn", &mut wire).unwrap();
    wire[5] ^= 1;
    assert_eq!(h.open(&mut wire).unwrap_err(), NoiseError::Decrypt);
    let mut next = BytesMut::new();
    g.seal(b"x", &mut next).unwrap();
    assert_eq!(h.open(&mut next).unwrap_err(), NoiseError::ChannelFailed);
}

#[test]
fn replayed_or_reordered_message_fails() {
    let k = keys();
    let (mut g, mut h) = pair(&k);
    let mut first = BytesMut::new();
    let mut second = BytesMut::new();
    g.seal(b"one", &mut first).unwrap();
    g.seal(b"two", &mut second).unwrap();
    assert_eq!(h.open(&mut second).unwrap_err(), NoiseError::Decrypt);
}

#[test]
fn truncated_length_rejected() {
    let k = keys();
    let (_, mut h) = pair(&k);
    let mut wire = BytesMut::from(&[0_u8, 15, 1, 2, 3][..]);
    assert!(matches!(
        h.open(&mut wire),
        Err(NoiseError::BadLength { len: 15, .. })
    ));
}

#[test]
fn large_plaintext_is_chunked_and_partial_input_waits() {
    let k = keys();
    let (mut g, mut h) = pair(&k);
    let plaintext: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
    let mut wire = BytesMut::new();
    g.seal(&plaintext, &mut wire).unwrap();
    assert_eq!(wire.len(), NoiseTransport::sealed_len(plaintext.len()));
    // 200_000 bytes need 4 messages, the first three full.
    assert_eq!(&wire[..2], &65_535_u16.to_be_bytes());
    let mut received = Vec::new();
    let mut inbox = BytesMut::new();
    // Deliver in awkward slices to exercise the "need more bytes" path.
    for piece in wire.chunks(7_777) {
        inbox.extend_from_slice(piece);
        while let Some(p) = h.open(&mut inbox).unwrap() {
            assert!(p.len() <= MAX_PLAINTEXT_PER_MESSAGE);
            received.extend_from_slice(&p);
        }
    }
    assert_eq!(received, plaintext);
    assert!(inbox.is_empty());
}

#[test]
fn out_of_order_steps_are_refused() {
    let k = keys();
    let mut g = NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION).unwrap();
    let mut h = NoiseHandshake::responder(&k.host.private, &k.guest.public, SESSION).unwrap();
    let mut wire = BytesMut::new();
    assert!(matches!(
        h.write_message(&mut wire),
        Err(NoiseError::OutOfOrder(_))
    ));
    assert!(matches!(
        g.read_message(&mut wire),
        Err(NoiseError::OutOfOrder(_))
    ));
    assert!(!h.read_message(&mut wire).unwrap());
    assert_eq!(
        NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION)
            .unwrap()
            .into_transport()
            .unwrap_err(),
        NoiseError::HandshakeIncomplete
    );
}

#[test]
fn bytes_after_handshake_stay_for_the_transport() {
    let k = keys();
    let mut g = NoiseHandshake::initiator(&k.guest.private, &k.host.public, SESSION).unwrap();
    let mut h = NoiseHandshake::responder(&k.host.private, &k.guest.public, SESSION).unwrap();
    let mut to_host = BytesMut::new();
    g.write_message(&mut to_host).unwrap();
    assert!(h.read_message(&mut to_host).unwrap());
    let mut to_guest = BytesMut::new();
    h.write_message(&mut to_guest).unwrap();
    let mut ht = h.into_transport().unwrap();
    // The Host may send right after its handshake message, in the same write.
    ht.seal(b"early", &mut to_guest).unwrap();
    assert!(g.read_message(&mut to_guest).unwrap());
    let mut gt = g.into_transport().unwrap();
    assert_eq!(gt.open(&mut to_guest).unwrap().unwrap(), &b"early"[..]);
}

#[test]
fn keypair_from_private_matches_generated() {
    let kp = generate_static_keypair().unwrap();
    assert_eq!(StaticKeypair::from_private(&kp.private).unwrap(), kp);
    let private_hex: String = kp.private.iter().map(|b| format!("{b:02x}")).collect();
    assert!(!format!("{kp:?}").contains(&private_hex));
    assert!(format!("{kp:?}").contains("<redacted>"));
}

#[test]
fn prologue_layout() {
    let p = prologue(SESSION);
    assert_eq!(&p[..17], b"switchboard/e2e/1");
    assert_eq!(&p[17..], &SESSION.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn open_never_panics_on_arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let k = keys();
        let (_, mut h) = pair(&k);
        let mut buf = BytesMut::from(&data[..]);
        for _ in 0..10 {
            match h.open(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn handshake_read_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let k = keys();
        let mut h = NoiseHandshake::responder(&k.host.private, &k.guest.public, SESSION).unwrap();
        let mut buf = BytesMut::from(&data[..]);
        let _ = h.read_message(&mut buf);
    }

    #[test]
    fn seal_open_round_trip(data in proptest::collection::vec(any::<u8>(), 1..5000)) {
        let k = keys();
        let (mut g, mut h) = pair(&k);
        let mut wire = BytesMut::new();
        g.seal(&data, &mut wire).unwrap();
        prop_assert_eq!(h.open(&mut wire).unwrap().unwrap(), &data[..]);
    }
}
