//! Fuzz target: `FrameDecoder` on arbitrary bytes, fed in two pieces. Must never panic, never
//! return a frame longer than the maximum, and never grow the input buffer.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use switchboard_codec::FrameDecoder;
use switchboard_codec::frame::DEFAULT_MAX_FRAME;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (a, b) = data.split_at(split);
    let mut dec = FrameDecoder::default();
    let mut buf = BytesMut::from(a);
    let mut seen = Vec::new();
    let mut step = |buf: &mut BytesMut, seen: &mut Vec<_>| {
        let cap = buf.capacity();
        while let Ok(Some(frame)) = dec.decode(buf) {
            assert!(frame.payload.len() <= DEFAULT_MAX_FRAME);
            seen.push(frame);
        }
        assert!(buf.capacity() <= cap);
    };
    step(&mut buf, &mut seen);
    buf.extend_from_slice(b);
    step(&mut buf, &mut seen);
    // Re-encoding what was decoded gives the bytes that were consumed.
    let mut again = BytesMut::new();
    for f in &seen {
        f.encode(&mut again);
    }
    assert!(data.starts_with(&again));
});
