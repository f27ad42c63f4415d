//! The readers of a journal tell the same story. `runledger-verify`, `runledger status`,
//! `runledger resume` and `runledger report` read the journal's runs through one timeline,
//! each from its own entry point (the verifier streaming, the others from the journal's
//! end or its whole); on the same journals — the fixtures that verify and the golden drill
//! journals, finished, open, healed and with a loss accepted — they must agree on whether the
//! last run finished, which intents are in flight (those a resume would reconcile), and which
//! backup files were not applied.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::{runledger, runledger_verify, text};

/// (journal directory, its trusted-keys file's name).
fn journals() -> Vec<(PathBuf, &'static str)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut out = Vec::new();
    for name in ["valid_sealed", "valid_anchored", "valid_open"] {
        out.push((root.join("journals").join(name), "trusted.keys"));
    }
    let mut golden: Vec<PathBuf> = std::fs::read_dir(root.join("golden"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("journal.db").exists())
        .collect();
    golden.sort();
    out.extend(golden.into_iter().map(|p| (p, "operator.key.pub")));
    out
}

/// A private copy of the journal (with its WAL, when one is there) and its trusted keys: the
/// readers may leave lock or WAL files.
fn copy(dir: &Path, keys: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["journal.db", keys] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    for f in ["journal.db-wal", "journal.db-shm"] {
        if dir.join(f).exists() {
            std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
        }
    }
    tmp
}

/// The files not applied as the report's Markdown lists them: (file, seq, step).
fn report_not_applied(md: &str) -> BTreeSet<(String, u64, String)> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in md.lines() {
        if line.starts_with("**Files not applied (and why):**") {
            inside = true;
            continue;
        }
        if inside {
            if line.is_empty() && !out.is_empty() {
                break;
            }
            let Some(item) = line.strip_prefix("- ") else {
                continue;
            };
            // `file: reason (error N) (seq S, step X)`, Markdown-escaped.
            let item = item.replace('\\', "");
            let file = item.split(": ").next().unwrap().to_string();
            let tail = item.rsplit("(seq ").next().unwrap();
            let (seq, step) = tail.trim_end_matches(')').split_once(", step ").unwrap();
            out.insert((file, seq.parse().unwrap(), step.to_string()));
        }
    }
    out
}

#[test]
fn status_resume_the_report_and_the_verifier_agree_on_every_journal() {
    let mut checked = 0;
    for (dir, keys) in journals() {
        readers_agree(&dir, keys);
        checked += 1;
    }
    assert!(checked >= 7, "fixtures and golden journals read: {checked}");
    eprintln!("{checked} journals: status, resume, report and verifier agree");
}

