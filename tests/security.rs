//! Security promises: a private key (or password file) that group or others can read is
//! refused by every command that would use it; the drill's SQL password appears in no output,
//! no error message and no file runledger writes; a database name or parameter that could
//! change the meaning of a statement is refused before anything is planned or journaled, and
//! a parameter's value is a quoted literal in every cmdlet line and T-SQL text the plan shows;
//! a target that pins its CA reaches a server that CA signed, over TLS, and stops at one it
//! did not sign.

use std::path::{Path, PathBuf};

use crate::bad_input::{error_line, last_line, new_key, plan_and_run, CrashedDrill, JournalState};
use crate::common::{runledger, text};

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

#[test]
fn private_keys_readable_by_group_or_others_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.db");
    std::fs::copy(repo("fixtures/journals/valid_open/journal.db"), &journal).unwrap();
    let key = dir.path().join("operator.key");
    std::fs::write(&key, crate::fixture_journals::test_key().to_file_text()).unwrap();
    let before = JournalState::of(&journal);
    let minimal = repo("fixtures/runbooks/valid/minimal.toml");
    for mode in [0o640, 0o604, 0o644, 0o660, 0o606] {
        set_mode(&key, mode);
        let new_journal = dir.path().join("new.db");
        let proof = dir.path().join("proof.txt");
        let commands: Vec<Vec<String>> = vec![
            vec![
                "run".into(),
                minimal.display().to_string(),
                "--journal".into(),
                new_journal.display().to_string(),
                "--key".into(),
                key.display().to_string(),
                "--yes".into(),
            ],
            vec![
                "resume".into(),
                "--journal".into(),
                journal.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ],
            vec![
                "checkpoint".into(),
                "--journal".into(),
                journal.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ],
            vec![
                "prove".into(),
                "--journal".into(),
                journal.display().to_string(),
                "--seq".into(),
                "1".into(),
                "--out".into(),
                proof.display().to_string(),
                "--key".into(),
                key.display().to_string(),
            ],
        ];
        for args in commands {
            let out = runledger().args(&args).output().unwrap();
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{mode:o} {args:?}: {stderr}");
            let line = error_line(&stderr);
            assert!(
                line.contains(&key.display().to_string())
                    && line.contains("readable by others")
                    && line.contains(&format!("{mode:o}"))
                    && line.contains("chmod 600"),
                "{mode:o} {args:?}: {line}"
            );
            assert!(stdout.is_empty(), "nothing signed or printed: {stdout}");
            assert!(!new_journal.exists() && !proof.exists());
            assert_eq!(JournalState::of(&journal), before, "journal unchanged");
        }
    }
    // Owner-only again, the same key is accepted (the refusal was the mode, not the key).
    set_mode(&key, 0o600);
    let out = runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

#[test]
fn a_password_file_readable_by_others_is_refused_on_resume() {
    let d = CrashedDrill::new(2, &[]);
    let before = JournalState::of(&d.path("journal.db"));
    let pw = d.path("sim/bak.password");
    let secret = std::fs::read_to_string(&pw).unwrap();
    set_mode(&pw, 0o640);
    let out = d.resume(&[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = error_line(&stderr);
    assert!(
        line.contains(&pw.display().to_string()) && line.contains("readable by others"),
        "{line}"
    );
    assert!(!stdout.contains(secret.trim()) && !stderr.contains(secret.trim()));
    assert_eq!(JournalState::of(&d.path("journal.db")), before);
}

/// Every occurrence of any of `secrets` in `haystack`.
fn leaks<'a>(haystack: &[u8], secrets: &'a [String]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|s| haystack.windows(s.len()).any(|w| w == s.as_bytes()))
        .map(String::as_str)
        .collect()
}

