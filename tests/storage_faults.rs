//! Storage faults: a durable append that fails (a full disk, an I/O error) halts the run before
//! the action it would have announced; the journal still verifies; `runledger resume` completes
//! the run once the fault is gone. A torn or damaged SQLite file is refused by the verifier with
//! a reason, never a panic and never a "valid" verdict over changed content.
//!
//! The fault is injected through the fault plan the binary hands to the journal writer (its
//! hidden flag `--inject-fault fail-append:N`, engine/src/fault.rs): the writer's Nth append and
//! every later one fail with SQLite's "database or disk is full" before anything is written.

use std::path::Path;

use crate::bad_input::{assert_verifies, error_line, new_key, sim_history, JournalState};
use crate::common::{export_events, resume, runledger, runledger_verify, stop_server, text};

/// `--inject-fault fail-append:N`: the writer's Nth append and every later one fail.
fn fail_append_at(n: impl std::fmt::Display) -> [String; 2] {
    ["--inject-fault".into(), format!("fail-append:{n}")]
}

#[test]
fn a_full_disk_at_the_first_append_leaves_no_journal_and_the_same_run_works_later() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    let runbook =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/runbooks/valid/minimal.toml");
    let journal = dir.path().join("journal.db");
    let run = |fail: Option<&str>| {
        let mut cmd = runledger();
        cmd.arg("run")
            .arg(&runbook)
            .arg("--journal")
            .arg(&journal)
            .arg("--key")
            .arg(&key)
            .arg("--yes");
        if let Some(n) = fail {
            cmd.args(fail_append_at(n));
        }
        cmd.output().unwrap()
    };
    let out = run(Some("1"));
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains("cannot write journal") && line.contains("seq 0") && line.contains("full"),
        "{line}"
    );
    assert!(
        !journal.exists(),
        "a journal without journal.opened is not left behind"
    );
    let out = run(None);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_verifies(&journal, &dir.path().join("op.key.pub"));
}

