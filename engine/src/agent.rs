//! Operator keys held in an ssh-agent: the client side of the agent protocol
//! (draft-miller-ssh-agent), just what signing needs.
//!
//! The agent is reached through the Unix socket `SSH_AUTH_SOCK` names. Two requests are used:
//! list the keys it holds (`SSH_AGENTC_REQUEST_IDENTITIES`, 11 → 12) and sign bytes with one of
//! them (`SSH_AGENTC_SIGN_REQUEST`, 13 → 14; 5 is a refusal). For an `ssh-ed25519` key the
//! agent signs exactly the bytes it is sent, so the journal's signing messages and checkpoint
//! texts go to it unchanged and the signatures are the ones a key file would make. Every
//! signature the agent returns is verified against the key's public half before it is used:
//! an agent or a token that signs wrongly is an error, never a bad event in a journal.
//! This module never holds a private key and never writes to a journal.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use runledger_verifier::note;
use runledger_verifier::signer::{SignError, Signer};
use runledger_verifier::signing::key_id;
use sha2::{Digest, Sha256};

const REQUEST_IDENTITIES: u8 = 11;
const IDENTITIES_ANSWER: u8 = 12;
const SIGN_REQUEST: u8 = 13;
const SIGN_RESPONSE: u8 = 14;
const FAILURE: u8 = 5;
/// The key type runledger signs with.
const ED25519: &str = "ssh-ed25519";
/// A longer answer is not an agent's: refused before it is read.
const MAX_MESSAGE: usize = 256 * 1024;
/// How long an answer may take: a hardware token may wait for a touch.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// Why an agent key could not be found or used.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// `SSH_AUTH_SOCK` is not set.
    #[error("SSH_AUTH_SOCK is not set: start an ssh-agent (`eval $(ssh-agent)`) and load the key with `ssh-add`")]
    NoSocket,
    /// Not on a platform with Unix sockets.
    #[error("ssh-agent keys need a Unix socket (SSH_AUTH_SOCK)")]
    NotUnix,
    /// Talking to the agent failed.
    #[error(
        "ssh-agent at {socket}: {source}; is the agent running, and SSH_AUTH_SOCK its socket?"
    )]
    Io {
        /// The socket.
        socket: String,
        /// The error.
        source: std::io::Error,
    },
    /// The agent answered something that is not the protocol.
    #[error("ssh-agent at {socket} answered wrongly: {reason}")]
    Protocol {
        /// The socket.
        socket: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// No key matches the selector.
    #[error("no key in the ssh-agent matches {selector:?}; it holds: {held}")]
    NoMatch {
        /// What was given after `ssh-agent:`.
        selector: String,
        /// Every key the agent holds, `fingerprint (comment, type)`.
        held: String,
    },
    /// More than one key matches the selector.
    #[error(
        "{count} keys in the ssh-agent match {selector:?}; give the fingerprint of one: {held}"
    )]
    Ambiguous {
        /// What was given after `ssh-agent:`.
        selector: String,
        /// How many matched.
        count: usize,
        /// Every key the agent holds, `fingerprint (comment, type)`.
        held: String,
    },
    /// The key selected is not an Ed25519 key.
    #[error("key {fingerprint} ({comment}) in the ssh-agent is {algorithm}; runledger signs with Ed25519 keys only (`ssh-keygen -t ed25519`)")]
    NotEd25519 {
        /// Its fingerprint.
        fingerprint: String,
        /// Its comment.
        comment: String,
        /// Its key type.
        algorithm: String,
    },
}

/// A key the agent holds, as it lists it.
#[derive(Debug, Clone)]
pub struct AgentKey {
    /// The SSH public key blob (what a sign request names).
    pub blob: Vec<u8>,
    /// The comment it was added with (`ssh-keygen -C`).
    pub comment: String,
}

impl AgentKey {
    /// The OpenSSH fingerprint, as `ssh-add -l` prints it: `SHA256:` and the unpadded base64
    /// of the blob's SHA-256.
    pub fn fingerprint(&self) -> String {
        format!(
            "SHA256:{}",
            STANDARD_NO_PAD.encode(Sha256::digest(&self.blob))
        )
    }

    /// The key type named in the blob (`ssh-ed25519`, `ssh-rsa`, …).
    pub fn algorithm(&self) -> String {
        Reader(&self.blob)
            .string()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .unwrap_or_else(|| "an unreadable key".into())
    }

