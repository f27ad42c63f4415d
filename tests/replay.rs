//! Deterministic replay: the golden journals in fixtures/golden replay through the engine's
//! step logic without divergence and without touching any system; every prefix of a journal
//! leads to exactly the next decision the journal records; replaying twice gives the same.

use std::path::{Path, PathBuf};

use runledger_engine::dispatcher::describe;
use runledger_engine::keyfile;
use runledger_engine::run::{last_run, replay, ReplayEnd};
use runledger_verifier::event::Body;

fn goldens() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    dirs
}

/// A private copy of a golden journal and its key (the writer's lock and WAL files stay out of
/// the tree; git does not keep the key's owner-only mode).
fn copy(golden: &Path) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["journal.db", "operator.key"] {
        std::fs::copy(golden.join(f), dir.path().join(f)).unwrap();
    }
    let key = dir.path().join("operator.key");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let journal = dir.path().join("journal.db");
    (dir, journal, key)
}

fn run_replay(journal: &Path, key: &Path, limit: Option<usize>) -> ReplayEnd {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Other tests of this process fork children; a child holds a copy of the writer lock's
    // descriptor between its fork and its exec, so the lock this replay just released can
    // still look held for a moment. Only that error is tried again.
    let mut tries = 0;
    loop {
        match rt.block_on(replay(journal, keyfile::load(key).unwrap(), limit)) {
            Err(e) if e.to_string().contains("is in use by another") && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => {
                return r.unwrap_or_else(|e| {
                    panic!("{}: replay of {limit:?} events: {e}", journal.display())
                })
            }
        }
    }
}

#[test]
fn golden_journals_replay_to_the_end_without_divergence() {
    for golden in goldens() {
        let (_dir, journal, key) = copy(&golden);
        assert_eq!(
            run_replay(&journal, &key, None),
            ReplayEnd::Complete,
            "{}",
            golden.display()
        );
        assert_eq!(
            run_replay(&journal, &key, None),
            ReplayEnd::Complete,
            "a second replay too"
        );
    }
}

/// The golden journals, by name: each has its own prefix test, so that they run in parallel.
const GOLDENS: [&str; 5] = [
    "drill_killed_restore",
    "drill_lsn_gap_accepted",
    "drill_missing_file_healed",
    "drill_normal",
    "drill_normal_before_plans",
];

#[test]
fn every_golden_journal_has_its_prefix_test() {
    let names: Vec<String> = goldens()
        .iter()
        .map(|g| g.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names, GOLDENS,
        "a golden journal without its prefix test below"
    );
}

#[test]
fn every_prefix_of_the_normal_drill_leads_to_the_next_recorded_decision() {
    every_prefix_leads_to_the_next_recorded_decision("drill_normal");
}

#[test]
fn every_prefix_of_the_normal_drill_recorded_before_plans_leads_to_the_next_recorded_decision() {
    every_prefix_leads_to_the_next_recorded_decision("drill_normal_before_plans");
}

#[test]
fn every_prefix_of_the_interrupted_restore_leads_to_the_next_recorded_decision() {
    every_prefix_leads_to_the_next_recorded_decision("drill_killed_restore");
}

#[test]
fn every_prefix_of_the_accepted_gap_leads_to_the_next_recorded_decision() {
    every_prefix_leads_to_the_next_recorded_decision("drill_lsn_gap_accepted");
}

#[test]
fn every_prefix_of_the_healed_missing_file_leads_to_the_next_recorded_decision() {
    every_prefix_leads_to_the_next_recorded_decision("drill_missing_file_healed");
}

fn every_prefix_leads_to_the_next_recorded_decision(name: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/golden");
    {
        let golden = root.join(name);
        let (_dir, journal, key) = copy(&golden);
        let run = last_run(&journal).unwrap().unwrap();
        let events = &run.events;
        for k in 0..events.len() {
            let next = &events[k];
            let expected = match &next.body {
                // Why the engine stopped: a fact about the run, which replay passes over.
                Body::Observation(o) if o.name == "halt" => continue,
                // The run's plan: what it announced, which replay passes over too.
                Body::Observation(o)
                    if o.name == runledger_verifier::plan_check::PLAN_OBSERVATION =>
                {
                    continue
                }
                Body::Observation(_)
                | Body::StepIntent(_)
                | Body::StepOutcome(_)
                | Body::StepReconciled(_) => describe(next),
                // An approval recorded right after its intent: cut there, the intent is in
                // doubt and the next decision is its reconciliation.
                Body::Approval(a) => match k.checked_sub(1).map(|p| &events[p].body) {
                    Some(Body::StepIntent(i)) => {
                        format!("reconciliation of {} attempt {}", i.step, i.attempt)
                    }
                    _ => format!("approval of {}", a.step),
                },
                _ => continue,
            };
            let got = run_replay(&journal, &key, Some(k));
            assert_eq!(
                got,
                ReplayEnd::Next(expected.clone()),
                "{}: after {k} recorded events the next decision must be seq {}",
                golden.display(),
                next.seq
            );
            // Deterministic: the same prefix, the same answer.
            assert_eq!(
                run_replay(&journal, &key, Some(k)),
                ReplayEnd::Next(expected)
            );
        }
    }
}

#[test]
fn a_journal_whose_recorded_intent_differs_from_the_logic_is_a_divergence() {
    use crate::fixture_journals::{rewrite, write_sqlite};
    use runledger_engine::dispatcher::Halt;
    use runledger_engine::run::RunError;

    for golden in goldens() {
        let (dir, journal, key) = copy(&golden);
        let mut events = crate::fixture_journals::journal_events(&journal);
        // The key holder records a restore of another file than the logic chooses.
        let at = events
            .iter()
            .position(|e| matches!(&e.body, Body::StepIntent(i) if i.action == "restore_logs"))
            .unwrap();
        let original = match &mut events[at].body {
            Body::StepIntent(i) => {
                let before = i.command.clone();
                i.command = i.command.replace("WITH FILE = 1", "WITH FILE = 2");
                before
            }
            _ => unreachable!(),
        };
        // And the plan with it, and every later restore, so that the journal holds together:
        // only the logic can tell.
        for e in &mut events {
            if let Body::StepIntent(i) = &mut e.body {
                if i.action == "restore_logs" {
                    i.command = i.command.replace("WITH FILE = 1", "WITH FILE = 2");
                }
            }
            if let Body::Observation(o) = &mut e.body {
                if o.name == runledger_verifier::plan_check::PLAN_OBSERVATION {
                    use runledger_verifier::plan_check::{Piece, PlanData};
                    let mut plan: PlanData = serde_json::from_value(o.data.clone()).unwrap();
                    for step in &mut plan.steps {
                        for piece in step.templates.iter_mut().flatten() {
                            if let Piece::Text(t) = piece {
                                *t = t.replace("WITH FILE = 1", "WITH FILE = 2");
                            }
                        }
                    }
                    o.data = serde_json::to_value(PlanData::of(plan.steps)).unwrap();
                }
            }
        }
        let forged = dir.path().join("forged.db");
        let k = keyfile::load(&key).unwrap();
        write_sqlite(&forged, &rewrite(events, &k));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let err = rt
            .block_on(replay(&forged, k, None))
            .expect_err("a divergence");
        match err {
            RunError::Halted(Halt::Divergence {
                seq,
                recorded,
                expected,
            }) => {
                assert_eq!(seq, at as u64);
                assert!(recorded.contains("WITH FILE = 2"), "{recorded}");
                assert!(expected.contains(&original), "{expected}");
            }
            other => panic!("expected a divergence, got {other}"),
        }
    }
}
