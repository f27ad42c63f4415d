//! The runbook parser: any text is loaded or refused with a position, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runledger_engine::runbook;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = runbook::parse(text, "fuzz.toml");
});
