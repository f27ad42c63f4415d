//! The Lync Management Shell as a child process: run one command line, deliver its stdin,
//! capture its output (bounded), and say how it ended as a [`ShellOutcome`].
//!
//! It owns process lifetime: a command that outlives its timeout is killed with every process
//! it started (its process group on unix, its Job Object on Windows), and every child is reaped, so no
//! zombie and no orphan holding a pipe survive a step. It must never interpret the output
//! (probes and the executor do), never run anything through an implicit shell (the program
//! and its arguments are passed as they are), and never block on a full pipe: both outputs
//! are drained to the end even past the capture cap.
//!
//! Platform code sits in `shell/unix.rs` (process groups, signals) and `shell/windows.rs` (a
//! Job Object per command): on both, a timeout ends the command's whole process tree.

use std::fmt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use runledger_verifier::signing::sha256_hex;
use runledger_verifier::terminal::first_line;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;

/// Bytes of each of stdout and stderr kept in memory; the rest is read and counted, not kept.
pub const CAPTURE_LIMIT: usize = 1 << 20;
/// Bytes of an excerpt (journal and screen): the head and tail halves of the output.
pub const EXCERPT_LIMIT: usize = 4 << 10;
/// How long to wait for the output pipes to close once the child has ended: a grandchild
/// that detached from the process group may hold them open for ever.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellCommand {
    /// The program (looked up in `PATH` when it has no folder).
    pub program: String,
    /// Its arguments, passed as they are (no shell parses them).
    pub args: Vec<String>,
    /// Text written to its stdin, which is then closed; `None` gives it an empty stdin.
    pub stdin: Option<String>,
    /// Limit on its run time, after which it is killed.
    pub timeout: Duration,
    /// Environment variables it must not inherit: the ones secrets were read from.
    pub env_remove: Vec<String>,
}

impl ShellCommand {
    /// The command line, each word quoted for a POSIX shell where needed, for the journal and
    /// the screen. It shows what ran unambiguously; it is never executed.
    pub fn display(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One word as a POSIX shell would read it back: as it is when plain, single-quoted otherwise.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// What a command wrote, each stream capped at [`CAPTURE_LIMIT`] bytes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The first bytes of stdout.
    pub stdout: Vec<u8>,
    /// The first bytes of stderr.
    pub stderr: Vec<u8>,
    /// Bytes the command wrote to stdout in all (more than `stdout.len()` when capped).
    pub stdout_total: u64,
    /// Bytes the command wrote to stderr in all.
    pub stderr_total: u64,
}

impl fmt::Debug for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Captured")
            .field("stdout", &self.stdout_excerpt())
            .field("stderr", &self.stderr_excerpt())
            .finish()
    }
}

impl Captured {
    /// Stdout as lossy UTF-8, at most about [`EXCERPT_LIMIT`] bytes (head and tail), saying
    /// how much was cut.
    pub fn stdout_excerpt(&self) -> String {
        excerpt(&self.stdout, self.stdout_total)
    }

    /// Stderr as lossy UTF-8, at most about [`EXCERPT_LIMIT`] bytes, saying how much was cut.
    pub fn stderr_excerpt(&self) -> String {
        excerpt(&self.stderr, self.stderr_total)
    }

    /// Lowercase hex SHA-256 of the captured stdout bytes.
    pub fn stdout_sha256(&self) -> String {
        sha256_hex(&self.stdout)
    }

    /// Lowercase hex SHA-256 of the captured stderr bytes.
    pub fn stderr_sha256(&self) -> String {
        sha256_hex(&self.stderr)
    }

    /// True when either stream wrote more than was kept.
    pub fn capped(&self) -> bool {
        self.stdout_total > self.stdout.len() as u64 || self.stderr_total > self.stderr.len() as u64
    }
}

