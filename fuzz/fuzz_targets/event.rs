//! Event decoding: any bytes are decoded or refused, never a panic; an event that decodes
//! encodes back to exactly the bytes it was read from (the decoder accepts nothing the encoder
//! would not write).
#![no_main]

use libfuzzer_sys::fuzz_target;
use runledger_verifier::event::Event;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = Event::from_canonical_bytes(data) {
        let again = event
            .to_canonical_bytes()
            .expect("a decoded event encodes");
        assert_eq!(again, data, "decode then encode gives the same bytes");
    }
});
