//! Fuzz target: a `ControlAcceptor` fed arbitrary bytes in chunks, answering every driver
//! question (alternately yes and no). Must never panic.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_codec::{ControlAcceptor, ControlAcceptorEvent, ControlConfig, ErrorCode};

fuzz_target!(|data: &[u8]| {
    #[allow(clippy::disallowed_methods)] // a base for simulated time
    let start = Instant::now();
    let mut acc = ControlAcceptor::new(ControlConfig::default(), [7; 32], start);
    for (i, chunk) in data.chunks(13).enumerate() {
        let now = start + Duration::from_millis(i as u64 * 100);
        let _ = acc.handle_bytes(chunk, now);
        let yes = i % 2 == 0;
        while let Some(ev) = acc.poll_event() {
            match ev {
                ControlAcceptorEvent::DeviceHello { query, .. } => acc.handle_device_key(
                    query,
                    if yes {
                        Ok([0x3b; 32])
                    } else {
                        Err(ErrorCode::DeviceUnknown)
                    },
                ),
                ControlAcceptorEvent::GuestHello { query, .. } => acc.handle_guest_token(
                    query,
                    if yes {
                        Ok(())
                    } else {
                        Err(ErrorCode::AuthFailed)
                    },
                    now,
                ),
                ControlAcceptorEvent::EnrollRequest { query, .. } => {
                    acc.handle_enrollment(query, Err(ErrorCode::EnrollmentRefused))
                }
                ControlAcceptorEvent::OnDemandJoin { query, .. } => acc.handle_ondemand_join(
                    query,
                    if yes {
                        Ok(())
                    } else {
                        Err(ErrorCode::OndemandKeyInvalid)
                    },
                    now,
                ),
                _ => {}
            }
        }
        while acc.poll_transmit().is_some() {}
        acc.handle_timeout(now);
    }
});