fn excerpt(kept: &[u8], total: u64) -> String {
    let beyond_cap = total.saturating_sub(kept.len() as u64);
    if kept.len() <= EXCERPT_LIMIT {
        let mut s = String::from_utf8_lossy(kept).into_owned();
        if beyond_cap > 0 {
            s.push_str(&format!("\n[… {beyond_cap} more bytes not captured]"));
        }
        return s;
    }
    // Head and tail: a tool's first lines say what it did, its last lines why it stopped.
    let half = EXCERPT_LIMIT / 2;
    let cut = total - 2 * half as u64;
    format!(
        "{}\n[… {cut} bytes cut …]\n{}",
        String::from_utf8_lossy(&kept[..half]),
        String::from_utf8_lossy(&kept[kept.len() - half..]),
    ) + &if beyond_cap > 0 {
        format!("\n[the tail above ends at the capture cap; {beyond_cap} later bytes were not captured]")
    } else {
        String::new()
    }
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOutcome {
    /// It exited with this code.
    Exited {
        /// Exit code.
        code: i32,
        /// Its output.
        output: Captured,
    },
    /// It ran past its timeout and was killed (with its process group on unix, its Job
    /// Object on Windows).
    TimedOut {
        /// The limit.
        after: Duration,
        /// Its output until then.
        output: Captured,
    },
    /// A signal ended it (unix), not sent by us.
    Signaled {
        /// Signal number.
        signal: i32,
        /// Its output.
        output: Captured,
    },
    /// It could not be started (missing program, no permission, …).
    SpawnFailed {
        /// Why, naming the program.
        reason: String,
    },
}

impl ShellOutcome {
    /// True only for exit code 0.
    pub fn succeeded(&self) -> bool {
        matches!(self, ShellOutcome::Exited { code: 0, .. })
    }

    /// The captured output, when the command ran.
    pub fn output(&self) -> Option<&Captured> {
        match self {
            ShellOutcome::Exited { output, .. }
            | ShellOutcome::TimedOut { output, .. }
            | ShellOutcome::Signaled { output, .. } => Some(output),
            ShellOutcome::SpawnFailed { .. } => None,
        }
    }

    /// One line for the operator: `exited 0`, `exited 1: <first stderr line>`,
    /// `timed out after 5s: …`, `killed by signal 9: …`, `could not start: …`.
    pub fn summary(&self) -> String {
        let with_line = |head: String, output: &Captured| match headline(output) {
            Some(line) => format!("{head}: {line}"),
            None => head,
        };
        match self {
            ShellOutcome::Exited { code: 0, .. } => "exited 0".into(),
            ShellOutcome::Exited { code, output } => with_line(format!("exited {code}"), output),
            ShellOutcome::TimedOut { after, output } => {
                with_line(format!("timed out after {after:?} and was killed"), output)
            }
            ShellOutcome::Signaled { signal, output } => {
                with_line(format!("killed by signal {signal}"), output)
            }
            ShellOutcome::SpawnFailed { reason } => format!("could not start: {reason}"),
        }
    }
}

/// The first non-blank line of stderr, else of stdout, bounded to 200 characters.
fn headline(output: &Captured) -> Option<String> {
    let pick = |bytes: &[u8]| {
        let line = first_line(&String::from_utf8_lossy(bytes));
        (!line.is_empty()).then(|| {
            let mut s: String = line.chars().take(200).collect();
            if line.chars().count() > 200 {
                s.push('…');
            }
            s
        })
    };
    pick(&output.stderr).or_else(|| pick(&output.stdout))
}

/// A stream's capture, shared with its reader task so that what was read survives the task
/// being abandoned when a grandchild keeps the pipe open.
#[derive(Default)]
struct Sink {
    kept: Vec<u8>,
    total: u64,
}

async fn drain(mut pipe: impl AsyncRead + Unpin, sink: Arc<Mutex<Sink>>) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut s = sink.lock().expect("capture lock");
                let room = CAPTURE_LIMIT.saturating_sub(s.kept.len());
                s.kept.extend_from_slice(&buf[..n.min(room)]);
                s.total += n as u64;
            }
        }
    }
}

fn take(sink: &Arc<Mutex<Sink>>) -> (Vec<u8>, u64) {
    let mut s = sink.lock().expect("capture lock");
    (std::mem::take(&mut s.kept), s.total)
}

