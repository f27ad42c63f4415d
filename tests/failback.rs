//! The round trip: `runledger drill --round-trip` fails over, brings the primary data center
//! back rebuilt and fails back, against the same simulated data center. The simulator's own
//! record (`runledger sim status --json`) is the witness: the data center ends in the topology
//! a fresh one starts in (log shipping from the primary to the backup server, the pool Normal,
//! the primary's servers active), every log the failover needed was restored exactly once in
//! LSN order, and a failback killed right after an intent or between an action and its outcome
//! is resumed without executing any effect twice. The full backup the failback takes is hashed
//! once written, and a backup whose bytes changed before a restore of it is not restored.

use std::path::Path;
use std::process::Output;

use crate::common::{
    export_events, in_lsn_order, restored_files, resume, runledger, runledger_verify, sim_status,
    stop_server, text, Serving,
};

fn round_trip(dir: &Path, extra: &[&str]) -> Output {
    runledger()
        .arg("drill")
        .arg("--round-trip")
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run the drill")
}

fn verify_anchored(journal_dir: &Path, key: &Path) {
    let out = runledger_verify()
        .arg(journal_dir.join("journal.db"))
        .arg("--trust")
        .arg(format!("{}.pub", key.display()))
        .arg("--checkpoint")
        .arg(journal_dir.join("checkpoint.txt"))
        .arg("--require-anchor")
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("VALID AND ANCHORED"), "{stdout}");
}

fn instance<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no instance {name}"))
}

fn database<'a>(inst: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    inst["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no database {name} on {}", inst["name"]))
}

/// What "the topology" is: who ships logs to whom with which folders and jobs, where `mgc`
/// is restoring, the pool's state and active servers.
fn topology(status: &serde_json::Value) -> serde_json::Value {
    let bak = instance(status, "BAK");
    let shipping: Vec<serde_json::Value> = bak["log_shipping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::json!({
                "secondary_database": l["secondary_database"],
                "primary_server": l["primary_server"],
                "share": l["backup_source_directory"],
                "destination": l["backup_destination_directory"],
            })
        })
        .collect();
    let mut jobs: Vec<serde_json::Value> = bak["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["name"].as_str().unwrap().starts_with("LS"))
        .map(|j| serde_json::json!({"name": j["name"], "enabled": j["enabled"]}))
        .collect();
    jobs.sort_by_key(|j| j.to_string());
    let mgc = database(bak, "mgc");
    let mut active: Vec<String> = status["pool"]["active_servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    active.sort();
    serde_json::json!({
        "log_shipping": shipping,
        "jobs": jobs,
        "backup_mgc_state": mgc["state"],
        "backup_mgc_mirroring": mgc["mirroring_role"],
        "pool_state": status["pool"]["pool_state"],
        "active_servers": active,
    })
}

fn commands<'a>(status: &'a serde_json::Value, system: &str, prefix: &str) -> Vec<&'a str> {
    status["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["system"] == system)
        .filter_map(|h| h["command"].as_str())
        .filter(|c| c.starts_with(prefix))
        .collect()
}

/// The failover's own checks, still true at the end of the round trip: every log backup
/// restored exactly once, in LSN order.
fn assert_logs_restored_once_in_lsn_order(status: &serde_json::Value) {
    let files = status["files"].as_array().unwrap();
    assert!(files.iter().all(|f| f["restored"] == true), "{files:?}");
    let names = restored_files(&commands(status, "BAK", "RESTORE LOG"));
    let in_lsn_order = in_lsn_order(status, &names);
    assert_eq!(names, in_lsn_order, "restored once each, in LSN order");
}

