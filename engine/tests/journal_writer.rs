//! The journal writer keeps its promises: durable appends, append-only rows, one writer,
//! the right key, timestamps that never go backwards — and what it writes verifies.

use std::path::Path;

use runledger_engine::clock::SteppingClock;
use runledger_engine::{Journal, JournalError};
use runledger_verifier::event::{
    Body, Operator, RunFinished, RunResumed, RunStarted, RunStatus, RunbookSource,
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
    let j = Journal::create_with_run(
        &path,
        key(1),
        "test",
        "run-1",
        vec![run_started("run-1")],
        Default::default(),
    )
    .unwrap();
    assert_eq!(j.len(), 2, "journal.opened and run.started in one commit");
    drop(j);
    assert_eq!(check(&path, &key(1)).verdict, Verdict::ValidOpen);
}

#[test]
fn commits_overwrite_a_preallocated_wal_whose_zeros_are_never_read_as_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let wal = dir.path().join("j.db-wal");
    let mut j = Journal::create(&path, key(1), "test").unwrap();
    let preallocated = std::fs::metadata(&wal).unwrap().len();
    let page_size: u64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .unwrap() as u64;
    assert!(
        preallocated >= 1000 * (24 + page_size),
        "the WAL is filled ahead of the commits: {preallocated} bytes"
    );
    for i in 0..150 {
        let run = format!("run-{i}");
        j.append(Some(&run), run_started(&run)).unwrap();
        let sealed = j.seal();
        let finished = Body::RunFinished(RunFinished {
            status: RunStatus::Succeeded,
            summary: "nothing".into(),
            sealed,
        });
        j.append(Some(&run), finished).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&wal).unwrap().len(),
        preallocated,
        "300 commits wrote into the preallocated WAL without growing it"
    );

    // A crash now leaves the WAL with 300 committed frames and zeros after them. Copy what a
    // crashed writer leaves on disk (database and WAL, no shared-memory index), so that
    // SQLite has to rebuild the index by reading the WAL frame by frame.
    let crashed = dir.path().join("crashed");
    std::fs::create_dir(&crashed).unwrap();
    std::fs::copy(&path, crashed.join("j.db")).unwrap();
    std::fs::copy(&wal, crashed.join("j.db-wal")).unwrap();
    drop(j);
    let n: i64 = rusqlite::Connection::open(crashed.join("j.db"))
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        n, 301,
        "journal.opened and 300 appends, nothing from the zeros"
    );
    let report = check(&crashed.join("j.db"), &key(1));
    assert_eq!(
        report.verdict,
        Verdict::ValidSealed,
        "{}",
        report.verdict_text
    );
    assert_eq!(report.journal.events, 301);

    // And a writer reopening the crashed journal goes on from there.
    let mut reopened = Journal::open(&crashed.join("j.db"), key(1)).unwrap();
    assert_eq!(reopened.len(), 301);
    reopened
        .append(Some("run-x"), run_started("run-x"))
        .unwrap();
    drop(reopened);
    assert_eq!(check(&crashed.join("j.db"), &key(1)).journal.events, 302);
}

#[test]
fn open_verifies_every_signature_and_refuses_an_altered_event_naming_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let mut j = Journal::create(&path, key(1), "test").unwrap();
    for run in ["run-1", "run-2"] {
        j.append(Some(run), run_started(run)).unwrap();
        let sealed = j.seal();
        j.append(
            Some(run),
            Body::RunFinished(RunFinished {
                status: RunStatus::Succeeded,
                summary: "nothing".into(),
                sealed,
            }),
        )
        .unwrap();
    }
    drop(j);
    // Re-sign nothing: change the signature of seq 3 only, which a chain walk alone would
    // not notice (the chain links leaf hashes, not signatures).
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TRIGGER events_no_update").unwrap();
    conn.execute("UPDATE events SET sig = zeroblob(64) WHERE seq = 3", [])
        .unwrap();
    drop(conn);
    let err = Journal::open(&path, key(1)).err().expect("refused");
    match &err {
        JournalError::Damaged { seq, reason, .. } => {
            assert_eq!(*seq, 3, "{err}");
            assert!(reason.contains("signature"), "{err}");
        }
        other => panic!("expected Damaged, got {other}"),
    }
    // Refused: the lock is released (refused again for the same reason, not as locked) and
    // nothing was appended.
    assert!(matches!(
        Journal::open(&path, key(1)),
        Err(JournalError::Damaged { seq: 3, .. })
    ));
    let n: i64 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
}

#[test]
fn the_last_run_is_read_back_from_the_journals_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    let mut j = Journal::create(&path, key(1), "test").unwrap();
    j.append(Some("run-1"), run_started("run-1")).unwrap();
    let sealed = j.seal();
    let finished = |sealed| {
        Body::RunFinished(RunFinished {
            status: RunStatus::Succeeded,
            summary: "nothing".into(),
            sealed,
        })
    };
    j.append(Some("run-1"), finished(sealed)).unwrap();
    j.append(Some("run-2"), run_started("run-2")).unwrap();
    let resumed = |reason: &str| {
        Body::RunResumed(RunResumed {
            reason: reason.into(),
            in_doubt: vec![],
        })
    };
    j.append(Some("run-2"), resumed("first")).unwrap();
    j.append(Some("run-2"), resumed("second")).unwrap();
    drop(j);
    let last = runledger_engine::run::last_run(&path).unwrap().unwrap();
    assert_eq!(last.run_id, "run-2");
    assert!(!last.finished());
    let seqs: Vec<u64> = last.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [4, 5], "the run's events after run.started, in order");

    let mut j = Journal::open(&path, key(1)).unwrap();
    let sealed = j.seal();
    j.append(Some("run-2"), finished(sealed)).unwrap();
    drop(j);
    let last = runledger_engine::run::last_run(&path).unwrap().unwrap();
    assert_eq!(last.run_id, "run-2");
    assert!(last.finished());
    assert_eq!(last.events.len(), 2);
}

#[test]
fn open_refuses_a_jsonl_export_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.db");
    drop(Journal::create(&path, key(1), "test").unwrap());
    let export = dir.path().join("j.jsonl");
    let mut lines = Vec::new();
    runledger_verifier::source::for_each_record(
        &path,
        runledger_verifier::source::Format::Sqlite,
        |r| {
            lines.extend(runledger_verifier::source::jsonl_line(&r.event, &r.sig));
            true
        },
    )
    .unwrap();
    std::fs::write(&export, &lines).unwrap();
    assert_eq!(
        check(&export, &key(1)).verdict,
        Verdict::ValidOpen,
        "a valid export"
    );
    let err = Journal::open(&export, key(1)).err().expect("refused");
    assert!(matches!(err, JournalError::Export(_)), "{err}");
    assert!(
        err.to_string().contains("j.jsonl is a JSONL export"),
        "{err}"
    );
}
