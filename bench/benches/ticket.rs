//! Session-ticket benchmarks: ed25519 sign (broker side) and full verification (relay side:
//! parse, key lookup among two rotation keys, strict signature check, expiry/relay/side),
//! reported as operations per second.
//!
//! Nothing here asserts a time. Run
//! `cargo bench -p switchboard-bench --bench ticket -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard_codec::{
    PermissionSet, RelayId, SessionId, SessionTicket, Side, TenantId, TicketSigner, TicketVerifier,
};

const NOW_UNIX_MS: u64 = 1_800_000_000_000;

fn ticket() -> SessionTicket {
    SessionTicket {
        key_id: 2,
        session_id: SessionId([1; 16]),
        tenant_id: TenantId([2; 16]),
        side: Side::Host,
        relay_id: RelayId(7),
        permissions: PermissionSet::all_known(),
        byte_rate_limit: 10_000_000,
        expires_at_unix_ms: NOW_UNIX_MS + 60_000,
        nonce: [3; 16],
    }
}

fn tickets(c: &mut Criterion) {
    let old = TicketSigner::new(1, [0x11; 32]);
    let signer = TicketSigner::new(2, [0x22; 32]);
    let Ok(verifier) = TicketVerifier::new([(1, old.public_key()), (2, signer.public_key())])
    else {
        eprintln!("invalid verification keys");
        return;
    };
    let t = ticket();
    let signed = signer.sign(&t);

    let mut group = c.benchmark_group("ticket");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign", |b| b.iter(|| black_box(signer.sign(black_box(&t)))));
    group.bench_function("verify", |b| {
        b.iter(|| {
            black_box(
                verifier
                    .verify(black_box(&signed), RelayId(7), Side::Host, NOW_UNIX_MS)
                    .is_ok(),
            )
        })
    });
    let mut forged = signed.to_vec();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    group.bench_function("verify_forged", |b| {
        b.iter(|| {
            black_box(
                verifier
                    .verify(black_box(&forged), RelayId(7), Side::Host, NOW_UNIX_MS)
                    .is_err(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, tickets);
criterion_main!(benches);