/// Every effect of the failback executed exactly once, and the primary's mgc is the backup
/// server's (its tables came with the restore; the re-created one was empty).
fn assert_failed_back_once(status: &serde_json::Value) {
    for (system, prefix) in [
        ("BAK", "BACKUP DATABASE"),
        ("PRI", "RESTORE DATABASE [mgc] FROM DISK"),
        ("BAK", "RESTORE DATABASE [mgc] FROM DISK"),
        ("BAK", "ALTER DATABASE [mgc] SET PARTNER OFF"),
    ] {
        let effects: Vec<&serde_json::Value> = status["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["system"] == system)
            .filter(|h| h["command"].as_str().unwrap().starts_with(prefix))
            .collect();
        assert_eq!(effects.len(), 1, "{system} {prefix}: {effects:?}");
    }
    for (system, proc_name) in [
        ("PRI", "sp_add_log_shipping_primary_database"),
        ("PRI", "sp_add_log_shipping_primary_secondary"),
        ("BAK", "sp_add_log_shipping_secondary_primary"),
        ("BAK", "sp_add_log_shipping_secondary_database"),
    ] {
        let n = status["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["system"] == system)
            .filter(|h| h["command"].as_str().unwrap().contains(proc_name))
            .count();
        assert_eq!(n, 1, "{proc_name} executed once on {system}");
    }
    let pri = instance(status, "PRI");
    assert_eq!(database(pri, "mgc")["state"], "ONLINE");
    assert_eq!(
        database(instance(status, "BAK"), "mgc")["state"],
        "RESTORING"
    );
}

/// The topology a data center starts in, from a fresh `runledger sim init` with the same seed.
fn starting_topology(dir: &Path) -> serde_json::Value {
    let out = runledger().args(["sim", "init"]).arg(dir).output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    topology(&sim_status(dir))
}

#[test]
fn a_round_trip_ends_in_the_starting_topology() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("drill");
    let _serving = Serving(dir.clone());
    let out = round_trip(&dir, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("round trip"), "{stdout}");
    let key = dir.join("operator.key");
    verify_anchored(&dir, &key);
    verify_anchored(&dir.join("failback"), &key);

    let status = sim_status(&dir);
    assert_eq!(
        topology(&status),
        starting_topology(&root.path().join("fresh")),
        "the round trip ends where a fresh data center starts"
    );
    assert_eq!(status["pool"]["pool_state"], "Normal");
    assert_logs_restored_once_in_lsn_order(&status);
    assert_failed_back_once(&status);
    // The full backup's SHA-256, as `sha256sum` reads the share's file, is the one the backup's
    // outcome recorded and the one both restores name as their input.
    let events = export_events(&dir.join("failback").join("journal.db"));
    let bak = share_backup(&dir);
    let written = &outcomes_of(&events, "backup-database")[0]["result"]["written"];
    assert_eq!(written["sha256"], sha256sum(&bak), "{written}");
    assert_eq!(written["size"], std::fs::metadata(&bak).unwrap().len());
    assert_eq!(written["path"], "\\\\pcfs01\\mgc-logs\\mgc_failback.bak");
    for step in ["restore-primary", "reseed-backup"] {
        let inputs = &intents_of(&events, step)[0]["inputs"];
        assert_eq!(
            inputs,
            &serde_json::json!([{"path": written["path"], "size": written["size"], "sha256": written["sha256"]}]),
            "{step}"
        );
    }
    // The failback ran against the data center the failover left: its pool was FailedOver and
    // the backup server's mgc was the mirroring principal when the failback began.
    let history = status["history"].as_array().unwrap();
    let rebuilt = history
        .iter()
        .position(|h| {
            h["system"] == "operator" && h["command"].as_str().unwrap().contains("rebuilt")
        })
        .expect("the primary came back");
    let failed_over = history
        .iter()
        .position(|h| h["effect"].as_str().unwrap().contains("-> FailedOver"))
        .unwrap();
    let normal = history
        .iter()
        .position(|h| {
            h["effect"]
                .as_str()
                .unwrap()
                .contains("FailedOver -> Normal")
        })
        .unwrap();
    assert!(failed_over < rebuilt && rebuilt < normal);
}

#[test]
fn a_session_on_the_rebuilt_primary_is_ended_before_the_restore() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("drill");
    let _serving = Serving(dir.clone());
    let out = runledger()
        .args(["drill", "--scenario", "failback-primary-in-use", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let status = sim_status(&dir);
    let history = status["history"].as_array().unwrap();
    let kill = history
        .iter()
        .position(|h| h["system"] == "PRI" && h["command"].as_str().unwrap().starts_with("KILL"))
        .expect("the session on the primary was ended");
    let restore = history
        .iter()
        .position(|h| {
            h["system"] == "PRI"
                && h["command"]
                    .as_str()
                    .unwrap()
                    .starts_with("RESTORE DATABASE")
        })
        .unwrap();
    assert!(kill < restore);
    assert!(instance(&status, "PRI")["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] != "simulated"));
    assert_failed_back_once(&status);
}

/// The failback's full backup on the simulated share, as this host reaches it.
fn share_backup(dir: &Path) -> std::path::PathBuf {
    dir.join("sim").join("share").join("mgc_failback.bak")
}

/// SHA-256 of a file as coreutils' `sha256sum` computes it.
fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success(), "{:?}", text(&out));
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// The events of one kind of `step`, in journal order.
fn of_step<'a>(
    events: &'a [serde_json::Value],
    kind: &str,
    step: &str,
) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["body"]["step"] == step)
        .map(|e| &e["body"])
        .collect()
}

