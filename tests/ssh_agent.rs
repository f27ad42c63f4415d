//! Operator keys held in OpenSSH's `ssh-agent`: a run signed through the agent verifies under
//! the trusted-keys line `keys public` prints, which is the key `ssh-keygen -y` reads from the
//! key file (decoded here, independently of runledger); a key that cannot be used is one error
//! line before anything is written; an agent that dies mid-run halts the run with one error
//! line, losing nothing, and `resume` through the agent again completes it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::bad_input::{assert_verifies, CrashedDrill};
use crate::common::{event_count, runledger, runledger_verify, text, Serving};

/// A real `ssh-agent -D` on a socket of its own, killed when dropped.
struct Agent {
    dir: tempfile::TempDir,
    child: Child,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let child = spawn_agent(&dir.path().join("agent.sock"));
        Agent { dir, child }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }

    /// A new key `ssh-keygen -t KIND -C COMMENT` in the agent's directory, added to it.
    fn add_new_key(&self, kind: &str, comment: &str, file: &str) -> PathBuf {
        let path = self.dir.path().join(file);
        let out = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-C", comment, "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-keygen: {:?}", text(&out));
        self.add(&path);
        path
    }

    fn add(&self, key: &Path) {
        let out = Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", self.socket())
            .output()
            .unwrap();
        assert!(out.status.success(), "ssh-add: {:?}", text(&out));
    }

    /// Kills the agent (it removes its socket) and waits for it.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a new agent on the same socket (the old one killed).
    fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(self.socket());
        self.child = spawn_agent(&self.socket());
    }

    /// `runledger ARGS` with this agent as SSH_AUTH_SOCK.
    fn runledger(&self) -> Command {
        let mut c = runledger();
        c.env("SSH_AUTH_SOCK", self.socket());
        c
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_agent(socket: &Path) -> Child {
    let child = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh-agent is installed (Debian: openssh-client; scripts/test installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "ssh-agent made no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// The OpenSSH fingerprint of a key file, as `ssh-keygen -l` prints it.
fn fingerprint(key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    let fp = stdout.split_whitespace().nth(1).unwrap().to_string();
    assert!(fp.starts_with("SHA256:"), "{stdout}");
    fp
}

/// The 32-byte Ed25519 public key `ssh-keygen -y` reads from a private key file, decoded from
/// its OpenSSH wire form here (string "ssh-ed25519", string key).
fn public_key_of(key: &Path) -> Vec<u8> {
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let (stdout, _) = text(&out);
    let mut fields = stdout.split_whitespace();
    assert_eq!(fields.next(), Some("ssh-ed25519"), "{stdout}");
    let blob = B64.decode(fields.next().unwrap()).unwrap();
    let mut rest = blob.as_slice();
    let mut string = || {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let s = rest[4..4 + len].to_vec();
        rest = &rest[4 + len..];
        s
    };
    assert_eq!(string(), b"ssh-ed25519");
    let key = string();
    assert_eq!(key.len(), 32);
    key
}

/// `runledger keys public --key KEY`: its trusted-keys line.
fn keys_public(agent: &Agent, spec: &str) -> String {
    let out = agent
        .runledger()
        .args(["keys", "public", "--key", spec])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    stdout.trim_end().to_string()
}

/// Asserts a command failed with exit 2 and exactly one `runledger: error:` line holding
/// every one of `needles`.
fn assert_one_error_line(out: &Output, needles: &[&str]) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("runledger: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    for n in needles {
        assert!(errors[0].contains(n), "{n:?} not in {:?}", errors[0]);
    }
}

#[test]
fn a_run_signed_through_the_agent_verifies_under_the_line_keys_public_prints() {
    let agent = Agent::start();
    let key = agent.add_new_key("ed25519", "operator", "operator_ed25519");
    let fp = fingerprint(&key);
    let spec = format!("ssh-agent:{fp}");

    // The line names the key by its comment, and its key is the one in the key file.
    let line = keys_public(&agent, &spec);
    let (name, b64) = line.split_once(' ').unwrap();
    assert_eq!(name, "operator");
    assert_eq!(B64.decode(b64).unwrap(), public_key_of(&key));
    assert_eq!(
        keys_public(&agent, "ssh-agent:operator"),
        line,
        "by comment"
    );
    let trusted = agent.dir.path().join("trusted");
    std::fs::write(&trusted, format!("{line}\n")).unwrap();

    // A drill stopped after its first events leaves the simulated data center up and a
    // runbook for it; a second journal runs it through, signed by the agent's key.
    let d = CrashedDrill::new(2, &[]);
    let _serving = Serving(d.dir.path().to_path_buf());
    let journal = d.path("agent.db");
    let out = agent
        .runledger()
        .arg("run")
        .arg(d.path("runbook.toml"))
        .arg("--journal")
        .arg(&journal)
        .args(["--key", &spec])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert_verifies(&journal, &trusted);
    // `keys public` of a key file prints the line `keys generate` wrote beside it.
    assert_eq!(
        format!(
            "{}\n",
            keys_public(&agent, d.path("operator.key").to_str().unwrap())
        ),
        std::fs::read_to_string(d.path("operator.key.pub")).unwrap()
    );
    // Not the drill's key: the journal holds the agent key's signatures only.
    let out = runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(d.path("operator.key.pub"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{:?}", text(&out));

    // A checkpoint signed through the agent (selected by comment) holds against the journal.
    let cp = d.path("agent-checkpoint.txt");
    let out = agent
        .runledger()
        .args(["checkpoint", "--journal"])
        .arg(&journal)
        .args(["--key", "ssh-agent:operator", "--out"])
        .arg(&cp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(std::fs::read_to_string(&cp)
        .unwrap()
        .contains("\n— operator "));
    let out = runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(&trusted)
        .arg("--checkpoint")
        .arg(&cp)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");

    // Another agent key is not the journal's: resume refuses it, appending nothing.
    let other = agent.add_new_key("ed25519", "someone-else", "other_ed25519");
    let before = event_count(&journal);
    let out = agent
        .runledger()
        .args(["resume", "--journal"])
        .arg(&journal)
        .args(["--key", &format!("ssh-agent:{}", fingerprint(&other))])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("is not the key of journal"), "{stderr}");
    assert_eq!(event_count(&journal), before);
}

#[test]
fn an_agent_key_that_cannot_be_used_is_one_error_line_before_anything_is_written() {
    let agent = Agent::start();
    let ed = agent.add_new_key("ed25519", "operator", "operator_ed25519");
    let rsa = agent.add_new_key("rsa", "old-rsa", "old_rsa");
    let ed_fp = fingerprint(&ed);
    let rsa_fp = fingerprint(&rsa);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.db");
    let run = |spec: &str, with_agent: bool| {
        let mut c = if with_agent {
            agent.runledger()
        } else {
            let mut c = runledger();
            c.env_remove("SSH_AUTH_SOCK");
            c
        };
        c.args(["run", "builtin:persistent-chat-failover", "--journal"])
            .arg(&journal)
            .args(["--key", spec])
            .output()
            .unwrap()
    };

    // No agent at all.
    assert_one_error_line(
        &run(&format!("ssh-agent:{ed_fp}"), false),
        &["SSH_AUTH_SOCK is not set"],
    );
    // A fingerprint the agent does not hold: the message lists what it holds.
    assert_one_error_line(
        &run(
            "ssh-agent:SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            true,
        ),
        &[
            "no key in the ssh-agent matches",
            &ed_fp,
            "operator",
            &rsa_fp,
            "old-rsa",
        ],
    );
    // An RSA key.
    assert_one_error_line(
        &run(&format!("ssh-agent:{rsa_fp}"), true),
        &[&rsa_fp, "is ssh-rsa", "Ed25519 keys only"],
    );
    // The OpenSSH key file given as a key file: the message says how to use it.
    assert_one_error_line(
        &run(ed.to_str().unwrap(), true),
        &["an OpenSSH key", "ssh-add", "--key ssh-agent:"],
    );
    // Two keys with one comment.
    agent.add_new_key("ed25519", "operator", "second_ed25519");
    assert_one_error_line(
        &run("ssh-agent:operator", true),
        &["2 keys in the ssh-agent match \"operator\"; give the fingerprint"],
    );
    // An empty selector is refused by the argument parser.
    let out = run("ssh-agent:", true);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        !journal.exists(),
        "no journal is created for a key that cannot sign"
    );
    // `keys public` says the same.
    let out = agent
        .runledger()
        .args(["keys", "public", "--key", &format!("ssh-agent:{rsa_fp}")])
        .output()
        .unwrap();
    assert_one_error_line(&out, &["Ed25519 keys only"]);
}

#[test]
fn an_agent_that_dies_mid_run_halts_it_with_one_error_line_and_resume_completes_it() {
    let mut agent = Agent::start();
    let key = agent.add_new_key("ed25519", "operator", "operator_ed25519");
    let spec = format!("ssh-agent:{}", fingerprint(&key));
    let trusted = agent.dir.path().join("trusted");
    std::fs::write(&trusted, format!("{}\n", keys_public(&agent, &spec))).unwrap();

    let d = CrashedDrill::new(2, &[]);
    let _serving = Serving(d.dir.path().to_path_buf());
    let journal = d.path("agent.db");
    // Paced copies give the run time to be caught midway.
    let child = agent
        .runledger()
        .arg("run")
        .arg(d.path("runbook.toml"))
        .arg("--journal")
        .arg(&journal)
        .args(["--key", &spec, "--pace", "400"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while event_count(&journal) < 8 {
        assert!(Instant::now() < deadline, "the run did not get going");
        std::thread::sleep(Duration::from_millis(20));
    }
    agent.kill();
    let out = child.wait_with_output().unwrap();
    assert_one_error_line(&out, &["not written", "cannot sign with key operator"]);
    // What was written verifies under the agent key, the run open.
    let halted_at = event_count(&journal);
    let out = runledger_verify()
        .arg(&journal)
        .arg("--trust")
        .arg(&trusted)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.starts_with("VALID"), "{stdout}");

    // The same key in a new agent continues the journal to its end.
    agent.restart();
    agent.add(&key);
    let out = agent
        .runledger()
        .args(["resume", "--journal"])
        .arg(&journal)
        .args(["--key", &spec])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(event_count(&journal) > halted_at);
    assert_verifies(&journal, &trusted);
    let events = crate::common::export_events(&journal);
    assert_eq!(
        events.last().unwrap()["kind"],
        "run.finished",
        "the resumed run finished"
    );
}
