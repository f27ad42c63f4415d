//! An independent reading of the journal format, written from docs/journal-format.md alone:
//! its own envelope type (serde, `deny_unknown_fields`), its own hashing and signature check
//! with `sha2` and `ed25519-dalek` directly, and serde_json as a second canonical encoder.
//! A bug in the shared encoder cannot hide behind the shared decoder.

use std::path::Path;

use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::common::{runledger, text};
use crate::fixture_journals::fixtures_dir;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Line {
    event: Envelope,
    sig: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Envelope {
    v: u8,
    journal: String,
    seq: u64,
    prev: String,
    at: String,
    run: Option<String>,
    kind: String,
    key: String,
    body: serde_json::Map<String, serde_json::Value>,
}

fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Checks a JSONL journal with nothing from the workspace's crates.
fn check_jsonl(path: &Path, public_key_b64: &str) -> usize {
    let key_bytes = base64::engine::general_purpose::STANDARD
        .decode(public_key_b64)
        .unwrap();
    let key = VerifyingKey::from_bytes(&key_bytes.try_into().unwrap()).unwrap();
    let key_id = to_hex(&Sha256::digest(key.as_bytes()));
    let text = std::fs::read_to_string(path).unwrap();
    let mut prev = "0".repeat(64);
    let mut last_at = String::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let parsed: Line =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        let ev = &parsed.event;
        assert_eq!(ev.v, 1);
        assert_eq!(ev.seq, i as u64);
        assert_eq!(ev.prev, prev, "seq {i}: prev");
        assert_eq!(ev.key, key_id, "seq {i}: key id");
        assert_eq!(ev.at.len(), 27, "seq {i}: at form");
        assert!(ev.at.ends_with('Z') && ev.at.as_bytes()[19] == b'.');
        assert!(ev.at >= last_at, "seq {i}: time went backwards");
        last_at = ev.at.clone();
        assert_eq!(
            ev.run.is_none(),
            ev.kind == "journal.opened",
            "seq {i}: run"
        );

        // The event's bytes as they stand in the line (the line is `{"event":` … `,"sig":"…"}`).
        let start = "{\"event\":".len();
        let end = line.rfind(",\"sig\":\"").unwrap();
        let bytes = &line.as_bytes()[start..end];
        // A second canonical encoder: serde_json sorts keys (ASCII here) and writes compact
        // output with the same string escapes as RFC 8785 for these events.
        let value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(
            serde_json::to_vec(&value).unwrap(),
            bytes,
            "seq {i}: not canonical"
        );

        let mut h = Sha256::new();
        h.update([0u8]);
        h.update(bytes);
        let leaf: [u8; 32] = h.finalize().into();
        let mut msg = b"runledger/event/v1\n".to_vec();
        msg.extend_from_slice(&leaf);
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&parsed.sig)
            .unwrap();
        let sig = Signature::from_slice(&sig).unwrap();
        key.verify_strict(&msg, &sig)
            .unwrap_or_else(|e| panic!("seq {i}: signature: {e}"));
        prev = to_hex(&leaf);
        n += 1;
    }
    n
}

fn fixture_public_key() -> String {
    let keys = std::fs::read_to_string(fixtures_dir().join("valid_sealed/trusted.keys")).unwrap();
    let line = keys
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

#[test]
fn committed_jsonl_fixture_reads_with_an_independent_envelope() {
    let n = check_jsonl(
        &fixtures_dir().join("valid_sealed/journal.jsonl"),
        &fixture_public_key(),
    );
    assert_eq!(n, 17);
}

#[test]
fn runledger_export_reads_with_an_independent_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export.jsonl");
    let db = fixtures_dir().join("valid_sealed/journal.db");
    let res = runledger()
        .args(["export", "--journal"])
        .arg(&db)
        .arg("--jsonl")
        .arg(&out)
        .output()
        .unwrap();
    assert!(res.status.success(), "{:?}", text(&res));
    assert_eq!(check_jsonl(&out, &fixture_public_key()), 17);
    // Export is verbatim: it equals the committed JSONL of the same journal.
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(fixtures_dir().join("valid_sealed/journal.jsonl")).unwrap()
    );
}