    /// The Ed25519 public key, if it is one.
    pub fn ed25519(&self) -> Option<VerifyingKey> {
        let mut r = Reader(&self.blob);
        if r.string()? != ED25519.as_bytes() {
            return None;
        }
        let key: [u8; 32] = r.string()?.try_into().ok()?;
        if !r.0.is_empty() {
            return None;
        }
        VerifyingKey::from_bytes(&key).ok()
    }

    fn describe(&self) -> String {
        format!(
            "{} ({}, {})",
            self.fingerprint(),
            self.comment,
            self.algorithm()
        )
    }
}

/// The name an agent key goes by in trusted-keys files and on checkpoints: its comment when
/// that is a valid key name (no whitespace, `+`, `#` or control character), else
/// `ssh-ed25519-` and the first 16 hex digits of its key id. Both are stable for as long as
/// the key is added with the same comment.
pub fn key_name(comment: &str, key: &VerifyingKey) -> String {
    if note::is_valid_key_name(comment) && !comment.contains('#') {
        comment.to_string()
    } else {
        format!("ssh-ed25519-{}", &key_id(key)[..16])
    }
}

/// An Ed25519 key held by an ssh-agent, signing through it.
#[derive(Debug, Clone)]
pub struct AgentSigner {
    socket: PathBuf,
    name: String,
    blob: Vec<u8>,
    public: VerifyingKey,
    fingerprint: String,
}

impl AgentSigner {
    /// The one Ed25519 key of the agent at `SSH_AUTH_SOCK` that `selector` names: an OpenSSH
    /// fingerprint (`SHA256:…`, as `ssh-add -l` prints it) or the key's comment.
    pub fn select(selector: &str) -> Result<AgentSigner, AgentError> {
        if cfg!(not(unix)) {
            return Err(AgentError::NotUnix);
        }
        let socket = std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .ok_or(AgentError::NoSocket)?;
        AgentSigner::select_at(Path::new(&socket), selector)
    }

