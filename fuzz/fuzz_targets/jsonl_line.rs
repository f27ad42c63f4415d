//! The JSONL reader: any line is taken apart or refused, never a panic; a line it accepts is
//! written back by `jsonl_line` to a line it reads the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runledger_verifier::source::{jsonl_line, parse_jsonl_line, Position};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = parse_jsonl_line(data, Position::Line(1)) {
        let mut again = jsonl_line(&record.event, &record.sig);
        // `jsonl_line` ends the line; the reader is given lines without their end.
        again.pop();
        let back = parse_jsonl_line(&again, Position::Line(1)).expect("a written line reads");
        assert_eq!((back.event, back.sig), (record.event, record.sig));
    }
});
