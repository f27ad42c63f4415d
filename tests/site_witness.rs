//! A journal witnessed through the site log: `runledger drill --witness-policy` with real
//! `runledger witness serve` processes on 127.0.0.1 gets the run cosigned; the verifier passes
//! `--require-witness` only when the policy's quorum holds over a seal of every event; a journal
//! cut after it was witnessed is refused by `checkpoint` (naming the witness) and fails the
//! verifier; a site log rolled back and appended to is refused by the witness itself (409).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{
    cut_tail, event_count, runledger, runledger_verify, text, witness_policy_line, WitnessServer,
};

/// A site log, witnesses and a policy in one temporary folder.
struct Site {
    dir: tempfile::TempDir,
    servers: Vec<WitnessServer>,
}

impl Site {
    /// A site log and `n` witnesses named w1…wn, each configured with the site log's line.
    fn new(n: usize) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let out = runledger()
            .args([
                "site",
                "init",
                "--origin",
                "example.com/runledger-site",
                "--site",
            ])
            .arg(dir.path().join("site"))
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        let logs_line = stdout
            .lines()
            .find_map(|l| l.split_once("(runledger witness serve --logs FILE): "))
            .map(|(_, line)| line.to_string())
            .unwrap_or_else(|| panic!("no witness logs line in {stdout}"));
        assert!(logs_line.starts_with("example.com/runledger-site site "));
        std::fs::write(dir.path().join("logs"), format!("{logs_line}\n")).unwrap();
        let mut servers = Vec::new();
        for i in 1..=n {
            let key = dir.path().join(format!("w{i}.key"));
            let out = runledger()
                .args(["keys", "generate", "--name", &format!("w{i}"), "--out"])
                .arg(&key)
                .output()
                .unwrap();
            assert!(out.status.success(), "{:?}", text(&out));
            servers.push(WitnessServer::start(
                &key,
                &dir.path().join("logs"),
                &dir.path().join(format!("w{i}.db")),
            ));
        }
        Site { dir, servers }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A policy over the witnesses and `down` more that nothing serves, the quorum being
    /// `group all-witnesses K …` over all of them.
    fn policy(&self, name: &str, k: &str, down: usize) -> PathBuf {
        let mut policy = String::from("# witnesses of the site\n");
        let mut names = Vec::new();
        for (i, s) in self.servers.iter().enumerate() {
            policy.push_str(&s.policy_line());
            policy.push('\n');
            names.push(format!("w{}", i + 1));
        }
        for i in 1..=down {
            // A key of its own, at an address nothing listens on.
            let n = format!("down{i}");
            let key = self.path(&format!("{n}.key"));
            let out = runledger()
                .args(["keys", "generate", "--name", &n, "--out"])
                .arg(&key)
                .output()
                .unwrap();
            assert!(out.status.success(), "{:?}", text(&out));
            policy.push_str(&witness_policy_line(&key, "http://127.0.0.1:9"));
            policy.push('\n');
            names.push(n);
        }
        policy.push_str(&format!(
            "group all-witnesses {k} {}\nquorum all-witnesses\n",
            names.join(" ")
        ));
        let path = self.path(name);
        std::fs::write(&path, policy).unwrap();
        path
    }

    /// `runledger ARGS… --witness-policy POLICY --site SITE`.
    fn witnessed(&self, policy: &Path, args: &[OsString]) -> Output {
        runledger()
            .args(args)
            .arg("--witness-policy")
            .arg(policy)
            .arg("--site")
            .arg(self.path("site"))
            .output()
            .unwrap()
    }

    fn drill(&self, dir: &str, policy: &Path) -> Output {
        self.witnessed(
            policy,
            &["drill".into(), "--dir".into(), self.path(dir).into()],
        )
    }

    /// `runledger checkpoint --journal DIR/journal.db …` with the witnesses.
    fn checkpoint(&self, dir: &str, policy: &Path, more: &[OsString]) -> Output {
        let mut args = vec![
            "checkpoint".into(),
            "--journal".into(),
            self.path(&format!("{dir}/journal.db")).into(),
        ];
        args.extend_from_slice(more);
        self.witnessed(policy, &args)
    }

