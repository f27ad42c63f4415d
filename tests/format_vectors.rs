//! The worked test vectors of docs/journal-format.md §14 hold, and the code still produces them.
//!
//! Every ```` ```vector <name> ```` block is read from the document itself. The vectors are
//! first checked with nothing from the workspace — `sha2` and `ed25519-dalek` directly, a
//! Merkle tree head written here from RFC 9162, and `serde_json` as a second canonical encoder —
//! so that a bug in the shared encoder cannot hide behind the shared decoder. Then the real
//! journal writer re-creates the vector journal from the same inputs and must reproduce every
//! byte, and the real verifier must accept it.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use runledger_engine::clock::SteppingClock;
use runledger_engine::Journal;
use runledger_verifier::canonical::{self, CanonicalError};
use runledger_verifier::checkpoint;
use runledger_verifier::event::{
    Body, Effect, FileRef, Operator, OutcomeStatus, RunFinished, RunStarted, RunStatus,
    RunbookSource, StepIntent, StepOutcome,
};
use runledger_verifier::keys::{trusted_key_line, TrustedKeys};
use runledger_verifier::signing::sha256_hex;
use runledger_verifier::source::{self, Format};
use runledger_verifier::verify::{verify, Options};
use runledger_verifier::Verdict;

use crate::fixture_journals::test_key;

const DOC: &str = include_str!("../docs/journal-format.md");

/// The inputs of the vector journal of §14.3.
const VECTOR_JOURNAL_ID: &str = "4f1c2b7e-0d3a-4e59-8b6c-a1f0e9d8c7b6";
const VECTOR_RUN_ID: &str = "c0ffee00-1234-4abc-8def-0123456789ab";
/// 2026-01-15T03:00:00Z in unix microseconds, and the clock's step per event.
const VECTOR_START_US: i64 = 1_768_446_000_000_000;
const VECTOR_STEP_US: i64 = 1_250_001;
const VECTOR_RUNBOOK: &str = "name = \"vector\"\nversion = \"1\"\n\n[[steps]]\nid = \"check\"\naction = \"check\"\n\n[[steps]]\nid = \"copy\"\naction = \"copy_backups\"\n";
const VECTOR_FILE: &[u8] = b"vector log backup 1\n";
const EVENTS: usize = 5;
const KINDS: [&str; EVENTS] = [
    "journal.opened",
    "run.started",
    "step.intent",
    "step.outcome",
    "run.finished",
];
const KEY_NAME: &str = "test-only-operator";
const SIGNING_CONTEXT: &[u8] = b"runledger/event/v1\n";

/// Every ```` ```vector <name> ```` block of the document: its lines joined by line feeds,
/// without a final one.
fn vectors() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = DOC.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("```vector ") else {
            continue;
        };
        let mut body = Vec::new();
        loop {
            let l = lines
                .next()
                .unwrap_or_else(|| panic!("vector {name} has no closing fence"));
            if l == "```" {
                break;
            }
            body.push(l);
        }
        let previous = out.insert(name.trim().to_string(), body.join("\n"));
        assert!(previous.is_none(), "vector {name} appears twice");
    }
    out
}

fn get<'a>(v: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    v.get(name)
        .unwrap_or_else(|| panic!("docs/journal-format.md has no vector {name}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RFC 9162 §2.1.1, from its recursive definition.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha256(&[]),
        1 => leaves[0],
        n => {
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            sha256(&[&[0x01], &mth(&leaves[..k]), &mth(&leaves[k..])])
        }
    }
}

fn documented_key(v: &BTreeMap<String, String>) -> VerifyingKey {
    let bytes: [u8; 32] = B64
        .decode(get(v, "public-key"))
        .expect("public-key is base64")
        .try_into()
        .expect("public-key is 32 bytes");
    VerifyingKey::from_bytes(&bytes).expect("public-key is a curve point")
}

fn event_json(v: &BTreeMap<String, String>, i: usize) -> serde_json::Value {
    serde_json::from_str(get(v, &format!("event-{i}"))).expect("event is JSON")
}

