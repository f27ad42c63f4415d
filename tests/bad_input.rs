//! Bad input, case by case: every failure and bad input ends with one clear line naming the thing
//! at fault, its exit code, and nothing lost — a refusal leaves the journal byte for byte as it
//! was, a failure during a run is recorded (`step.outcome`, with the server's error number) and
//! the journal still verifies.
//!
//! Where each §8 case is tested (this module adds only what was missing):
//!
//! | §8 case | exit | test |
//! |---|---|---|
//! | malformed runbook | 2 | `bad_input::invalid_runbooks_are_refused_by_plan_and_run_before_any_journal` (CLI); `engine/tests/runbook.rs` (file:line:col of every invalid fixture) |
//! | unknown step action | 2 | same test (`unknown_action.toml`) |
//! | missing or unreadable key | 2 | `bad_input::a_missing_or_unreadable_key_is_refused_naming_it` |
//! | key file readable by others | 2 | `security::private_keys_readable_by_group_or_others_are_refused_everywhere`; `journal_tools::checkpoint_anchors_the_journal_and_refuses_a_key_readable_by_others` |
//! | wrong key on resume | 2 | `resume_refusals::resume_refuses_another_key_and_appends_nothing`; `ssh_agent::a_run_signed_through_the_agent_verifies_under_the_line_keys_public_prints` (another agent key) |
//! | ssh-agent key missing, unknown, ambiguous or not Ed25519 | 2 | `ssh_agent::an_agent_key_that_cannot_be_used_is_one_error_line_before_anything_is_written` |
//! | ssh-agent gone mid-run | 2 | `ssh_agent::an_agent_that_dies_mid_run_halts_it_with_one_error_line_and_resume_completes_it` |
//! | runbook changed between crash and resume | 2 | `resume_refusals::resume_refuses_another_runbook_and_appends_nothing` |
//! | journal locked by another process | 2 | `resume_refusals::resume_refuses_a_journal_locked_by_another_process`; `concurrency` (two real engines at once) |
//! | journal that fails verification on resume | 2 | `resume_refusals::resume_refuses_a_journal_that_does_not_verify_and_appends_nothing`; `storage_faults` (torn files) |
//! | backup file missing | 3 (share), 1 (destination) | `drill_scenarios::a_missing_file_is_a_gap_too` (missing on the share); `bad_input::a_backup_file_changed_truncated_or_removed_after_copy_is_never_restored` (removed from the copy destination) |
//! | backup file truncated or damaged | 3 | `drill_scenarios::a_corrupt_file_is_refused_before_restore` (damaged on the share); `bad_input::a_backup_file_changed_truncated_or_removed_after_copy_is_never_restored` (truncated after copy) |
//! | backup file changed after copy | 3 | `bad_input::a_backup_file_changed_truncated_or_removed_after_copy_is_never_restored` (re-hash before RESTORE) |
//! | LSN gap | 3 | `drill_scenarios::an_lsn_gap_halts_naming_the_missing_range_until_data_loss_is_accepted` |
//! | SQL login failure | 1 | `bad_input::a_sql_login_failure_is_recorded_with_error_18456_and_no_password` |
//! | SQL timeout, SQL error | 1 | `bad_input::a_sql_error_a_sql_timeout_and_a_failing_shell_command_are_recorded` |
//! | shell command failure | 1 | same test (exit code recorded); `drill_scenarios::an_unreachable_cms_halts_before_the_pool_with_the_database_recovered` |
//! | disk full while appending | 2 | `storage_faults` (every kind of append, intent before action) |
//!
//! The helpers here (`CrashedDrill`, `JournalState`, `last_line`) are shared with the
//! `storage_faults`, `concurrency` and `security` modules.

use std::path::{Path, PathBuf};
use std::process::Output;

use sha2::{Digest as _, Sha256};

use crate::common::{
    export_events, resume, runledger, runledger_verify, sim_status, stop_server, text,
};

