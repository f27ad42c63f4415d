//! The witness server: C2SP `tlog-witness` `add-checkpoint` over HTTP/1.1, for a compliance
//! team to run on a host the operators do not control.
//!
//! For each log it knows (an origin and the log's keys, from the logs file) it keeps the size
//! and root of the latest checkpoint it cosigned ([`super::state`]) and cosigns a checkpoint
//! only when it is signed by one of the log's keys and proven consistent with that record.
//! Statuses, in the order they are checked: 400 malformed request, 404 unknown origin, 403 no
//! signature by a key of the origin, 400 old size above the checkpoint's, 409 old size not the
//! recorded one (or the same size with another root; body: the recorded size,
//! `text/x.tlog.size`), 422 consistency proof that does not verify, 200 a `cosignature/v1`
//! signature line, once the new record is committed. Each request is logged on one line of
//! standard error. It never signs anything but a cosignature, and never moves a log back.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use runledger_verifier::checkpoint;
use runledger_verifier::cosignature;
use runledger_verifier::keys::{self, PrivateKey};
use runledger_verifier::merkle::Hash;
use runledger_verifier::note;
use runledger_verifier::terminal;

use super::client::MAX_PROOF_LINES;
use super::state::{Decision, State};

/// The largest request body read (a checkpoint note with many signatures and a full proof).
const MAX_REQUEST_BYTES: u64 = 256 * 1024;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The logs file could not be read.
    #[error("cannot read logs file {path}: {source}")]
    LogsIo {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line of the logs file is wrong.
    #[error("{path}:{line}: {reason}")]
    LogsLine {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The logs file names no log.
    #[error(
        "logs file {path} names no log: expected lines `ORIGIN NAME BASE64-KEY` or `ORIGIN VKEY`"
    )]
    NoLogs {
        /// The file.
        path: String,
    },
    /// The state database could not be opened.
    #[error("cannot open witness state {path}: {source}")]
    State {
        /// The database.
        path: String,
        /// The error.
        source: rusqlite::Error,
    },
    /// The address could not be listened on.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// The logs a witness cosigns: for each origin, the keys (name, public key) that sign its
/// checkpoints.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    by_origin: BTreeMap<String, Vec<(String, VerifyingKey)>>,
}

impl Logs {
    /// Parses a logs file: one log key a line, `ORIGIN NAME BASE64-KEY` (a trusted-keys line,
    /// as `runledger keys generate` writes in `K.pub`, after the origin) or `ORIGIN VKEY` (a
    /// signed-note verifier key); `#` starts a comment. An origin may have several keys.
    pub fn parse(text: &str, path: &str) -> Result<Logs, ServerError> {
        let mut logs = Logs::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason: String| ServerError::LogsLine {
                path: path.to_string(),
                line: i + 1,
                reason,
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (origin, name, key) = match fields.as_slice() {
                [origin, vkey] => {
                    let (name, key) = note::decode_verifier_key(vkey)
                        .map_err(|e| err(format!("log key is not a vkey: {e}")))?;
                    (*origin, name, key)
                }
                [origin, name, b64] => {
                    let key = keys::parse_key_fields(name, b64)
                        .map_err(|e| err(format!("log key: {e}")))?;
                    (*origin, name.to_string(), key)
                }
                _ => {
                    return Err(err(
                        "expected `ORIGIN NAME BASE64-KEY` or `ORIGIN VKEY`".into()
                    ))
                }
            };
            let keys = logs.by_origin.entry(origin.to_string()).or_default();
            if keys.iter().any(|(n, k)| *n == name && *k == key) {
                return Err(err(format!("key {name} listed twice for origin {origin}")));
            }
            keys.push((name, key));
        }
        if logs.by_origin.is_empty() {
            return Err(ServerError::NoLogs {
                path: path.to_string(),
            });
        }
        Ok(logs)
    }

    /// Reads a logs file.
    pub fn load(path: &Path) -> Result<Logs, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| ServerError::LogsIo {
            path: path.display().to_string(),
            source,
        })?;
        Logs::parse(&text, &path.display().to_string())
    }

    /// Number of origins.
    pub fn len(&self) -> usize {
        self.by_origin.len()
    }

    /// True when no log is known.
    pub fn is_empty(&self) -> bool {
        self.by_origin.is_empty()
    }
}

/// What the server needs: its key, its state, its logs.
pub struct Config {
    /// The witness key; its name is the cosignatures' key name.
    pub key: PrivateKey,
    /// The state database.
    pub state: PathBuf,
    /// The logs it witnesses.
    pub logs: Logs,
    /// Worker threads (each with its own database connection).
    pub threads: usize,
}

