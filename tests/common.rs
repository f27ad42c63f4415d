//! Helpers shared by the end-to-end tests: where the binaries are, and running them.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The `runledger` binary under test.
pub fn runledger() -> Command {
    Command::new(env!("CARGO_BIN_EXE_runledger"))
}

/// The `runledger-verify` binary, built beside `runledger` by `cargo test --workspace`.
pub fn runledger_verify() -> Command {
    let dir = PathBuf::from(env!("CARGO_BIN_EXE_runledger"))
        .parent()
        .expect("binary has a parent directory")
        .to_path_buf();
    let path = dir.join(format!("runledger-verify{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        path.display()
    );
    Command::new(path)
}

/// Output of a finished command, with stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `runledger resume --journal JOURNAL --key KEY`, to be given more arguments and run.
pub fn resume_command(journal: &std::path::Path, key: &std::path::Path) -> Command {
    let mut c = runledger();
    c.args(["resume", "--journal"])
        .arg(journal)
        .arg("--key")
        .arg(key);
    c
}

/// `runledger resume --journal JOURNAL --key KEY EXTRA…`, run to its end.
pub fn resume(journal: &std::path::Path, key: &std::path::Path, extra: &[&str]) -> Output {
    resume_command(journal, key).args(extra).output().unwrap()
}

/// `runledger sim status DIR --json`: the simulated state and every command it executed.
pub fn sim_status(dir: &std::path::Path) -> serde_json::Value {
    let out = runledger()
        .args(["sim", "status"])
        .arg(dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    serde_json::from_slice(&out.stdout).expect("sim status --json is JSON")
}

/// Stops the simulated servers of a drill directory when dropped: a test that fails midway
/// leaves no `runledger sim serve` behind.
pub struct Serving(pub std::path::PathBuf);

impl Drop for Serving {
    fn drop(&mut self) {
        stop_server(&self.0);
    }
}

/// Ends the `runledger sim serve` a drill left running in `dir` (for a resume).
pub fn stop_server(dir: &std::path::Path) {
    let _ = Command::new("pkill")
        .arg("-f")
        .arg(format!("sim serve {}", dir.display()))
        .status();
}

/// Every event of a journal as JSON, through `runledger export` (written beside the journal,
/// replacing the export of an earlier call).
pub fn export_events(journal: &std::path::Path) -> Vec<serde_json::Value> {
    let out_path = journal.with_extension("export.jsonl");
    let out = runledger()
        .args(["export", "--force", "--journal"])
        .arg(journal)
        .arg("--jsonl")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["event"].clone())
        .collect()
}

/// Number of events in a journal's SQLite file (0 when it cannot be read).
pub fn event_count(journal: &std::path::Path) -> i64 {
    rusqlite::Connection::open_with_flags(journal, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get(0)))
        .unwrap_or(0)
}

/// Deletes the last `n` events of a SQLite journal, as whoever can write the file can: the
/// append-only triggers dropped first.
pub fn cut_tail(journal: &std::path::Path, n: i64) {
    let c = rusqlite::Connection::open(journal).unwrap();
    let triggers: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!triggers.is_empty(), "the journal has append-only triggers");
    for t in triggers {
        c.execute_batch(&format!("DROP TRIGGER \"{t}\"")).unwrap();
    }
    let deleted = c
        .execute(
            "DELETE FROM events WHERE seq >= (SELECT max(seq) FROM events) - ?1 + 1",
            [n],
        )
        .unwrap();
    assert_eq!(deleted as i64, n);
}

/// `runledger witness serve` as a child process on 127.0.0.1 (any free port); killed when
/// dropped.
pub struct WitnessServer {
    child: std::process::Child,
    addr: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    files: [std::path::PathBuf; 3],
}

impl WitnessServer {
    /// Starts a witness with the key file `key`, the logs file `logs` and the state `state`.
    pub fn start(key: &std::path::Path, logs: &std::path::Path, state: &std::path::Path) -> Self {
        Self::start_on("127.0.0.1:0", key, logs, state)
    }

    fn start_on(
        listen: &str,
        key: &std::path::Path,
        logs: &std::path::Path,
        state: &std::path::Path,
    ) -> Self {
        use std::io::BufRead as _;
        let mut child = runledger()
            .args(["witness", "serve", "--listen", listen, "--key"])
            .arg(key)
            .arg("--state")
            .arg(state)
            .arg("--logs")
            .arg(logs)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        let addr = first
            .split("http://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .to_string();
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&stderr);
        // Drain standard error so that the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        WitnessServer {
            child,
            addr,
            stderr,
            files: [key.to_path_buf(), logs.to_path_buf(), state.to_path_buf()],
        }
    }

    /// Its address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Its URL prefix (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What it wrote on standard error so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Kills it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills it and starts it again on the same address, key, logs and state.
    pub fn restart(&mut self) {
        self.kill();
        let [key, logs, state] = self.files.clone();
        *self = WitnessServer::start_on(&self.addr.clone(), &key, &logs, &state);
    }

    /// Its line for a policy file, as `runledger witness vkey` prints it.
    pub fn policy_line(&self) -> String {
        witness_policy_line(&self.files[0], &self.url())
    }
}

impl Drop for WitnessServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The policy line of the witness key `key` at `url`, as `runledger witness vkey` prints it.
pub fn witness_policy_line(key: &std::path::Path, url: &str) -> String {
    let out = runledger()
        .args(["witness", "vkey", "--url", url, "--key"])
        .arg(key)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    stdout
        .lines()
        .find(|l| l.starts_with("witness "))
        .unwrap_or_else(|| panic!("no policy line in {stdout}"))
        .to_string()
}

/// The backup file each of the `RESTORE LOG` commands restores, in their order.
pub fn restored_files(restores: &[&str]) -> Vec<String> {
    restores
        .iter()
        .map(|c| {
            c.rsplit(['/', '\\'])
                .next()
                .unwrap()
                .split('\'')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// Those of `names` the simulator lists among its log backups, in its order: LSN order.
pub fn in_lsn_order(status: &serde_json::Value, names: &[String]) -> Vec<String> {
    status["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .filter(|n| names.contains(n))
        .collect()
}
