//! The tlog-witness client: `POST <url>/add-checkpoint` with the old size, a consistency
//! proof and the signed checkpoint, and the witness's answer as a typed outcome.
//!
//! It only carries the exchange: whether the returned lines are valid cosignatures by a
//! witness the caller trusts is for the caller to check with
//! `runledger_verifier::cosignature`. It never retries by itself (a 409 is the caller's to
//! resolve with a proof from the witness's size) and never follows a redirect.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use runledger_verifier::merkle::Hash;

/// The most consistency proof lines a request may carry (C2SP tlog-witness).
pub const MAX_PROOF_LINES: usize = 63;

/// The largest response body read from a witness (64 KiB: a few signature lines).
const MAX_RESPONSE_BYTES: u64 = 64 * 1024;

/// Why a witness did not cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddError {
    /// 409: the witness holds another size for this log (or the same size with another
    /// root). Re-send with `old_size = size` and a proof from it.
    #[error(
        "witness {url} holds size {size} of this log: send a consistency proof from that size"
    )]
    Conflict {
        /// The witness.
        url: String,
        /// The size the witness recorded.
        size: u64,
    },
    /// The witness refused the checkpoint (403, 404, 422, 400 or another status).
    #[error("witness {url} refused the checkpoint with HTTP {status}: {reason}")]
    Refused {
        /// The witness.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What the status means, and the witness's own text.
        reason: String,
    },
    /// The witness could not be reached, or did not answer in time.
    #[error("witness {url} is unreachable: {reason}")]
    Unreachable {
        /// The witness.
        url: String,
        /// The network error.
        reason: String,
    },
    /// The witness answered something that is not the protocol.
    #[error("witness {url} answered outside the protocol: {reason}")]
    BadResponse {
        /// The witness.
        url: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// The request cannot be sent as asked.
    #[error("cannot ask witness {url}: {reason}")]
    BadRequest {
        /// The witness.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// The body of an add-checkpoint request: `old <N>`, one base64 hash a line, an empty line,
/// the signed checkpoint note.
pub fn request_body(old_size: u64, proof: &[Hash], signed_checkpoint: &str) -> String {
    let mut body = format!("old {old_size}\n");
    for hash in proof {
        body.push_str(&STANDARD.encode(hash));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(signed_checkpoint);
    body
}

/// What a refusal status means, in the words of the tlog-witness protocol.
fn meaning(status: u16) -> &'static str {
    match status {
        400 => "malformed request (or an old size above the checkpoint's)",
        403 => {
            "no signature on the checkpoint verifies with a key the witness trusts for its origin"
        }
        404 => "the witness does not know the checkpoint's origin (log)",
        422 => "the consistency proof from the witness's recorded checkpoint does not verify",
        _ => "not a tlog-witness status",
    }
}

/// Asks the witness at `url` (its submission prefix, `http://` or `https://`) to cosign
/// `signed_checkpoint`, proving it consistent with the witness's recorded size `old_size`
/// (0 for a log the witness has not seen). Returns the signature lines of the 200 answer.
pub fn add_checkpoint(
    url: &str,
    old_size: u64,
    proof: &[Hash],
    signed_checkpoint: &str,
    timeout: Duration,
) -> Result<String, AddError> {
    let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
    if proof.len() > MAX_PROOF_LINES {
        return Err(AddError::BadRequest {
            url: url.to_string(),
            reason: format!(
                "a consistency proof of {} hashes: the protocol allows at most {MAX_PROOF_LINES}",
                proof.len()
            ),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .build()
        .into();
    let body = request_body(old_size, proof, signed_checkpoint);
    let mut response = agent
        .post(&endpoint)
        .content_type("text/plain; charset=utf-8")
        .send(body.as_bytes())
        .map_err(|e| AddError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_BYTES)
        .read_to_string()
        .map_err(|e| AddError::Unreachable {
            url: url.to_string(),
            reason: format!("reading the answer: {e}"),
        })?;
    let bad = |reason: String| AddError::BadResponse {
        url: url.to_string(),
        reason,
    };
    match status {
        200 => {
            let lines_ok = !text.is_empty()
                && text.ends_with('\n')
                && text.lines().all(|l| l.starts_with("\u{2014} "));
            if !lines_ok {
                return Err(bad(format!(
                    "expected signature lines after HTTP 200, found {:?}",
                    excerpt(&text)
                )));
            }
            Ok(text)
        }
        409 => {
            let media = content_type.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("text/x.tlog.size") {
                return Err(bad(format!(
                    "expected Content-Type text/x.tlog.size with HTTP 409, found {content_type:?}"
                )));
            }
            let size = text
                .strip_suffix('\n')
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .filter(|s| *s == "0" || !s.starts_with('0'))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    bad(format!(
                        "expected a decimal size and a newline with HTTP 409, found {:?}",
                        excerpt(&text)
                    ))
                })?;
            Err(AddError::Conflict {
                url: url.to_string(),
                size,
            })
        }
        _ => {
            let said = excerpt(text.trim());
            Err(AddError::Refused {
                url: url.to_string(),
                status,
                reason: if said.is_empty() {
                    meaning(status).to_string()
                } else {
                    format!("{} (witness: {said})", meaning(status))
                },
            })
        }
    }
}

/// At most 200 characters of an untrusted answer, on one line and without terminal controls.
fn excerpt(s: &str) -> String {
    let one_line: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > 200 {
        format!("{one_line}…")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_is_the_wire_format() {
        let body = request_body(
            3,
            &[[0u8; 32], [0xff; 32]],
            "o\n5\nroot\n\n\u{2014} k sig\n",
        );
        assert_eq!(
            body,
            "old 3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n//////////////////////////////////////////8=\n\no\n5\nroot\n\n\u{2014} k sig\n"
        );
        assert_eq!(request_body(0, &[], "n\n"), "old 0\n\nn\n");
    }

    #[test]
    fn too_long_proof_is_refused_before_sending() {
        let proof = vec![[0u8; 32]; MAX_PROOF_LINES + 1];
        let err = add_checkpoint(
            "http://127.0.0.1:9",
            1,
            &proof,
            "n\n",
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(err, AddError::BadRequest { .. }), "{err}");
    }

    #[test]
    fn closed_port_is_unreachable() {
        // Bind then drop a listener: nothing listens on that port afterwards.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = add_checkpoint(
            &format!("http://127.0.0.1:{port}"),
            0,
            &[],
            "n\n",
            Duration::from_secs(2),
        )
        .unwrap_err();
        assert!(matches!(err, AddError::Unreachable { .. }), "{err}");
    }
}
