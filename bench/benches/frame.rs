//! Frame and control-message codec benchmarks: encode and decode of frames with 64 B, 1 KiB and
//! 64 KiB payloads (bytes/s), and a `RelayBind` message round trip (messages/s).
//!
//! Nothing here asserts a time. Run
//! `cargo bench -p switchboard-bench --bench frame -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use switchboard_codec::frame::DEFAULT_MAX_FRAME;
use switchboard_codec::{ControlMessage, Frame, FrameDecoder, FrameKind, Side};

const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (DEFAULT_MAX_FRAME, "64KiB")];

fn frame_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_encode");
    for (size, label) in SIZES {
        let frame = Frame::new(FrameKind::Control, Bytes::from(vec![0xa5; size]));
        group.throughput(Throughput::Bytes(frame.encoded_len() as u64));
        let mut dst = BytesMut::with_capacity(frame.encoded_len());
        group.bench_function(label, |b| {
            b.iter(|| {
                dst.clear();
                black_box(&frame).encode(&mut dst);
                black_box(dst.len())
            })
        });
    }
    group.finish();
}

fn frame_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_decode");
    for (size, label) in SIZES {
        let wire = Frame::new(FrameKind::Control, Bytes::from(vec![0xa5; size])).to_bytes();
        group.throughput(Throughput::Bytes(wire.len() as u64));
        let mut dec = FrameDecoder::default();
        // The decoder splits frames off the front of the receive buffer without copying; the
        // copy into that buffer (what a socket read does) is part of the measurement.
        group.bench_function(label, |b| {
            b.iter_batched_ref(
                || BytesMut::with_capacity(wire.len()),
                |buf| {
                    buf.extend_from_slice(black_box(&wire));
                    black_box(dec.decode(buf).ok().flatten())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn message_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("control_message");
    let msg = ControlMessage::RelayBind {
        side: Side::Guest,
        ticket: Bytes::from(vec![7; 150]),
    };
    group.throughput(Throughput::Elements(1));
    group.bench_function("relay_bind_encode", |b| {
        b.iter(|| black_box(black_box(&msg).to_frame().ok()))
    });
    let payload = msg.to_bytes().unwrap_or_default();
    group.bench_function("relay_bind_decode", |b| {
        b.iter(|| black_box(ControlMessage::decode(black_box(&payload)).ok()))
    });
    group.finish();
}

criterion_group!(benches, frame_encode, frame_decode, message_round_trip);
criterion_main!(benches);
