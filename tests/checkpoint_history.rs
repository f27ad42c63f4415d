//! Checkpoints are history, not a file to overwrite: every checkpoint a run signs is kept in
//! `<journal>.checkpoints/<size>.txt` and never replaced; `run` and `resume` hold the journal
//! against every checkpoint of it they can find (the kept ones, `checkpoint.txt`, any
//! `--checkpoint`) before acting, and refuse one that is shorter or other than any of them,
//! naming the checkpoint and the first missing or differing seq. Nothing is executed (the
//! simulator's history is the witness) and nothing is overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use runledger_engine::checkpoints;
use runledger_engine::clock::SteppingClock;
use runledger_engine::{keyfile, Journal};
use runledger_verifier::event::{Body, Operator, RunResumed, RunStarted, RunbookSource};
use runledger_verifier::signing::sha256_hex;

use crate::bad_input::{error_line, new_key, sim_history, CrashedDrill, JournalState};
use crate::common::{cut_tail, resume, runledger, runledger_verify, text};

/// The kept checkpoints of a journal: size → text.
fn history(journal: &Path) -> BTreeMap<u64, String> {
    checkpoints::kept(journal)
        .unwrap()
        .into_iter()
        .map(|(size, path)| (size, std::fs::read_to_string(path).unwrap()))
        .collect()
}

/// A finished drill in a new directory.
fn finished_drill() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    dir
}

/// `runledger sim serve DIR`, up for as long as the guard lives: a refused resume must not
/// be refused merely because nothing could be reached.
struct Serving(Child);

