//! The canonical (RFC 8785) codec: arbitrary input never panics; canonical input decodes and
//! encodes to identical bytes; the encoding of anything parsed is canonical and decodes to the
//! same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runledger_verifier::canonical::{check_canonical, encode, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = parse(data) {
        let bytes = encode(&value);
        let again = check_canonical(&bytes).expect("an encoding is canonical");
        assert_eq!(again, value, "decode(encode(v)) == v");
    }
    if let Ok(value) = check_canonical(data) {
        assert_eq!(
            encode(&value),
            data,
            "canonical input round-trips byte for byte"
        );
    }
});
