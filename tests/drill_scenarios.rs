//! Every simulator scenario ends as docs/drill.md says: what must finish finishes with every
//! available log applied exactly once; a gap, an unreadable or damaged file halts for a recorded
//! data-loss decision before any recovery, and the report then lists what was not applied; an
//! outage that ends (`sim heal`) costs no decision at all; the CMS is failed over first, on an
//! approval naming that step; a mirror that does not answer halts at the mirroring step.

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

    fn heal(&self) -> String {
        let out = runledger()
            .args(["sim", "heal"])
            .arg(self.dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        text(&out).0
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

    /// Verifies, and with a checkpoint beside the journal, anchored by it.
    fn verifies_anchored(&self) {
        let out = runledger_verify()
            .arg(self.path("journal.db"))
            .arg("--trust")
            .arg(self.path("operator.key.pub"))
            .arg("--checkpoint")
            .arg(self.path("checkpoint.txt"))
            .arg("--require-anchor")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);
    }

    fn database(&self, instance: &str) -> serde_json::Value {
        let status = self.status();
        let inst = status["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == instance)
            .unwrap()
            .clone();
        inst["databases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == "mgc")
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }

    fn mgc_state(&self) -> String {
        self.database("BAK")["state"].as_str().unwrap().to_string()
    }

    /// The files of the scenario that were never restored (by the run or before it).
    fn not_restored(&self) -> Vec<String> {
        self.status()["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["restored"] != true)
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// Every available log applied, none of them twice, the database recovered.
    fn every_log_applied_once(&self) {
        assert!(self.not_restored().is_empty(), "{:?}", self.not_restored());
        let history = self.history();
        let restores = restored(&history);
        let mut files: Vec<&str> = restores
            .iter()
            .map(|h| {
                h.split("restored log ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
            })
            .collect();
        let n = files.len();
        files.sort();
        files.dedup();
        assert_eq!(files.len(), n, "a log restored twice: {restores:?}");
        assert_eq!(self.mgc_state(), "ONLINE");
        assert_eq!(self.database("BAK")["is_in_standby"], false);
    }

    fn report_md(&self) -> String {
        let md = self.path("report-test.md");
        let out = runledger()
            .args(["report", "--journal"])
            .arg(self.path("journal.db"))
            .arg("--html")
            .arg(self.path("report-test.html"))
            .arg("--md")
            .arg(&md)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        std::fs::read_to_string(md).unwrap()
    }

    fn status_line(&self) -> String {
        let out = runledger()
            .args(["status", "--journal"])
            .arg(self.path("journal.db"))
            .output()
            .unwrap();
        text(&out).0
    }
}

impl Drop for Drill {
    /// Stops the simulated servers; then, unless the test already failed, holds the journal
    /// the scenario ended with (finished or halted) to the agreement of its readers.
    fn drop(&mut self) {
        stop_server(self.dir.path());
        let journal = self.path("journal.db");
        if std::thread::panicking() || !journal.exists() {
            return;
        }
        if matches!(runledger_engine::run::last_run(&journal), Ok(Some(_))) {
            crate::agreement::readers_agree(self.dir.path(), "operator.key.pub");
        }
    }
}

fn approvals(events: &[serde_json::Value], decision: &str) -> usize {
    events
        .iter()
        .filter(|e| e["kind"] == "approval" && e["body"]["decision"] == decision)
        .count()
}

/// Successful restores in the simulated history.
fn restored(history: &[String]) -> Vec<&String> {
    history
        .iter()
        .filter(|h| h.starts_with("RESTORE LOG") && h.contains("-> restored log"))
        .collect()
}

/// The files the scenario's own record says something happened to.
fn noted_file(d: &Drill) -> String {
    d.status()["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["note"].as_str().is_some_and(|n| !n.is_empty()))
        .map(|f| f["name"].as_str().unwrap().to_string())
        .expect("the scenario names its file")
}

/// Halts before any recovery on a data-loss decision at `step` that names `expect`; a resume
/// without the decision halts again; with it the run finishes and the report lists what was
/// not applied.
fn halts_for_data_loss(scenario: &str, step: &str, expect: &[&str]) -> Drill {
    let (d, out) = Drill::run(scenario);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for e in expect {
        assert!(stderr.contains(e), "{e:?} not in: {stderr}");
    }
    assert!(
        stderr.contains(&format!("--accept-data-loss {step}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("cannot be rolled forward past LSN"),
        "{stderr}"
    );
    assert_eq!(
        d.mgc_state(),
        "RESTORING",
        "nothing recovered before the decision"
    );
    assert!(!d.history().iter().any(|h| h.contains("WITH RECOVERY")));
    let status = d.status_line();
    for e in expect {
        assert!(status.contains(e), "status must name {e:?}: {status}");
    }
    assert!(status.contains("LSN"), "{status}");

    let again = d.resume(&[]);
    assert_eq!(again.status.code(), Some(3), "{:?}", text(&again));
    assert_eq!(approvals(&d.journal_json(), "accept_data_loss"), 0);

    let out = d.resume(&["--accept-data-loss", step]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(d.mgc_state(), "ONLINE");
    let events = d.journal_json();
    assert_eq!(
        approvals(&events, "accept_data_loss"),
        1,
        "one recorded decision"
    );
    let loss = events
        .iter()
        .find(|e| e["kind"] == "observation" && e["body"]["name"] == "data_loss")
        .expect("what the decision gives up is recorded");
    assert!(!loss["body"]["data"]["not_applied"]
        .as_array()
        .unwrap()
        .is_empty());
    let md = d.report_md();
    assert!(md.contains("**Files not applied (and why):**"), "{md}");
    assert!(!md.contains("Files not applied: none"), "{md}");
    for f in d.not_restored() {
        assert!(
            md.contains(&f.replace('_', "\\_")),
            "the report must list {f}"
        );
    }
    d.verifies_anchored();
    d
}

/// Halts on an outage; `sim heal`, then a plain resume finishes as `normal` would, with no
/// data-loss decision.
fn an_outage_that_ends_costs_no_decision(scenario: &str, halted_at: &str) {
    let (d, out) = Drill::run(scenario);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("step {halted_at} waits")),
        "{stderr}"
    );
    let healed = d.heal();
    assert!(healed.contains("healed:"), "{healed}");
    let out = d.resume(&[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    d.every_log_applied_once();
    assert_eq!(approvals(&d.journal_json(), "accept_data_loss"), 0);
    assert!(d.report_md().contains("Files not applied: none"));
    d.verifies_anchored();
}

#[test]
fn normal_finishes_with_every_log_applied_once_and_anchored() {
    let (d, out) = Drill::run("normal");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    d.every_log_applied_once();
    assert_eq!(
        restored(&d.history()).len(),
        8,
        "8 of 12 logs for the defaults"
    );
    assert_eq!(d.database("BAK")["mirroring_state"], "SYNCHRONIZED");
    assert_eq!(d.database("BAK-M")["mirroring_state"], "SYNCHRONIZED");
    d.verifies_anchored();
}

#[test]
fn an_lsn_gap_halts_naming_the_missing_range_until_data_loss_is_accepted() {
    halts_for_data_loss(
        "lsn-gap",
        "copy-backups",
        &["this stretch of log is in no readable backup file"],
    );
}

/// The file a scenario damages, from a data center built alone with the drill's seed.
fn damaged_file(scenario: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = runledger()
        .args(["sim", "init"])
        .arg(dir.path())
        .args(["--scenario", scenario])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    sim_status(dir.path())["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["note"].as_str().is_some_and(|n| !n.is_empty()))
        .map(|f| f["name"].as_str().unwrap().to_string())
        .unwrap()
}

#[test]
fn an_unreadable_header_is_named_with_its_error_and_the_recovery_point() {
    let file = damaged_file("unreadable-header");
    let d = halts_for_data_loss("unreadable-header", "copy-backups", &[&file, "3241"]);
    assert!(d.not_restored().contains(&file));
}

#[test]
fn a_damaged_file_without_checksums_stops_the_chain_at_the_restore() {
    let d = halts_for_data_loss("corrupt-no-checksum", "apply-logs", &["3203"]);
    let file = noted_file(&d);
    assert!(
        !restored(&d.history()).iter().any(|h| h.contains(&file)),
        "{file} never restored"
    );
}

#[test]
fn a_damaged_file_with_checksums_is_refused_by_verifyonly() {
    let d = halts_for_data_loss(
        "corrupt-file",
        "apply-logs",
        &["3183", "RESTORE VERIFYONLY"],
    );
    let file = noted_file(&d);
    assert!(!restored(&d.history()).iter().any(|h| h.contains(&file)));
}

#[test]
fn a_missing_file_found_again_costs_no_decision() {
    an_outage_that_ends_costs_no_decision("missing-file", "copy-backups");
}

#[test]
fn an_unreachable_share_back_again_costs_no_decision() {
    an_outage_that_ends_costs_no_decision("share-unreachable", "copy-backups");
}

#[test]
fn a_mirror_back_again_is_mirrored_and_synchronized() {
    let (d, out) = Drill::run("mirror-not-ready");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--skip install-mirror"), "{stderr}");
    assert_eq!(d.mgc_state(), "ONLINE");
    assert_eq!(d.status()["pool"]["pool_state"], "FailedOver");
    d.heal();
    let out = d.resume(&[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_eq!(d.database("BAK")["mirroring_state"], "SYNCHRONIZED");
    assert_eq!(d.database("BAK-M")["mirroring_state"], "SYNCHRONIZED");
    assert_eq!(approvals(&d.journal_json(), "skip"), 0);
    d.every_log_applied_once();
    d.verifies_anchored();
}

#[test]
fn a_mirror_that_stays_down_is_skipped_only_on_the_operators_decision() {
    let (d, out) = Drill::run("mirror-not-ready");
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let out = d.resume(&["--yes"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "--yes does not skip: {:?}",
        text(&out)
    );
    let out = d.resume(&["--skip", "install-mirror"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let events = d.journal_json();
    assert_eq!(approvals(&events, "skip"), 1);
    let skipped_checks = events
        .iter()
        .filter(|e| e["kind"] == "observation" && e["body"]["name"] == "skipped")
        .count();
    assert_eq!(
        skipped_checks, 2,
        "both mirroring checks are skipped with it"
    );
    assert!(!d
        .history()
        .iter()
        .any(|h| h.contains("Install-CsMirrorDatabase")));
    let summary = events.last().unwrap()["body"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        summary.contains("skipped by the operator's decision: install-mirror"),
        "{summary}"
    );
    d.verifies_anchored();
}

#[test]
fn an_unreachable_cms_is_failed_over_first_on_an_approval_naming_the_step() {
    let (d, out) = Drill::run("cms-unreachable");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--approve fail-over-cms"), "{stderr}");
    assert!(
        d.history().is_empty(),
        "nothing changed anywhere: {:?}",
        d.history()
    );
    // Neither the drill's auto_approve nor --yes gives this approval.
    let out = d.resume(&["--yes"]);
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    assert!(d.history().is_empty());
    let out = d.resume(&["--approve", "fail-over-cms"]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let history = d.history();
    assert!(
        history[0].starts_with("Invoke-CsManagementServerFailover"),
        "the CMS first: {history:?}"
    );
    d.every_log_applied_once();
    assert_eq!(d.status()["pool"]["pool_state"], "FailedOver");
    d.verifies_anchored();
}

#[test]
fn standby_readers_are_listed_then_ended_and_standby_is_never_taken_for_recovered() {
    for (scenario, sessions) in [
        ("sessions-holding-db", vec!["KILL 61", "KILL 64"]),
        ("standby-secondary", vec!["KILL 67"]),
    ] {
        let (d, out) = Drill::run(scenario);
        assert_eq!(out.status.code(), Some(0), "{scenario}: {:?}", text(&out));
        let history = d.history();
        let kills: Vec<&String> = history.iter().filter(|h| h.starts_with("KILL")).collect();
        assert_eq!(
            kills.len(),
            sessions.len(),
            "{scenario}: each once: {history:?}"
        );
        for (k, want) in kills.iter().zip(&sessions) {
            assert!(k.starts_with(want), "{scenario}: {k}");
        }
        let first_kill = history.iter().position(|h| h.starts_with("KILL")).unwrap();
        let first_restore = history
            .iter()
            .position(|h| h.starts_with("RESTORE LOG"))
            .unwrap();
        assert!(first_kill < first_restore, "{scenario}: {history:?}");
        assert!(
            history[first_restore].contains("WITH NORECOVERY"),
            "{scenario}: {history:?}"
        );
        let events = d.journal_json();
        let listed = events
            .iter()
            .position(|e| e["kind"] == "observation" && e["body"]["name"] == "sessions")
            .unwrap();
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
        assert!(listed < kill, "{scenario}");
        d.every_log_applied_once();
        d.verifies_anchored();
    }
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
    d.every_log_applied_once();
}

#[test]
fn an_unrelated_job_is_neither_waited_for_nor_touched() {
    let (d, out) = Drill::run("unrelated-job-running");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let status = d.status();
    let running: Vec<&str> = status["instances"][0]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["running"] == true)
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(running, ["DatabaseIntegrityCheck - SYSTEM_DATABASES"]);
    assert!(!d
        .history()
        .iter()
        .any(|h| h.starts_with("KILL") || h.contains("sp_stop_job")));
    let events = d.journal_json();
    let waited = events
        .iter()
        .find(|e| e["kind"] == "step.outcome" && e["body"]["step"] == "wait-for-log-shipping-jobs")
        .unwrap();
    assert_eq!(
        waited["body"]["result"]["polls"], 1,
        "not waited for: {waited}"
    );
    d.every_log_applied_once();
}

#[test]
fn a_partly_failed_over_site_finishes_without_repeating_what_is_done() {
    let (d, out) = Drill::run("partial-previous-attempt");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let history = d.history();
    assert!(
        !history
            .iter()
            .any(|h| h.contains("sp_update_job") || h.contains("sp_delete_log_shipping")),
        "what was done is not done again: {history:?}"
    );
    let events = d.journal_json();
    for step in ["disable-log-shipping-jobs", "remove-log-shipping"] {
        let pre = events
            .iter()
            .find(|e| {
                e["kind"] == "observation"
                    && e["body"]["name"] == "precheck"
                    && e["body"]["step"] == step
            })
            .unwrap_or_else(|| panic!("{step} was probed first"));
        assert_eq!(pre["body"]["data"]["finding"], "applied", "{step}: {pre}");
        assert!(
            !events
                .iter()
                .any(|e| e["kind"] == "step.intent" && e["body"]["step"] == step),
            "{step} recorded as already in effect, not executed"
        );
    }
    assert_eq!(
        restored(&history).len(),
        6,
        "the two restored by hand are not restored again"
    );
    d.every_log_applied_once();
    d.verifies_anchored();
}

#[test]
fn an_interrupted_restore_is_restored_again_with_restart() {
    let (d, out) = Drill::run("killed-restore");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let file = noted_file(&d);
    let history = d.history();
    let again: Vec<&String> = restored(&history)
        .into_iter()
        .filter(|h| h.contains(&file))
        .collect();
    assert_eq!(again.len(), 1, "{history:?}");
    assert!(again[0].contains("RESTART"), "{again:?}");
    d.every_log_applied_once();
    d.verifies_anchored();
}

#[test]
fn the_drill_names_every_scenario_and_refuses_an_unknown_one_in_one_line() {
    let help = runledger().args(["drill", "--help"]).output().unwrap();
    let (help, _) = text(&help);
    for s in [
        "normal",
        "lsn-gap",
        "missing-file",
        "corrupt-file",
        "sessions-holding-db",
        "cms-unreachable",
        "share-unreachable",
        "restore-job-running",
        "unreadable-header",
        "corrupt-no-checksum",
        "standby-secondary",
        "unrelated-job-running",
        "partial-previous-attempt",
        "killed-restore",
        "mirror-not-ready",
        "tls-wrong-ca",
    ] {
        assert!(help.contains(s), "drill --help lacks {s}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = runledger()
        .args(["drill", "--scenario", "lsn_gap", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("lsn-gap") && stderr.contains("tls-wrong-ca"),
        "{stderr}"
    );
    assert!(!dir.path().join("journal.db").exists());

    let out = runledger()
        .args(["sim", "heal"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no simulated data center"), "{stderr}");
}

#[test]
fn a_server_certificate_the_pinned_ca_did_not_sign_stops_before_anything_changes() {
    let (d, out) = Drill::run("tls-wrong-ca");
    let (_, stderr) = text(&out);
    assert!(matches!(out.status.code(), Some(1 | 2)), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("runledger:"))
        .expect("an error line");
    assert!(
        line.contains("certificate") && line.contains("sim/ca.pem") && line.contains("backup"),
        "{line}"
    );
    assert!(
        d.history().is_empty(),
        "nothing executed: {:?}",
        d.history()
    );
    let runbook = std::fs::read_to_string(d.path("runbook.toml")).unwrap();
    assert!(
        runbook.contains("encryption = \"required\""),
        "never a silent downgrade"
    );
}
