//! Fuzz target: `ControlMessage::decode` on arbitrary payloads. Must never panic; whatever
//! decodes must re-encode to the very same bytes (one canonical form).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_codec::ControlMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = ControlMessage::decode(data) {
        let again = msg.to_bytes().expect("a decoded message re-encodes");
        assert_eq!(&again[..], data);
    }
});