#[test]
fn the_document_holds_every_vector_and_no_other() {
    let v = vectors();
    let mut expected: Vec<String> = [
        "canon-in",
        "canon-out",
        "key-label",
        "key-seed",
        "public-key",
        "key-id",
        "private-key",
        "trusted-key-line",
        "jsonl-0",
        "root",
        "root-base64",
        "checkpoint",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for i in 0..EVENTS {
        expected.extend([
            format!("event-{i}"),
            format!("leaf-{i}"),
            format!("sig-{i}"),
        ]);
    }
    expected.sort();
    assert_eq!(v.keys().cloned().collect::<Vec<_>>(), expected);
}

#[test]
fn the_key_vectors_follow_from_the_documented_seed() {
    let v = vectors();
    let seed = sha256(&[get(&v, "key-label").as_bytes()]);
    assert_eq!(hex(&seed), get(&v, "key-seed"));
    let public = SigningKey::from_bytes(&seed).verifying_key();
    assert_eq!(B64.encode(public.as_bytes()), get(&v, "public-key"));
    assert_eq!(hex(&sha256(&[public.as_bytes()])), get(&v, "key-id"));
    // The same key the fixtures sign with.
    assert_eq!(test_key().key.to_bytes(), seed);

    // PRIVATE+KEY+<name>+<key hash>+<base64(0x01 || seed)>
    let private = get(&v, "private-key");
    let rest = private
        .strip_prefix("PRIVATE+KEY+")
        .expect("private key prefix");
    let mut parts = rest.splitn(3, '+');
    let (name, hash, blob) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert_eq!(name, KEY_NAME);
    let note_hash = sha256(&[name.as_bytes(), &[0x0a, 0x01], public.as_bytes()]);
    assert_eq!(hash, hex(&note_hash[..4]));
    let mut expected_blob = vec![0x01];
    expected_blob.extend_from_slice(&seed);
    assert_eq!(B64.decode(blob).expect("base64 key"), expected_blob);
    assert_eq!(format!("{private}\n"), test_key().to_file_text());

    assert_eq!(
        get(&v, "trusted-key-line"),
        format!("{KEY_NAME} {}", get(&v, "public-key"))
    );
}

#[test]
fn the_event_vectors_hash_sign_and_chain_independently() {
    let v = vectors();
    let key = documented_key(&v);
    // serde_json (without `preserve_order`) sorts keys and writes compact output: for these
    // ASCII-keyed events it is a second RFC 8785 encoder. Make sure it still sorts.
    let probe: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
    assert_eq!(serde_json::to_string(&probe).unwrap(), r#"{"a":2,"b":1}"#);

    let mut prev = "0".repeat(64);
    let mut leaves = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let bytes = get(&v, &format!("event-{i}")).as_bytes();
        let json = event_json(&v, i);
        assert_eq!(
            serde_json::to_vec(&json).unwrap(),
            bytes,
            "event-{i} is not canonical"
        );

        let leaf = sha256(&[&[0x00], bytes]);
        assert_eq!(hex(&leaf), get(&v, &format!("leaf-{i}")), "leaf-{i}");
        let sig = B64
            .decode(get(&v, &format!("sig-{i}")))
            .expect("sig is base64");
        let sig = Signature::from_slice(&sig).expect("sig is 64 bytes");
        let mut message = SIGNING_CONTEXT.to_vec();
        message.extend_from_slice(&leaf);
        assert_eq!(message.len(), 51);
        key.verify_strict(&message, &sig)
            .unwrap_or_else(|e| panic!("sig-{i} does not verify: {e}"));

        // The envelope, read independently.
        assert_eq!(json["v"], 1, "event-{i} v");
        assert_eq!(json["seq"], i, "event-{i} seq");
        assert_eq!(json["journal"], VECTOR_JOURNAL_ID, "event-{i} journal");
        assert_eq!(json["prev"], prev.as_str(), "event-{i} prev");
        assert_eq!(json["key"], get(&v, "key-id"), "event-{i} key");
        assert_eq!(json["kind"], *kind, "event-{i} kind");
        let at = json["at"].as_str().expect("at is a string");
        assert!(at.len() == 27 && at.ends_with('Z') && at.as_bytes()[19] == b'.');
        if i == 0 {
            assert!(json["run"].is_null());
            assert_eq!(json["body"]["public_key"], get(&v, "public-key"));
            assert_eq!(json["body"]["journal_id"], VECTOR_JOURNAL_ID);
        } else {
            assert_eq!(json["run"], VECTOR_RUN_ID, "event-{i} run");
        }
        prev = hex(&leaf);
        leaves.push(leaf);
    }

    // run.started embeds the runbook with its SHA-256.
    let runbook = &event_json(&v, 1)["body"]["runbook"];
    let source = runbook["source"].as_str().expect("source");
    assert_eq!(source, VECTOR_RUNBOOK);
    assert_eq!(runbook["sha256"], hex(&sha256(&[source.as_bytes()])));

    // The seal of run.finished is the tree head of every event before it.
    let sealed = &event_json(&v, 4)["body"]["sealed"];
    assert_eq!(sealed["size"], 4);
    assert_eq!(sealed["root"], hex(&mth(&leaves[..4])));

    // The JSONL line carries the event bytes verbatim.
    assert_eq!(
        get(&v, "jsonl-0"),
        format!(
            "{{\"event\":{},\"sig\":\"{}\"}}",
            get(&v, "event-0"),
            get(&v, "sig-0")
        )
    );
}

#[test]
fn the_root_and_checkpoint_vectors_hold_independently() {
    let v = vectors();
    let key = documented_key(&v);
    let leaves: Vec<[u8; 32]> = (0..EVENTS)
        .map(|i| sha256(&[&[0x00], get(&v, &format!("event-{i}")).as_bytes()]))
        .collect();
    let root = mth(&leaves);
    assert_eq!(hex(&root), get(&v, "root"));
    assert_eq!(B64.encode(root), get(&v, "root-base64"));
    assert_eq!(
        hex(&mth(&[])),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );

    // The note: the text (origin, size, root), a blank line, one signature line.
    let note = format!("{}\n", get(&v, "checkpoint"));
    let (text, signatures) = note.rsplit_once("\n\n").expect("a blank line");
    let text = format!("{text}\n");
    assert_eq!(
        text,
        format!(
            "runledger/{VECTOR_JOURNAL_ID}\n{EVENTS}\n{}\n",
            get(&v, "root-base64")
        )
    );
    let line = signatures.strip_suffix('\n').expect("ends in a newline");
    assert!(!line.contains('\n'), "exactly one signature line");
    let blob = line
        .strip_prefix(&format!("\u{2014} {KEY_NAME} "))
        .expect("em dash, space, key name, space");
    let blob = B64.decode(blob).expect("signature is base64");
    assert_eq!(blob.len(), 4 + 64);
    let key_hash = sha256(&[KEY_NAME.as_bytes(), &[0x0a, 0x01], key.as_bytes()]);
    assert_eq!(blob[..4], key_hash[..4]);
    let sig = Signature::from_slice(&blob[4..]).unwrap();
    key.verify_strict(text.as_bytes(), &sig)
        .expect("checkpoint signature verifies");
}

#[test]
fn canonicalisation_example_gives_the_documented_bytes() {
    let v = vectors();
    let input = get(&v, "canon-in").as_bytes();
    let output = get(&v, "canon-out").as_bytes();
    let value = canonical::parse(input).expect("canon-in parses under the profile");
    assert_eq!(
        String::from_utf8(canonical::encode(&value)).unwrap(),
        get(&v, "canon-out")
    );
    assert_eq!(canonical::check_canonical(output), Ok(value));
    assert!(matches!(
        canonical::check_canonical(input),
        Err(CanonicalError::NotCanonical { .. })
    ));
}

/// Writes the vector journal of §14.3 through the real writer.
fn write_vector_journal(path: &Path) -> Journal {
    let clock = Box::new(SteppingClock::new(VECTOR_START_US, VECTOR_STEP_US));
    let mut j = Journal::create_with_id(
        path,
        test_key(),
        "runledger 0.1.0",
        clock,
        VECTOR_JOURNAL_ID.into(),
    )
    .expect("create the vector journal");
    let run = Some(VECTOR_RUN_ID);
    let file = FileRef {
        path: "\\\\pri-fs\\mgc-logs\\mgc_1.trn".into(),
        size: VECTOR_FILE.len() as u64,
        sha256: sha256_hex(VECTOR_FILE),
    };
    let bodies = [
        Body::RunStarted(Box::new(RunStarted {
            run_id: VECTOR_RUN_ID.into(),
            runbook: RunbookSource {
                name: "vector".into(),
                version: "1".into(),
                sha256: sha256_hex(VECTOR_RUNBOOK.as_bytes()),
                source: VECTOR_RUNBOOK.into(),
            },
            parameters: [("database".to_string(), "mgc".to_string())].into(),
            operator: Operator {
                user: "ops".into(),
                host: "dr-laptop".into(),
            },
            targets: vec![],
        })),
        Body::StepIntent(StepIntent {
            step: "copy/mgc_1.trn".into(),
            attempt: 1,
            action: "copy_backups".into(),
            effect: Effect::Idempotent,
            command: "copy \\\\pri-fs\\mgc-logs\\mgc_1.trn -> D:\\mgc-copy\\mgc_1.trn".into(),
            target: "local".into(),
            inputs: vec![file.clone()],
        }),
        Body::StepOutcome(StepOutcome {
            step: "copy/mgc_1.trn".into(),
            attempt: 1,
            status: OutcomeStatus::Succeeded,
            result: serde_json::json!({"sha256": file.sha256, "size": file.size}),
            duration_us: 1042,
        }),
    ];
    for body in bodies {
        j.append(run, body).expect("append");
    }
    let sealed = j.seal();
    j.append(
        run,
        Body::RunFinished(RunFinished {
            status: RunStatus::Succeeded,
            summary: "1 file copied".into(),
            sealed,
        }),
    )
    .expect("append run.finished");
    j
}

#[test]
fn the_journal_writer_reproduces_the_documented_vectors() {
    let v = vectors();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("journal.db");
    let journal = write_vector_journal(&db);
    let checkpoint_text = journal.checkpoint_text().unwrap();
    drop(journal);

    let mut records = Vec::new();
    source::for_each_record(&db, Format::Sqlite, |r| {
        records.push(r);
        true
    })
    .expect("read the vector journal");
    assert_eq!(records.len(), EVENTS);
    let mut jsonl = Vec::new();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            String::from_utf8_lossy(&r.event),
            get(&v, &format!("event-{i}")),
            "event-{i}: the writer no longer produces the documented bytes"
        );
        assert_eq!(B64.encode(&r.sig), get(&v, &format!("sig-{i}")), "sig-{i}");
        assert_eq!(
            r.stored_leaf_hash.as_deref().map(hex).as_deref(),
            Some(get(&v, &format!("leaf-{i}"))),
            "leaf_hash column of seq {i}"
        );
        jsonl.extend_from_slice(&source::jsonl_line(&r.event, &r.sig));
    }
    assert_eq!(checkpoint_text, format!("{}\n", get(&v, "checkpoint")));
    let parsed = checkpoint::parse_signed(&checkpoint_text).expect("checkpoint parses");
    assert_eq!(parsed.checkpoint.size, EVENTS as u64);

    // The export's first line is the documented one.
    let jsonl_path = dir.path().join("journal.jsonl");
    std::fs::write(&jsonl_path, &jsonl).expect("write jsonl");
    assert_eq!(
        std::str::from_utf8(&jsonl).unwrap().lines().next(),
        Some(get(&v, "jsonl-0"))
    );

    // The verifier accepts both forms: sealed alone, anchored with the checkpoint.
    let trusted = TrustedKeys::parse(
        &format!("{}\n", get(&v, "trusted-key-line")),
        "trusted-key-line",
    )
    .expect("trusted-key-line parses");
    assert_eq!(
        get(&v, "trusted-key-line"),
        trusted_key_line(KEY_NAME, &test_key().key.verifying_key())
    );
    let anchored = Options {
        checkpoints: vec![("checkpoint".into(), checkpoint_text.clone())],
        ..Options::default()
    };
    for path in [&db, &jsonl_path] {
        let report = verify(path, &trusted, &Options::default()).expect("verify");
        assert_eq!(
            report.verdict,
            Verdict::ValidSealed,
            "{}",
            report.verdict_text
        );
        assert_eq!(report.journal.root, get(&v, "root"));
        let report = verify(path, &trusted, &anchored).expect("verify");
        assert_eq!(
            report.verdict,
            Verdict::ValidAnchored,
            "{}",
            report.verdict_text
        );
    }
}