/// Whitespace-normalised text, to compare a statement the simulator executed with the batch
/// that contained it.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_drill_whose_disk_fills_at_any_kind_of_append_halts_before_the_action_and_resumes() {
    // The uninterrupted run tells which append is which.
    let reference = tempfile::tempdir().unwrap();
    let out = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(reference.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let events = export_events(&reference.path().join("journal.db"));
    let first = |pred: &dyn Fn(&serde_json::Value) -> bool| -> u64 {
        events.iter().find(|e| pred(e)).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let mut seqs: Vec<(String, u64)> = Vec::new();
    // The first a step reads (the plan is created with the journal, like run.started).
    seqs.push((
        "first observation".into(),
        first(&|e| e["kind"] == "observation" && e["body"]["name"] != "plan"),
    ));
    seqs.push(("first approval".into(), first(&|e| e["kind"] == "approval")));
    // The first intent of every step that changes something.
    let mut steps_seen = Vec::new();
    for e in &events {
        let b = &e["body"];
        if e["kind"] == "step.intent" && b["effect"] != "read_only" {
            let step = b["step"].as_str().unwrap().split('/').next().unwrap();
            if !steps_seen.contains(&step.to_string()) {
                steps_seen.push(step.to_string());
                seqs.push((format!("intent of {step}"), e["seq"].as_u64().unwrap()));
            }
        }
    }
    // The outcome of the first restore: the action ran, its outcome cannot be written.
    seqs.push((
        "outcome of the first restore".into(),
        first(&|e| {
            e["kind"] == "step.outcome"
                && e["body"]["step"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("apply-logs/"))
        }),
    ));
    seqs.push((
        "run.finished".into(),
        first(&|e| e["kind"] == "run.finished"),
    ));
    assert!(steps_seen.len() >= 6, "{steps_seen:?}");

    let mut halted = 0;
    for (what, seq) in &seqs {
        let dir = tempfile::tempdir().unwrap();
        let _serving = crate::common::Serving(dir.path().to_path_buf());
        let journal = dir.path().join("journal.db");
        // Append N is seq N-1 in a new journal.
        let out = runledger()
            .arg("drill")
            .arg("--dir")
            .arg(dir.path())
            .args(fail_append_at(seq + 1))
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let line = error_line(&stderr);
        assert!(
            line.contains(&format!("cannot write journal {}", journal.display()))
                && line.contains(&format!("at seq {seq}"))
                && line.contains("disk is full"),
            "{what}: {line}"
        );
        assert_eq!(
            JournalState::of(&journal).rows(),
            *seq as i64,
            "{what}: nothing after the failed append"
        );
        assert_verifies(&journal, &dir.path().join("operator.key.pub"));

        // Intent before effect: every command the simulated systems executed is part of an
        // intent that is durable in the journal; the one whose intent failed did not run.
        let durable = export_events(&journal);
        let intents: Vec<String> = durable
            .iter()
            .filter(|e| e["kind"] == "step.intent")
            .map(|e| squash(e["body"]["command"].as_str().unwrap()))
            .collect();
        let history = sim_history(dir.path());
        for h in &history {
            // A cmdlet line sits in its intent inside the shell's command line, quoted for a
            // POSIX shell: each `'` of its single-quoted literals reads `'\''` there.
            let shown = squash(&h.replace('\'', "'\\''"));
            assert!(
                intents
                    .iter()
                    .any(|i| i.contains(&squash(h)) || i.contains(&shown)),
                "{what}: `{h}` executed without a durable intent"
            );
        }

        // Once the disk has room again, resume completes the run (the simulated server is
        // started again if the failing command took it down with it).
        let serve = restart_server_if_down(dir.path());
        let out = resume(&journal, &dir.path().join("operator.key"), &[]);
        assert_eq!(out.status.code(), Some(0), "{what}: {:?}", text(&out));
        assert_verifies(&journal, &dir.path().join("operator.key.pub"));
        // Nothing that must run once ran twice.
        let history = sim_history(dir.path());
        let mut once: Vec<&String> = history
            .iter()
            .filter(|h| {
                h.starts_with("RESTORE")
                    || h.starts_with("Set-Cs")
                    || h.starts_with("Install-Cs")
                    || h.contains("sp_delete_log_shipping")
            })
            .collect();
        let n = once.len();
        once.sort();
        once.dedup();
        assert_eq!(once.len(), n, "{what}: a command ran twice: {history:?}");
        assert!(
            history
                .iter()
                .any(|h| h == "RESTORE DATABASE [mgc] WITH RECOVERY"),
            "{what}: the failover completed"
        );
        drop(serve);
        stop_server(dir.path());
        halted += 1;
        eprintln!("disk full at seq {seq} ({what}): halted before it, verified, resumed");
    }
    eprintln!(
        "storage faults: {halted} append points, 0 actions without a durable intent, {halted} resumes completed"
    );
}

/// Starts `runledger sim serve DIR` again when the drill stopped it (the drill ends its server
/// when the run fails with an error rather than a halt). Ended when dropped.
struct Serve(Option<std::process::Child>);

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn restart_server_if_down(dir: &Path) -> Serve {
    let instances: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sim/instances.json")).unwrap()).unwrap();
    let bak = &instances[0];
    let addr = format!(
        "{}:{}",
        bak["host"].as_str().unwrap(),
        bak["port"].as_u64().unwrap()
    );
    if std::net::TcpStream::connect(&addr).is_ok() {
        return Serve(None);
    }
    let child = runledger()
        .args(["sim", "serve"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "sim serve listens again"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Serve(Some(child))
}

/// The verifier's verdict, exit code and failure reason on a file.
fn verify_json(journal: &Path, trust: &Path) -> (Option<i32>, serde_json::Value) {
    let out = runledger_verify()
        .arg(journal)
        .arg("--trust")
        .arg(trust)
        .arg("--json")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("a JSON report ({e}): {stdout}{stderr}"));
    (out.status.code(), json)
}

#[test]
fn torn_and_damaged_sqlite_files_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/journals/valid_sealed");
    let trust = src.join("trusted.keys");
    let full = std::fs::read(src.join("journal.db")).unwrap();
    let (code, original) = verify_json(&src.join("journal.db"), &trust);
    assert_eq!(code, Some(0));
    let events = original["journal"]["events"].clone();

    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    let page = 4096;
    for cut in [
        0,
        1,
        16,
        99,
        100,
        page - 1,
        page,
        page + 1,
        full.len() / 2,
        full.len() - page,
        full.len() - 1,
    ] {
        cases.push((format!("truncated to {cut} bytes"), full[..cut].to_vec()));
    }
    // Header fields (SQLite file format §1.3): magic, page size, versions, reserved space,
    // payload fractions, page count, freelist, schema cookie and format, encoding, user
    // version, application id; and bytes in the schema and data pages.
    for at in [
        0,
        6,
        15,
        16,
        17,
        18,
        19,
        20,
        21,
        22,
        23,
        28,
        32,
        36,
        40,
        44,
        48,
        56,
        60,
        64,
        68,
        100,
        120,
        500,
        page,
        page + 8,
        2 * page + 100,
        full.len() - 200,
    ] {
        let mut bytes = full.clone();
        bytes[at] ^= 0xff;
        cases.push((format!("byte {at} flipped"), bytes));
    }
    let (mut refused, mut unchanged) = (0, 0);
    for (what, bytes) in &cases {
        let path = dir.path().join("journal.db");
        std::fs::write(&path, bytes).unwrap();
        let (code, json) = verify_json(&path, &trust);
        match code {
            Some(1) | Some(2) => {
                let reason = json["failure"]["reason"].as_str().unwrap_or("");
                assert!(!reason.is_empty(), "{what}: a reason: {json}");
                assert!(
                    matches!(
                        json["verdict"].as_str(),
                        Some("invalid" | "could_not_check")
                    ),
                    "{what}: {json}"
                );
                refused += 1;
            }
            Some(0) => {
                // A byte SQLite does not use for content: every signed event reads as before.
                assert_eq!(json["journal"]["events"], events, "{what}: {json}");
                assert_eq!(json["verdict"], original["verdict"], "{what}");
                unchanged += 1;
            }
            other => panic!("{what}: exit {other:?}: {json}"),
        }
        let _ = std::fs::remove_file(&path);
    }
    eprintln!(
        "torn/damaged SQLite files: {} cases, {refused} refused with a reason, {unchanged} with content intact and verified",
        cases.len()
    );
    assert!(
        refused >= 10,
        "every non-empty truncation is refused ({refused})"
    );
}

#[test]
fn a_journal_with_no_event_could_not_be_checked() {
    let dir = tempfile::tempdir().unwrap();
    let trust = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/journals/valid_sealed/trusted.keys");
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let no_rows = dir.path().join("no-rows.db");
    rusqlite::Connection::open(&no_rows)
        .unwrap()
        .execute_batch(&format!(
            "PRAGMA application_id = {}; PRAGMA user_version = {}; {}",
            runledger_verifier::source::SQLITE_APPLICATION_ID,
            runledger_verifier::source::SQLITE_USER_VERSION,
            runledger_verifier::source::SQLITE_SCHEMA
        ))
        .unwrap();
    for journal in [&empty, &no_rows] {
        let (code, json) = verify_json(journal, &trust);
        assert_eq!(code, Some(2), "{}: {json}", journal.display());
        assert_eq!(json["verdict"], "could_not_check", "{json}");
        assert!(
            json["failure"]["reason"]
                .as_str()
                .unwrap()
                .contains("holds no event"),
            "{json}"
        );
        let out = runledger_verify()
            .arg(journal)
            .arg("--trust")
            .arg(&trust)
            .output()
            .unwrap();
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stdout}");
        assert!(stdout.starts_with("COULD NOT CHECK"), "{stdout}");
    }
}
