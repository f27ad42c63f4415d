//! `runledger drill`: the whole failover against the simulated data center, uninterrupted and
//! killed after every possible number of journal events, each followed by `runledger resume`.
//! The simulator's own record (`runledger sim status --json`) is the independent witness of
//! what was executed: every needed log restored exactly once, in LSN order, nothing twice.

use std::path::Path;
use std::process::Output;

use crate::common::{
    event_count, export_events, in_lsn_order, restored_files, resume, runledger, runledger_verify,
    sim_status, stop_server, text, Serving,
};

fn drill(dir: &Path, extra: &[&str]) -> Output {
    runledger()
        .arg("drill")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run the drill")
}

fn verify_anchored(dir: &Path) {
    let out = runledger_verify()
        .arg(dir.join("journal.db"))
        .arg("--trust")
        .arg(dir.join("operator.key.pub"))
        .arg("--checkpoint")
        .arg(dir.join("checkpoint.txt"))
        .arg("--require-anchor")
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("VALID AND ANCHORED"), "{stdout}");
}

/// The end state an experienced DBA expects after the failover, read from the simulator.
fn assert_failed_over(status: &serde_json::Value) {
    let bak = status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "BAK")
        .unwrap();
    let mgc = bak["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "mgc")
        .unwrap();
    assert_eq!(mgc["state"], "ONLINE", "{mgc}");
    assert_eq!(mgc["mirroring_role"], "PRINCIPAL", "{mgc}");
    assert!(
        bak["log_shipping"].as_array().unwrap().is_empty(),
        "log shipping removed"
    );
    let pool = &status["pool"];
    assert_eq!(pool["pool_state"], "FailedOver");
    let sites: std::collections::HashMap<String, String> = pool["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s[0].as_str().unwrap().to_string(),
                s[1].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let active = pool["active_servers"].as_array().unwrap();
    assert!(!active.is_empty());
    for s in active {
        assert_eq!(
            sites[s.as_str().unwrap()],
            "Amsterdam",
            "active server {s} is in the backup site"
        );
    }

    // Every log the database did not yet contain restored exactly once, in LSN order.
    let files = status["files"].as_array().unwrap();
    assert!(
        files.iter().all(|f| f["restored"] == true),
        "every log restored: {files:?}"
    );
    let restores: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["command"].as_str())
        .filter(|c| c.starts_with("RESTORE LOG"))
        .collect();
    let mut names = restored_files(&restores);
    let in_lsn_order = in_lsn_order(status, &names);
    assert_eq!(names, in_lsn_order, "restored in LSN order");
    // No session ended twice (a KILL is guarded: after a crash it is probed, not repeated).
    let mut kills: Vec<&str> = status["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["command"].as_str())
        .filter(|c| c.starts_with("KILL"))
        .collect();
    let kill_count = kills.len();
    kills.sort();
    kills.dedup();
    assert_eq!(kills.len(), kill_count, "a session was killed twice");
    let before = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), before, "no log restored twice: {restores:?}");
    // Someone removed log shipping by hand before a partial previous attempt: found done,
    // not done again.
    let by_hand = status["scenario"] == "partial-previous-attempt";
    for (once, times) in [
        ("RESTORE DATABASE", 1),
        (
            "sp_delete_log_shipping_secondary_database",
            if by_hand { 0 } else { 1 },
        ),
        ("Set-CsPersistentChatState", 1),
        ("Install-CsMirrorDatabase", 1),
    ] {
        let n = status["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["command"].as_str().unwrap_or("").contains(once))
            .count();
        assert_eq!(n, times, "{once} executed {n} times");
    }
}

#[test]
fn the_drill_completes_the_failover_and_the_journal_is_anchored() {
    let dir = tempfile::tempdir().unwrap();
    let out = drill(dir.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("verification: VALID AND ANCHORED"),
        "{stdout}"
    );
    for path in [
        "journal.db",
        "operator.key",
        "operator.key.pub",
        "runbook.toml",
        "checkpoint.txt",
        "sim/instances.json",
    ] {
        assert!(
            dir.path().join(path).exists(),
            "{path} is part of the drill directory contract"
        );
    }
    verify_anchored(dir.path());
    assert_failed_over(&sim_status(dir.path()));
    // No secret in the journal: the simulated login's password never appears.
    let instances: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sim/instances.json")).unwrap())
            .unwrap();
    let journal = std::fs::read(dir.path().join("journal.db")).unwrap();
    for i in instances.as_array().unwrap() {
        let pw = i["password"].as_str().unwrap();
        assert!(
            !journal.windows(pw.len()).any(|w| w == pw.as_bytes()),
            "password in the journal"
        );
    }
}