/// Every file under `dir`, except the simulated data center (`sim/`), which holds the
/// passwords by contract.
fn files_outside_sim(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p == dir.join("sim") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn no_secret_appears_in_any_output_or_file() {
    // A drill killed mid-run, resumed to the end; then every read-only command on it.
    let d = CrashedDrill::new(30, &[]);
    let instances: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path("sim/instances.json")).unwrap()).unwrap();
    let mut secrets: Vec<String> = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["password"].as_str().unwrap().to_string())
        .collect();
    secrets.sort();
    secrets.dedup();
    assert!(secrets.iter().all(|s| s.len() >= 8), "{secrets:?}");
    // The base64 forms too, in case a value were encoded rather than written.
    {
        use base64::Engine as _;
        let b64: Vec<String> = secrets
            .iter()
            .map(|s| base64::engine::general_purpose::STANDARD.encode(s))
            .collect();
        secrets.extend(b64);
    }

    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = |what: &str, out: std::process::Output| {
        outputs.push((format!("{what} stdout"), out.stdout));
        outputs.push((format!("{what} stderr"), out.stderr));
    };
    record("resume", d.resume(&[]));
    let journal = d.path("journal.db");
    let j = journal.display().to_string();
    let k = d.path("operator.key").display().to_string();
    for (what, args) in [
        ("status", vec!["status", "--journal", &j]),
        ("export", vec!["export", "--journal", &j, "--jsonl"]),
        (
            "checkpoint",
            vec!["checkpoint", "--journal", &j, "--key", &k],
        ),
        (
            "prove",
            vec!["prove", "--journal", &j, "--seq", "1", "--key", &k, "--out"],
        ),
    ] {
        let mut c = runledger();
        c.args(&args);
        match what {
            "export" => {
                c.arg(d.path("export.jsonl"));
            }
            "prove" => {
                c.arg(d.path("proof.txt"));
            }
            _ => {}
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{what}: {:?}", text(&out));
        record(what, out);
    }
    let plan = runledger()
        .arg("plan")
        .arg(d.path("runbook.toml"))
        .output()
        .unwrap();
    assert!(plan.status.success(), "{:?}", text(&plan));
    record("plan", plan);
    // An uninterrupted drill's own output.
    let fresh = tempfile::tempdir().unwrap();
    let drill = runledger()
        .arg("drill")
        .arg("--dir")
        .arg(fresh.path())
        .output()
        .unwrap();
    assert_eq!(drill.status.code(), Some(0), "{:?}", text(&drill));
    let fresh_instances: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fresh.path().join("sim/instances.json")).unwrap())
            .unwrap();
    for i in fresh_instances.as_array().unwrap() {
        secrets.push(i["password"].as_str().unwrap().to_string());
    }
    record("drill", drill);
    // An error message about the login: a wrong password is not echoed either.
    let wrong = "Not-The-Password-4412!".to_string();
    std::fs::write(fresh.path().join("sim/bak.password"), format!("{wrong}\n")).unwrap();
    secrets.push(wrong);
    let serve = runledger()
        .args(["sim", "serve"])
        .arg(fresh.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let serve = Kill(serve);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let failed = runledger()
        .arg("run")
        .arg(fresh.path().join("runbook.toml"))
        .arg("--journal")
        .arg(fresh.path().join("login-failure.db"))
        .arg("--key")
        .arg(fresh.path().join("operator.key"))
        .output()
        .unwrap();
    drop(serve);
    assert_ne!(failed.status.code(), Some(0), "{:?}", text(&failed));
    assert!(
        text(&failed).1.contains("18456") || text(&failed).1.contains("connect"),
        "{:?}",
        text(&failed)
    );
    record("run with a wrong password", failed);

    let mut checked = 0;
    for (what, bytes) in &outputs {
        assert_eq!(
            leaks(bytes, &secrets),
            Vec::<&str>::new(),
            "a secret in {what}"
        );
        checked += 1;
    }
    for dir in [d.dir.path(), fresh.path()] {
        for f in files_outside_sim(dir) {
            let bytes = std::fs::read(&f).unwrap();
            assert_eq!(
                leaks(&bytes, &secrets),
                Vec::<&str>::new(),
                "a secret in {}",
                f.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked} outputs and files searched");
    eprintln!("no secret in {checked} outputs and files");
}

#[test]
fn injected_identifiers_are_refused_before_any_plan_or_journal() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    // A database name written into a step, not through a parameter.
    let direct = dir.path().join("direct.toml");
    std::fs::write(
        &direct,
        "name = \"x\"\nversion = \"1\"\n[targets.backup]\nhost = \"127.0.0.1\"\nauth = \"integrated\"\n[[steps]]\nid = \"a\"\ntitle = \"A\"\naction = \"recover_database\"\ntarget = \"backup\"\ndatabase = \"mgc]; DROP DATABASE x; --\"\n",
    )
    .unwrap();
    for runbook in [
        direct,
        repo("fixtures/runbooks/invalid/bracket_in_database.toml"),
        repo("fixtures/runbooks/invalid/parameter_injection.toml"),
    ] {
        let journal = dir.path().join("journal.db");
        for args in plan_and_run(&runbook, &journal, &key) {
            let out = runledger().args(&args).output().unwrap();
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            let line = error_line(&stderr);
            assert!(
                line.contains(&runbook.display().to_string())
                    && (line.contains("is not a plain identifier") || line.contains("holds")),
                "{args:?}: {line}"
            );
            assert!(stdout.is_empty(), "nothing planned: {stdout}");
            assert!(!stdout.contains("DROP") && !journal.exists());
        }
    }
}

/// The built-in runbook as an operator edits it, with a PowerShell pipeline written into a
/// parameter: `plan` and `run` refuse it with one line naming the parameter, its file, line
/// and column, and no journal comes to exist.
#[test]
fn a_powershell_pipeline_in_a_parameter_is_refused_before_any_journal() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    let shown = runledger()
        .args(["runbooks", "show", "persistent-chat-failover"])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{:?}", text(&shown));
    let source = String::from_utf8(shown.stdout).unwrap();
    let mut line_no = 0;
    let edited: Vec<String> = source
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if l.starts_with("mirror_file_share = ") {
                line_no = i + 1;
                "mirror_file_share = \"x | Out-File C:/pwn\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(
        line_no > 0,
        "the built-in runbook declares mirror_file_share"
    );
    let runbook = dir.path().join("runbook.toml");
    std::fs::write(&runbook, edited.join("\n") + "\n").unwrap();
    // `mirror_file_share = "x ` is 23 characters: the `|` is in column 24.
    let expected = format!(
        "runledger: error: {}:{line_no}:24: parameter mirror_file_share holds '|', which a text value may not hold",
        runbook.display()
    );
    let journal = dir.path().join("journal.db");
    for args in plan_and_run(&runbook, &journal, &key) {
        let out = runledger().args(&args).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with(&expected), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "nothing planned: {stdout}");
        assert!(!stdout.contains("Out-File") && !stderr.contains("Install-CsMirrorDatabase"));
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("journal"))
            .collect();
        assert!(left.is_empty(), "{args:?}: no journal file: {left:?}");
    }
}