    /// [`AgentSigner::select`] with the agent at `socket`.
    pub fn select_at(socket: &Path, selector: &str) -> Result<AgentSigner, AgentError> {
        if cfg!(not(unix)) {
            return Err(AgentError::NotUnix);
        }
        let keys = identities(socket)?;
        let wanted = selector.trim_end_matches('=');
        let matching: Vec<&AgentKey> = keys
            .iter()
            .filter(|k| {
                if wanted.starts_with("SHA256:") {
                    k.fingerprint() == wanted
                } else {
                    k.comment == selector
                }
            })
            .collect();
        let [key] = matching[..] else {
            let held = if keys.is_empty() {
                "no key (add one with `ssh-add`)".to_string()
            } else {
                keys.iter()
                    .map(AgentKey::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let selector = selector.to_string();
            return Err(match matching.len() {
                0 => AgentError::NoMatch { selector, held },
                count => AgentError::Ambiguous {
                    selector,
                    count,
                    held,
                },
            });
        };
        let public = key.ed25519().ok_or_else(|| AgentError::NotEd25519 {
            fingerprint: key.fingerprint(),
            comment: key.comment.clone(),
            algorithm: key.algorithm(),
        })?;
        Ok(AgentSigner {
            socket: socket.to_path_buf(),
            name: key_name(&key.comment, &public),
            blob: key.blob.clone(),
            public,
            fingerprint: key.fingerprint(),
        })
    }

    fn sign_through_agent(&self, message: &[u8]) -> Result<Signature, AgentError> {
        let mut payload = Vec::with_capacity(self.blob.len() + message.len() + 12);
        put_string(&mut payload, &self.blob);
        put_string(&mut payload, message);
        payload.extend_from_slice(&0u32.to_be_bytes()); // flags: none
        let answer = request(&self.socket, SIGN_REQUEST, &payload)?;
        let wrong = |reason: String| AgentError::Protocol {
            socket: self.socket.display().to_string(),
            reason,
        };
        match answer.split_first() {
            Some((&SIGN_RESPONSE, rest)) => {
                let mut outer = Reader(rest);
                let mut blob = Reader(
                    outer
                        .string()
                        .ok_or_else(|| wrong("a sign response without a signature".into()))?,
                );
                let (Some(kind), Some(sig)) = (blob.string(), blob.string()) else {
                    return Err(wrong("a signature blob that is not `type, signature`".into()));
                };
                if kind != ED25519.as_bytes() {
                    return Err(wrong(format!(
                        "a {} signature for an Ed25519 key",
                        String::from_utf8_lossy(kind)
                    )));
                }
                Signature::from_slice(sig)
                    .map_err(|_| wrong(format!("a signature of {} bytes, not 64", sig.len())))
            }
            Some((&FAILURE, _)) => Err(wrong(
                "it refused to sign (a key that needs confirmation, or a token that was not touched or is gone?)".into(),
            )),
            Some((t, _)) => Err(wrong(format!("message type {t} to a sign request"))),
            None => Err(wrong("an empty message".into())),
        }
    }
}

impl Signer for AgentSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn public_key(&self) -> VerifyingKey {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, SignError> {
        let err = |reason: String| SignError {
            key: format!("{} ({})", self.name, self.fingerprint),
            reason,
        };
        let sig = self
            .sign_through_agent(message)
            .map_err(|e| err(e.to_string()))?;
        // Never trust what comes back: a wrong signature must not reach a journal.
        self.public.verify_strict(message, &sig).map_err(|_| {
            err(format!(
                "ssh-agent at {} returned a signature that does not verify under the key",
                self.socket.display()
            ))
        })?;
        Ok(sig)
    }
}

/// Every key the agent at `socket` holds.
pub fn identities(socket: &Path) -> Result<Vec<AgentKey>, AgentError> {
    let answer = request(socket, REQUEST_IDENTITIES, &[])?;
    let wrong = |reason: &str| AgentError::Protocol {
        socket: socket.display().to_string(),
        reason: reason.to_string(),
    };
    let Some((&IDENTITIES_ANSWER, rest)) = answer.split_first() else {
        return Err(wrong("expected an identities answer (12)"));
    };
    let mut r = Reader(rest);
    let count = r.u32().ok_or_else(|| wrong("no key count"))?;
    let mut keys = Vec::new();
    for _ in 0..count {
        let (Some(blob), Some(comment)) = (r.string(), r.string()) else {
            return Err(wrong("fewer keys than its count"));
        };
        keys.push(AgentKey {
            blob: blob.to_vec(),
            comment: String::from_utf8_lossy(comment).into_owned(),
        });
    }
    Ok(keys)
}

/// Sends one message and reads the answer (its type byte first), on a connection of its own.
fn request(socket: &Path, kind: u8, payload: &[u8]) -> Result<Vec<u8>, AgentError> {
    let io = |source| AgentError::Io {
        socket: socket.display().to_string(),
        source,
    };
    let mut stream = connect(socket).map_err(io)?;
    let len = u32::try_from(payload.len() + 1).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "message too long",
        ))
    })?;
    let mut message = Vec::with_capacity(payload.len() + 5);
    message.extend_from_slice(&len.to_be_bytes());
    message.push(kind);
    message.extend_from_slice(payload);
    stream.write_all(&message).map_err(io)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).map_err(io)?;
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_MESSAGE {
        return Err(AgentError::Protocol {
            socket: socket.display().to_string(),
            reason: format!("an answer of {len} bytes (expected 1 to {MAX_MESSAGE})"),
        });
    }
    let mut answer = vec![0u8; len];
    stream.read_exact(&mut answer).map_err(io)?;
    Ok(answer)
}

#[cfg(unix)]
fn connect(socket: &Path) -> std::io::Result<std::os::unix::net::UnixStream> {
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.set_write_timeout(Some(ANSWER_TIMEOUT))?;
    Ok(stream)
}

#[cfg(not(unix))]
fn connect(_socket: &Path) -> std::io::Result<std::fs::File> {
    let _ = ANSWER_TIMEOUT;
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        AgentError::NotUnix.to_string(),
    ))
}

