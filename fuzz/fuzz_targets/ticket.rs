//! Fuzz target: ticket parsing and verification on arbitrary bytes. Must never panic, and
//! nothing but a genuinely signed ticket may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_codec::{RelayId, SessionTicket, Side, TicketSigner, TicketVerifier};

fuzz_target!(|data: &[u8]| {
    // The corpus tickets are signed with secret [1; 32], key id 1.
    let signer = TicketSigner::new(1, [1; 32]);
    let verifier = TicketVerifier::new([(1, signer.public_key())]).expect("valid key");
    let parsed = SessionTicket::parse_unverified(data);
    for side in [Side::Host, Side::Guest] {
        if let Ok(t) = verifier.verify(data, RelayId(9), side, 0) {
            // Verified means parsed, and re-signing the same body gives the same bytes
            // (ed25519 signatures are deterministic).
            let (p, _) = parsed.clone().expect("verified tickets parse");
            assert_eq!(p, t);
            assert_eq!(&signer.sign(&t)[..], data);
        }
    }
});
