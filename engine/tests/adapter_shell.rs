//! Promise: a shell command's end is always known and said as an outcome (exit code, timeout,
//! signal, failure to start), its output is captured within bounds, and nothing it started
//! outlives a timeout.
#![cfg(unix)]

use std::time::Duration;

use runledger_engine::shell::{run, ShellCommand, ShellOutcome, CAPTURE_LIMIT};

fn sh(script: &str, timeout: Duration) -> ShellCommand {
    ShellCommand {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), script.into()],
        stdin: None,
        timeout,
        env_remove: vec![],
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn exit_code_and_both_outputs_are_captured() {
    let out = block_on(run(&sh(
        "echo out; echo 'Set-CsX : denied' >&2; exit 3",
        Duration::from_secs(10),
    )));
    match &out {
        ShellOutcome::Exited { code: 3, output } => {
            assert_eq!(output.stdout, b"out\n");
            assert_eq!(output.stderr, b"Set-CsX : denied\n");
            assert_eq!(output.stdout_total, 4);
        }
        other => panic!("{other:?}"),
    }
    assert!(!out.succeeded());
    assert_eq!(out.summary(), "exited 3: Set-CsX : denied");
    let ok = block_on(run(&sh("true", Duration::from_secs(10))));
    assert!(ok.succeeded(), "{ok:?}");
    assert_eq!(ok.summary(), "exited 0");
}

#[test]
fn stdin_is_delivered_and_closed() {
    let mut cmd = sh("cat; echo done >&2", Duration::from_secs(10));
    cmd.stdin = Some("Get-CsPersistentChatState\nline two ✓\n".into());
    match block_on(run(&cmd)) {
        ShellOutcome::Exited { code: 0, output } => {
            assert_eq!(
                output.stdout,
                "Get-CsPersistentChatState\nline two ✓\n".as_bytes()
            );
            assert_eq!(output.stderr, b"done\n");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_stdin_the_command_reads_end_of_file() {
    // `cat` would wait for ever on an inherited terminal; it must see an empty stdin.
    match block_on(run(&sh("cat; echo eof", Duration::from_secs(10)))) {
        ShellOutcome::Exited { code: 0, output } => assert_eq!(output.stdout, b"eof\n"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_command_past_its_timeout_is_killed_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    // The script starts a grandchild that shares the pipes, records its pid, then waits.
    let script = format!(
        "echo started; sleep 30 & echo $! > {}; wait",
        pidfile.display()
    );
    let out = block_on(run(&sh(&script, Duration::from_millis(500))));
    match &out {
        ShellOutcome::TimedOut { after, output } => {
            assert_eq!(*after, Duration::from_millis(500));
            assert_eq!(output.stdout, b"started\n");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        out.summary().starts_with("timed out after 500ms"),
        "{}",
        out.summary()
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The grandchild was in the command's process group, so it is gone (or a zombie about
    // to be reaped by init): signal 0 fails, or /proc shows state Z.
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.contains(") Z "))
        .unwrap_or(true);
    assert!(!alive || zombie, "grandchild {pid} survived the timeout");
}

#[test]
fn a_missing_program_is_spawn_failed_naming_it() {
    let cmd = ShellCommand {
        program: "/nonexistent/lync-shell".into(),
        args: vec![],
        stdin: Some("x".into()),
        timeout: Duration::from_secs(5),
        env_remove: vec![],
    };
    let out = block_on(run(&cmd));
    match &out {
        ShellOutcome::SpawnFailed { reason } => {
            assert!(reason.contains("/nonexistent/lync-shell"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(out
        .summary()
        .starts_with("could not start: /nonexistent/lync-shell"));
}

#[test]
fn a_command_killed_by_a_signal_is_signaled() {
    match block_on(run(&sh(
        "echo bye >&2; kill -TERM $$",
        Duration::from_secs(10),
    ))) {
        ShellOutcome::Signaled { signal, output } => {
            assert_eq!(signal, 15);
            assert_eq!(output.stderr, b"bye\n");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn huge_output_is_capped_without_deadlock() {
    // 8 MiB on each stream, interleaved: a reader that waited on one pipe while the other
    // filled would hang here.
    let script = "i=0; while [ $i -lt 128 ]; do head -c 65536 /dev/zero; head -c 65536 /dev/zero >&2; i=$((i+1)); done; echo tail";
    let out = block_on(run(&sh(script, Duration::from_secs(60))));
    match &out {
        ShellOutcome::Exited { code: 0, output } => {
            assert_eq!(output.stdout.len(), CAPTURE_LIMIT);
            assert_eq!(output.stderr.len(), CAPTURE_LIMIT);
            assert_eq!(output.stdout_total, 8 * 1024 * 1024 + 5);
            assert_eq!(output.stderr_total, 8 * 1024 * 1024);
            assert!(output.capped());
            let e = output.stdout_excerpt();
            assert!(e.len() < 5000, "{}", e.len());
            assert!(e.contains("bytes cut") && e.contains("not captured"), "{e}");
            assert_eq!(output.stdout_sha256().len(), 64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_background_process_holding_the_pipe_does_not_hang_the_run() {
    // The command exits at once but leaves a detached process with its stdout open; the run
    // must end anyway (after a short grace), with what was written.
    let script = "echo first; setsid sleep 5 & exit 0";
    let start = std::time::Instant::now();
    let out = block_on(run(&sh(script, Duration::from_secs(20))));
    assert!(out.succeeded(), "{out:?}");
    assert_eq!(out.output().unwrap().stdout, b"first\n");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn display_is_the_quoted_command_line() {
    let cmd = sh("echo 'a b'", Duration::from_secs(1));
    assert_eq!(cmd.display(), r"/bin/sh -c 'echo '\''a b'\'''");
}

#[test]
fn variables_named_in_env_remove_are_not_inherited() {
    // Cargo gives every test both variables; the child must lose the one named, and keep the
    // other (the control that the environment was listed at all).
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let mut cmd = sh("env", Duration::from_secs(10));
    cmd.env_remove = vec!["CARGO_MANIFEST_DIR".into()];
    let out = block_on(run(&cmd));
    let stdout = String::from_utf8_lossy(&out.output().unwrap().stdout).into_owned();
    assert!(
        stdout.contains("CARGO_PKG_NAME=runledger-engine"),
        "{stdout}"
    );
    assert!(!stdout.contains("CARGO_MANIFEST_DIR="), "{stdout}");
}
