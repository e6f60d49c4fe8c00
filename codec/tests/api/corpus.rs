//! Writes the fuzz seed corpus (`fuzz/corpus/<target>/`) from the unit-test vectors. Runs only
//! when `SWITCHBOARD_WRITE_CORPUS=1`, so ordinary test runs do not touch the tree:
//! `SWITCHBOARD_WRITE_CORPUS=1 cargo test -p switchboard-codec --test api corpus`.

use std::path::PathBuf;

use switchboard_codec::{Side, TicketSigner};

use crate::support::{sample_messages, ticket};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn write_fuzz_corpus() {
    if std::env::var_os("SWITCHBOARD_WRITE_CORPUS").is_none() {
        return;
    }
    for msg in sample_messages() {
        let name = format!("{:04x}-{}", msg.type_number(), msg.type_name());
        let payload = msg.to_bytes().unwrap();
        let framed = msg.to_frame().unwrap().to_bytes();
        write("control_message", &name, &payload);
        write("frame", &name, &framed);
        write("control_acceptor", &name, &framed);
        if matches!(msg.type_number() >> 8, 0x01) {
            write("relay_acceptor", &name, &framed);
        }
    }
    // The signer key of fuzz/fuzz_targets/ticket.rs: secret [1; 32], key id 1.
    let signer = TicketSigner::new(1, [1; 32]);
    for side in [Side::Host, Side::Guest] {
        write(
            "ticket",
            &format!("ticket-{side}"),
            &signer.sign(&ticket(side)),
        );
    }
}