/// A quote in a path's value is data wherever it goes: doubled inside the template's T-SQL
/// literal, doubled inside the single-quoted literal of a cmdlet line, and in the engine's own
/// `RESTORE … FROM DISK = N'…'`; a value with a space and a dash stays one argument. `plan`
/// shows the lines exactly as they will run.
#[test]
fn a_quote_in_a_path_is_doubled_in_t_sql_and_in_a_cmdlet_line_as_the_plan_shows() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("quotes.toml");
    std::fs::write(
        &runbook,
        r#"name = "quotes"
version = "1"
[parameters]
database = { kind = "identifier", value = "mgc" }
destination = { kind = "windows_path", value = "D:\\O'Brien's copy" }
backup_sql_fqdn = { kind = "fqdn", value = "pcsqldr01.contoso.local" }
pool = "pchat.contoso.local -Force"
[targets.backup]
host = "127.0.0.1"
auth = "integrated"
[shell]
program = "powershell.exe"
args = ["-NoProfile", "-NonInteractive", "-Command"]
[[steps]]
id = "check-destination"
title = "msdb names {{destination}}"
action = "check"
target = "backup"
query = "SELECT CASE WHEN MAX(backup_destination_directory) = N'{{destination}}' THEN 1 ELSE 0 END AS ok FROM msdb.dbo.log_shipping_secondary;"
[[steps]]
id = "apply-logs"
title = "Apply the logs"
action = "restore_logs"
target = "backup"
database = "{{database}}"
directory = "{{destination}}"
[[steps]]
id = "install-mirror"
title = "Mirror"
action = "cs_cmdlet"
command = "Install-CsMirrorDatabase -DatabaseType PersistentChat -FileShare {{destination}} -SqlServerFqdn {{backup_sql_fqdn}} -Confirm:$false"
[[steps]]
id = "pool"
title = "Pool"
action = "check"
command = "Get-CsService -PersistentChatServer -PoolFqdn {{pool}}"
"#,
    )
    .unwrap();
    let out = runledger().arg("plan").arg(&runbook).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for expected in [
        // the title: text for people, the value as declared
        r"check-destination  msdb names D:\O'Brien's copy",
        // a T-SQL literal of the template
        r"MAX(backup_destination_directory) = N'D:\O''Brien''s copy' THEN",
        // the engine's own literal around the structured field
        r"RESTORE LOG [mgc] FROM DISK = N'D:\O''Brien''s copy\{{file}}' WITH FILE = 1, NORECOVERY",
        // a cmdlet line: PowerShell single-quoted literals
        r"Install-CsMirrorDatabase -DatabaseType PersistentChat -FileShare 'D:\O''Brien''s copy' -SqlServerFqdn 'pcsqldr01.contoso.local' -Confirm:$false",
        // a space and a dash inside the literal: one argument, no -Force parameter
        "Get-CsService -PersistentChatServer -PoolFqdn 'pchat.contoso.local -Force'",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected}\nnot in the plan:\n{stdout}"
        );
    }
    // The only fields left are those the run decides, each named under its step.
    let fields = stdout
        .replace("{{file}}", "")
        .replace("{{session_id}}", "")
        .replace("{{resolved_identity}}", "");
    assert!(
        !stdout.contains("O'Brien's copy'") && !fields.contains("{{"),
        "no undoubled quote in a literal, no placeholder left: {stdout}"
    );
    assert!(stdout.contains("decided at run time: {{file}}"), "{stdout}");
}