/// The simulated state without what differs between two runs of one seed for reasons other
/// than the failover (ports, sessions, the pace, the command history with its timestamps).
fn end_state(status: &serde_json::Value) -> serde_json::Value {
    let mut s = status.clone();
    s.as_object_mut().unwrap().remove("history");
    s.as_object_mut().unwrap().remove("pace_ms");
    for i in s["instances"].as_array_mut().unwrap() {
        let i = i.as_object_mut().unwrap();
        i.remove("port");
        i.remove("sessions");
    }
    s
}

/// Every state-changing command the simulated systems executed was preceded by a durable
/// intent naming it: an intent recorded no later than the command ran whose text contains it.
fn assert_intents_precede_commands(dir: &Path, status: &serde_json::Value) {
    let intents: Vec<(String, String)> = export_events(&dir.join("journal.db"))
        .into_iter()
        .filter(|e| e["kind"] == "step.intent")
        .map(|e| {
            (
                e["at"].as_str().unwrap().to_string(),
                e["body"]["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for h in status["history"].as_array().unwrap() {
        let command = h["command"].as_str().unwrap().trim().trim_end_matches(';');
        if command.starts_with("SQL Server Agent") || h["system"] == "operator" {
            continue; // the simulated agent's own doing, or the operator's repair: not ours
        }
        let at = h["at"].as_str().unwrap();
        // A cmdlet line is the last word of the shell's command line, which the intent shows
        // quoted for a POSIX shell: each `'` of its single-quoted literals reads `'\''` there.
        let shown = command.replace('\'', "'\\''");
        let preceded = intents
            .iter()
            .any(|(t, c)| (c.contains(command) || c.contains(&shown)) && t.as_str() <= at);
        assert!(
            preceded,
            "{command:?} at {at} ran without a durable intent before it"
        );
    }
}

/// Runs the drill killed at a crash point, then resumes until the run finishes; the end state
/// must equal an uninterrupted run's.
fn crash_and_resume(how: Crash, expected: &serde_json::Value) {
    crash_and_resume_in("normal", how, expected)
}

fn crash_and_resume_in(scenario: &str, how: Crash, expected: &serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let _serving = Serving(dir.path().to_path_buf());
    let mut cmd = runledger();
    cmd.arg("drill")
        .arg("--dir")
        .arg(dir.path())
        .args(["--scenario", scenario]);
    match how {
        Crash::AfterEvents(n) => {
            eprintln!("{scenario}: drill killed after {n} events, then resumed");
            cmd.args(["--crash-after-events", &n.to_string()]);
        }
        Crash::BeforeOutcome(k) => {
            eprintln!("{scenario}: drill killed after action {k} ran and before its outcome, then resumed");
            cmd.arg("--inject-fault")
                .arg(format!("crash:before-outcome:{k}"));
        }
        Crash::AtMillis(ms) => {
            eprintln!("{scenario}: paced drill killed with SIGKILL after {ms} ms, then resumed");
            cmd.args(["--pace", "40"]);
        }
    }
    let out = match how {
        Crash::AtMillis(ms) => {
            let child = cmd
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(ms));
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &child.id().to_string()])
                .status();
            child.wait_with_output().unwrap()
        }
        _ => cmd.output().unwrap(),
    };
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let killed = out.status.code().is_none();
    let has_run = event_count(&dir.path().join("journal.db")) >= 2;
    if killed && has_run {
        // The engine died; the simulated server it started is still up, as in reality.
        let out = resume(
            &dir.path().join("journal.db"),
            &dir.path().join("operator.key"),
            &[],
        );
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(0), "resume after {how:?}:\n{o}{e}");
    } else if !killed {
        assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    }
    let started = event_count(&dir.path().join("journal.db"));
    if started < 2 {
        // Killed before run.started was durable: no run to resume; a drill starts afresh.
        stop_server(dir.path());
        return;
    }
    verify_anchored(dir.path());
    let status = sim_status(dir.path());
    assert_failed_over(&status);
    assert_intents_precede_commands(dir.path(), &status);
    assert_eq!(
        &end_state(&status),
        expected,
        "the end state equals an uninterrupted run's"
    );
    stop_server(dir.path());
}

#[derive(Debug, Clone, Copy)]
enum Crash {
    AfterEvents(u64),
    BeforeOutcome(u64),
    /// SIGKILL from outside after this many milliseconds of a paced drill.
    AtMillis(u64),
}

/// An uninterrupted drill: its journal length, its number of actions and its end state.
fn uninterrupted() -> (u64, u64, serde_json::Value) {
    uninterrupted_in("normal")
}

