//! Two engines started on one journal at the same moment: exactly one proceeds, the other is
//! refused with the lock error (exit 2) before it appends anything, and the journal verifies.
//! The simulated restores are paced so that the winner is still running when the loser starts.

use std::process::{Child, Command, Output, Stdio};

use crate::bad_input::{assert_verifies, error_line, CrashedDrill};
use crate::common::{resume_command, runledger, text};

/// Starts both commands before waiting for either.
fn at_once(mut a: Command, mut b: Command) -> (Output, Output) {
    let spawn = |c: &mut Command| -> Child {
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ca, cb) = (spawn(&mut a), spawn(&mut b));
    (
        ca.wait_with_output().unwrap(),
        cb.wait_with_output().unwrap(),
    )
}

/// One of the two proceeded (`winner_ok` says how it must end), the other got the lock error.
fn exactly_one_proceeds(a: &Output, b: &Output, journal: &std::path::Path) -> usize {
    refused_once(a, b, journal, &["in use by another runledger process"])
}

/// Exactly one of `a` and `b` is refused (exit 2) with one of `refusals`, naming the journal;
/// returns the index of the other.
fn refused_once(a: &Output, b: &Output, journal: &std::path::Path, refusals: &[&str]) -> usize {
    let lost =
        |o: &Output| o.status.code() == Some(2) && refusals.iter().any(|r| text(o).1.contains(r));
    let (la, lb) = (lost(a), lost(b));
    assert!(
        la != lb,
        "exactly one is refused with {refusals:?}:\nA {:?} {:?}\nB {:?} {:?}",
        a.status,
        text(a),
        b.status,
        text(b)
    );
    let (winner, loser) = if la { (b, a) } else { (a, b) };
    let line = error_line(&text(loser).1).to_string();
    assert!(
        line.contains(&journal.display().to_string()),
        "names the journal: {line}"
    );
    assert!(
        !text(winner).1.contains("in use by another"),
        "{:?}",
        text(winner)
    );
    if la {
        1
    } else {
        0
    }
}

#[test]
fn two_resumes_of_one_crashed_journal_at_once_exactly_one_proceeds() {
    // Killed after 20 events; every simulated restore takes 400 ms, so a resume lasts seconds.
    let d = CrashedDrill::new(20, &["--pace", "400"]);
    let journal = d.path("journal.db");
    let resume = || resume_command(&journal, &d.path("operator.key"));
    let (a, b) = at_once(resume(), resume());
    let winner = exactly_one_proceeds(&a, &b, &journal);
    let w = if winner == 0 { &a } else { &b };
    assert_eq!(w.status.code(), Some(0), "{:?}", text(w));
    assert_verifies(&journal, &d.path("operator.key.pub"));
    // One run.resumed: the loser appended nothing.
    let resumed = crate::common::export_events(&journal)
        .iter()
        .filter(|e| e["kind"] == "run.resumed")
        .count();
    assert_eq!(resumed, 1);
    // No restore executed twice.
    let mut restores: Vec<String> = d
        .history()
        .into_iter()
        .filter(|h| h.starts_with("RESTORE"))
        .collect();
    let n = restores.len();
    restores.sort();
    restores.dedup();
    assert_eq!(restores.len(), n, "nothing restored twice");
}

#[test]
fn two_runs_with_one_new_journal_at_once_exactly_one_proceeds() {
    // Killed after 2 events: the simulated data center is untouched and stays up.
    let d = CrashedDrill::new(2, &["--pace", "400"]);
    let journal = d.path("second.db");
    let run = || {
        let mut c = runledger();
        c.arg("run")
            .arg(d.path("runbook.toml"))
            .arg("--journal")
            .arg(&journal)
            .arg("--key")
            .arg(d.path("operator.key"));
        c
    };
    let (a, b) = at_once(run(), run());
    // The loser meets the winner's lock, or — when the winner has already written its first
    // checkpoint beside the journal — the refusal of a new journal under a name whose
    // checkpoints are kept. Both refuse before anything is written.
    let winner = refused_once(
        &a,
        &b,
        &journal,
        &["in use by another runledger process", "are kept in"],
    );
    let w = if winner == 0 { &a } else { &b };
    assert_eq!(w.status.code(), Some(0), "{:?}", text(w));
    assert_verifies(&journal, &d.path("operator.key.pub"));
    let events = crate::common::export_events(&journal);
    assert_eq!(
        events.iter().filter(|e| e["kind"] == "run.started").count(),
        1,
        "one run in the journal"
    );
}
