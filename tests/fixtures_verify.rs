//! Every committed journal fixture, through every read path: the library on SQLite and on
//! JSONL, and the `runledger-verify` binary on both, human and `--json`. Each must reach the
//! verdict its `EXPECT` file states, naming the same first failing seq and check.

use std::path::{Path, PathBuf};

use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::verify::{verify, Options};

use crate::common::{runledger_verify, text};
use crate::fixture_journals::fixtures_dir;

/// What a fixture's EXPECT file says.
#[derive(Debug)]
struct Expect {
    verdict: String,
    seq: Option<u64>,
    check: Option<String>,
}

fn read_expect(dir: &Path) -> Expect {
    let text = std::fs::read_to_string(dir.join("EXPECT")).expect("EXPECT file");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("expect: "))
        .expect("an `expect:` line");
    let mut words = line.split_whitespace();
    let verdict = words.next().expect("a verdict").to_string();
    let seq = words.next().map(|s| s.parse().expect("seq"));
    let check = words.next().map(str::to_string);
    Expect {
        verdict,
        seq,
        check,
    }
}

fn sidecars(dir: &Path) -> (Vec<PathBuf>, Option<PathBuf>) {
    let mut checkpoints: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("checkpoint") && n.ends_with(".txt"))
        })
        .collect();
    checkpoints.sort();
    let backups = Some(dir.join("backups")).filter(|b| b.is_dir());
    (checkpoints, backups)
}

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/journals")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected the full fixture set, found {}",
        dirs.len()
    );
    dirs
}

fn journals_in(dir: &Path) -> Vec<PathBuf> {
    ["journal.db", "journal.jsonl"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect()
}

#[test]
fn every_fixture_meets_its_expectation_through_the_library() {
    for dir in fixture_dirs() {
        let expect = read_expect(&dir);
        let trusted = TrustedKeys::load(&dir.join("trusted.keys")).expect("trusted keys");
        let (checkpoints, backups) = sidecars(&dir);
        let options = Options {
            checkpoints: checkpoints
                .iter()
                .map(|p| {
                    (
                        p.display().to_string(),
                        std::fs::read_to_string(p).expect("checkpoint"),
                    )
                })
                .collect(),
            backups,
            ..Options::default()
        };
        let journals = journals_in(&dir);
        assert!(!journals.is_empty(), "{}: no journal", dir.display());
        for journal in journals {
            let report = verify(&journal, &trusted, &options)
                .unwrap_or_else(|e| panic!("{}: could not check: {e}", journal.display()));
            let verdict = serde_json::to_value(report.verdict).unwrap();
            assert_eq!(
                verdict.as_str(),
                Some(expect.verdict.as_str()),
                "{}: {}",
                journal.display(),
                report.verdict_text
            );
            if let Some(seq) = expect.seq {
                let f = report.failure.as_ref().expect("a failure");
                assert_eq!(f.seq, Some(seq), "{}: {:?}", journal.display(), f);
                let check = serde_json::to_value(f.check).unwrap();
                assert_eq!(
                    check.as_str(),
                    expect.check.as_deref(),
                    "{}: {:?}",
                    journal.display(),
                    f
                );
            }
        }
    }
}

#[test]
fn every_fixture_meets_its_expectation_through_the_cli() {
    for dir in fixture_dirs() {
        let expect = read_expect(&dir);
        let (checkpoints, backups) = sidecars(&dir);
        for journal in journals_in(&dir) {
            let mut args: Vec<String> = vec![
                journal.display().to_string(),
                "--trust".into(),
                dir.join("trusted.keys").display().to_string(),
            ];
            for c in &checkpoints {
                args.extend(["--checkpoint".into(), c.display().to_string()]);
            }
            if let Some(b) = &backups {
                args.extend(["--backups".into(), b.display().to_string()]);
            }
            let expected_code = if expect.verdict.starts_with("valid") {
                0
            } else {
                1
            };

            let out = runledger_verify()
                .args(&args)
                .arg("--json")
                .output()
                .expect("run");
            let (stdout, stderr) = text(&out);
            assert_eq!(
                out.status.code(),
                Some(expected_code),
                "{}: {stdout}{stderr}",
                journal.display()
            );
            let json: serde_json::Value =
                serde_json::from_str(&stdout).expect("--json output is JSON");
            assert_eq!(
                json["verdict"],
                expect.verdict.as_str(),
                "{}",
                journal.display()
            );
            if let Some(seq) = expect.seq {
                assert_eq!(
                    json["failure"]["seq"],
                    seq,
                    "{}: {stdout}",
                    journal.display()
                );
                assert_eq!(
                    json["failure"]["check"],
                    expect.check.as_deref().unwrap(),
                    "{}",
                    journal.display()
                );
            }

            let out = runledger_verify().args(&args).output().expect("run");
            let (stdout, _) = text(&out);
            assert_eq!(
                out.status.code(),
                Some(expected_code),
                "{}",
                journal.display()
            );
            let first = stdout.lines().next().unwrap_or("");
            let words = match expect.verdict.as_str() {
                "valid_anchored" => "VALID AND ANCHORED",
                "valid_sealed" => "VALID AND SEALED",
                "valid_open" => "VALID BUT OPEN",
                _ => "INVALID",
            };
            assert!(
                first.starts_with(words),
                "{}: first line {first:?}",
                journal.display()
            );
            if let Some(seq) = expect.seq {
                assert!(
                    stdout.contains(&format!("first failure: seq {seq}")),
                    "{}: human output does not name seq {seq}:\n{stdout}",
                    journal.display()
                );
            }
        }
    }
}
