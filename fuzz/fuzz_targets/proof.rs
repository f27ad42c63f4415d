//! The inclusion-proof reader, with the test-only operator key trusted: any file is checked or
//! refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::proof::verify_proof;

const TRUSTED: &str = include_str!("../../fixtures/journals/valid_sealed/trusted.keys");

fuzz_target!(|data: &[u8]| {
    let trusted = TrustedKeys::parse(TRUSTED, "trusted.keys").expect("the fixture's keys parse");
    let _ = verify_proof(data, &trusted);
});
