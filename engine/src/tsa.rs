//! Trusted time for checkpoints: the RFC 3161 client (`--tsa URL`).
//!
//! A checkpoint's note body (the text before the blank line that precedes its signature lines)
//! is hashed with SHA-256 and sent to a time-stamping authority as a `TimeStampReq` (version 1,
//! a random nonce, `certReq` true) in an HTTP POST of type `application/timestamp-query`. The
//! answer must grant it (status 0 or 1) and carry a token whose imprint and nonce are the
//! request's; the token (the DER `ContentInfo`) is kept beside the checkpoint as
//! `<size>.tsr` in the journal's history (never overwritten) and as `checkpoint.tsr` beside
//! `checkpoint.txt`. Whether the TSA's signature holds is the verifier's question
//! (`runledger_verifier::timestamp`, `runledger-verify --tsa-cert`), asked offline.
//!
//! A run never stops for its TSA: [`Stamper`] turns a failure into one warning line naming the
//! URL and the checkpoint's size, and after three failures in a row stops asking for the rest
//! of the run (saying so), so that a TSA out of reach cannot slow a failover down.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cms::cert::x509::spki::AlgorithmIdentifier;
use der::asn1::{Int, OctetString};
use der::{Any, Decode, Encode};
use runledger_verifier::timestamp::{self, ID_SHA256};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

use crate::checkpoints;

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a TSA.
const MAX_RESPONSE: u64 = 1 << 20;
/// Failures in a row after which a run stops asking its TSA.
const MAX_FAILURES: u32 = 3;

/// Why no token was had.
#[derive(Debug, thiserror::Error)]
pub enum TsaError {
    /// The checkpoint is not a signed note.
    #[error("the checkpoint is not a signed note: {0}")]
    Checkpoint(String),
    /// The request did not reach the TSA or its answer could not be read.
    #[error("{0}")]
    Http(String),
    /// The TSA answered something else than a token for this request.
    #[error("{0}")]
    Response(String),
    /// The token could not be written.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Asks the TSA at `url` for a token over the body of `checkpoint_text`; returns the token
/// (DER `ContentInfo`), its imprint and nonce checked against the request.
pub fn request(url: &str, checkpoint_text: &str) -> Result<Vec<u8>, TsaError> {
    let body = timestamp::stamped_body(checkpoint_text).map_err(TsaError::Checkpoint)?;
    let imprint = timestamp::imprint(body.as_bytes());
    // A positive INTEGER of 63 random bits, minimally encoded.
    let mut nonce_bytes = [0u8; 9];
    rand::Rng::fill(&mut rand::thread_rng(), &mut nonce_bytes[1..]);
    nonce_bytes[1] |= 0x80;
    let nonce = Int::new(&nonce_bytes).map_err(|e| TsaError::Response(e.to_string()))?;
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifier {
                oid: ID_SHA256,
                parameters: Some(Any::from(der::asn1::AnyRef::NULL)),
            },
            hashed_message: OctetString::new(imprint).expect("32 bytes"),
        },
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    };
    let der = req
        .to_der()
        .map_err(|e| TsaError::Response(format!("cannot encode the request: {e}")))?;

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/timestamp-query")
        .send(&der[..])
        .map_err(|e| TsaError::Http(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(TsaError::Http(format!("HTTP status {status}")));
    }
    let answer = resp
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE)
        .read_to_vec()
        .map_err(|e| TsaError::Http(format!("cannot read the answer: {e}")))?;
    token_of(&answer, &imprint, &nonce)
}

/// The token of a `TimeStampResp`, checked to answer the request.
fn token_of(answer: &[u8], imprint: &[u8; 32], nonce: &Int) -> Result<Vec<u8>, TsaError> {
    let resp = TimeStampResp::from_der(answer)
        .map_err(|e| TsaError::Response(format!("not a time-stamp response: {e}")))?;
    let status = resp.status.status as u8;
    if status > 1 {
        let text = resp
            .status
            .status_string
            .as_ref()
            .map(|t| t.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("; "))
            .unwrap_or_default();
        return Err(TsaError::Response(format!(
            "the TSA refused the request (status {status}{})",
            if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            }
        )));
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| TsaError::Response("the TSA granted but sent no token".into()))?
        .to_der()
        .map_err(|e| TsaError::Response(e.to_string()))?;
    let tst = timestamp::tst_info(&token).map_err(|e| TsaError::Response(e.to_string()))?;
    if tst.message_imprint.hash_algorithm.oid != ID_SHA256
        || tst.message_imprint.hashed_message.as_bytes() != imprint
    {
        return Err(TsaError::Response(
            "the token stamps another imprint than the one asked for".into(),
        ));
    }
    if tst.nonce.as_ref() != Some(nonce) {
        return Err(TsaError::Response(
            "the token's nonce is not the request's (a replayed or foreign answer)".into(),
        ));
    }
    Ok(token)
}

/// Where the token of checkpoint `<size>.txt` in the journal's history is kept.
fn kept_token_path(journal: &Path, size: u64) -> PathBuf {
    checkpoints::history_dir(journal).join(format!("{size}.tsr"))
}

