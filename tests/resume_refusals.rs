//! `runledger resume` refuses what it must not continue — another runbook, another key, a JSONL
//! export, a journal that fails verification, a journal another process holds — with one line,
//! its exit code, and nothing appended.

use std::path::{Path, PathBuf};

use crate::common::{event_count, resume, runledger, stop_server, text};

/// A drill killed after 20 events: a journal in flight, its server left running.
struct Crashed {
    dir: tempfile::TempDir,
}

impl Crashed {
    fn new() -> Crashed {
        let dir = tempfile::tempdir().unwrap();
        let out = runledger()
            .args(["drill", "--crash-after-events", "20", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), None, "killed: {:?}", text(&out));
        Crashed { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn resume(&self, extra: &[&str], key: &Path) -> (Option<i32>, String) {
        let out = resume(&self.path("journal.db"), key, extra);
        let (_, stderr) = text(&out);
        (out.status.code(), stderr)
    }
}

impl Drop for Crashed {
    fn drop(&mut self) {
        stop_server(self.dir.path());
    }
}

fn events(journal: &Path) -> i64 {
    event_count(journal)
}

fn error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("runledger: error: "))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one error line: {stderr}");
    lines[0]
}

#[test]
fn resume_refuses_another_runbook_and_appends_nothing() {
    let c = Crashed::new();
    let before = events(&c.path("journal.db"));
    let changed = c.path("changed.toml");
    let text = std::fs::read_to_string(c.path("runbook.toml")).unwrap();
    std::fs::write(&changed, text.replace("version = \"1\"", "version = \"2\"")).unwrap();
    let (code, stderr) = c.resume(
        &["--runbook", changed.to_str().unwrap()],
        &c.path("operator.key"),
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        error_line(&stderr).contains("is not the runbook this run started with"),
        "{stderr}"
    );
    assert_eq!(events(&c.path("journal.db")), before);
    // The same runbook file is accepted.
    let (code, stderr) = c.resume(
        &["--runbook", c.path("runbook.toml").to_str().unwrap()],
        &c.path("operator.key"),
    );
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn resume_refuses_another_key_and_appends_nothing() {
    let c = Crashed::new();
    let before = events(&c.path("journal.db"));
    let other = c.path("other.key");
    let out = runledger()
        .args(["keys", "generate", "--out"])
        .arg(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    let (code, stderr) = c.resume(&[], &other);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        error_line(&stderr).contains("is not the key of journal"),
        "{stderr}"
    );
    assert_eq!(events(&c.path("journal.db")), before);
}

#[test]
fn resume_refuses_a_journal_that_does_not_verify_and_appends_nothing() {
    let c = Crashed::new();
    let journal = c.path("journal.db");
    {
        let conn = rusqlite::Connection::open(&journal).unwrap();
        let read = |c: &rusqlite::Connection| -> Vec<u8> {
            c.query_row("SELECT event FROM events WHERE seq = 1", [], |r| r.get(0))
                .unwrap()
        };
        let before = read(&conn);
        conn.execute_batch(
            "DROP TRIGGER events_no_update; UPDATE events SET event = CAST(replace(CAST(event AS TEXT), 'mgc', 'mgd') AS BLOB) WHERE seq = 1;",
        )
        .unwrap();
        assert_ne!(read(&conn), before, "the row was edited");
    }
    let before = events(&journal);
    let (code, stderr) = c.resume(&[], &c.path("operator.key"));
    assert_eq!(code, Some(2), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains("does not verify") && line.contains("seq 1"),
        "{stderr}"
    );
    assert_eq!(events(&journal), before);
}

#[test]
fn resume_refuses_a_journal_locked_by_another_process() {
    let c = Crashed::new();
    let journal = c.path("journal.db");
    let before = events(&journal);
    // Hold the writer's lock the way a second runledger process would.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(c.path("journal.db.lock"))
        .unwrap();
    lock.try_lock().unwrap();
    let (code, stderr) = c.resume(&[], &c.path("operator.key"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        error_line(&stderr).contains("in use by another runledger process"),
        "{stderr}"
    );
    assert_eq!(events(&journal), before);
    drop(lock);
    let (code, stderr) = c.resume(&[], &c.path("operator.key"));
    assert_eq!(code, Some(0), "free again: {stderr}");
}

#[test]
fn resume_refuses_a_jsonl_export_of_the_journal() {
    let c = Crashed::new();
    let journal = c.path("journal.db");
    let export = c.path("journal.jsonl");
    let out = runledger()
        .args(["export", "--journal"])
        .arg(&journal)
        .arg("--jsonl")
        .arg(&export)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let before = events(&journal);
    let exported = std::fs::read(&export).unwrap();
    let out = resume(&export, &c.path("operator.key"), &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        error_line(&stderr).contains("journal.jsonl is a JSONL export"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&export).unwrap(),
        exported,
        "the export is untouched"
    );
    assert_eq!(events(&journal), before);
}
