//! End-to-end channel benchmarks: Noise seal/open throughput at 1, 16 and 64 KiB chunks, the
//! mux frame codec, the sans-IO mux pipe (send → frames → input → read → credit), and the
//! same pipe sealed with Noise (`e2e_pipe`: the full per-byte cost at both endpoints).
//!
//! Figures are bytes of application plaintext per second. Nothing here asserts a time; run
//! `cargo bench -p switchboard-bench --bench noise -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput};
use switchboard_codec::SessionId;
use switchboard_codec::mux::{
    ChannelId, ChannelKind, MAX_MUX_FRAME_PAYLOAD, Mux, MuxConfig, MuxEvent, MuxFrame, MuxRole,
    Recv, SealedMux,
};
use switchboard_codec::noise::{NoiseHandshake, NoiseTransport, generate_static_keypair};

const CHUNKS: [usize; 3] = [1024, 16 * 1024, 64 * 1024];

/// Two transports after a real KK handshake.
fn transports() -> Result<(NoiseTransport, NoiseTransport)> {
    let guest = generate_static_keypair()?;
    let host = generate_static_keypair()?;
    let session = SessionId([9; 16]);
    let mut g = NoiseHandshake::initiator(&guest.private, &host.public, session)?;
    let mut h = NoiseHandshake::responder(&host.private, &guest.public, session)?;
    let mut wire = BytesMut::new();
    g.write_message(&mut wire)?;
    if !h.read_message(&mut wire)? {
        bail!("handshake message 1 incomplete");
    }
    h.write_message(&mut wire)?;
    if !g.read_message(&mut wire)? {
        bail!("handshake message 2 incomplete");
    }
    Ok((g.into_transport()?, h.into_transport()?))
}

/// Fails if `rx` can no longer open what `tx` seals (a benchmark that silently measured
/// failures would report nonsense).
fn check_in_sync(tx: &mut NoiseTransport, rx: &mut NoiseTransport) -> Result<()> {
    let mut wire = BytesMut::new();
    tx.seal(b"still in sync?", &mut wire)?;
    match rx.open(&mut wire)? {
        Some(p) if p.as_ref() == b"still in sync?" => Ok(()),
        other => bail!("transports out of sync: {other:?}"),
    }
}

