//! The SQLite reader on mutated files: the verifier checks or refuses any file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::{verify, Options};

const TRUSTED: &str = include_str!("../../fixtures/journals/valid_sealed/trusted.keys");

fuzz_target!(|data: &[u8]| {
    let trusted = TrustedKeys::parse(TRUSTED, "trusted.keys").expect("the fixture's keys parse");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("journal.db");
    std::fs::write(&path, data).expect("write the input");
    let _ = verify(&path, &trusted, &Options::default());
});
