//! Fuzz target: a `RelayAcceptor` fed arbitrary bytes in chunks, with accept/refuse/timeout
//! interleaved. Must never panic nor hold more than the leftover cap.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_codec::{AcceptorEvent, ErrorCode, RelayAcceptor, RelayHandshakeConfig};

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods)] // a base for simulated time
    let now = Instant::now();
    let cfg = RelayHandshakeConfig {
        max_frame: 4096,
        bind_timeout: Duration::from_secs(1),
    };
    let mut relay = RelayAcceptor::new(cfg, now);
    for (i, chunk) in data.chunks(7).enumerate() {
        let _ = relay.handle_bytes(chunk);
        while let Some(ev) = relay.poll_event() {
            if let AcceptorEvent::Bind { .. } = ev {
                if i % 2 == 0 {
                    relay.accept();
                } else {
                    relay.refuse(ErrorCode::TicketForged, "no");
                }
            }
        }
        while relay.poll_transmit().is_some() {}
    }
    relay.handle_timeout(now + Duration::from_secs(2));
    assert!(relay.take_leftover().len() <= 4096);
});