/// A runbook with one check on the drill's backup instance, over TLS, pinning `ca`.
fn pinned_runbook(dir: &Path, bak: &runledger_sim::Instance, ca: &Path) -> PathBuf {
    let password = dir.join("sql.password");
    std::fs::write(&password, format!("{}\n", bak.password)).unwrap();
    set_mode(&password, 0o600);
    let runbook = dir.join("pinned.toml");
    std::fs::write(
        &runbook,
        format!(
            "name = \"pinned\"\nversion = \"1\"\n[targets.backup]\nhost = \"{}\"\nport = {}\nauth = \"sql\"\nuser = \"{}\"\npassword = {{ file = {:?} }}\nencryption = \"required\"\ntrust_cert_ca = {:?}\n[[steps]]\nid = \"reach\"\ntitle = \"Reach the backup server\"\naction = \"check\"\ntarget = \"backup\"\nquery = \"SELECT 1 AS ok\"\n",
            bak.host,
            bak.port,
            bak.user,
            password.display().to_string(),
            ca.display().to_string(),
        ),
    )
    .unwrap();
    runbook
}

#[test]
fn a_target_that_pins_its_ca_runs_over_tls_and_stops_at_a_server_the_ca_did_not_sign() {
    for wrong_ca in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let dc = dir.path().join("dc");
        let instances = runledger_sim::init(&dc, &runledger_sim::InitOptions::default()).unwrap();
        if wrong_ca {
            runledger_sim::certs::generate(&runledger_sim::sim_dir(&dc), true).unwrap();
        }
        let _server = runledger_sim::start(&dc).unwrap();
        let ca = runledger_sim::ca_path(&dc);
        let runbook = pinned_runbook(dir.path(), &instances[0], &ca);
        let key = new_key(dir.path(), "op.key");
        let out = runledger()
            .arg("run")
            .arg(&runbook)
            .arg("--journal")
            .arg(dir.path().join("journal.db"))
            .arg("--key")
            .arg(&key)
            .arg("--yes")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        if !wrong_ca {
            assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
            continue;
        }
        assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
        let line = last_line(&stderr);
        assert!(
            line.contains(&format!(
                "the server's certificate was not signed by the CA in {}",
                ca.display()
            )),
            "{stderr}"
        );
    }
}

#[test]
fn a_password_read_from_the_environment_is_not_given_to_child_processes() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    let runbook = dir.path().join("runbook.toml");
    // The shell is `sh -c`, and the cmdlet line lists the environment it was given: its output
    // is recorded in the step's outcome.
    std::fs::write(
        &runbook,
        r#"name = "child-environment"
version = "1"

[targets.db]
host = "127.0.0.1"
port = 1433
auth = "sql"
user = "sa"
password = { env = "RUNLEDGER_TEST_SQL_PASSWORD" }
encryption = "off"

[shell]
program = "/bin/sh"
args = ["-c"]

[[steps]]
id = "child-env"
title = "What a child process is given"
action = "cs_cmdlet"
command = "env"
"#,
    )
    .unwrap();
    let journal = dir.path().join("journal.db");
    let out = runledger()
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("RUNLEDGER_TEST_SQL_PASSWORD", "pa55-w0rd-from-env")
        .env("RUNLEDGER_TEST_VISIBLE", "visible")
        .arg("run")
        .arg(&runbook)
        .arg("--journal")
        .arg(&journal)
        .arg("--key")
        .arg(&key)
        .arg("--no-prompt")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let events = crate::common::export_events(&journal);
    let child_env = events
        .iter()
        .find(|e| e["kind"] == "step.outcome")
        .and_then(|e| e["body"]["result"]["stdout"].as_str())
        .expect("the outcome records the command's output")
        .to_string();
    assert!(
        child_env.contains("RUNLEDGER_TEST_VISIBLE=visible"),
        "the child's environment was recorded: {child_env}"
    );
    assert!(
        !child_env.contains("RUNLEDGER_TEST_SQL_PASSWORD"),
        "the password's variable reached the child: {child_env}"
    );
    let everything = serde_json::to_string(&events).unwrap();
    assert!(!everything.contains("pa55-w0rd-from-env"), "{everything}");
}