/// A bound server, not yet answering.
pub struct Server {
    http: Arc<tiny_http::Server>,
    shared: Arc<Shared>,
    threads: usize,
}

struct Shared {
    key: PrivateKey,
    state: PathBuf,
    logs: Logs,
}

impl Server {
    /// Opens the state (creating its table) and listens on `listen` (`HOST:PORT`; port 0
    /// picks a free one).
    pub fn bind(listen: &str, config: Config) -> Result<Server, ServerError> {
        State::open(&config.state).map_err(|source| ServerError::State {
            path: config.state.display().to_string(),
            source,
        })?;
        let http = tiny_http::Server::http(listen).map_err(|e| ServerError::Listen {
            addr: listen.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Server {
            http: Arc::new(http),
            shared: Arc::new(Shared {
                key: config.key,
                state: config.state,
                logs: config.logs,
            }),
            threads: config.threads.max(1),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.http.server_addr().to_ip()
    }

    /// Answers requests until the process ends.
    pub fn run(self) -> Result<(), ServerError> {
        let mut workers = Vec::new();
        for _ in 0..self.threads {
            let http = Arc::clone(&self.http);
            let shared = Arc::clone(&self.shared);
            let state_path = shared.state.clone();
            let mut state = State::open(&state_path).map_err(|source| ServerError::State {
                path: state_path.display().to_string(),
                source,
            })?;
            workers.push(std::thread::spawn(move || {
                while let Ok(request) = http.recv() {
                    shared.answer(&mut state, request);
                }
            }));
        }
        for w in workers {
            let _ = w.join();
        }
        Ok(())
    }
}

/// One answer: status, body, and what the log line says.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    note: String,
}

impl Reply {
    fn text(status: u16, message: impl Into<String>) -> Reply {
        let message = message.into();
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{message}\n"),
            note: message,
        }
    }
}

/// The parts of an add-checkpoint request body.
#[derive(Debug)]
struct AddRequest {
    old_size: u64,
    proof: Vec<Hash>,
    note: String,
}

impl Shared {
    fn answer(&self, state: &mut State, mut request: tiny_http::Request) {
        let remote = request
            .remote_addr()
            .map_or_else(|| "-".to_string(), |a| a.to_string());
        let method = request.method().to_string();
        let url = request.url().to_string();
        let (reply, what) = if url != "/add-checkpoint" {
            (
                Reply::text(404, "no such endpoint: expected POST /add-checkpoint"),
                String::new(),
            )
        } else if method != "POST" {
            (Reply::text(405, "expected POST"), String::new())
        } else {
            let mut body = Vec::new();
            match request
                .as_reader()
                .take(MAX_REQUEST_BYTES + 1)
                .read_to_end(&mut body)
            {
                Err(e) => (
                    Reply::text(400, format!("cannot read the request: {e}")),
                    String::new(),
                ),
                Ok(_) if body.len() as u64 > MAX_REQUEST_BYTES => (
                    Reply::text(
                        400,
                        format!("request larger than {MAX_REQUEST_BYTES} bytes"),
                    ),
                    String::new(),
                ),
                Ok(_) => self.add_checkpoint(state, &body),
            }
        };
        eprintln!(
            "{}",
            terminal::line(&format!(
                "witness: {remote} {method} {url}{what} -> {} {}",
                reply.status, reply.note
            ))
        );
        let response = tiny_http::Response::from_string(reply.body)
            .with_status_code(reply.status)
            .with_header(
                tiny_http::Header::from_bytes("Content-Type", reply.content_type)
                    .expect("a valid header"),
            );
        // A client gone before the answer changes nothing: the record is already committed.
        let _ = request.respond(response);
    }