/// A drill killed by `--crash-after-events N`: an open journal, its simulated server left up
/// (stopped when dropped).
pub(crate) struct CrashedDrill {
    pub(crate) dir: tempfile::TempDir,
}

impl CrashedDrill {
    /// Runs the drill with `extra` flags and kills it after `n` events.
    pub(crate) fn new(n: u64, extra: &[&str]) -> CrashedDrill {
        let dir = tempfile::tempdir().unwrap();
        let out = runledger()
            .args(["drill", "--crash-after-events", &n.to_string(), "--dir"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), None, "killed: {:?}", text(&out));
        CrashedDrill { dir }
    }

    /// A path in the drill directory.
    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `runledger resume` on the drill's journal with its key.
    pub(crate) fn resume(&self, extra: &[&str]) -> Output {
        resume(&self.path("journal.db"), &self.path("operator.key"), extra)
    }

    /// The simulated systems' history of state-changing commands.
    pub(crate) fn history(&self) -> Vec<String> {
        sim_history(self.dir.path())
    }

    /// The journal's events, through `runledger export`.
    pub(crate) fn events(&self) -> Vec<serde_json::Value> {
        export_events(&self.path("journal.db"))
    }
}

/// How many events a normal drill's journal holds once the first outcome of a unit of `step`
/// is durable, read from an uninterrupted drill (so that a crash point follows the runbook as
/// it is, not a count written down once).
pub(crate) fn events_through_first_outcome_of(step: &str) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let out = runledger()
        .args(["drill", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    stop_server(dir.path());
    let events = export_events(&dir.path().join("journal.db"));
    let at = events
        .iter()
        .position(|e| {
            e["kind"] == "step.outcome"
                && e["body"]["step"].as_str().unwrap_or("").split('/').next() == Some(step)
        })
        .unwrap_or_else(|| panic!("a normal drill has an outcome of {step}"));
    at as u64 + 1
}

impl Drop for CrashedDrill {
    fn drop(&mut self) {
        stop_server(self.dir.path());
    }
}

/// Commands the simulated systems executed, in order (`runledger sim status --json`).
pub(crate) fn sim_history(dir: &Path) -> Vec<String> {
    sim_status(dir)["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["command"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts that the journal verifies (valid, open or sealed) under its `.pub` key.
pub(crate) fn assert_verifies(journal: &Path, trusted: &Path) {
    let out = runledger_verify()
        .arg(journal)
        .arg("--trust")
        .arg(trusted)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("VALID"), "{stdout}");
}

/// A journal's content: its number of rows and a hash of every column of every row, in seq
/// order. Independent of WAL checkpoints, so two equal states mean nothing was appended or
/// changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct JournalState {
    rows: i64,
    sha256: Vec<u8>,
}

impl JournalState {
    /// Reads it (read-only: reading changes nothing).
    pub(crate) fn of(journal: &Path) -> JournalState {
        let conn = rusqlite::Connection::open_with_flags(
            journal,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut stmt = conn
            .prepare("SELECT seq, event, leaf_hash, sig FROM events ORDER BY seq")
            .unwrap();
        let mut hasher = Sha256::new();
        let mut rows = 0;
        let mut q = stmt.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            rows += 1;
            hasher.update(r.get::<_, i64>(0).unwrap().to_be_bytes());
            for i in 1..4 {
                let b: Vec<u8> = r.get(i).unwrap();
                hasher.update((b.len() as u64).to_be_bytes());
                hasher.update(&b);
            }
        }
        JournalState {
            rows,
            sha256: hasher.finalize().to_vec(),
        }
    }

    /// Its number of events.
    pub(crate) fn rows(&self) -> i64 {
        self.rows
    }
}

/// The one `runledger: error: …` line of a refusal.
pub(crate) fn error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("runledger: error: "))
        .collect();
    assert_eq!(lines.len(), 1, "exactly one error line: {stderr}");
    lines[0]
}

