//! Helpers shared by the end-to-end tests: where the binaries are, and running them.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `runledger` binary under test.
pub fn runledger() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runledger"))
}

/// The `runledger-verify` binary, built beside `runledger` by `cargo test --workspace`.
pub fn runledger_verify() -> Command {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_runledger"))
        .parent()
        .expect("binary has a parent directory")
        .to_path_buf();
    let path = dir.join(format!("runledger-verify{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    Command::new(path)
}

/// Output of a finished command, with stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `runledger resume --journal JOURNAL --key KEY`, to be given more arguments and run.
pub fn resume_command(journal: &std::path::Path, key: &std::path::Path) -> Command {
    let mut c = runledger();
    c.args(["resume", "--journal"])
        .arg(journal)
        .arg("--key")
        .arg(key);
    c
}

/// `runledger resume --journal JOURNAL --key KEY EXTRA…`, run to its end.
pub fn resume(journal: &std::path::Path, key: &std::path::Path, extra: &[&str]) -> Output {
    resume_command(journal, key).args(extra).output().unwrap()
}

/// `runledger sim status DIR --json`: the simulated state and every command it executed.
pub fn sim_status(dir: &std::path::Path) -> serde_json::Value {
    let out = runledger()
        .args(["sim", "status"])
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).expect("sim status --json is JSON")
}

/// Stops the simulated servers of a drill directory when dropped: a test that fails midway
/// leaves no `runledger sim serve` behind.
pub struct Serving(pub std::path::PathBuf);

impl Drop for Serving {
    fn drop(&mut self) {
        stop_server(&self.0);
    }
}

/// Ends the `runledger sim serve` a drill left running in `dir` (for a resume).
pub fn stop_server(dir: &std::path::Path) {
    let _ = Command::new("pkill")
        .arg("-f")
        .arg(format!("sim serve {}", dir.display()))
        .status();
}

/// Every event of a journal as JSON, through `runledger export` (written beside the journal,
/// replacing the export of an earlier call).
pub fn export_events(journal: &std::path::Path) -> Vec<serde_json::Value> {
    let out_path = journal.with_extension("export.jsonl");
    let out = runledger()
        .args(["export", "--force", "--journal"])
        .arg(journal)
        .arg("--jsonl")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].clone())
        .collect()
}

/// Number of events in a journal's SQLite file (0 when it cannot be read).
pub fn event_count(journal: &std::path::Path) -> i64 {
    rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get(0)))
        .unwrap_or(0)
}
