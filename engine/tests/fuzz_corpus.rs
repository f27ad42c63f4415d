//! Replays the committed fuzz corpus of the runbook parser (fuzz/corpus/runbook/) through the
//! same call as the cargo-fuzz target fuzz/fuzz_targets/runbook.rs: every seed is loaded or
//! refused with a position, never a panic.

use std::path::Path;

use runledger_engine::runbook;

#[test]
fn the_runbook_corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/runbook");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Ok(text) = std::str::from_utf8(&data) {
            match runbook::parse(text, "fuzz.toml") {
                Ok(_) => {}
                Err(e) => assert!(
                    e.to_string().starts_with("fuzz.toml:"),
                    "{}: an error names the file: {e}",
                    path.display()
                ),
            }
        }
        n += 1;
    }
    assert!(n >= 3, "{} has seeds", dir.display());
}