impl Serving {
    fn start(dir: &Path) -> Serving {
        let child = runledger()
            .args(["sim", "serve"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let instances: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("sim/instances.json")).unwrap())
                .unwrap();
        let port = instances[0]["port"].as_u64().unwrap() as u16;
        // Until it listens (the deadline only bounds a broken setup).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "sim serve did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Serving(child)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_finished_drill_cut_by_its_last_13_events_is_refused_by_resume_and_nothing_runs() {
    let dir = finished_drill();
    let d = dir.path();
    let journal = d.join("journal.db");
    let total = JournalState::of(&journal).rows() as u64;
    cut_tail(&journal, 13);
    let left = total - 13;
    let cut = JournalState::of(&journal);
    let checkpoint_txt = std::fs::read(d.join("checkpoint.txt")).unwrap();
    let kept = history(&journal);
    let _server = Serving::start(d);
    let sim_before = sim_history(d);

    let out = resume(&journal, &d.join("operator.key"), &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = error_line(&stderr);
    let first_missing = checkpoints::history_dir(&journal).join(format!("{}.txt", left + 1));
    assert!(
        line.contains(&format!(
            "journal {} contradicts its checkpoints",
            journal.display()
        )) && line.contains(&format!("checkpoint {}", first_missing.display()))
            && line.contains(&format!("seq {left} is the first missing"))
            && line.contains("nothing was executed"),
        "{line}"
    );
    assert!(
        !stderr.contains("Set-Cs") && !stderr.contains("finished"),
        "{stderr}"
    );
    assert_eq!(sim_history(d), sim_before, "nothing was executed");
    assert_eq!(JournalState::of(&journal), cut, "nothing was appended");
    assert_eq!(
        std::fs::read(d.join("checkpoint.txt")).unwrap(),
        checkpoint_txt,
        "checkpoint.txt unchanged"
    );
    assert_eq!(history(&journal), kept, "the kept checkpoints unchanged");

    // Nor does the operator's key sign the cut journal.
    for args in [
        vec!["checkpoint", "--journal"],
        vec!["prove", "--seq", "3", "--out", "p.proof", "--journal"],
    ] {
        let out = runledger()
            .current_dir(d)
            .args(&args)
            .arg(&journal)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(error_line(&stderr).contains("refusing to sign"), "{stderr}");
        assert!(!d.join("p.proof").exists());
    }
}

#[test]
fn every_checkpoint_a_run_signs_is_kept_and_a_resume_adds_to_them_without_overwriting() {
    let crashed = CrashedDrill::new(30, &[]);
    let journal = crashed.path("journal.db");
    let before = history(&journal);
    assert_eq!(
        before.keys().copied().collect::<Vec<_>>(),
        (3..30).collect::<Vec<_>>(),
        "one checkpoint per event from the run's start and its plan up to the crash (the 30th was not kept before the kill)"
    );
    let out = crashed.resume(&[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let after = history(&journal);
    let total = JournalState::of(&journal).rows() as u64;
    assert_eq!(
        after.keys().copied().collect::<Vec<_>>(),
        (3..=total).collect::<Vec<_>>(),
        "every size from the first run's start to the end"
    );
    for (size, text) in &before {
        assert_eq!(
            &after[size], text,
            "kept checkpoint {size} was not rewritten"
        );
    }
    assert_eq!(
        std::fs::read_to_string(crashed.path("checkpoint.txt")).unwrap(),
        after[&total],
        "checkpoint.txt is a copy of the latest"
    );
    // Every kept checkpoint is one the auditor can hold the journal against.
    let mut verify = runledger_verify();
    verify
        .arg(&journal)
        .arg("--trust")
        .arg(crashed.path("operator.key.pub"))
        .arg("--require-anchor");
    for (_, path) in checkpoints::kept(&journal).unwrap() {
        verify.arg("--checkpoint").arg(path);
    }
    let out = verify.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("VALID AND ANCHORED"), "{stdout}");
}

const RUNBOOK: &str = "[[steps]]\nid = \"a\"\naction = \"manual\"\n";

fn started(run: &str) -> Body {
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

/// A journal with id `id`: `journal.opened`, `run.started`, then `run.resumed` events whose
/// reasons are `reasons`; with `keep`, every checkpoint kept as a run keeps them.
fn write_journal(path: &Path, key: &Path, reasons: &[String], keep: bool) {
    let key = keyfile::load(key).unwrap();
    let mut j = Journal::create_with_id(
        path,
        key,
        "test",
        Box::new(SteppingClock::new(1_768_446_000_000_000, 1_000)),
        "5f1d2c3b-0000-4000-8000-00000000c0de".into(),
    )
    .unwrap();
    let mut bodies = vec![started("run-1")];
    bodies.extend(reasons.iter().map(|r| {
        Body::RunResumed(RunResumed {
            reason: r.clone(),
            in_doubt: vec![],
        })
    }));
    for body in bodies {
        j.append(Some("run-1"), body).unwrap();
        if keep {
            checkpoints::keep(path, j.len(), &j.checkpoint_text().unwrap()).unwrap();
        }
    }
}

fn move_journal(from: &Path, to: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let (f, t) = (
            PathBuf::from(format!("{}{suffix}", from.display())),
            PathBuf::from(format!("{}{suffix}", to.display())),
        );
        let _ = std::fs::remove_file(&t);
        if f.exists() {
            std::fs::rename(&f, &t).unwrap();
        }
    }
}

#[test]
fn resume_refuses_a_journal_other_than_its_kept_checkpoints_naming_the_first_differing_seq() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    let journal = dir.path().join("journal.db");
    // The journal a run kept checkpoints of, and another continuation of its first 5 events
    // (what a key holder's rewrite, or a copy resumed elsewhere, looks like).
    let kept: Vec<String> = (0..6).map(|i| format!("kept {i}")).collect();
    write_journal(&journal, &key, &kept, true);
    let other: Vec<String> = (0..8)
        .map(|i| format!("{} {i}", if i < 3 { "kept" } else { "other" }))
        .collect();
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    let forked = dir.path().join("elsewhere/journal.db");
    write_journal(&forked, &key, &other, false);
    move_journal(&forked, &journal);
    let before = JournalState::of(&journal);
    let kept_before = history(&journal);

    let out = resume(&journal, &key, &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = error_line(&stderr);
    // Seq 0..4 are the same (journal.opened, run.started, three run.resumed); seq 5 differs.
    let history_dir = checkpoints::history_dir(&journal);
    assert!(
        line.contains("contradicts its checkpoints: journal rewritten")
            && line.contains(&format!(
                "checkpoint {}",
                history_dir.join("6.txt").display()
            ))
            && line.contains(&format!(
                "checkpoint {} holds seq 0..4 as they are, so seq 5 is the first that differs",
                history_dir.join("5.txt").display()
            )),
        "{line}"
    );
    assert_eq!(JournalState::of(&journal), before, "nothing appended");
    assert_eq!(history(&journal), kept_before, "no checkpoint overwritten");

    // Without the history beside it, a checkpoint given on the command line holds it too.
    let given = dir.path().join("ticket-checkpoint.txt");
    std::fs::copy(history_dir.join("8.txt"), &given).unwrap();
    std::fs::remove_dir_all(&history_dir).unwrap();
    let out = resume(&journal, &key, &["--checkpoint", given.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains("journal rewritten")
            && line.contains(&format!("checkpoint {}", given.display()))
            && line.contains("one of seq 0..7"),
        "{line}"
    );
    assert_eq!(JournalState::of(&journal), before, "nothing appended");
}

#[test]
fn run_refuses_to_start_a_journal_under_the_name_of_one_whose_checkpoints_are_kept() {
    let dir = finished_drill();
    let d = dir.path();
    let journal = d.join("journal.db");
    let total = JournalState::of(&journal).rows();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", journal.display()));
    }
    let sim_before = sim_history(d);
    let _server = Serving::start(d);
    let out = runledger()
        .arg("run")
        .arg(d.join("runbook.toml"))
        .arg("--journal")
        .arg(&journal)
        .arg("--key")
        .arg(d.join("operator.key"))
        .arg("--yes")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains(&format!(
            "checkpoints of a journal at {} are kept in {} (the latest covers seq 0..{})",
            journal.display(),
            checkpoints::history_dir(&journal).display(),
            total - 1
        )),
        "{line}"
    );
    assert!(!journal.exists(), "no journal created");
    assert_eq!(sim_history(d), sim_before, "nothing was executed");
}

#[test]
fn the_last_line_of_run_and_drill_names_checkpoint_txt_only_when_it_was_written() {
    // checkpoint.txt cannot be written where a folder has its name.
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    std::fs::create_dir(dir.path().join("checkpoint.txt")).unwrap();
    let out = runledger()
        .arg("run")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/runbooks/valid/minimal.toml"))
        .arg("--journal")
        .arg(dir.path().join("journal.db"))
        .arg("--key")
        .arg(&key)
        .arg("--yes")
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: cannot write checkpoint"),
        "{stderr}"
    );
    let last = stderr.lines().last().unwrap();
    assert!(
        last.contains("finished") && last.contains("no checkpoint written"),
        "{last}"
    );
    assert!(!last.contains("checkpoint.txt"), "{last}");
    // The kept checkpoints were written all the same.
    assert!(!history(&dir.path().join("journal.db")).is_empty());

    let drill = tempfile::tempdir().unwrap();
    std::fs::create_dir(drill.path().join("checkpoint.txt")).unwrap();
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(drill.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("checkpoint       not written for the journal as it ends"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&format!(
            "--checkpoint {}",
            drill.path().join("checkpoint.txt").display()
        )),
        "{stdout}"
    );
}