    /// Checks and records one checkpoint; returns the reply and what to log of the request.
    fn add_checkpoint(&self, state: &mut State, body: &[u8]) -> (Reply, String) {
        let req = match parse_request(body) {
            Ok(r) => r,
            Err(reason) => return (Reply::text(400, reason), String::new()),
        };
        let signed = match checkpoint::parse_signed(&req.note) {
            Ok(s) => s,
            Err(e) => {
                return (
                    Reply::text(400, format!("malformed checkpoint: {e}")),
                    String::new(),
                )
            }
        };
        let cp = &signed.checkpoint;
        let what = format!(
            " origin={} old={} size={}",
            cp.origin, req.old_size, cp.size
        );
        let Some(keys) = self.logs.by_origin.get(&cp.origin) else {
            return (Reply::text(404, "unknown log origin"), what);
        };
        if !keys
            .iter()
            .any(|(name, key)| signed.verify(name, key).is_ok())
        {
            return (
                Reply::text(
                    403,
                    "no signature by a key this witness trusts for the origin",
                ),
                what,
            );
        }
        if req.old_size > cp.size {
            return (
                Reply::text(400, "old size is above the checkpoint's size"),
                what,
            );
        }
        if cp.size > i64::MAX as u64 {
            return (Reply::text(400, "tree size above 2^63 - 1"), what);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let decision = match state.check_and_update(
            &cp.origin,
            req.old_size,
            cp.size,
            &cp.root,
            &req.proof,
            &signed.note.body,
            now,
        ) {
            Ok(d) => d,
            Err(e) => return (Reply::text(500, format!("witness state: {e}")), what),
        };
        match decision {
            Decision::Conflict { size } => (
                Reply {
                    status: 409,
                    content_type: "text/x.tlog.size",
                    body: format!("{size}\n"),
                    note: format!("the witness holds size {size}"),
                },
                what,
            ),
            Decision::BadProof { reason } => (Reply::text(422, reason), what),
            Decision::Cosign => {
                match cosignature::cosign(&signed.note.body, &self.key.name, &self.key.key, now) {
                    Ok(line) => (
                        Reply {
                            status: 200,
                            content_type: "text/plain; charset=utf-8",
                            body: line,
                            note: "cosigned".into(),
                        },
                        what,
                    ),
                    Err(e) => (Reply::text(500, format!("cannot cosign: {e}")), what),
                }
            }
        }
    }
}

/// Splits `old N\n`, proof lines, an empty line and the note; a reason on malformed input.
fn parse_request(body: &[u8]) -> Result<AddRequest, String> {
    let text = std::str::from_utf8(body).map_err(|_| "request is not UTF-8".to_string())?;
    let (first, mut rest) = text
        .split_once('\n')
        .ok_or("expected an `old N` line ending in a newline")?;
    let old = first
        .strip_prefix("old ")
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .filter(|s| *s == "0" || !s.starts_with('0'))
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| *n <= i64::MAX as u64)
        .ok_or_else(|| {
            format!(
                "expected `old N` (decimal, no leading zero), found {:?}",
                excerpt(first)
            )
        })?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = rest
            .split_once('\n')
            .ok_or("expected an empty line between the proof and the checkpoint")?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_PROOF_LINES {
            return Err(format!(
                "more than {MAX_PROOF_LINES} consistency proof lines"
            ));
        }
        let bytes = STANDARD
            .decode(line)
            .map_err(|_| format!("proof line {:?} is not base64", excerpt(line)))?;
        let hash = Hash::try_from(bytes.as_slice())
            .map_err(|_| format!("proof line of {} bytes: expected 32", bytes.len()))?;
        proof.push(hash);
    }
    Ok(AddRequest {
        old_size: old,
        proof,
        note: rest.to_string(),
    })
}

fn excerpt(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_parsing() {
        let r = parse_request(b"old 0\n\nnote\n").unwrap();
        assert_eq!(
            (r.old_size, r.proof.len(), r.note.as_str()),
            (0, 0, "note\n")
        );
        let h = STANDARD.encode([7u8; 32]);
        let r = parse_request(format!("old 12\n{h}\n{h}\n\nn\n").as_bytes()).unwrap();
        assert_eq!((r.old_size, r.proof.len()), (12, 2));
        for bad in [
            "old 01\n\nn\n",
            "old -1\n\nn\n",
            "new 1\n\nn\n",
            "old 1\nAAAA\n\nn\n",
            "old 1\nnot base64!\n\nn\n",
            "old 1",
            "old 1\n",
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let long = format!(
            "old 1\n{}\nn\n",
            format!("{h}\n").repeat(MAX_PROOF_LINES + 1)
        );
        assert!(parse_request(long.as_bytes())
            .unwrap_err()
            .contains("more than 63"));
    }

    #[test]
    fn logs_file_lines() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key();
        let line = runledger_verifier::keys::trusted_key_line("ops", &key);
        let vkey = note::encode_verifier_key("site-log", &key);
        let text = format!("# logs\nrunledger/a {line}\nrunledger/b {vkey}  # b\n");
        let logs = Logs::parse(&text, "logs").unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(
            logs.by_origin["runledger/a"],
            vec![("ops".to_string(), key)]
        );
        assert_eq!(
            logs.by_origin["runledger/b"],
            vec![("site-log".to_string(), key)]
        );
        let e = Logs::parse("runledger/a\n", "logs")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("logs:1: expected"), "{e}");
        let e = Logs::parse("o ops AAAA\n", "logs").unwrap_err().to_string();
        assert!(e.starts_with("logs:1: log key"), "{e}");
        let e = Logs::parse(&format!("o {line}\no {line}\n"), "logs")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("logs:2: key ops listed twice"), "{e}");
        assert!(Logs::parse("# none\n", "logs").is_err());
    }
}
