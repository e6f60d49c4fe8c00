//! Deterministic tests of the mux: two in-memory endpoints, no IO, simulated time.
//!
//! `lifecycle` (open, accept, half-close, reset, refusal), `flow` (windows, fairness),
//! `violations` (a hostile peer's frames), `keepalive` (timers, config), `sealed` (over Noise),
//! `props` (property tests). Shared helpers live here.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::*;

mod flow;
mod keepalive;
mod lifecycle;
mod props;
mod sealed;
mod violations;

const BUDGET: usize = 64 * 1024;

/// An arbitrary origin; from here on time is simulated by adding durations.
#[allow(clippy::disallowed_methods)] // the one real clock read: a starting point, never waited on
fn t0() -> Instant {
    Instant::now()
}

fn cfg(role: MuxRole) -> MuxConfig {
    MuxConfig::new(role)
}

struct Pair {
    guest: Mux,
    host: Mux,
    now: Instant,
}

impl Pair {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl Fn(&mut MuxConfig)) -> Self {
        let now = t0();
        let mut g = cfg(MuxRole::Initiator);
        let mut h = cfg(MuxRole::Responder);
        tweak(&mut g);
        tweak(&mut h);
        Self {
            guest: Mux::new(g, now).unwrap(),
            host: Mux::new(h, now).unwrap(),
            now,
        }
    }

    /// Moves bytes both ways until neither side has anything to send (bounded).
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let a = transfer(&mut self.guest, &mut self.host, self.now).unwrap();
            let b = transfer(&mut self.host, &mut self.guest, self.now).unwrap();
            if a == 0 && b == 0 {
                return;
            }
        }
        panic!("pump did not settle");
    }
}

fn transfer(from: &mut Mux, to: &mut Mux, now: Instant) -> Result<usize, MuxError> {
    let mut buf = BytesMut::new();
    let n = from.poll_transmit(&mut buf, BUDGET, now)?;
    to.handle_input(&buf, now)?;
    Ok(n)
}

fn events(m: &mut Mux) -> Vec<MuxEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn read_all(m: &mut Mux, ch: ChannelId) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        match m.recv(ch, 10_000).unwrap() {
            Recv::Data(b) => out.extend_from_slice(&b),
            Recv::Pending => return (out, false),
            Recv::Eof => return (out, true),
        }
    }
}

fn frames(bytes: &[u8]) -> Vec<MuxFrame> {
    let mut buf = BytesMut::from(bytes);
    std::iter::from_fn(|| MuxFrame::decode(&mut buf, MAX_MUX_FRAME_PAYLOAD).unwrap()).collect()
}

fn encode(frames: &[MuxFrame]) -> Vec<u8> {
    let mut buf = BytesMut::new();
    for f in frames {
        f.encode(&mut buf).unwrap();
    }
    buf.to_vec()
}

/// Opens a tunnel from the guest and has the host accept it.
fn open_tunnel(p: &mut Pair, target: &[u8]) -> ChannelId {
    let ch = p.guest.open(ChannelKind::Tunnel, target).unwrap();
    p.pump();
    let ev = events(&mut p.host);
    assert_eq!(
        ev,
        vec![MuxEvent::OpenRequest {
            channel: ch,
            kind: ChannelKind::Tunnel,
            metadata: Bytes::copy_from_slice(target),
        }]
    );
    p.host.accept(ch).unwrap();
    p.pump();
    assert_eq!(events(&mut p.guest), vec![MuxEvent::Opened { channel: ch }]);
    ch
}

fn victim(window: u32) -> (Mux, Instant) {
    let now = t0();
    let mut c = cfg(MuxRole::Initiator);
    c.initial_window = window;
    (Mux::new(c, now).unwrap(), now)
}
