//! A journal deleted or replaced under a running engine stops the run: the writer checks,
//! before every append and every action, that the journal's path still names the file it
//! opened (same device and inode, still linked). The run halts with one error line (exit 1),
//! executes nothing more than the action already in flight, and never says "finished".
//!
//! The simulator's history (`runledger sim status DIR --json`) is the witness of what ran.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::bad_input::{error_line, sim_history};
use crate::common::{runledger, stop_server, text};

/// Intents of `apply-logs` units durable in the journal (read-only; 0 while it cannot be read).
fn restore_intents(journal: &Path) -> i64 {
    rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM events WHERE CAST(event AS TEXT) LIKE '%\"kind\":\"step.intent\"%' AND CAST(event AS TEXT) LIKE '%\"step\":\"apply-logs/%'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or(0)
}

/// A paced drill in `dir`, started in the background.
fn paced_drill(dir: &Path) -> Child {
    runledger()
        .args(["drill", "--pace", "400", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the journal holds the intent of the first log restore: a restore is then in
/// flight (each takes the pace), and more are to come.
fn wait_for_first_restore(dir: &Path, drill: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while restore_intents(&dir.join("journal.db")) == 0 {
        if let Some(status) = drill.try_wait().unwrap() {
            panic!("the drill ended ({status}) before its first restore");
        }
        assert!(Instant::now() < deadline, "no restore intent within 180 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the run must show after its journal went away under it.
fn assert_stopped_before_the_next_action(
    out: &Output,
    dir: &Path,
    history_then: usize,
    what: &str,
) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("finished"),
        "never says finished: {stderr}"
    );
    let line = error_line(&stderr);
    assert!(
        line.contains(&format!("journal {}", dir.join("journal.db").display()))
            && line.contains(what)
            && line.contains("nothing more is executed"),
        "{line}"
    );
    assert!(
        !stdout.contains("verification:"),
        "no summary of a journal that is gone: {stdout}"
    );
    let history = sim_history(dir);
    assert!(
        history.len() <= history_then + 1,
        "at most the restore in flight ran after the journal went away: {:?}",
        &history[history_then..]
    );
    assert!(
        !history
            .iter()
            .any(|c| c.contains("WITH RECOVERY") || c.contains("Set-Cs")),
        "no later step ran: {history:?}"
    );
}

#[test]
fn a_paced_drill_whose_journal_is_deleted_mid_run_stops_before_the_next_action() {
    let dir = tempfile::tempdir().unwrap();
    let _serving = crate::common::Serving(dir.path().to_path_buf());
    let mut drill = paced_drill(dir.path());
    wait_for_first_restore(dir.path(), &mut drill);
    // `rm journal.db*`: the files, not the folder of kept checkpoints.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("journal.db") && path.is_file() {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let history_then = sim_history(dir.path()).len();
    let out = drill.wait_with_output().unwrap();
    assert_stopped_before_the_next_action(&out, dir.path(), history_then, "was deleted");
    stop_server(dir.path());
}

#[test]
fn a_journal_replaced_mid_run_halts_it_and_nothing_more_is_executed() {
    let dir = tempfile::tempdir().unwrap();
    let _serving = crate::common::Serving(dir.path().to_path_buf());
    let journal = dir.path().join("journal.db");
    let mut drill = paced_drill(dir.path());
    wait_for_first_restore(dir.path(), &mut drill);
    // A copy takes the journal's name; the original stays linked elsewhere, so only the path
    // tells that it is not the file the engine writes.
    std::fs::hard_link(&journal, dir.path().join("original.db")).unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(&journal, &copy).unwrap();
    std::fs::rename(&copy, &journal).unwrap();
    let history_then = sim_history(dir.path()).len();
    let out = drill.wait_with_output().unwrap();
    assert_stopped_before_the_next_action(
        &out,
        dir.path(),
        history_then,
        "was replaced by another file",
    );
    stop_server(dir.path());
}