fn uninterrupted_in(scenario: &str) -> (u64, u64, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = drill(dir.path(), &["--scenario", scenario]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let report = runledger_verify()
        .arg(dir.path().join("journal.db"))
        .arg("--trust")
        .arg(dir.path().join("operator.key.pub"))
        .arg("--json")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let total = json["journal"]["events"].as_u64().unwrap();
    let actions = json["steps"].as_array().unwrap().len() as u64;
    (total, actions, end_state(&sim_status(dir.path())))
}

/// Every number of events a drill can be killed after, in `parts` interleaved shares (so that
/// the shares run in parallel and each covers the whole run): share `part` takes every n with
/// n % parts == part.
fn killed_after_events(part: u64, parts: u64) {
    let (total, _, expected) = uninterrupted();
    assert!(total > 40, "a normal run writes many events ({total})");
    let mut runs = 0;
    for n in (1..total).filter(|n| n % parts == part) {
        crash_and_resume(Crash::AfterEvents(n), &expected);
        runs += 1;
    }
    eprintln!("crash points: after events 1..{total} with n % {parts} == {part}: {runs} runs, 0 violations");
}

#[test]
fn a_drill_killed_after_any_number_of_events_resumes_to_the_same_end_state_1_of_4() {
    killed_after_events(0, 4);
}

#[test]
fn a_drill_killed_after_any_number_of_events_resumes_to_the_same_end_state_2_of_4() {
    killed_after_events(1, 4);
}

#[test]
fn a_drill_killed_after_any_number_of_events_resumes_to_the_same_end_state_3_of_4() {
    killed_after_events(2, 4);
}

#[test]
fn a_drill_killed_after_any_number_of_events_resumes_to_the_same_end_state_4_of_4() {
    killed_after_events(3, 4);
}

/// Every action a drill can be killed in, after it ran and before its outcome, in two shares.
fn killed_before_outcome(part: u64, parts: u64) {
    let (_, actions, expected) = uninterrupted();
    assert!(actions > 20, "a normal run has many actions ({actions})");
    let mut runs = 0;
    for k in (1..=actions).filter(|k| k % parts == part) {
        crash_and_resume(Crash::BeforeOutcome(k), &expected);
        runs += 1;
    }
    eprintln!("crash points: between actions k % {parts} == {part} of {actions} and their outcome: {runs} runs, 0 violations");
}

#[test]
fn a_drill_killed_between_any_action_and_its_outcome_resumes_without_repeating_it_1_of_2() {
    killed_before_outcome(0, 2);
}

#[test]
fn a_drill_killed_between_any_action_and_its_outcome_resumes_without_repeating_it_2_of_2() {
    killed_before_outcome(1, 2);
}

/// A scenario's crash matrix, sampled: kills after every `events_step`-th event (from
/// `events_from`) and between every `actions_step`-th action (from `actions_from`) and its
/// outcome.
fn crash_matrix(scenario: &str, events: (u64, usize), actions: (u64, usize)) {
    crash_points(scenario, Some(events), Some(actions));
}

/// Kills `scenario` after every `events.1`-th event from `events.0`, and between every
/// `actions.1`-th action from `actions.0` and its outcome; either may be left out, so that
/// the points of one matrix are shared between tests that run side by side.
fn crash_points(scenario: &str, events: Option<(u64, usize)>, actions: Option<(u64, usize)>) {
    let (total, count, expected) = uninterrupted_in(scenario);
    let mut runs = 0;
    if let Some((from, step)) = events {
        for n in (from..total).step_by(step) {
            crash_and_resume_in(scenario, Crash::AfterEvents(n), &expected);
            runs += 1;
        }
    }
    if let Some((from, step)) = actions {
        for k in (from..=count).step_by(step) {
            crash_and_resume_in(scenario, Crash::BeforeOutcome(k), &expected);
            runs += 1;
        }
    }
    eprintln!("crash points of {scenario}: {runs} runs, 0 violations");
}

/// The crash matrix of a scenario that completes without an operator decision: sessions to
/// end before the restores. Every fifth event and every fourth action, in three shares.
#[test]
fn crash_matrix_of_sessions_holding_the_database_after_events_from_1() {
    crash_points("sessions-holding-db", Some((1, 10)), None);
}

#[test]
fn crash_matrix_of_sessions_holding_the_database_after_events_from_6() {
    crash_points("sessions-holding-db", Some((6, 10)), None);
}

#[test]
fn crash_matrix_of_sessions_holding_the_database_before_outcomes() {
    crash_points("sessions-holding-db", None, Some((1, 4)));
}

/// The crash matrix of a scenario that completes without an operator decision: a restore job
/// to wait for. Every fifth event and every fourth action, in three shares.
#[test]
fn crash_matrix_of_a_running_restore_job_after_events_from_1() {
    crash_points("restore-job-running", Some((1, 10)), None);
}

#[test]
fn crash_matrix_of_a_running_restore_job_after_events_from_6() {
    crash_points("restore-job-running", Some((6, 10)), None);
}

#[test]
fn crash_matrix_of_a_running_restore_job_before_outcomes() {
    crash_points("restore-job-running", None, Some((1, 4)));
}

/// Kills from outside, at pseudo-random moments of a paced drill.
#[test]
fn a_paced_drill_killed_at_random_moments_resumes_to_the_same_end_state() {
    let (_, _, expected) = uninterrupted();
    // A fixed xorshift: the moments differ from one another, and from run to run of CI not at all.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..6 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        crash_and_resume_in("normal", Crash::AtMillis(300 + x % 2500), &expected);
    }
    eprintln!("6 kills at random moments, 0 violations");
}