    fn verify(&self, dir: &str, policy: &Path) -> Output {
        let d = self.path(dir);
        runledger_verify()
            .arg(d.join("journal.db"))
            .arg("--trust")
            .arg(d.join("operator.key.pub"))
            .arg("--witness-policy")
            .arg(policy)
            .arg("--require-witness")
            .output()
            .unwrap()
    }
}

#[test]
fn a_drill_is_witnessed_and_a_cut_journal_is_refused_by_checkpoint_and_the_verifier() {
    let site = Site::new(1);
    let policy = site.policy("policy", "1", 0);
    let out = site.drill("d", &policy);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let events = event_count(&site.path("d/journal.db"));
    assert!(
        stderr.contains(&format!("witnessed: {events} events of"))
            && stderr.contains("cosigned by w1 at "),
        "{stderr}"
    );
    assert!(site.path("d/journal.db.witnessed.json").exists());

    let out = site.verify("d", &policy);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("witnesses: witnessed: all {events} events"))
            && stdout.contains("w1 at "),
        "{stdout}"
    );

    // The evidence is the site log's: the witness's own record agrees (the site log has one
    // entry, which the witness cosigned).
    let evidence: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(site.path("d/journal.db.witnessed.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(evidence["entries"].as_array().unwrap().len(), 1);
    assert!(evidence["entries"][0].as_str().unwrap().ends_with(&format!(
        "\n{events}\n{}\n",
        evidence_root_line(&site.path("d/journal.db"))
    )));

    cut_tail(&site.path("d/journal.db"), 13);
    let out = site.checkpoint("d", &policy, &[]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("witness w1")
            && stderr.contains(&format!("sealed it at {events} events"))
            && stderr.contains("it was cut"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "nothing signed: {stdout}");

    let out = site.verify("d", &policy);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("INVALID") && stdout.contains("[witnesses]") && stdout.contains("was cut"),
        "{stdout}"
    );

    // Nor is a resume of it started: refused before anything runs, naming the witness.
    let before = event_count(&site.path("d/journal.db"));
    let out = site.witnessed(
        &policy,
        &[
            "resume".into(),
            "--journal".into(),
            site.path("d/journal.db").into(),
            "--key".into(),
            site.path("d/operator.key").into(),
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("witness w1") && stderr.contains("it was cut"),
        "{stderr}"
    );
    assert_eq!(event_count(&site.path("d/journal.db")), before);
}

#[test]
fn witnessing_inputs_that_cannot_be_used_are_one_line_and_nothing_runs() {
    let site = Site::new(1);
    let policy = site.policy("policy", "1", 0);
    let one_line = |out: &Output, needle: &str| {
        let (stdout, stderr) = text(out);
        assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    };
    // `site show` prints the lines `site init` printed.
    let out = runledger()
        .args(["site", "show", "--site"])
        .arg(site.path("site"))
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    let logs = std::fs::read_to_string(site.path("logs")).unwrap();
    assert!(
        stdout.contains(logs.trim()) && stdout.contains("entries       0"),
        "{stdout}"
    );
    // A site log is created once.
    let again = runledger()
        .args(["site", "init", "--origin", "example.com/other", "--site"])
        .arg(site.path("site"))
        .output()
        .unwrap();
    one_line(&again, "already holds a site log");
    // No site log: said before the drill creates anything.
    let out = runledger()
        .args(["drill", "--dir"])
        .arg(site.path("d"))
        .arg("--witness-policy")
        .arg(&policy)
        .arg("--site")
        .arg(site.path("nowhere"))
        .output()
        .unwrap();
    one_line(&out, "runledger site init");
    assert!(!site.path("d/journal.db").exists());
    // A policy that does not parse names its file and line.
    let bad = site.path("bad-policy");
    std::fs::write(&bad, "witness w1 not-a-key http://127.0.0.1:9\nquorum w1\n").unwrap();
    let out = site.drill("d", &bad);
    one_line(&out, &format!("{}:1", bad.display()));
    assert!(!site.path("d/journal.db").exists());
    // The verifier: --require-witness means nothing without a policy.
    let out = runledger_verify()
        .arg(site.path("d/journal.db"))
        .args(["--trust", "x", "--require-witness"])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--require-witness needs --witness-policy"),
        "{stderr}"
    );
}

/// The root line a seal of the whole journal carries, computed here from the journal's rows
/// (RFC 9162 over each event's bytes), not by runledger.
fn evidence_root_line(journal: &Path) -> String {
    use base64::Engine as _;
    use sha2::{Digest as _, Sha256};
    let c = rusqlite::Connection::open(journal).unwrap();
    let events: Vec<Vec<u8>> = c
        .prepare("SELECT event FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
        if leaves.len() == 1 {
            return leaves[0];
        }
        let k = leaves.len().next_power_of_two() / 2;
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(root(&leaves[..k]));
        h.update(root(&leaves[k..]));
        h.finalize().into()
    }
    let leaves: Vec<[u8; 32]> = events
        .iter()
        .map(|e| {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(e);
            h.finalize().into()
        })
        .collect();
    base64::engine::general_purpose::STANDARD.encode(root(&leaves))
}

#[test]
fn the_verifier_enforces_the_quorum_of_its_own_policy() {
    // Two witnesses answer, a third is down: 2 of 3 is met, all 3 is not.
    let site = Site::new(2);
    let two_of_three = site.policy("two-of-three", "2", 1);
    let out = site.drill("d", &two_of_three);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains("witness refused or unreachable: witness down1"),
        "the witness that did not answer is named: {stderr}"
    );
    assert!(
        stderr.contains("cosigned by w1 at ") && stderr.contains("w2 at "),
        "{stderr}"
    );

    let out = site.verify("d", &two_of_three);
    assert!(out.status.success(), "{:?}", text(&out));

    // The same evidence under a policy that needs every witness: not witnessed, exit 1.
    let all = site.path("all");
    std::fs::write(
        &all,
        std::fs::read_to_string(&two_of_three)
            .unwrap()
            .replace("group all-witnesses 2", "group all-witnesses all"),
    )
    .unwrap();
    let out = site.verify("d", &all);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("REQUIREMENT NOT MET: --require-witness")
            && stdout.contains("does not meet the quorum"),
        "{stdout}"
    );

    // A run whose witnesses do not meet the quorum is not done: exit 1, said loudly.
    let out = site.drill("e", &all);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("NOT WITNESSED"), "{stderr}");
}