/// The last `runledger: …` line: why a run stopped.
pub(crate) fn last_line(stderr: &str) -> &str {
    stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("runledger: "))
        .unwrap_or_else(|| panic!("a `runledger:` line: {stderr}"))
}

fn runbooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/runbooks/invalid")
}

/// The two commands that must refuse a bad runbook before anything exists: `plan RUNBOOK`, and
/// `run RUNBOOK --journal JOURNAL --key KEY --yes`.
pub(crate) fn plan_and_run(runbook: &Path, journal: &Path, key: &Path) -> [Vec<String>; 2] {
    let word = |p: &Path| p.display().to_string();
    [
        vec!["plan".into(), word(runbook)],
        vec![
            "run".into(),
            word(runbook),
            "--journal".into(),
            word(journal),
            "--key".into(),
            word(key),
            "--yes".into(),
        ],
    ]
}

/// A private key file, owner-only, in `dir`.
pub(crate) fn new_key(dir: &Path, name: &str) -> PathBuf {
    let key = dir.join(name);
    let out = runledger()
        .args(["keys", "generate", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    key
}

#[test]
fn invalid_runbooks_are_refused_by_plan_and_run_before_any_journal() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(runbooks_dir()).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let expect = source
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap();
        let (pos, fragment) = expect.split_once(' ').unwrap();
        let named = format!("runledger: error: {}:{pos}: ", path.display());
        let journal = dir.path().join("journal.db");
        for args in plan_and_run(&path, &journal, &key) {
            let out = runledger().args(&args).output().unwrap();
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            let line = error_line(&stderr);
            assert!(
                line.starts_with(&named) && line.contains(fragment),
                "{args:?}: expected {named}…{fragment}, got {line}"
            );
            assert_eq!(stderr.trim().lines().count(), 1, "one line only: {stderr}");
            assert!(stdout.is_empty(), "nothing planned: {stdout}");
            assert!(!journal.exists(), "{args:?}: no journal was created");
        }
        seen.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    for must in ["malformed_toml.toml", "unknown_action.toml"] {
        assert!(seen.iter().any(|s| s == must), "{must} is a fixture");
    }
}

#[test]
fn a_missing_or_unreadable_key_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/journals/valid_open");
    let journal = dir.path().join("journal.db");
    std::fs::copy(src.join("journal.db"), &journal).unwrap();
    let before = JournalState::of(&journal);

    let missing = dir.path().join("missing.key");
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let a_directory = dir.path().join("keydir");
    std::fs::create_dir(&a_directory).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&a_directory, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let runbook =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/runbooks/valid/minimal.toml");
    for key in [&missing, &garbage, &a_directory] {
        let new_journal = dir.path().join("new.db");
        let out = runledger()
            .arg("run")
            .arg(&runbook)
            .arg("--journal")
            .arg(&new_journal)
            .arg("--key")
            .arg(key)
            .arg("--yes")
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            error_line(&stderr).contains(&key.display().to_string()),
            "the key is named: {stderr}"
        );
        assert!(!new_journal.exists(), "no journal without a key");

        let out = resume(&journal, key, &[]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            error_line(&stderr).contains(&key.display().to_string()),
            "the key is named: {stderr}"
        );
        assert_eq!(JournalState::of(&journal), before, "journal unchanged");
    }
}

/// What happens to a copied backup file between the crash and the resume.
#[derive(Debug, Clone, Copy)]
enum AfterCopy {
    Changed,
    Truncated,
    Removed,
}

