//! The signed-note and checkpoint parsers: any text is parsed or refused, never a panic; a
//! parsed checkpoint's body is its note's text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runledger_verifier::{checkpoint, note};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = note::parse(text);
    let _ = checkpoint::Checkpoint::parse_body(text);
    if let Ok(signed) = checkpoint::parse_signed(text) {
        assert_eq!(signed.checkpoint.body(), signed.note.body);
    }
});
