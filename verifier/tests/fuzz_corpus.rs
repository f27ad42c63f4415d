//! Replays the committed fuzz corpora (fuzz/corpus/<target>/) of the verifier's readers through
//! the same calls and assertions as the cargo-fuzz targets in fuzz/fuzz_targets/, so that the
//! regular test suite keeps every seed and every past finding passing without cargo-fuzz.

use std::path::{Path, PathBuf};

use runledger_verifier::canonical::{check_canonical, encode, parse};
use runledger_verifier::event::Event;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::proof::verify_proof;
use runledger_verifier::source::{jsonl_line, parse_jsonl_line, Position};
use runledger_verifier::{checkpoint, note, verify, Options};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file of `fuzz/corpus/<target>`, with its name; at least one.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = root().join("fuzz/corpus").join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has seeds", dir.display());
    files
}

fn trusted() -> TrustedKeys {
    let text = std::fs::read_to_string(root().join("fixtures/journals/valid_sealed/trusted.keys"))
        .unwrap();
    TrustedKeys::parse(&text, "trusted.keys").unwrap()
}

/// fuzz_targets/jsonl_line.rs
fn jsonl_line_target(data: &[u8]) {
    if let Ok(record) = parse_jsonl_line(data, Position::Line(1)) {
        let mut again = jsonl_line(&record.event, &record.sig);
        again.pop();
        let back = parse_jsonl_line(&again, Position::Line(1)).expect("a written line reads");
        assert_eq!((back.event, back.sig), (record.event, record.sig));
    }
}

/// fuzz_targets/canonical.rs
fn canonical_target(data: &[u8]) {
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
}

/// fuzz_targets/event.rs
fn event_target(data: &[u8]) {
    if let Ok(event) = Event::from_canonical_bytes(data) {
        let again = event.to_canonical_bytes().expect("a decoded event encodes");
        assert_eq!(again, data, "decode then encode gives the same bytes");
    }
}

/// fuzz_targets/checkpoint.rs
fn checkpoint_target(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = note::parse(text);
    let _ = checkpoint::Checkpoint::parse_body(text);
    if let Ok(signed) = checkpoint::parse_signed(text) {
        assert_eq!(signed.checkpoint.body(), signed.note.body);
    }
}

#[test]
fn the_jsonl_corpus_replays() {
    let files = corpus("jsonl_line");
    for (name, data) in &files {
        jsonl_line_target(data);
        if name.starts_with("valid_") {
            assert!(parse_jsonl_line(data, Position::Line(1)).is_ok(), "{name}");
        }
    }
}

#[test]
fn the_canonical_corpus_replays_and_its_events_are_canonical() {
    for (name, data) in corpus("canonical") {
        canonical_target(&data);
        if name.starts_with("event_") {
            assert!(check_canonical(&data).is_ok(), "{name} is canonical");
        }
    }
}

#[test]
fn the_event_corpus_replays_and_every_seed_decodes() {
    for (name, data) in corpus("event") {
        event_target(&data);
        assert!(
            Event::from_canonical_bytes(&data).is_ok(),
            "{name}: the seeds are real events"
        );
    }
}

#[test]
fn the_checkpoint_corpus_replays() {
    for (name, data) in corpus("checkpoint") {
        checkpoint_target(&data);
        assert!(
            checkpoint::parse_signed(std::str::from_utf8(&data).unwrap()).is_ok(),
            "{name}: the seeds are real checkpoints"
        );
    }
}

#[test]
fn the_proof_corpus_replays_and_its_seeds_verify() {
    let trusted = trusted();
    for (name, data) in corpus("proof") {
        assert!(verify_proof(&data, &trusted).is_ok(), "{name} verifies");
    }
}

#[test]
fn the_sqlite_corpus_replays() {
    let trusted = trusted();
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in corpus("sqlite_journal") {
        let path = dir.path().join("journal.db");
        std::fs::write(&path, &data).unwrap();
        let report = verify(&path, &trusted, &Options::default());
        if name.starts_with("valid_") {
            assert!(report.unwrap().holds(), "{name}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
