//! Ctrl-C stops a run cleanly between actions — no intent is left without its outcome — says
//! how to resume, and `runledger resume` completes the failover.

use std::time::{Duration, Instant};

use crate::common::{event_count as events, resume, runledger, stop_server, text};

#[test]
fn ctrl_c_stops_between_actions_and_resume_completes() {
    let dir = tempfile::tempdir().unwrap();
    let _serving = crate::common::Serving(dir.path().to_path_buf());
    let journal = dir.path().join("journal.db");
    let child = runledger()
        .args(["drill", "--pace", "300", "--dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the paced run is under way (copies and restores take 300 ms each).
    let deadline = Instant::now() + Duration::from_secs(60);
    while events(&journal) < 25 {
        assert!(Instant::now() < deadline, "the drill did not get under way");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("stopped by the operator before"),
        "{stderr}"
    );
    assert!(stderr.contains("runledger resume --journal"), "{stderr}");

    let st = runledger()
        .args(["status", "--journal"])
        .arg(&journal)
        .output()
        .unwrap();
    let (stdout, _) = text(&st);
    assert!(
        stdout.contains("interrupted at") && !stdout.contains("in flight"),
        "no action left in flight: {stdout}"
    );

    let out = resume(&journal, &dir.path().join("operator.key"), &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    stop_server(dir.path());
}
