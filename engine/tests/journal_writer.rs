//! The journal writer keeps its promises: durable appends, append-only rows, one writer,
//! the right key, timestamps that never go backwards — and what it writes verifies.

use std::path::Path;

use runledger_engine::clock::SteppingClock;
use runledger_engine::{Journal, JournalError};
use runledger_verifier::event::{
    Body, Operator, RunFinished, RunStarted, RunStatus, RunbookSource,
};
use runledger_verifier::keys::{PrivateKey, TrustedKeys};
use runledger_verifier::signing::sha256_hex;
use runledger_verifier::{verify, Options, Report, Verdict};

fn key(seed: u8) -> PrivateKey {
    PrivateKey {
        name: format!("test-only-{seed}"),
        key: ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
    }
}

fn trusted(k: &PrivateKey) -> TrustedKeys {
    let mut t = TrustedKeys::default();
    t.insert(k.name.clone(), k.key.verifying_key());
    t
}

fn check(path: &Path, k: &PrivateKey) -> Report {
    verify(path, &trusted(k), &Options::default()).expect("verifiable")
}

const RUNBOOK: &str = "[[steps]]\nid = \"a\"\naction = \"manual\"\n";

fn run_started(run: &str) -> Body {
    Body::RunStarted(Box::new(RunStarted {
        run_id: run.into(),
        runbook: RunbookSource {
            name: "t".into(),
            version: "1".into(),
            sha256: sha256_hex(RUNBOOK.as_bytes()),
            source: RUNBOOK.into(),
        },
        parameters: Default::default(),
        operator: Operator {
            user: "u".into(),
            host: "h".into(),
        },
        targets: vec![],
    }))
}

#[test]
fn appended_events_are_visible_to_another_connection_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::create(&path, key(1), "test").unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = other
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1, "journal.opened is committed before create returns");
    let mode: String = other
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(j);
    let report = check(&path, &key(1));
    assert_eq!(
        report.verdict,
        Verdict::ValidOpen,
        "{}",
        report.verdict_text
    );
}

#[test]
fn rows_cannot_be_updated_or_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    drop(Journal::create(&path, key(1), "test").unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let err = conn
        .execute("UPDATE events SET sig = x'00' WHERE seq = 0", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let first = Journal::create(&path, key(1), "test").unwrap();
    let err = Journal::open(&path, key(1))
        .err()
        .expect("second opener refused");
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("in use by another runledger process"),
        "{err}"
    );
    drop(first);
    Journal::open(&path, key(1)).expect("free once the first is gone");
}

#[test]
fn create_refuses_an_existing_journal_and_open_refuses_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    drop(Journal::create(&path, key(1), "test").unwrap());
    let err = Journal::create(&path, key(1), "test").err().unwrap();
    assert!(matches!(err, JournalError::Exists(_)), "{err}");
    let err = Journal::open(&dir.path().join("none.db"), key(1))
        .err()
        .unwrap();
    assert!(matches!(err, JournalError::Missing(_)), "{err}");
}

#[test]
fn open_refuses_another_key_than_the_journals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    drop(Journal::create(&path, key(1), "test").unwrap());
    let err = Journal::open(&path, key(2)).err().unwrap();
    assert!(matches!(err, JournalError::WrongKey { .. }), "{err}");
}

#[test]
fn timestamps_never_go_backwards_even_if_the_clock_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    // A clock going back one second per reading.
    let clock = SteppingClock::new(1_768_446_000_000_000, -1_000_000);
    let mut j = Journal::create_with_clock(&path, key(1), "test", Box::new(clock)).unwrap();
    let run = "run-1";
    let a = j.append(Some(run), run_started(run)).unwrap();
    let seal = j.seal();
    let b = j
        .append(
            Some(run),
            Body::RunFinished(RunFinished {
                status: RunStatus::Succeeded,
                summary: "nothing".into(),
                sealed: seal,
            }),
        )
        .unwrap();
    assert_eq!(b.at, a.at, "held at the latest time seen");
    drop(j);
    let report = check(&path, &key(1));
    assert_eq!(
        report.verdict,
        Verdict::ValidSealed,
        "{}",
        report.verdict_text
    );
    // Reopened, the writer continues the chain.
    let j = Journal::open(&path, key(1)).unwrap();
    assert_eq!(j.len(), 3);
}

#[test]
fn a_checkpoint_written_by_the_writer_anchors_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::create(&path, key(3), "test").unwrap();
    let cp = dir.path().join("checkpoint.txt");
    j.write_checkpoint(&cp).unwrap();
    drop(j);
    let options = Options {
        checkpoints: vec![(
            "checkpoint.txt".into(),
            std::fs::read_to_string(&cp).unwrap(),
        )],
        ..Options::default()
    };
    let report = verify(&path, &trusted(&key(3)), &options).unwrap();
    assert_eq!(
        report.verdict,
        Verdict::ValidAnchored,
        "{}",
        report.verdict_text
    );
}

#[test]
fn a_file_left_by_a_creation_that_never_committed_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    // A zero-byte file, as SQLite leaves when the process dies before the first commit.
    std::fs::write(&path, b"").unwrap();
    drop(Journal::create(&path, key(1), "test").expect("an empty file records nothing"));
    // A journal schema without any event: likewise.
    let path2 = dir.path().join("j2.db");
    rusqlite::Connection::open(&path2)
        .unwrap()
        .execute_batch(runledger_verifier::source::SQLITE_SCHEMA)
        .unwrap();
    drop(Journal::create(&path2, key(1), "test").expect("a journal with no event records nothing"));
    assert_eq!(check(&path2, &key(1)).verdict, Verdict::ValidOpen);
}

#[test]
fn a_journal_and_its_first_run_are_created_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let j = Journal::create_with_run(&path, key(1), "test", "run-1", run_started("run-1")).unwrap();
    assert_eq!(j.len(), 2, "journal.opened and run.started in one commit");
    drop(j);
    assert_eq!(check(&path, &key(1)).verdict, Verdict::ValidOpen);
}