fn bench_noise(c: &mut Criterion) -> Result<()> {
    let mut group = c.benchmark_group("noise");
    for size in CHUNKS {
        let plaintext = vec![0x5a_u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let mut wire = BytesMut::with_capacity(NoiseTransport::sealed_len(size));
        let (mut tx, _) = transports()?;
        group.bench_function(format!("seal/{}KiB", size / 1024), |b| {
            b.iter(|| {
                wire.clear();
                let sealed = tx.seal(black_box(&plaintext), &mut wire);
                black_box((sealed, wire.len()))
            });
        });
        // Open needs messages in nonce order: the setup seals the next one with a sender
        // whose nonce runs in lockstep with the receiver.
        let (mut tx2, mut rx2) = transports()?;
        group.bench_function(format!("open/{}KiB", size / 1024), |b| {
            b.iter_batched(
                || {
                    let mut w = BytesMut::with_capacity(NoiseTransport::sealed_len(size));
                    let _ = tx2.seal(&plaintext, &mut w);
                    w
                },
                |mut w| {
                    let mut n = 0;
                    while let Ok(Some(p)) = rx2.open(&mut w) {
                        n += p.len();
                    }
                    black_box(n)
                },
                BatchSize::SmallInput,
            );
        });
        check_in_sync(&mut tx2, &mut rx2)?;
        let (mut tx, mut rx) = transports()?;
        group.bench_function(format!("seal+open/{}KiB", size / 1024), |b| {
            b.iter(|| {
                wire.clear();
                let _ = tx.seal(black_box(&plaintext), &mut wire);
                let mut n = 0;
                while let Ok(Some(p)) = rx.open(&mut wire) {
                    n += p.len();
                }
                black_box(n)
            });
        });
        check_in_sync(&mut tx, &mut rx)?;
    }
    group.finish();
    Ok(())
}

fn bench_mux_frames(c: &mut Criterion) -> Result<()> {
    let mut group = c.benchmark_group("mux_frame");
    let size = 16 * 1024;
    let frame = MuxFrame::Data {
        channel: ChannelId::new(1),
        data: Bytes::from(vec![7_u8; size]),
    };
    group.throughput(Throughput::Bytes(size as u64));
    let mut buf = BytesMut::with_capacity(frame.encoded_len());
    group.bench_function("encode/data16KiB", |b| {
        b.iter(|| {
            buf.clear();
            let r = black_box(&frame).encode(&mut buf);
            black_box((r, buf.len()))
        });
    });
    let mut encoded = BytesMut::new();
    frame.encode(&mut encoded)?;
    let encoded = encoded.freeze();
    group.bench_function("decode/data16KiB", |b| {
        b.iter(|| {
            let mut src = BytesMut::from(&encoded[..]);
            black_box(MuxFrame::decode(&mut src, MAX_MUX_FRAME_PAYLOAD))
        });
    });
    group.finish();
    Ok(())
}

/// Guest and Host muxes with `channels` accepted tunnels.
fn mux_pair(channels: usize, now: Instant) -> Result<(Mux, Mux, Vec<ChannelId>)> {
    let mut g = Mux::new(MuxConfig::new(MuxRole::Initiator), now)?;
    let mut h = Mux::new(MuxConfig::new(MuxRole::Responder), now)?;
    let mut ids = Vec::new();
    for _ in 0..channels {
        ids.push(g.open(ChannelKind::Tunnel, b"127.0.0.1:22")?);
    }
    let mut buf = BytesMut::new();
    g.poll_transmit(&mut buf, 1 << 20, now)?;
    h.handle_input(&buf, now)?;
    while let Some(ev) = h.poll_event() {
        if let MuxEvent::OpenRequest { channel, .. } = ev {
            h.accept(channel)?;
        }
    }
    buf.clear();
    h.poll_transmit(&mut buf, 1 << 20, now)?;
    g.handle_input(&buf, now)?;
    while g.poll_event().is_some() {}
    if ids.iter().any(|id| g.send_window(*id).unwrap_or(0) == 0) {
        bail!("channels not open");
    }
    Ok((g, h, ids))
}

/// One round: the guest queues `per_channel` bytes on every channel, frames go to the host,
/// the host reads everything and its credit frames go back.
fn mux_round(
    g: &mut Mux,
    h: &mut Mux,
    ids: &[ChannelId],
    data: &[u8],
    wire: &mut BytesMut,
    now: Instant,
) -> Result<usize> {
    for id in ids {
        g.send(*id, data)?;
    }
    let mut read = 0;
    loop {
        wire.clear();
        if g.poll_transmit(wire, 256 * 1024, now)? == 0 {
            break;
        }
        h.handle_input(wire, now)?;
        while h.poll_event().is_some() {}
        for id in ids {
            while let Recv::Data(d) = h.recv(*id, usize::MAX)? {
                read += d.len();
            }
        }
        wire.clear();
        h.poll_transmit(wire, 256 * 1024, now)?;
        g.handle_input(wire, now)?;
        while g.poll_event().is_some() {}
    }
    Ok(read)
}

fn bench_mux_pipe(c: &mut Criterion, now: Instant) -> Result<()> {
    let mut group = c.benchmark_group("mux_pipe");
    let total = 256 * 1024;
    for channels in [1_usize, 8, 64] {
        let (mut g, mut h, ids) = mux_pair(channels, now)?;
        let data = vec![3_u8; total / channels];
        let mut wire = BytesMut::new();
        let moved = mux_round(&mut g, &mut h, &ids, &data, &mut wire, now)?;
        if moved != data.len() * channels {
            bail!(
                "mux round moved {moved} bytes, expected {}",
                data.len() * channels
            );
        }
        group.throughput(Throughput::Bytes((data.len() * channels) as u64));
        group.bench_function(format!("256KiB_over_{channels}ch"), |b| {
            b.iter(|| black_box(mux_round(&mut g, &mut h, &ids, &data, &mut wire, now).ok()));
        });
        let after = mux_round(&mut g, &mut h, &ids, &data, &mut wire, now)?;
        if after != data.len() * channels {
            bail!("mux pipe broke during the benchmark: moved {after} bytes");
        }
    }
    group.finish();
    Ok(())
}

/// Like `mux_round`, but every batch of frames is sealed and opened: the full per-byte cost
/// of the end-to-end channel at both endpoints (without sockets).
fn sealed_round(
    g: &mut SealedMux,
    h: &mut SealedMux,
    ids: &[ChannelId],
    data: &[u8],
    wire: &mut BytesMut,
    now: Instant,
) -> Result<usize> {
    for id in ids {
        g.mux().send(*id, data)?;
    }
    let mut read = 0;
    loop {
        wire.clear();
        if g.poll_ciphertext(wire, 256 * 1024, now)? == 0 {
            break;
        }
        h.handle_ciphertext(wire, now)?;
        let hm = h.mux();
        while hm.poll_event().is_some() {}
        for id in ids {
            while let Recv::Data(d) = hm.recv(*id, usize::MAX)? {
                read += d.len();
            }
        }
        wire.clear();
        h.poll_ciphertext(wire, 256 * 1024, now)?;
        g.handle_ciphertext(wire, now)?;
        while g.mux().poll_event().is_some() {}
    }
    Ok(read)
}

fn bench_sealed_pipe(c: &mut Criterion, now: Instant) -> Result<()> {
    let mut group = c.benchmark_group("e2e_pipe");
    let total = 256 * 1024;
    for channels in [1_usize, 8] {
        let (gm, hm, ids) = mux_pair(channels, now)?;
        let (gt, ht) = transports()?;
        let (mut g, mut h) = (SealedMux::new(gt, gm), SealedMux::new(ht, hm));
        let data = vec![3_u8; total / channels];
        let mut wire = BytesMut::new();
        group.throughput(Throughput::Bytes((data.len() * channels) as u64));
        group.bench_function(format!("256KiB_over_{channels}ch"), |b| {
            b.iter(|| black_box(sealed_round(&mut g, &mut h, &ids, &data, &mut wire, now).ok()));
        });
        let after = sealed_round(&mut g, &mut h, &ids, &data, &mut wire, now)?;
        if after != data.len() * channels {
            bail!("sealed pipe broke during the benchmark: moved {after} bytes");
        }
    }
    group.finish();
    Ok(())
}

fn main() -> Result<()> {
    // The one clock read: a fixed origin for the sans-IO mux, whose timers never fire here.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut c = Criterion::default().configure_from_args();
    bench_noise(&mut c).context("noise")?;
    bench_mux_frames(&mut c).context("mux frames")?;
    bench_mux_pipe(&mut c, now).context("mux pipe")?;
    bench_sealed_pipe(&mut c, now).context("sealed pipe")?;
    c.final_summary();
    Ok(())
}