/// Runs `cmd` to its end or its timeout. Never panics and never returns before the child has
/// been reaped.
pub async fn run(cmd: &ShellCommand) -> ShellOutcome {
    let mut command = Command::new(&cmd.program);
    command.args(&cmd.args);
    for var in &cmd.env_remove {
        command.env_remove(var);
    }
    command
        .stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // If this future is dropped (the run is cancelled), tokio kills and reaps the child.
        .kill_on_drop(true);
    platform::configure(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return ShellOutcome::SpawnFailed {
                reason: format!("{}: {e}", cmd.program),
            }
        }
    };
    // Kills the process group if this future is dropped before the command ended.
    let mut group = platform::Group::of(&child);

    let stdout = Arc::new(Mutex::new(Sink::default()));
    let stderr = Arc::new(Mutex::new(Sink::default()));
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(tokio::spawn(drain(pipe, stdout.clone())));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(tokio::spawn(drain(pipe, stderr.clone())));
    }
    // Stdin is written by its own task: a child that writes a lot before reading must not
    // wait on us while we wait on it.
    let writer = match (child.stdin.take(), &cmd.stdin) {
        (Some(mut pipe), Some(text)) => {
            let bytes = text.clone().into_bytes();
            Some(tokio::spawn(async move {
                // A child that exits without reading its input is not an error of ours.
                let _ = pipe.write_all(&bytes).await;
                let _ = pipe.shutdown().await;
            }))
        }
        _ => None,
    };

    let status = tokio::select! {
        status = child.wait() => Ended::Status(status),
        _ = tokio::time::sleep(cmd.timeout) => Ended::TimedOut,
    };
    let status = match status {
        Ended::Status(s) => Ended::Status(s),
        Ended::TimedOut => {
            group.kill();
            let _ = child.start_kill();
            // Reap it: the wait cannot hang, SIGKILL cannot be ignored.
            let _ = child.wait().await;
            Ended::TimedOut
        }
    };
    group.disarm();

    if let Some(w) = writer {
        w.abort();
    }
    let drained = async {
        for r in &mut readers {
            let _ = r.await;
        }
    };
    if tokio::time::timeout(DRAIN_GRACE, drained).await.is_err() {
        for r in &readers {
            r.abort();
        }
    }
    let (out, out_total) = take(&stdout);
    let (err, err_total) = take(&stderr);
    let output = Captured {
        stdout: out,
        stderr: err,
        stdout_total: out_total,
        stderr_total: err_total,
    };
    match status {
        Ended::TimedOut => ShellOutcome::TimedOut {
            after: cmd.timeout,
            output,
        },
        Ended::Status(Err(e)) => ShellOutcome::SpawnFailed {
            reason: format!("{}: waiting for it failed: {e}", cmd.program),
        },
        Ended::Status(Ok(status)) => outcome_of(status, output),
    }
}

enum Ended {
    Status(std::io::Result<ExitStatus>),
    TimedOut,
}

fn outcome_of(status: ExitStatus, output: Captured) -> ShellOutcome {
    match (status.code(), platform::signal_of(&status)) {
        (Some(code), _) => ShellOutcome::Exited { code, output },
        (None, Some(signal)) => ShellOutcome::Signaled { signal, output },
        // Neither code nor signal does not happen on the platforms we build for; say so
        // rather than invent a code.
        (None, None) => ShellOutcome::Signaled { signal: 0, output },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let cmd = ShellCommand {
            program: "pwsh".into(),
            args: vec![
                "-Command".into(),
                "Set-CsPersistentChatState -Identity 'service:PersistentChatServer:pchat' -PoolState FailedOver".into(),
                "".into(),
                "it's".into(),
                "C:/x_y-1.ps1".into(),
            ],
            stdin: None,
            timeout: Duration::from_secs(1),
            env_remove: vec![],
        };
        assert_eq!(
            cmd.display(),
            r#"pwsh -Command 'Set-CsPersistentChatState -Identity '\''service:PersistentChatServer:pchat'\'' -PoolState FailedOver' '' 'it'\''s' C:/x_y-1.ps1"#
        );
    }

    #[test]
    fn excerpts_are_bounded_and_say_what_was_cut() {
        let small = Captured {
            stdout: b"hello".to_vec(),
            stdout_total: 5,
            ..Captured::default()
        };
        assert_eq!(small.stdout_excerpt(), "hello");
        let big = vec![b'x'; 10_000];
        let c = Captured {
            stderr: big,
            stderr_total: 10_000,
            ..Captured::default()
        };
        let e = c.stderr_excerpt();
        assert!(e.len() < EXCERPT_LIMIT + 200, "{}", e.len());
        assert!(e.contains("5904 bytes cut"), "{e}");
        let capped = Captured {
            stdout: vec![b'y'; 100],
            stdout_total: 5000,
            ..Captured::default()
        };
        assert!(capped.capped());
        assert!(capped
            .stdout_excerpt()
            .contains("4900 more bytes not captured"));
    }

    #[test]
    fn summary_names_the_first_error_line() {
        let out = Captured {
            stdout: b"progress\n".to_vec(),
            stderr: b"\n  Set-CsX : access denied\nat line 1\n".to_vec(),
            ..Captured::default()
        };
        let o = ShellOutcome::Exited {
            code: 1,
            output: out,
        };
        assert_eq!(o.summary(), "exited 1: Set-CsX : access denied");
        assert!(!o.succeeded());
    }
}