#[test]
fn a_site_log_rolled_back_and_appended_to_is_refused_by_the_witness() {
    let site = Site::new(1);
    let policy = site.policy("policy", "1", 0);
    let out = site.drill("a", &policy);
    assert!(out.status.success(), "{:?}", text(&out));
    // An older copy of the site log, kept aside…
    let db = site.path("site/site.db");
    let old = site.path("site.db.old");
    checkpoint_sqlite(&db);
    std::fs::copy(&db, &old).unwrap();
    let out = site.drill("b", &policy);
    assert!(out.status.success(), "{:?}", text(&out));
    // …put back: the witness has cosigned more of the site log than it now holds.
    checkpoint_sqlite(&db);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(site.path(&format!("site/site.db{suffix}")));
    }
    std::fs::copy(&old, &db).unwrap();
    let out = site.drill("c", &policy);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("witness w1") && stderr.contains("409") && stderr.contains("forked"),
        "{stderr}"
    );
    assert!(stderr.contains("NOT WITNESSED"), "{stderr}");
    // The witness restarted keeps refusing: its record survived.
    let mut site = site;
    site.servers[0].restart();
    let out = site.checkpoint(
        "c",
        &policy,
        &["--out".into(), site.path("c/again.txt").into()],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("witness w1") && stderr.contains("409"),
        "{stderr}"
    );
}

/// Folds the WAL into the database file, so that a copy of the file alone is the whole log.
fn checkpoint_sqlite(db: &Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
}