#[test]
fn a_backup_file_changed_truncated_or_removed_after_copy_is_never_restored() {
    let events_to_first_restore = events_through_first_outcome_of("apply-logs");
    for how in [AfterCopy::Changed, AfterCopy::Truncated, AfterCopy::Removed] {
        // Killed right after the first log restore's outcome: every copy is done and listed
        // (with its sha256), the other logs wait for their restore.
        let d = CrashedDrill::new(events_to_first_restore, &[]);
        let events = d.events();
        assert_eq!(
            events.last().unwrap()["body"]["step"]
                .as_str()
                .unwrap_or("")
                .split('/')
                .next(),
            Some("apply-logs"),
            "the crash point is after the first restore"
        );
        // A copied file not restored yet.
        let unit = events
            .iter()
            .filter(|e| e["kind"] == "step.intent")
            .filter_map(|e| e["body"]["step"].as_str())
            .find(|s| s.starts_with("copy-backups/"))
            .expect("a copied file")
            .to_string();
        let name = unit.trim_start_matches("copy-backups/").to_string();
        let file = d.path("sim/dest").join(&name);
        match how {
            AfterCopy::Changed => {
                let mut bytes = std::fs::read(&file).unwrap();
                let at = bytes.len() - 10;
                bytes[at] ^= 0x5a;
                std::fs::write(&file, bytes).unwrap();
            }
            AfterCopy::Truncated => {
                let len = std::fs::metadata(&file).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&file)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }
            AfterCopy::Removed => std::fs::remove_file(&file).unwrap(),
        }
        let out = d.resume(&[]);
        let (_, stderr) = text(&out);
        // A changed or truncated file is a break in the chain (a decision, exit 3); a file
        // that cannot be read fails the step (exit 1); neither is restored.
        let expected = match how {
            AfterCopy::Changed | AfterCopy::Truncated => 3,
            AfterCopy::Removed => 1,
        };
        assert_eq!(out.status.code(), Some(expected), "{how:?}: {stderr}");
        let line = last_line(&stderr);
        assert!(
            line.contains("step apply-logs") && line.contains(&name),
            "{how:?}: names the step and the file: {line}"
        );
        if expected == 3 {
            assert!(
                line.contains("changed since it was listed"),
                "{how:?}: {line}"
            );
            assert!(line.contains("--accept-data-loss apply-logs"), "{line}");
        } else {
            assert!(line.contains("cannot read"), "{how:?}: {line}");
        }
        let history = d.history();
        assert!(
            !history
                .iter()
                .any(|h| h.starts_with("RESTORE LOG") && h.contains(&name)),
            "{how:?}: {name} was never restored: {history:?}"
        );
        // The refusal is recorded: an outcome of that file's unit, failed.
        let events = d.events();
        assert!(
            events.iter().any(|e| e["kind"] == "step.outcome"
                && e["body"]["step"] == format!("apply-logs/{name}")
                && e["body"]["status"] == "failed"),
            "{how:?}: the refusal is in the journal"
        );
        assert_verifies(&d.path("journal.db"), &d.path("operator.key.pub"));
        eprintln!("backup file {how:?} after copy: refused, never restored");
    }
}

