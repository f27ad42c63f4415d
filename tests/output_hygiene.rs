//! Output hygiene: every command that writes a file refuses an existing path (exit 2, one
//! line) unless `--force`, and never one of its own inputs; `-` is standard output for every
//! output flag; a special file is written in place, never renamed over; a closed standard
//! output (`| head -1`) or a full disk is one error line and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::bad_input::error_line;
use crate::common::{runledger, runledger_verify, text};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

/// A directory with a sealed journal, its key (`operator.key`, owner-only), the trusted key
/// and a checkpoint of it.
fn journal_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = repo("fixtures/journals/valid_sealed");
    std::fs::copy(src.join("journal.db"), dir.path().join("journal.db")).unwrap();
    std::fs::copy(src.join("trusted.keys"), dir.path().join("trusted.keys")).unwrap();
    let key = dir.path().join("operator.key");
    std::fs::write(&key, crate::fixture_journals::test_key().to_file_text()).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    dir
}

/// The names in a directory (to see that no temporary file is left).
fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

/// `runledger ARGS…` with `{OUT}` replaced by `out`, run in `dir`.
fn run_with_out(dir: &Path, args: &[&str], out: &str) -> Output {
    runledger()
        .current_dir(dir)
        .args(args.iter().map(|a| a.replace("{OUT}", out)))
        .output()
        .unwrap()
}

/// The commands that write a file named by a flag, `{OUT}` standing for it.
const WRITERS: [&[&str]; 5] = [
    &["export", "--journal", "journal.db", "--jsonl", "{OUT}"],
    &["checkpoint", "--journal", "journal.db", "--out", "{OUT}"],
    &[
        "prove",
        "--journal",
        "journal.db",
        "--seq",
        "3",
        "--out",
        "{OUT}",
    ],
    &[
        "report",
        "--journal",
        "journal.db",
        "--trust",
        "trusted.keys",
        "--html",
        "{OUT}",
    ],
    &[
        "report",
        "--journal",
        "journal.db",
        "--html",
        "r.html",
        "--md",
        "{OUT}",
    ],
];

#[test]
fn every_command_refuses_an_existing_output_unless_forced_and_never_its_input() {
    for args in WRITERS {
        let dir = journal_dir();
        let d = dir.path();
        let precious = d.join("precious.txt");
        std::fs::write(&precious, "precious").unwrap();
        let before = names(d);
        let out = run_with_out(d, args, "precious.txt");
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            error_line(&stderr).contains("precious.txt already exists; give --force"),
            "{args:?}: {stderr}"
        );
        assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
        assert_eq!(names(d), before, "{args:?}: nothing else written");

        let mut forced = args.to_vec();
        forced.push("--force");
        let out = run_with_out(d, &forced, "precious.txt");
        assert!(
            matches!(out.status.code(), Some(0)),
            "{args:?} --force: {:?}",
            text(&out)
        );
        assert_ne!(std::fs::read_to_string(&precious).unwrap(), "precious");
        assert!(
            !names(d).iter().any(|n| n.ends_with(".tmp")),
            "{args:?}: {:?}",
            names(d)
        );

        // Its own input, even with --force: the journal and the key stay as they are.
        for input in ["journal.db", "operator.key", "trusted.keys"] {
            let was = std::fs::read(d.join(input)).unwrap();
            let out = run_with_out(d, &forced, input);
            let (_, stderr) = text(&out);
            if out.status.code() == Some(2) && stderr.contains("which this command reads") {
                assert!(
                    error_line(&stderr).contains("refusing to write"),
                    "{stderr}"
                );
            } else {
                // A file the command does not read is simply replaced with --force; it must
                // not be the journal.
                assert_ne!(input, "journal.db", "{args:?}: {stderr}");
                std::fs::write(d.join(input), &was).unwrap();
                continue;
            }
            assert_eq!(
                std::fs::read(d.join(input)).unwrap(),
                was,
                "{args:?} {input}"
            );
        }
    }
}

