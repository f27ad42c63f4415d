//! The journal commands and the verifier's command line: keys, checkpoints, inclusion proofs,
//! consistency with older checkpoints, requirements, and bad input that must exit 2 cleanly.

use std::path::{Path, PathBuf};

use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::merkle;
use runledger_verifier::proof::{verify_proof, ProofError};
use runledger_verifier::signing;
use runledger_verifier::source::{self, Format};

use crate::common::{runledger, runledger_verify, text};
use crate::fixture_journals::{fixtures_dir, test_key};

/// A copy of the valid sealed fixture with the test-only key beside it as `operator.key`.
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures_dir().join("valid_sealed");
    for f in ["journal.db", "trusted.keys"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let key = dir.path().join("operator.key");
    std::fs::write(&key, test_key().to_file_text()).unwrap();
    set_mode(&key, 0o600);
    let journal = dir.path().join("journal.db");
    (dir, journal)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn verify_args(journal: &Path, extra: &[&str]) -> std::process::Output {
    let trust = journal.parent().unwrap().join("trusted.keys");
    runledger_verify()
        .arg(journal)
        .arg("--trust")
        .arg(trust)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn keys_generate_writes_an_owner_only_key_and_a_trusted_keys_line() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("ops.key");
    let out = runledger()
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let line = std::fs::read_to_string(dir.path().join("ops.key.pub")).unwrap();
    let keys = TrustedKeys::parse(&line, "ops.key.pub").unwrap();
    assert_eq!(keys.len(), 1);
    assert!(line.starts_with("ops "), "{line}");
    // Never over an existing key.
    let again = runledger()
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let (_, stderr) = text(&again);
    assert!(stderr.contains("ops.key"), "{stderr}");
}

#[test]
fn checkpoint_anchors_the_journal_and_refuses_a_key_readable_by_others() {
    let (dir, journal) = workdir();
    let cp = dir.path().join("checkpoint.txt");
    let out = runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .arg("--out")
        .arg(&cp)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let text_cp = std::fs::read_to_string(&cp).unwrap();
    assert!(
        text_cp.starts_with("runledger/0b5e1f6c-2a7d-4c39-9e8a-5f0d3c2b1a00\n17\n"),
        "{text_cp}"
    );
    assert!(
        text_cp.contains("\n\u{2014} test-only-operator "),
        "{text_cp}"
    );

    let out = verify_args(
        &journal,
        &["--checkpoint", cp.to_str().unwrap(), "--require-anchor"],
    );
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("VALID AND ANCHORED"), "{stdout}");

    set_mode(&dir.path().join("operator.key"), 0o644);
    let out = runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("readable by others"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one-line error: {stderr}");
}

#[test]
fn checkpoint_refuses_to_sign_a_journal_that_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    std::fs::copy(
        fixtures_dir().join("body_changed_byte/journal.db"),
        &journal,
    )
    .unwrap();
    let key = dir.path().join("operator.key");
    std::fs::write(&key, test_key().to_file_text()).unwrap();
    set_mode(&key, 0o600);
    let out = runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let (stdout, stderr) = text(&out);
    assert!(stdout.is_empty(), "nothing signed: {stdout}");
    assert!(
        stderr.contains("refusing to sign") && stderr.contains("seq 6"),
        "{stderr}"
    );
}

#[test]
fn inclusion_proof_verifies_alone_and_fails_when_any_byte_changes() {
    let (dir, journal) = workdir();
    let proof = dir.path().join("seq13.proof");
    let out = runledger()
        .args(["prove", "--journal"])
        .arg(&journal)
        .args(["--seq", "13", "--out"])
        .arg(&proof)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));

    // The CLI, without the journal.
    let alone = tempfile::tempdir().unwrap();
    let moved = alone.path().join("p.json");
    std::fs::copy(&proof, &moved).unwrap();
    let trust = dir.path().join("trusted.keys");
    let out = runledger_verify()
        .args(["--proof"])
        .arg(&moved)
        .arg("--trust")
        .arg(&trust)
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("PROVEN: seq 13 (step.intent"),
        "{stdout}"
    );

    // Every single byte changed: never proven.
    let bytes = std::fs::read(&proof).unwrap();
    let trusted = TrustedKeys::load(&trust).unwrap();
    assert!(verify_proof(&bytes, &trusted).is_ok());
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x20] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            assert!(
                verify_proof(&b, &trusted).is_err(),
                "proof still holds with byte {i} changed ({:?})",
                b[i] as char
            );
        }
    }

    // The CLI says invalid (exit 1) for a changed audit path hash.
    let mut b = bytes.clone();
    let pos = b
        .windows(15)
        .position(|w| w == b"\"audit_path\":[\"")
        .unwrap()
        + 15;
    b[pos] = if b[pos] == b'0' { b'1' } else { b'0' };
    std::fs::write(&moved, &b).unwrap();
    let out = runledger_verify()
        .args(["--proof"])
        .arg(&moved)
        .arg("--trust")
        .arg(&trust)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(matches!(
        verify_proof(&b, &trusted),
        Err(ProofError::Invalid(_))
    ));
}