/// No raw terminal control: no ESC (C0), no CSI (C1), no carriage return, no bidi override.
fn assert_no_raw_controls(what: &str, text: &str) {
    for c in ['\u{1b}', '\u{9b}', '\r', '\u{7}', '\u{202e}', '\u{2066}'] {
        assert!(
            !text.contains(c),
            "{what}: raw {:?} reaches the terminal: {text:?}",
            c
        );
    }
}

#[test]
fn control_characters_in_a_runbook_or_a_file_name_reach_the_terminal_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key(dir.path(), "op.key");
    let runbook = dir.path().join("runbook.toml");
    std::fs::write(
        &runbook,
        "name = \"escapes\"\nversion = \"1\"\n\n[[steps]]\nid = \"confirm\"\n\
         title = \"Confirm \\u001b[2J\\u001b]0;owned\\u0007 \\u202etxt.exe\\rFAKE \\u009b31m\"\n\
         action = \"manual\"\ninstruction = \"Look \\u001b[31mred\\u2066 here\"\n",
    )
    .unwrap();
    let out = runledger().arg("plan").arg(&runbook).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_no_raw_controls("plan", &stdout);
    assert!(
        stdout
            .contains("Confirm \\u{1b}[2J\\u{1b}]0;owned\\u{7} \\u{202e}txt.exe\\rFAKE \\u{9b}31m"),
        "{stdout}"
    );

    let journal = dir.path().join("journal.db");
    let out = runledger()
        .arg("run")
        .arg(&runbook)
        .arg("--journal")
        .arg(&journal)
        .arg("--key")
        .arg(&key)
        .arg("--no-prompt")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "halts for the approval: {stderr}"
    );
    assert_no_raw_controls("run", &format!("{stdout}{stderr}"));
    assert!(stderr.contains("[confirm] Confirm \\u{1b}[2J"), "{stderr}");
    for args in [
        vec!["status", "--journal"],
        vec!["report", "--html", "-", "--journal"],
    ] {
        let out = runledger().args(&args).arg(&journal).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_no_raw_controls(&format!("{args:?} stderr"), &stderr);
        if args[0] == "status" {
            assert_no_raw_controls("status", &stdout);
        }
    }
    let out = crate::common::runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(format!("{}.pub", key.display()))
        .output()
        .unwrap();
    assert_no_raw_controls("runledger-verify", &text(&out).0);

    // A file name from the copy destination (named in the warning about unreadable headers).
    let crashed = CrashedDrill::new(3, &[]);
    let dest = crashed.path("sim/dest");
    std::fs::write(
        dest.join("mgc_\u{1b}[2Jevil\r\u{202e}.trn"),
        b"not a backup",
    )
    .unwrap();
    let out = crashed.resume(&[]);
    let (stdout, stderr) = text(&out);
    assert_no_raw_controls("resume", &format!("{stdout}{stderr}"));
    assert!(
        stderr.contains("mgc_\\u{1b}[2Jevil\\r\\u{202e}.trn"),
        "{stderr}"
    );
}

#[test]
fn a_symbolic_link_in_the_share_is_reported_never_hashed_or_copied() {
    let crashed = CrashedDrill::new(3, &[]);
    let link = crashed.path("sim/share/mgc_20240304999999.trn");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let out = crashed.resume(&[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {} is a symbolic link; links are never followed",
            link.display()
        )),
        "{stderr}"
    );
    let passwd_sha256 = {
        use sha2::Digest as _;
        sha2::Sha256::digest(std::fs::read("/etc/passwd").unwrap())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let events = crashed.events();
    let everything = serde_json::to_string(&events).unwrap();
    assert!(
        !everything.contains(&passwd_sha256),
        "the link's target was hashed into the journal"
    );
    assert!(
        !events.iter().any(|e| e["kind"] == "step.intent"
            && e["body"]["command"]
                .as_str()
                .is_some_and(|c| c.contains("999999"))),
        "no action on the link"
    );
    let listing = events
        .iter()
        .find(|e| e["body"]["name"] == "share_listing")
        .unwrap();
    assert_eq!(
        listing["body"]["data"]["links"],
        serde_json::json!(["mgc_20240304999999.trn"]),
        "the listing records the link as a link: {listing}"
    );
    assert!(!crashed.path("sim/dest/mgc_20240304999999.trn").exists());
}
