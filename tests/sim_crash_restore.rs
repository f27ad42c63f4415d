//! Promise: killing `runledger sim serve` in the middle of a paced restore and starting it
//! again loses no committed state, and leaves the database in the middle of that restore, as
//! SQL Server does: any other backup set is 4319 until the interrupted one is restored again
//! `WITH RESTART`. Driven through the real binary and FreeTDS `tsql` (an external TDS client).

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{runledger, sim_status as status, text};

fn serve(dir: &Path, port: u16) -> Child {
    let child = runledger()
        .args(["sim", "serve"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "sim serve did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Starts `tsql` running `sql`; the caller waits or not.
fn tsql(port: u16, password: &str, sql: &str) -> Child {
    assert!(
        Command::new("tsql").arg("-C").output().is_ok(),
        "FreeTDS `tsql` is not installed: these tests need an external TDS client (apt-get install -y freetds-bin)"
    );
    let mut child = Command::new("tsql")
        .args([
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "runledger",
            "-P",
            password,
            "-o",
            "q",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{sql}\ngo\nexit\n").as_bytes())
        .unwrap();
    child
}

/// A restore of a copy-destination file, named as the simulated server sees it.
fn restore_sql(name: &str) -> String {
    format!(r"RESTORE LOG [mgc] FROM DISK = N'D:\mgc-copy\{name}' WITH FILE = 1, NORECOVERY")
}

fn restores(s: &serde_json::Value) -> usize {
    s["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["command"].as_str().unwrap().starts_with("RESTORE LOG"))
        .count()
}

#[test]
fn killing_serve_mid_restore_loses_no_committed_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = runledger()
        .args(["sim", "init"])
        .arg(dir)
        .args(["--logs", "8", "--pace", "1500"])
        .output()
        .unwrap();
    assert!(out.status.success(), "sim init: {}", text(&out).1);
    let instances: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sim/instances.json")).unwrap()).unwrap();
    let port = instances[0]["port"].as_u64().unwrap() as u16;
    let password = instances[0]["password"].as_str().unwrap().to_string();
    let s = status(dir);
    assert_eq!(s["pace_ms"], 1500);
    let pending: Vec<String> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["in_dest"] == true && f["restored"] == false)
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert!(pending.len() >= 2);

    let mut server = serve(dir, port);
    // The first restore completes (after its pace) and is committed.
    let first = tsql(port, &password, &restore_sql(&pending[0]))
        .wait_with_output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&first.stdout).contains("Msg "),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    let after_first = status(dir);
    assert_eq!(restores(&after_first), 1);
    let redo = after_first["instances"][0]["databases"][0]["redo_start_lsn"].clone();

    // The second is killed in the middle of its pace, with the server.
    let mut second = tsql(port, &password, &restore_sql(&pending[1]));
    std::thread::sleep(Duration::from_millis(700));
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = second.wait();
    let after_kill = status(dir);
    assert_eq!(
        restores(&after_kill),
        1,
        "the interrupted restore did not commit"
    );
    assert_eq!(
        after_kill["instances"][0]["databases"][0]["redo_start_lsn"],
        redo
    );
    assert_eq!(
        after_kill["history"], after_first["history"],
        "nothing committed was lost or added"
    );

    // Restarted, the server has forgotten the dead sessions and the restore can be reissued.
    let mut server = serve(dir, port);
    let probe = tsql(
        port,
        &password,
        "SELECT COUNT(*) AS requests FROM sys.dm_exec_requests",
    )
    .wait_with_output()
    .unwrap();
    assert!(
        String::from_utf8_lossy(&probe.stdout).contains("requests\n0"),
        "{}",
        String::from_utf8_lossy(&probe.stdout)
    );
    assert_eq!(
        status(dir)["instances"][0]["databases"][0]["interrupted_restore"],
        pending[1].as_str(),
        "the database is in the middle of that restore"
    );
    let plain = tsql(port, &password, &restore_sql(&pending[1]))
        .wait_with_output()
        .unwrap();
    let plain = format!(
        "{}{}",
        String::from_utf8_lossy(&plain.stdout),
        String::from_utf8_lossy(&plain.stderr)
    );
    assert!(plain.contains("Msg 4319"), "{plain}");
    let again = tsql(
        port,
        &password,
        &format!("{}, RESTART", restore_sql(&pending[1])),
    )
    .wait_with_output()
    .unwrap();
    assert!(
        !String::from_utf8_lossy(&again.stdout).contains("severity 16"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let done = status(dir);
    assert_eq!(restores(&done), 2);
    assert_ne!(done["instances"][0]["databases"][0]["redo_start_lsn"], redo);
    server.kill().unwrap();
    server.wait().unwrap();
}

#[test]
fn cs_shell_exits_non_zero_with_an_error_text() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert!(runledger()
        .args(["sim", "init"])
        .arg(dir)
        .args(["--scenario", "cms-unreachable"])
        .output()
        .unwrap()
        .status
        .success());
    let out = runledger()
        .args(["sim", "cs-shell"])
        .arg(dir)
        .args(["-Command", "Get-CsPersistentChatState"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("Central Management Store"));
    let out = runledger()
        .args(["sim", "cs-shell"])
        .arg(dir)
        .args(["-Command", "Get-CsPersistentChatState", "-LocalStore"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).1);
    assert!(text(&out).0.contains("PoolState : Normal"));
}