/// The crash matrices of the scenarios where the database or its jobs are not as the
/// runbook's author left them, sampled: each completes without an operator decision, and a
/// kill at any point must not change that.
#[test]
fn crash_matrix_of_a_standby_secondary() {
    crash_matrix("standby-secondary", (3, 11), (2, 7));
}

#[test]
fn crash_matrix_of_an_unrelated_job_running() {
    crash_matrix("unrelated-job-running", (3, 11), (2, 7));
}

#[test]
fn crash_matrix_of_a_partial_previous_attempt() {
    crash_matrix("partial-previous-attempt", (3, 11), (2, 7));
}

#[test]
fn crash_matrix_of_a_killed_restore() {
    crash_matrix("killed-restore", (3, 11), (2, 7));
}

/// A drill halted on an outage (exit 3), the outage repaired with `sim heal`, then the resume
/// killed at moments across its course and resumed again: it finishes as an uninterrupted
/// failover does, and no data-loss decision is ever taken — the facts the halted run read are
/// read again, whichever process reads them.
#[test]
fn a_resume_after_the_missing_file_is_found_killed_at_any_moment_needs_no_loss_decision() {
    repaired_then_killed("missing-file");
}

#[test]
fn a_resume_after_the_share_is_back_killed_at_any_moment_needs_no_loss_decision() {
    repaired_then_killed("share-unreachable");
}

#[test]
fn a_resume_after_the_mirror_is_back_killed_at_any_moment_needs_no_loss_decision() {
    repaired_then_killed("mirror-not-ready");
}

fn repaired_then_killed(scenario: &str) {
    let mut runs = 0;
    {
        let halted_then_finished = |fault: Option<u64>| -> (tempfile::TempDir, Serving) {
            let dir = tempfile::tempdir().unwrap();
            let serving = Serving(dir.path().to_path_buf());
            let out = drill(dir.path(), &["--scenario", scenario]);
            assert_eq!(out.status.code(), Some(3), "{scenario}: {:?}", text(&out));
            let heal = runledger()
                .args(["sim", "heal"])
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(heal.status.success(), "{:?}", text(&heal));
            let journal = dir.path().join("journal.db");
            let key = dir.path().join("operator.key");
            if let Some(n) = fault {
                let fault = format!("crash-after-events:{n}");
                let out = resume(&journal, &key, &["--inject-fault", &fault]);
                assert_eq!(
                    out.status.code(),
                    None,
                    "{scenario}: the resume is killed after {n} events: {:?}",
                    text(&out)
                );
            }
            let out = resume(&journal, &key, &[]);
            assert_eq!(out.status.code(), Some(0), "{scenario}: {:?}", text(&out));
            (dir, serving)
        };
        let (first, _first_serving) = halted_then_finished(None);
        let journal = first.path().join("journal.db");
        let halted = export_events(&journal)
            .iter()
            .position(|e| e["kind"] == "run.resumed")
            .expect("the resume is recorded") as i64;
        let total = event_count(&journal);
        let expected = end_state(&sim_status(first.path()));
        stop_server(first.path());
        for n in ((halted + 2)..total).step_by(9) {
            eprintln!("{scenario}: halted, healed, resume killed after {n} events, resumed");
            let (dir, _serving) = halted_then_finished(Some(n as u64));
            verify_anchored(dir.path());
            let status = sim_status(dir.path());
            assert_failed_over(&status);
            assert_intents_precede_commands(dir.path(), &status);
            assert_eq!(&end_state(&status), &expected, "{scenario} after {n}");
            let losses = export_events(&dir.path().join("journal.db"))
                .into_iter()
                .filter(|e| e["body"]["decision"] == "accept_data_loss")
                .count();
            assert_eq!(
                losses, 0,
                "{scenario}: no data-loss decision after the repair"
            );
            stop_server(dir.path());
            runs += 1;
        }
    }
    eprintln!("{scenario}: repair then crash: {runs} runs, 0 violations");
}