/// Keeps `token` at `path` as a kept checkpoint is kept ([`checkpoints::write_once`]): never
/// replacing a file there.
fn keep_token(path: &Path, token: &[u8]) -> io::Result<()> {
    checkpoints::write_once(path, token).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => io::Error::new(
            e.kind(),
            format!("{} already exists; it is kept as it is", path.display()),
        ),
        _ => io::Error::new(e.kind(), format!("{}: {e}", path.display())),
    })
}

/// Stamps the checkpoint of the journal's first `size` events (`text`, just written to
/// `checkpoint.txt`): keeps its token as `<size>.tsr` in the history (asking the TSA only if
/// none is kept yet) and copies it to `checkpoint.tsr`. On failure `checkpoint.tsr` is removed,
/// so that it never stands beside a checkpoint it does not stamp.
fn stamp_kept(journal: &Path, size: u64, text: &str, url: &str) -> Result<(), TsaError> {
    let kept = kept_token_path(journal, size);
    let latest = timestamp::token_path(&checkpoints::latest_path(journal));
    let result = (|| {
        let token = match fs::read(&kept) {
            Ok(token) => token,
            Err(_) => {
                let token = request(url, text)?;
                keep_token(&kept, &token)?;
                token
            }
        };
        crate::journal::write_atomically(&latest, &token)
            .map_err(|e| TsaError::Io(io::Error::other(format!("{}: {e}", latest.display()))))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&latest);
    }
    result
}

/// A run's time-stamping: [`stamp_kept`] after each checkpoint written, a failure turned into
/// a warning line, and no more requests after [`MAX_FAILURES`] failures in a row.
pub struct Stamper {
    url: String,
    failures: u32,
}

impl Stamper {
    /// Stamps with the TSA at `url`.
    pub fn new(url: &str) -> Stamper {
        Stamper {
            url: url.to_string(),
            failures: 0,
        }
    }

    /// Stamps the checkpoint of `size` events; returns the warning to show when it failed.
    pub fn stamp(&mut self, journal: &Path, size: u64, text: &str) -> Option<String> {
        if self.failures >= MAX_FAILURES {
            let _ = fs::remove_file(timestamp::token_path(&checkpoints::latest_path(journal)));
            return None;
        }
        match stamp_kept(journal, size, text, &self.url) {
            Ok(()) => {
                self.failures = 0;
                None
            }
            Err(e) => {
                self.failures += 1;
                let mut line = format!(
                    "WARNING: no trusted time for the checkpoint of {size} events: TSA {}: {e}; the run goes on",
                    self.url
                );
                if self.failures == MAX_FAILURES {
                    line.push_str(&format!(
                        "; {MAX_FAILURES} failures in a row: no more time-stamps are asked for in this run (`runledger checkpoint --tsa URL --out FILE` stamps one afterwards)"
                    ));
                }
                Some(line)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token made by OpenSSL over `fixtures/tsa/body` (see `fixtures/tsa/make.sh`).
    fn fixture(name: &str) -> Vec<u8> {
        fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fixtures/tsa")
                .join(name),
        )
        .unwrap()
    }

    /// `TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }`, framed
    /// here byte by byte so that the test does not share the code it checks.
    fn response(status: u8, token: Option<&[u8]>) -> Vec<u8> {
        let mut content = vec![0x30, 0x03, 0x02, 0x01, status];
        content.extend_from_slice(token.unwrap_or_default());
        let n = content.len();
        let mut out = match n {
            0..=127 => vec![0x30, n as u8],
            128..=255 => vec![0x30, 0x81, n as u8],
            _ => vec![0x30, 0x82, (n >> 8) as u8, n as u8],
        };
        out.extend(content);
        out
    }

    #[test]
    fn a_response_is_taken_only_when_granted_for_this_imprint_and_nonce() {
        let token = fixture("rsa.tsr");
        let tst = timestamp::tst_info(&token).unwrap();
        let nonce = tst.nonce.clone().expect("openssl ts -query sends a nonce");
        let imprint = timestamp::imprint(&fixture("body"));

        let granted = response(0, Some(&token));
        assert_eq!(token_of(&granted, &imprint, &nonce).unwrap(), token);
        let with_mods = response(1, Some(&token));
        assert_eq!(token_of(&with_mods, &imprint, &nonce).unwrap(), token);

        let e = token_of(&response(2, None), &imprint, &nonce).unwrap_err();
        assert!(
            e.to_string().contains("refused the request (status 2"),
            "{e}"
        );
        let e = token_of(&response(0, None), &imprint, &nonce).unwrap_err();
        assert!(e.to_string().contains("sent no token"), "{e}");
        let other = timestamp::imprint(b"another checkpoint\n");
        let e = token_of(&granted, &other, &nonce).unwrap_err();
        assert!(e.to_string().contains("another imprint"), "{e}");
        let e = token_of(&granted, &imprint, &Int::new(&[0x01, 0x02]).unwrap()).unwrap_err();
        assert!(e.to_string().contains("nonce"), "{e}");
        let e = token_of(b"<html>busy</html>", &imprint, &nonce).unwrap_err();
        assert!(e.to_string().contains("not a time-stamp response"), "{e}");
    }

    #[test]
    fn a_kept_token_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h").join("12.tsr");
        keep_token(&path, b"first").unwrap();
        let e = keep_token(&path, b"second").unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(fs::read(&path).unwrap(), b"first");
        assert_eq!(fs::read_dir(dir.path().join("h")).unwrap().count(), 1);
    }
}