fn intents_of<'a>(events: &'a [serde_json::Value], step: &str) -> Vec<&'a serde_json::Value> {
    of_step(events, "step.intent", step)
}

fn outcomes_of<'a>(events: &'a [serde_json::Value], step: &str) -> Vec<&'a serde_json::Value> {
    of_step(events, "step.outcome", step)
}

/// The 1-based position, among the failback's intents, of the first intent of `step`.
fn intent_ordinal(events: &[serde_json::Value], step: &str) -> usize {
    events
        .iter()
        .filter(|e| e["kind"] == "step.intent")
        .position(|e| e["body"]["step"] == step)
        .unwrap_or_else(|| panic!("no intent of {step}"))
        + 1
}

#[test]
fn a_failback_killed_at_its_restores_and_log_shipping_steps_never_repeats_an_effect() {
    // A reference round trip gives where each step's intent stands.
    let root = tempfile::tempdir().unwrap();
    let reference = root.path().join("reference");
    {
        let _serving = Serving(reference.clone());
        let out = round_trip(&reference, &[]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    }
    let events = export_events(&reference.join("failback").join("journal.db"));
    let steps = [
        "restore-primary",
        "reseed-backup",
        "add-log-shipping-primary",
        "add-log-shipping-secondary",
    ];
    for step in steps {
        let n = intent_ordinal(&events, step);
        // Killed after the intent is durable, before the action; and after the action,
        // before its outcome is.
        for point in ["after-intent", "before-outcome"] {
            let dir = root.path().join(format!("{step}-{point}"));
            let _serving = Serving(dir.clone());
            let fault = format!("crash:{point}:{n}");
            let out = round_trip(&dir, &["--failback-inject-fault", &fault]);
            assert_ne!(
                out.status.code(),
                Some(0),
                "{step} {point}: the process was killed"
            );
            let journal = dir.join("failback").join("journal.db");
            let crashed = export_events(&journal);
            // The journal ends with the step's intent (and its approval), no outcome after it.
            let at = crashed
                .iter()
                .rposition(|e| e["kind"] == "step.intent")
                .unwrap();
            assert_eq!(crashed[at]["body"]["step"], step, "{step} {point}");
            assert!(
                crashed[at + 1..].iter().all(|e| e["kind"] == "approval"),
                "{step} {point}: {:?}",
                &crashed[at + 1..]
            );
            // Before the outcome the effect took place; right after the intent it did not.
            let command = crashed[at]["body"]["command"].as_str().unwrap().to_string();
            let ran = sim_status(&dir)["history"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|h| command.contains(h["command"].as_str().unwrap()))
                .count();
            assert_eq!(
                ran > 0,
                point == "before-outcome",
                "{step} {point}: ran {ran}"
            );
            let out = resume(&journal, &dir.join("operator.key"), &[]);
            let (stdout, stderr) = text(&out);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{step} {point}: {stdout}\n{stderr}"
            );
            let status = sim_status(&dir);
            assert_failed_back_once(&status);
            assert_eq!(status["pool"]["pool_state"], "Normal");
            verify_anchored(&dir.join("failback"), &dir.join("operator.key"));
            stop_server(&dir);
        }
    }
}