fn leaves_of(path: &Path) -> Vec<merkle::Hash> {
    let mut leaves = Vec::new();
    source::for_each_record(path, Format::Sqlite, |r| {
        leaves.push(signing::event_leaf_hash(&r.event));
        true
    })
    .unwrap();
    leaves
}

#[test]
fn an_older_checkpoint_is_consistent_with_a_true_prefix_and_not_with_a_fork() {
    let valid = leaves_of(&fixtures_dir().join("valid_sealed/journal.db"));
    let fork = leaves_of(&fixtures_dir().join("checkpoint_key_holder_rewrite/journal.db"));
    assert_eq!(valid.len(), fork.len());
    let old_size = 8u64;
    let old_root = merkle::root_from_leaves(&valid[..8]);

    // RFC 9162 consistency proofs from the older tree head to each journal's head.
    let proof = merkle::consistency_proof(&valid, old_size).unwrap();
    merkle::verify_consistency(
        old_size,
        17,
        &old_root,
        &merkle::root_from_leaves(&valid),
        &proof,
    )
    .expect("a true prefix is consistent");
    let proof = merkle::consistency_proof(&fork, old_size).unwrap();
    assert!(
        merkle::verify_consistency(
            old_size,
            17,
            &old_root,
            &merkle::root_from_leaves(&fork),
            &proof
        )
        .is_err(),
        "a fork must not be consistent with the older checkpoint"
    );

    // The verifier, given the older checkpoint of the true journal.
    let cp = runledger_verifier::checkpoint::Checkpoint {
        origin: "runledger/0b5e1f6c-2a7d-4c39-9e8a-5f0d3c2b1a00".into(),
        size: old_size,
        root: old_root,
        extensions: vec![],
    }
    .sign(&test_key().name, &test_key().key)
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cp_path = dir.path().join("old.txt");
    std::fs::write(&cp_path, cp).unwrap();
    let out = verify_args(
        &fixtures_dir().join("valid_sealed/journal.db"),
        &["--checkpoint", cp_path.to_str().unwrap(), "--json"],
    );
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        json["verdict"], "valid_sealed",
        "a prefix checkpoint does not anchor the whole"
    );
    assert_eq!(
        json["checkpoints"][0]["status"],
        "consistent (a prefix of the journal)"
    );
    let out = verify_args(
        &fixtures_dir().join("checkpoint_key_holder_rewrite/journal.db"),
        &["--checkpoint", cp_path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).0.contains("journal rewritten"),
        "{}",
        text(&out).0
    );
}

#[test]
fn requirements_turn_weaker_verdicts_into_failures() {
    let open = fixtures_dir().join("valid_open/journal.db");
    let sealed = fixtures_dir().join("valid_sealed/journal.db");
    assert_eq!(verify_args(&open, &[]).status.code(), Some(0));
    let out = verify_args(&open, &["--require-sealed"]);
    assert_eq!(out.status.code(), Some(1));
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("ends at seq 10"),
        "open tail named: {stdout}"
    );
    assert!(
        stdout.contains("REQUIREMENT NOT MET: --require-sealed"),
        "{stdout}"
    );
    assert_eq!(
        verify_args(&sealed, &["--require-sealed"]).status.code(),
        Some(0)
    );
    assert_eq!(
        verify_args(&sealed, &["--require-anchor"]).status.code(),
        Some(1)
    );
}

#[test]
fn unreadable_inputs_exit_2_without_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let trust = fixtures_dir().join("valid_sealed/trusted.keys");
    let run = |journal: &Path| {
        let out = runledger_verify()
            .arg(journal)
            .arg("--trust")
            .arg(&trust)
            .arg("--json")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.code(), stdout)
    };

    let (code, stdout) = run(&dir.path().join("missing.db"));
    assert_eq!(code, Some(2));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["verdict"], "could_not_check");

    // A SQLite header followed by noise, and a journal cut in half (a torn copy).
    let noise = dir.path().join("noise.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend((0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(&noise, bytes).unwrap();
    assert_eq!(run(&noise).0, Some(2));
    let torn = dir.path().join("torn.db");
    let full = std::fs::read(fixtures_dir().join("valid_sealed/journal.db")).unwrap();
    std::fs::write(&torn, &full[..full.len() / 2]).unwrap();
    let (code, stdout) = run(&torn);
    assert!(matches!(code, Some(1) | Some(2)), "{stdout}");
    assert_ne!(code, Some(0), "a torn journal never verifies");

    // Random bytes that are not SQLite are unparseable JSONL: invalid (exit 1), seq 0 named.
    let (code, stdout) = run(&fixtures_dir().join("file_random_bytes/journal.jsonl"));
    assert_eq!(code, Some(1), "{stdout}");

    // Bad arguments.
    let out = runledger_verify().arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = runledger_verify()
        .arg(fixtures_dir().join("valid_sealed/journal.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--trust is required");
}
