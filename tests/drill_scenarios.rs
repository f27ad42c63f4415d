//! Every simulator scenario ends as an experienced DBA expects: gaps and damaged files halt
//! for a recorded operator decision, sessions are listed then ended, a running restore job is
//! waited for and never killed, an unreachable CMS stops before the pool with the database
//! already recovered, an unreachable share states the recovery point.

use std::process::Output;

use crate::common::{
    export_events, resume, runledger, runledger_verify, sim_status, stop_server, text,
};

struct Drill {
    dir: tempfile::TempDir,
}

impl Drill {
    fn run(scenario: &str) -> (Drill, Output) {
        let dir = tempfile::tempdir().unwrap();
        let out = runledger()
            .args(["drill", "--scenario", scenario, "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        (Drill { dir }, out)
    }

    fn path(&self, p: &str) -> std::path::PathBuf {
        self.dir.path().join(p)
    }

    fn resume(&self, extra: &[&str]) -> Output {
        resume(&self.path("journal.db"), &self.path("operator.key"), extra)
    }

    fn status(&self) -> serde_json::Value {
        sim_status(self.dir.path())
    }

    fn history(&self) -> Vec<String> {
        self.status()["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                format!(
                    "{} -> {}",
                    h["command"].as_str().unwrap(),
                    h["effect"].as_str().unwrap()
                )
            })
            .collect()
    }

    fn journal_json(&self) -> Vec<serde_json::Value> {
        export_events(&self.path("journal.db"))
    }

    fn verifies(&self) {
        let out = runledger_verify()
            .arg(self.path("journal.db"))
            .arg("--trust")
            .arg(self.path("operator.key.pub"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);
    }

    fn mgc_state(&self) -> String {
        let status = self.status();
        let bak = status["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == "BAK")
            .unwrap()
            .clone();
        let db = bak["databases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "mgc")
            .unwrap()
            .clone();
        db["state"].as_str().unwrap().to_string()
    }
}

impl Drop for Drill {
    fn drop(&mut self) {
        stop_server(self.dir.path());
    }
}

fn approvals(events: &[serde_json::Value], decision: &str) -> usize {
    events
        .iter()
        .filter(|e| e["kind"] == "approval" && e["body"]["decision"] == decision)
        .count()
}

fn restored(history: &[String]) -> Vec<&String> {
    history
        .iter()
        .filter(|h| h.starts_with("RESTORE LOG"))
        .collect()
}

/// Halts on a decision, then continues only with `--accept-data-loss STEP`, recorded.
fn halts_then_continues_on_accepted_loss(scenario: &str, step: &str, names: &str) {
    let (d, out) = Drill::run(scenario);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains(names), "{stderr}");
    assert!(
        stderr.contains(&format!("--accept-data-loss {step}")),
        "{stderr}"
    );
    assert_eq!(
        d.mgc_state(),
        "RESTORING",
        "nothing is recovered before the decision"
    );
    d.verifies();

    // Without the decision, resume halts again at the same point.
    let again = d.resume(&[]);
    assert_eq!(again.status.code(), Some(3), "{:?}", text(&again));
    assert_eq!(d.mgc_state(), "RESTORING");
    assert_eq!(approvals(&d.journal_json(), "accept_data_loss"), 0);

    let out = d.resume(&["--accept-data-loss", step]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(d.mgc_state(), "ONLINE");
    let events = d.journal_json();
    assert_eq!(
        approvals(&events, "accept_data_loss"),
        1,
        "the operator's decision is recorded once"
    );
    d.verifies();
}

#[test]
fn an_lsn_gap_halts_naming_the_missing_range_until_data_loss_is_accepted() {
    halts_then_continues_on_accepted_loss("lsn-gap", "apply-logs", "is missing (next file");
}

#[test]
fn a_missing_file_is_a_gap_too() {
    halts_then_continues_on_accepted_loss("missing-file", "apply-logs", "is missing (next file");
}

#[test]
fn a_corrupt_file_is_refused_before_restore() {
    let (d, out) = Drill::run("corrupt-file");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("failed RESTORE VERIFYONLY") && stderr.contains("it was not restored"),
        "{stderr}"
    );
    let corrupt = d.status()["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["note"].as_str().is_some_and(|n| !n.is_empty()))
        .map(|f| f["name"].as_str().unwrap().to_string())
        .expect("the scenario names its damaged file");
    let history = d.history();
    assert!(
        !restored(&history).iter().any(|h| h.contains(&corrupt)),
        "no RESTORE LOG of {corrupt}: {history:?}"
    );
    let out = d.resume(&["--accept-data-loss", "apply-logs"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(d.mgc_state(), "ONLINE");
}

#[test]
fn sessions_holding_the_database_are_listed_then_ended_before_any_restore() {
    let (d, out) = Drill::run("sessions-holding-db");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let history = d.history();
    let first_kill = history
        .iter()
        .position(|h| h.starts_with("KILL"))
        .expect("sessions ended");
    let first_restore = history
        .iter()
        .position(|h| h.starts_with("RESTORE LOG"))
        .unwrap();
    assert!(first_kill < first_restore, "{history:?}");
    // Each KILL was preceded by the recorded list of sessions.
    let events = d.journal_json();
    let listed = events
        .iter()
        .position(|e| {
            e["kind"] == "observation"
                && e["body"]["name"] == "sessions"
                && !e["body"]["data"]["Ok"]
                    .as_array()
                    .is_some_and(|a| a.is_empty())
        })
        .expect("sessions observed");
    let kill = events
        .iter()
        .position(|e| {
            e["kind"] == "step.intent"
                && e["body"]["command"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("KILL")
        })
        .unwrap();
    assert!(listed < kill);
    assert_eq!(d.mgc_state(), "ONLINE");
}

#[test]
fn a_running_restore_job_is_waited_for_not_killed() {
    let (d, out) = Drill::run("restore-job-running");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let history = d.history();
    assert!(
        !history.iter().any(|h| h.starts_with("KILL")),
        "{history:?}"
    );
    assert!(
        history.iter().any(|h| h.contains("job step completed")),
        "the job ended by itself: {history:?}"
    );
    let events = d.journal_json();
    let waited = events
        .iter()
        .find(|e| e["kind"] == "step.outcome" && e["body"]["step"] == "wait-for-log-shipping-jobs")
        .unwrap();
    assert!(
        waited["body"]["result"]["polls"].as_u64().unwrap() > 1,
        "{waited}"
    );
}

#[test]
fn an_unreachable_cms_halts_before_the_pool_with_the_database_recovered() {
    let (d, out) = Drill::run("cms-unreachable");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("check-cms-before-pool") && stderr.contains("already recovered and ONLINE"),
        "{stderr}"
    );
    assert_eq!(d.mgc_state(), "ONLINE");
    assert_eq!(d.status()["pool"]["pool_state"], "Normal");
    assert!(!d
        .history()
        .iter()
        .any(|h| h.contains("Set-Cs") || h.contains("Install-Cs")));
    d.verifies();
}

#[test]
fn an_unreachable_share_states_the_recovery_point_and_records_the_decision() {
    halts_then_continues_on_accepted_loss(
        "share-unreachable",
        "copy-backups",
        "the recovery point is LSN",
    );
}