/// The report of `journal` as Markdown.
fn report_md(journal: &Path) -> String {
    let out = runledger()
        .args(["report", "--journal"])
        .arg(journal)
        .args(["--md", "-"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    text(&out).0
}

/// The lines of the report's recovery-objectives section.
fn objectives(md: &str) -> Vec<String> {
    md.lines()
        .skip_while(|l| !l.starts_with("### Recovery objectives"))
        .skip(1)
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.replace('\\', ""))
        .collect()
}

/// The seq a line `  - seq N: …` following the `- **NAME**` line of the section names.
fn seqs_of(section: &[String], name: &str) -> Vec<u64> {
    section
        .iter()
        .skip_while(|l| !l.starts_with(&format!("- **{name}**")))
        .skip(1)
        .take_while(|l| l.starts_with("  - seq "))
        .map(|l| {
            l.trim_start_matches("  - seq ")
                .split(':')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn the_report_gives_rpo_and_rto_with_their_seqs_and_the_age_of_the_last_drill() {
    let root = tempfile::tempdir().unwrap();
    let first = root.path().join("first");
    {
        let _serving = Serving(first.clone());
        let out = round_trip(&first, &[]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    }
    // The failover: RPO from the last restored log's header to the declared failure; RTO from
    // the declared failure to the step that gave the pool its servers back.
    let journal = first.join("journal.db");
    let events = export_events(&journal);
    let by_seq = |seq: u64| {
        events
            .iter()
            .find(|e| e["seq"].as_u64() == Some(seq))
            .unwrap_or_else(|| panic!("no event {seq}"))
            .clone()
    };
    let section = objectives(&report_md(&journal));
    assert!(section[0].contains("drill"), "{section:?}");
    let rpo = seqs_of(&section, "RPO");
    assert_eq!(rpo.len(), 2, "{section:?}");
    let restored = by_seq(rpo[0]);
    assert_eq!(restored["kind"], "step.outcome");
    assert_eq!(restored["body"]["status"], "succeeded");
    let last_restore = events
        .iter()
        .rev()
        .find(|e| {
            e["kind"] == "step.outcome"
                && e["body"]["status"] == "succeeded"
                && e["body"]["step"]
                    .as_str()
                    .unwrap()
                    .starts_with("apply-logs/")
        })
        .unwrap();
    assert_eq!(restored["seq"], last_restore["seq"], "the last log applied");
    let declared = by_seq(rpo[1]);
    assert_eq!(declared["kind"], "approval");
    assert_eq!(declared["body"]["step"], "declare-primary-down");
    let rto = seqs_of(&section, "RTO");
    assert_eq!(rto[0], rpo[1]);
    let service = by_seq(rto[1]);
    assert_eq!(service["kind"], "step.outcome");
    assert_eq!(service["body"]["step"], "set-active-servers");

    // The failback: RPO 0 (the backup was taken after the service stopped); RTO to Normal.
    let failback = first.join("failback").join("journal.db");
    let events = export_events(&failback);
    let section = objectives(&report_md(&failback));
    let rpo_line = section.iter().find(|l| l.starts_with("- **RPO**")).unwrap();
    assert!(rpo_line.contains("0 s"), "{rpo_line}");
    let rpo = seqs_of(&section, "RPO");
    let step_at = |seq: u64| {
        events
            .iter()
            .find(|e| e["seq"].as_u64() == Some(seq))
            .map(|e| e["body"]["step"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(step_at(rpo[0]), "backup-database");
    assert_eq!(step_at(rpo[1]), "empty-active-servers");
    let rto = seqs_of(&section, "RTO");
    assert_eq!(
        events
            .iter()
            .find(|e| e["seq"].as_u64() == Some(rto[0]))
            .unwrap()["kind"],
        "run.started"
    );
    assert_eq!(step_at(rto[1]), "pool-normal");
    let drill_line = section
        .iter()
        .find(|l| l.starts_with("- **last successful drill**"))
        .unwrap();
    assert!(drill_line.contains("none found"), "{drill_line}");

    // A second round trip whose failback directory holds the first failback's journal: the
    // report says how long before this run that drill finished, and where.
    let second = root.path().join("second");
    std::fs::create_dir_all(second.join("failback")).unwrap();
    std::fs::copy(&failback, second.join("failback").join("earlier.db")).unwrap();
    {
        let _serving = Serving(second.clone());
        let out = round_trip(&second, &[]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    }
    let section = objectives(&report_md(&second.join("failback").join("journal.db")));
    let drill_line = section
        .iter()
        .find(|l| l.starts_with("- **last successful drill**"))
        .unwrap();
    assert!(
        drill_line.contains("before this run") && drill_line.contains("earlier.db"),
        "{drill_line}"
    );
}

#[test]
fn a_backup_that_changed_after_it_was_hashed_is_not_restored() {
    let root = tempfile::tempdir().unwrap();
    let reference = root.path().join("reference");
    let n = {
        let _serving = Serving(reference.clone());
        let out = round_trip(&reference, &[]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        intent_ordinal(
            &export_events(&reference.join("failback").join("journal.db")),
            "backup-database",
        )
    };
    // Killed right after the backup's outcome (every failback intent before it has one
    // outcome): the backup is written and hashed, nothing restored yet.
    let dir = root.path().join("drill");
    let _serving = Serving(dir.clone());
    let fault = format!("crash:after-outcome:{n}");
    let out = round_trip(&dir, &["--failback-inject-fault", &fault]);
    assert_ne!(out.status.code(), Some(0), "{:?}", text(&out));
    let journal = dir.join("failback").join("journal.db");
    let key = dir.join("operator.key");
    let bak = share_backup(&dir);
    let original = std::fs::read(&bak).unwrap();
    let recorded = outcomes_of(&export_events(&journal), "backup-database")[0]["result"]["written"]
        ["sha256"]
        .clone();
    assert_eq!(recorded, sha256sum(&bak));

    // Another valid backup of mgc takes the file's place on the share before the restore: the
    // reference round trip's, a backup whose checksums hold (VERIFYONLY reads it whole and
    // accepts it) but which is not the one this run took.
    std::fs::copy(share_backup(&reference), &bak).unwrap();
    let changed_sha = sha256sum(&bak);
    assert_ne!(
        changed_sha, recorded,
        "the other backup differs from this run's"
    );
    let out = resume(&journal, &key, &[]);
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let said = format!("{stdout}\n{stderr}");
    assert!(
        said.contains("restore-primary")
            && said.contains("changed since backup-database wrote it")
            && said.contains(&changed_sha),
        "{said}"
    );
    let restores_on_pri = |status: &serde_json::Value| {
        status["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["system"] == "PRI")
            .filter(|h| {
                h["command"]
                    .as_str()
                    .unwrap()
                    .starts_with("RESTORE DATABASE")
            })
            .count()
    };
    assert_eq!(
        restores_on_pri(&sim_status(&dir)),
        0,
        "nothing was restored"
    );
    let events = export_events(&journal);
    let refused = outcomes_of(&events, "restore-primary");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["status"], "failed");
    assert_eq!(refused[0]["result"]["refused"], true);
    assert_eq!(refused[0]["result"]["sha256"], changed_sha);
    assert_eq!(
        intents_of(&events, "restore-primary")[0]["inputs"][0]["sha256"],
        recorded
    );
    let out = runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(format!("{}.pub", key.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));

    // The backup put back as it was written: the resume restores it, once.
    std::fs::write(&bak, &original).unwrap();
    let out = resume(&journal, &key, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let status = sim_status(&dir);
    assert_failed_back_once(&status);
    assert_eq!(status["pool"]["pool_state"], "Normal");
    verify_anchored(&dir.join("failback"), &key);

    // An insider holding the key makes the restore name the changed file's hash and signs the
    // journal again: the verifier finds the restore's input is not what the backup recorded.
    let mut records = crate::fixture_journals::journal_events(&journal);
    let mut edited = 0;
    for e in &mut records {
        if let runledger_verifier::event::Body::StepIntent(i) = &mut e.body {
            if i.step == "reseed-backup" {
                i.inputs[0].sha256 = changed_sha.clone();
                edited = e.seq;
            }
        }
    }
    assert!(edited > 0);
    let forged = root.path().join("forged.db");
    let signer = runledger_engine::keyfile::load(&key).unwrap();
    crate::fixture_journals::write_sqlite(
        &forged,
        &crate::fixture_journals::rewrite(records, &signer),
    );
    let out = runledger_verify()
        .arg(&forged)
        .arg("--trust")
        .arg(format!("{}.pub", key.display()))
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("seq {edited}"))
            && stdout.contains("[runbook]")
            && stdout.contains("names as its input"),
        "{stdout}"
    );
}