#[test]
fn a_sql_login_failure_is_recorded_with_error_18456_and_no_password() {
    let d = CrashedDrill::new(2, &[]);
    let real = std::fs::read_to_string(d.path("sim/bak.password")).unwrap();
    let wrong = "Wrong-Password-7731!";
    std::fs::write(d.path("sim/bak.password"), format!("{wrong}\n")).unwrap();
    let out = d.resume(&[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = last_line(&stderr);
    assert!(
        line.contains("step confirm-backup-store failed") && line.contains("18456"),
        "{line}"
    );
    for secret in [wrong, real.trim()] {
        assert!(!stdout.contains(secret) && !stderr.contains(secret));
    }
    let events = d.events();
    let outcome = events
        .iter()
        .rev()
        .find(|e| e["kind"] == "step.outcome")
        .unwrap();
    assert_eq!(outcome["body"]["step"], "confirm-backup-store");
    assert_eq!(outcome["body"]["status"], "failed");
    assert_eq!(
        outcome["body"]["result"]["error"]["number"], 18456,
        "{outcome}"
    );
    assert_verifies(&d.path("journal.db"), &d.path("operator.key.pub"));
    // Once the password is right again, resume continues from there.
    std::fs::write(d.path("sim/bak.password"), real).unwrap();
    let out = d.resume(&[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// A one-step runbook against the drill's simulated instance and shell.
fn one_step_runbook(d: &CrashedDrill, step: &str) -> String {
    let drill_runbook = std::fs::read_to_string(d.path("runbook.toml")).unwrap();
    let start = drill_runbook.find("[targets.backup]").unwrap();
    let end = drill_runbook.find("[[steps]]").unwrap();
    format!(
        "name = \"faults\"\nversion = \"1\"\n{}\n{step}\n",
        &drill_runbook[start..end]
    )
}

/// What a failed outcome's `result` must hold.
type ResultCheck = Box<dyn Fn(&serde_json::Value)>;

#[test]
fn a_sql_error_a_sql_timeout_and_a_failing_shell_command_are_recorded() {
    // Every simulated restore takes 3 s: long enough to pass a 1 s timeout.
    let d = CrashedDrill::new(2, &["--pace", "3000"]);
    let share = d.path("sim/share");
    let mut on_share: Vec<String> = std::fs::read_dir(&share)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_share.sort();
    // The simulated server reads the share by its Windows name, as a real one would.
    let newest = format!(r"\\pcfs01\mgc-logs\{}", on_share.last().unwrap());
    let cases: Vec<(&str, String, ResultCheck)> = vec![
        (
            "restore-out-of-order",
            format!(
                "[[steps]]\nid = \"restore-out-of-order\"\ntitle = \"A restore the server refuses\"\naction = \"sql\"\ntarget = \"backup\"\nbatch = \"RESTORE LOG [mgc] FROM DISK = N'{}' WITH NORECOVERY\"\n",
                newest.replace('\\', "\\\\")
            ),
            Box::new(|result| {
                assert_eq!(result["error"]["number"], 4305, "{result}");
            }),
        ),
        (
            "slow-restore",
            // Paced like a restore: 3 s on the simulated server, the database being RESTORING.
            "[[steps]]\nid = \"slow-restore\"\ntitle = \"A recovery slower than its timeout\"\naction = \"sql\"\ntarget = \"backup\"\ntimeout = \"1s\"\nbatch = \"RESTORE DATABASE [mgc] WITH RECOVERY\"\n".to_string(),
            Box::new(|result| {
                let text = result["error"]["text"].as_str().unwrap_or("");
                assert!(text.contains("within 1s"), "{result}");
            }),
        ),
        (
            "bad-cmdlet",
            "[[steps]]\nid = \"bad-cmdlet\"\ntitle = \"A cmdlet that fails\"\naction = \"cs_cmdlet\"\ncommand = \"Get-CsNoSuchThing -Identity x\"\n".to_string(),
            Box::new(|result| {
                assert_eq!(result["exit_code"], 1, "{result}");
            }),
        ),
    ];
    for (step, text_of_step, check) in cases {
        let runbook = d.path(&format!("{step}.toml"));
        std::fs::write(&runbook, one_step_runbook(&d, &text_of_step)).unwrap();
        let journal = d.path(&format!("{step}.db"));
        let out = runledger()
            .arg("run")
            .arg(&runbook)
            .arg("--journal")
            .arg(&journal)
            .arg("--key")
            .arg(d.path("operator.key"))
            .arg("--yes")
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{step}: {stderr}");
        let line = last_line(&stderr);
        assert!(
            line.starts_with(&format!("runledger: step {step} failed: ")),
            "{line}"
        );
        let events = export_events(&journal);
        let outcome = events
            .iter()
            .find(|e| e["kind"] == "step.outcome")
            .unwrap_or_else(|| panic!("{step}: an outcome"));
        assert_eq!(outcome["body"]["status"], "failed");
        check(&outcome["body"]["result"]);
        assert_verifies(&journal, &d.path("operator.key.pub"));
    }
}