#[test]
fn keys_generate_never_writes_over_a_key_or_its_pub_file() {
    let dir = tempfile::tempdir().unwrap();
    for existing in ["op.key", "op.key.pub"] {
        let _ = std::fs::remove_file(dir.path().join("op.key"));
        let _ = std::fs::remove_file(dir.path().join("op.key.pub"));
        std::fs::write(dir.path().join(existing), "precious").unwrap();
        let out = runledger()
            .current_dir(dir.path())
            .args(["keys", "generate", "--out", "op.key"])
            .output()
            .unwrap();
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{existing}: {stderr}");
        assert!(error_line(&stderr).contains(existing), "{stderr}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(existing)).unwrap(),
            "precious"
        );
        assert_eq!(names(dir.path()), [existing], "nothing else written");
    }
    let out = runledger()
        .args(["keys", "generate", "--out", "-"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(error_line(&text(&out).1).contains("not -"));
}

#[test]
fn dash_is_standard_output_for_every_output_flag() {
    for args in WRITERS {
        let dir = journal_dir();
        let d = dir.path();
        let out = run_with_out(d, args, "-");
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!d.join("-").exists(), "{args:?}: no file named -");
        match args[0] {
            "export" => {
                assert_eq!(stdout.lines().count(), 17, "{stdout}");
                assert!(stdout.starts_with("{\"event\":"), "{stdout}");
            }
            "checkpoint" => assert!(stdout.starts_with("runledger/"), "{stdout}"),
            "prove" => {
                let proof = d.join("from-stdout.proof");
                std::fs::write(&proof, &out.stdout).unwrap();
                let v = runledger_verify()
                    .arg("--proof")
                    .arg(&proof)
                    .arg("--trust")
                    .arg(d.join("trusted.keys"))
                    .output()
                    .unwrap();
                assert_eq!(v.status.code(), Some(0), "{:?}", text(&v));
            }
            _ if args.contains(&"--md") => assert!(stdout.contains("# "), "{stdout}"),
            _ => assert!(stdout.contains("</html>"), "{stdout}"),
        }
        // Messages about the output go to standard error, not into it.
        assert!(
            !stdout
                .lines()
                .any(|l| l.starts_with("wrote ") || l.starts_with("exported ")),
            "{stdout}"
        );
    }
    let dir = journal_dir();
    let out = runledger()
        .current_dir(dir.path())
        .args([
            "report",
            "--journal",
            "journal.db",
            "--html",
            "-",
            "--md",
            "-",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(error_line(&text(&out).1).contains("--html and --md cannot all be standard output"));
}

#[test]
fn a_special_file_is_written_in_place_never_renamed_over() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = journal_dir();
    let d = dir.path();
    let fifo = d.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for args in WRITERS {
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let out = run_with_out(d, args, "pipe");
        // Should the command not have opened the pipe, the reader is let go (it then reads
        // nothing, and the test fails below rather than hangs).
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            const O_NONBLOCK: i32 = 0o4000;
            let _ = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(&fifo);
        }
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        let read = reader.join().unwrap();
        assert!(
            !read.is_empty(),
            "{args:?}: the output went through the pipe"
        );
        assert!(
            std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo(),
            "{args:?}: the pipe is still a pipe"
        );
        let _ = std::fs::remove_file(d.join("r.html"));
    }
    // /dev/stdout (a link to this process's standard output, here a pipe) likewise.
    let out = run_with_out(d, WRITERS[0], "/dev/stdout");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("{\"event\":"))
            .count(),
        17,
        "{stdout}"
    );
}

/// Every command that prints to standard output, each run with `{DIR}` its scratch folder.
fn printers(journal: &Path, drill_dir: &Path, scratch: &Path) -> Vec<Vec<String>> {
    let j = journal.display().to_string();
    let d = drill_dir.display().to_string();
    let s = scratch.display().to_string();
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    vec![
        v(&["plan", &format!("{d}/runbook.toml")]),
        v(&["plan", "builtin:persistent-chat-failover"]),
        v(&["status", "--journal", &j]),
        v(&["runbooks", "list"]),
        v(&["runbooks", "show", "persistent-chat-failover"]),
        v(&["sim", "status", &d]),
        v(&["sim", "status", &d, "--json"]),
        v(&["sim", "init", &format!("{s}/sim-init")]),
        v(&["checkpoint", "--journal", &j]),
        v(&["export", "--journal", &j, "--jsonl", "-"]),
        v(&[
            "export",
            "--journal",
            &j,
            "--jsonl",
            &format!("{s}/export.jsonl"),
        ]),
        v(&["prove", "--journal", &j, "--seq", "3", "--out", "-"]),
        v(&["report", "--journal", &j, "--html", "-"]),
        v(&["report", "--journal", &j, "--html", &format!("{s}/r.html")]),
        v(&["keys", "generate", "--out", &format!("{s}/k.key")]),
        v(&["drill", "--dir", &format!("{s}/drill")]),
    ]
}

#[test]
fn a_closed_standard_output_or_a_full_disk_is_one_error_line_never_a_panic() {
    let drill = tempfile::tempdir().unwrap();
    let out = runledger()
        .args(["sim", "init"])
        .arg(drill.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    // A runbook file to plan: the drill's, written by a drill of its own.
    std::fs::write(
        drill.path().join("runbook.toml"),
        runledger()
            .args(["runbooks", "show", "persistent-chat-failover"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let jd = journal_dir();
    let journal = jd.path().join("journal.db");
    for closed in ["a closed pipe", "a full disk"] {
        let scratch = tempfile::tempdir().unwrap();
        for args in printers(&journal, drill.path(), scratch.path()) {
            let stdout: Stdio = match closed {
                "a closed pipe" => {
                    // `| head -1` once head has gone: the reading end is closed.
                    let (reader, writer) = std::io::pipe().unwrap();
                    drop(reader);
                    writer.into()
                }
                _ => std::fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap()
                    .into(),
            };
            let out = runledger()
                .args(&args)
                .stdout(stdout)
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stderr.contains("panicked"),
                "{args:?} on {closed}: {stderr}"
            );
            assert_eq!(out.status.code(), Some(2), "{args:?} on {closed}: {stderr}");
            let line = error_line(&stderr);
            assert!(
                line.contains("cannot write standard output"),
                "{args:?} on {closed}: {line}"
            );
        }
        crate::common::stop_server(&scratch.path().join("drill"));
    }
    // The verifier too: its verdict never reaches a reader that is gone, so it says so.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(jd.path().join("trusted.keys"))
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "runledger-verify: cannot write standard output: Broken pipe (os error 32)"
    );
}

#[test]
fn keys_generate_writes_the_pub_file_0644_and_the_key_0600_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    for umask in ["000", "022", "077"] {
        let key = dir.path().join(format!("k{umask}.key"));
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask}; exec \"$0\" keys generate --out \"$1\""
            ))
            .arg(env!("CARGO_BIN_EXE_runledger"))
            .arg(&key)
            .output()
            .unwrap();
        assert!(out.status.success(), "umask {umask}: {:?}", text(&out));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600, "umask {umask}: the key");
        let public = PathBuf::from(format!("{}.pub", key.display()));
        assert_eq!(mode(&public), 0o644, "umask {umask}: the .pub");
    }
}