/// `runledger-verify`, `status` (lines and JSON), what `resume` would reconcile, and the report
/// agree on the journal in `dir` (`journal.db`, trusted by the keys file `keys` beside it):
/// whether its last run finished, the intents in flight, the files not applied. Every drill
/// scenario's journal is held to it at the end of its test, as the fixtures and golden
/// journals are here.
pub fn readers_agree(dir: &Path, keys: &str) {
    let tmp = copy(dir, keys);
    let journal = tmp.path().join("journal.db");
    let trusted = tmp.path().join(keys);
    let name = dir.display().to_string();

    let out = runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(&trusted)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0)),
        "{name}: {:?}",
        text(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let last_status = v["runs"].as_array().unwrap().last().unwrap()["status"]
        .as_str()
        .unwrap()
        .to_string();
    let in_flight: Vec<String> = v["open"]["intents_in_flight"]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
        .unwrap_or_default();
    let not_applied: BTreeSet<(String, u64, String)> = v["not_applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["file"].as_str().unwrap().to_string(),
                n["seq"].as_u64().unwrap(),
                n["step"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    // status: finished exactly when the verifier's last run is not in flight; the intent
    // it names in flight is the verifier's first.
    let out = runledger()
        .args(["status", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    let (status, _) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{name}: {status}");
    assert!(
        status.contains("hold together under the key it names"),
        "{name}: {status}"
    );
    let finished = status.contains("state    finished");
    assert_eq!(
        finished,
        last_status != "in_flight",
        "{name}: status says {status:?}, the verifier's last run is {last_status}"
    );
    if let Some(first) = in_flight.first() {
        assert!(
            status.contains(&format!("in flight: {first}")),
            "{name}: the verifier has {first} in flight, status says {status:?}"
        );
    }
    // status --json says the same as its lines, in keys a script reads.
    let out = runledger()
        .args(["status", "--json", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{name}: {:?}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["integrity"]["verdict"], "holds", "{name}: {json}");
    assert_eq!(
        json["state"]["kind"] == "finished",
        finished,
        "{name}: {json}"
    );
    if let Some(first) = in_flight.first() {
        assert_eq!(json["state"]["kind"], "in_flight", "{name}: {json}");
        let s = &json["state"];
        assert_eq!(
            format!(
                "{} attempt {} (intent seq {})",
                s["unit"].as_str().unwrap_or(""),
                s["attempt"],
                s["intent_seq"]
            ),
            first.as_str(),
            "{name}: {json}"
        );
    }

    // resume: the intents it would name in doubt (and reconcile) are the verifier's in
    // flight, and none when the run finished.
    let last = runledger_engine::run::last_run(&journal)
        .unwrap()
        .expect("a run was started");
    assert_eq!(
        last.finished(),
        finished,
        "{name}: resume reads another end"
    );
    let in_doubt: Vec<String> = runledger_engine::run::in_doubt(&last.timeline)
        .iter()
        .map(|d| {
            format!(
                "{} attempt {} (intent seq {})",
                d.step, d.attempt, d.intent_seq
            )
        })
        .collect();
    assert_eq!(
        in_doubt, in_flight,
        "{name}: resume's in-doubt intents against the verifier's in flight"
    );
    if let Some(first) = in_doubt.first() {
        assert!(
            status.contains(&format!("in flight: {first}")),
            "{name}: resume would reconcile {first} first, status says {status:?}"
        );
    }

    // The report: the same files not applied, each with the seq and step of its finding.
    let md = tmp.path().join("report.md");
    let out = runledger()
        .args(["report", "--journal"])
        .arg(&journal)
        .arg("--trust")
        .arg(&trusted)
        .arg("--html")
        .arg(tmp.path().join("report.html"))
        .arg("--md")
        .arg(&md)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{name}: {:?}", text(&out));
    let md = std::fs::read_to_string(&md).unwrap();
    assert_eq!(
        report_not_applied(&md),
        not_applied,
        "{name}: files not applied, report against verifier"
    );
    if not_applied.is_empty() {
        assert!(md.contains("Files not applied: none"), "{name}");
    }
}

/// A journal a key holder edited against the run's rules: `status` says first that it does not
/// hold together, with the seq and check `runledger-verify` names, before telling its account.
#[test]
fn status_says_a_journal_does_not_hold_together_where_the_verifier_says_it_fails() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/journals");
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("semantic_") {
            continue;
        }
        let expect = std::fs::read_to_string(dir.join("EXPECT")).unwrap();
        // `expect: invalid SEQ CHECK`
        let words: Vec<&str> = expect.split_whitespace().collect();
        let (seq, mut check) = (words[2], words[3]);
        if check == "run_signer" {
            // status trusts only the key the journal names: another key is untrusted there.
            check = "signatures";
        }
        let tmp = copy(&dir, "trusted.keys");
        let out = runledger()
            .args(["status", "--journal"])
            .arg(tmp.path().join("journal.db"))
            .output()
            .unwrap();
        let (status, _) = text(&out);
        let journal_line = status.lines().nth(1).unwrap_or("");
        assert!(
            journal_line.starts_with("journal  DOES NOT HOLD TOGETHER")
                && journal_line.contains(&format!("seq {seq}: [{check}]")),
            "{name}: expected seq {seq} [{check}], status says {status:?}"
        );
        let out = runledger()
            .args(["status", "--json", "--journal"])
            .arg(tmp.path().join("journal.db"))
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let integrity = &json["integrity"];
        assert_eq!(
            integrity["verdict"], "does_not_hold_together",
            "{name}: {json}"
        );
        assert_eq!(integrity["seq"].to_string(), seq, "{name}: {json}");
        assert_eq!(integrity["check"], check, "{name}: {json}");
        seen += 1;
    }
    assert!(seen >= 9, "insider fixtures read: {seen}");
}