/// Appends an SSH `string`: a big-endian u32 length, then the bytes.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads SSH wire types from the front of a slice; `None` when it is too short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        if len > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed25519_blob(key: &VerifyingKey) -> Vec<u8> {
        let mut blob = Vec::new();
        put_string(&mut blob, ED25519.as_bytes());
        put_string(&mut blob, key.as_bytes());
        blob
    }

    #[test]
    fn a_key_blob_reads_back_its_type_and_key() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        let k = AgentKey {
            blob: ed25519_blob(&key),
            comment: "ops".into(),
        };
        assert_eq!(k.algorithm(), "ssh-ed25519");
        assert_eq!(k.ed25519(), Some(key));
        assert!(k.fingerprint().starts_with("SHA256:"));
        assert!(!k.fingerprint().ends_with('='));
        let mut rsa = Vec::new();
        put_string(&mut rsa, b"ssh-rsa");
        put_string(&mut rsa, &[1, 0, 1]);
        let k = AgentKey {
            blob: rsa,
            comment: "old".into(),
        };
        assert_eq!(k.algorithm(), "ssh-rsa");
        assert_eq!(k.ed25519(), None);
        // A blob cut short is not a key.
        let mut cut = ed25519_blob(&key);
        cut.truncate(20);
        assert_eq!(
            AgentKey {
                blob: cut,
                comment: String::new()
            }
            .ed25519(),
            None
        );
    }

    /// An agent on a real Unix socket that lists `key` and answers every sign request with
    /// `answer(message)`: what a broken agent or token would send.
    #[cfg(unix)]
    fn misbehaving_agent(
        key: VerifyingKey,
        answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
    ) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::net::UnixListener;
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
                stream.read_exact(&mut msg).unwrap();
                let reply = match msg[0] {
                    REQUEST_IDENTITIES => {
                        let mut r = vec![IDENTITIES_ANSWER];
                        r.extend_from_slice(&1u32.to_be_bytes());
                        put_string(&mut r, &ed25519_blob(&key));
                        put_string(&mut r, b"ops");
                        r
                    }
                    _ => {
                        let mut rest = Reader(&msg[1..]);
                        let _blob = rest.string().unwrap();
                        answer(rest.string().unwrap())
                    }
                };
                let mut framed = (reply.len() as u32).to_be_bytes().to_vec();
                framed.extend_from_slice(&reply);
                let _ = stream.write_all(&framed);
            }
        });
        (dir, socket)
    }

    /// What a test agent answers to a sign request, from the bytes it was asked to sign.
    #[cfg(unix)]
    type Answer = Box<dyn Fn(&[u8]) -> Vec<u8> + Send>;

    #[cfg(unix)]
    fn sign_response(sig: &Signature) -> Vec<u8> {
        let mut blob = Vec::new();
        put_string(&mut blob, ED25519.as_bytes());
        put_string(&mut blob, &sig.to_bytes());
        let mut r = vec![SIGN_RESPONSE];
        put_string(&mut r, &blob);
        r
    }

    #[cfg(unix)]
    #[test]
    fn a_signature_the_agent_gets_wrong_is_an_error_never_a_signature() {
        use ed25519_dalek::Signer as _;
        let good = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
        let other = ed25519_dalek::SigningKey::from_bytes(&[2u8; 32]);
        let public = good.verifying_key();

        // An honest agent: the signature is the key's, over exactly the bytes sent.
        let signer_of = |answer: Answer| {
            let (dir, socket) = misbehaving_agent(public, answer);
            let signer = AgentSigner::select_at(&socket, "ops").unwrap();
            (dir, signer)
        };
        let honest = good.clone();
        let (_d, signer) = signer_of(Box::new(move |m| sign_response(&honest.sign(m))));
        assert_eq!(signer.name(), "ops");
        assert_eq!(signer.sign(b"bytes").unwrap(), good.sign(b"bytes"));

        // Another key's signature, a signature over other bytes, a refusal, an RSA signature.
        let cases: Vec<(Answer, &str)> = vec![
            (
                Box::new(move |m| sign_response(&other.sign(m))),
                "does not verify under the key",
            ),
            (
                Box::new({
                    let good = good.clone();
                    move |_| sign_response(&good.sign(b"something else"))
                }),
                "does not verify under the key",
            ),
            (Box::new(|_| vec![FAILURE]), "it refused to sign"),
            (
                Box::new(|_| {
                    let mut blob = Vec::new();
                    put_string(&mut blob, b"rsa-sha2-256");
                    put_string(&mut blob, &[0u8; 64]);
                    let mut r = vec![SIGN_RESPONSE];
                    put_string(&mut r, &blob);
                    r
                }),
                "a rsa-sha2-256 signature",
            ),
        ];
        for (answer, expected) in cases {
            let (_d, signer) = signer_of(answer);
            let err = signer.sign(b"bytes").unwrap_err().to_string();
            assert!(
                err.starts_with("cannot sign with key ops (SHA256:"),
                "{err}"
            );
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn a_comment_that_is_no_key_name_gives_a_name_from_the_key() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]).verifying_key();
        assert_eq!(key_name("ops@host", &key), "ops@host");
        for bad in ["two words", "a+b", "a#b", ""] {
            let name = key_name(bad, &key);
            assert_eq!(name, format!("ssh-ed25519-{}", &key_id(&key)[..16]));
            assert!(note::is_valid_key_name(&name));
        }
    }
}
