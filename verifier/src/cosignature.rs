//! C2SP `tlog-cosignature` v1 for Ed25519: a witness's timestamped signature on a
//! checkpoint, as one signed-note signature line.
//!
//! The line is `— <witness name> base64(key ID || timestamp || signature)`: the key ID is
//! the first 4 bytes of `SHA-256(name || 0x0A || 0x04 || public key)`, the timestamp 8 bytes
//! big-endian (UNIX seconds, at most 2^63 - 1), the signature 64 bytes of Ed25519 over
//! `"cosignature/v1\ntime <timestamp>\n"` followed by the whole checkpoint body (every line
//! of the note's text, extension lines included, final newline included). The witness key is
//! written as a C2SP vkey of type 0x04: `name+hash+base64(0x04 || public key)`.
//!
//! This module owns that format only: which witnesses count, and how many, is the policy's
//! ([`crate::witness_policy`]). It never treats a line as a cosignature unless its name and key
//! ID are the witness's and the signature verifies with `verify_strict`, and it never panics on
//! untrusted input.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::note::{self, excerpt, Note, NoteError, NoteSignature};
use crate::signing::hex;

/// The C2SP signature type byte of an Ed25519 `cosignature/v1` key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The largest timestamp a cosignature may carry (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// What starts every signature line: U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Bytes after the key ID: 8 of timestamp and 64 of signature.
const TIMESTAMPED_SIGNATURE_LEN: usize = 8 + 64;

/// Why a cosignature or a witness key could not be made, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    /// The witness name cannot be a signed-note key name.
    #[error("invalid witness name {name:?}: expected a non-empty name without spaces, '+' or control characters")]
    InvalidName {
        /// The name (truncated if long).
        name: String,
    },
    /// The body to cosign is not a note text.
    #[error("invalid checkpoint body: {reason}")]
    InvalidBody {
        /// What was expected and what was found.
        reason: String,
    },
    /// The timestamp is above 2^63 - 1.
    #[error("cosignature timestamp {found} is too large: expected at most {MAX_TIMESTAMP}")]
    TimestampTooLarge {
        /// The timestamp found.
        found: u64,
    },
    /// A signature line is not a signed-note signature line.
    #[error("malformed cosignature line: {0}")]
    MalformedLine(String),
    /// The line is another key's (other name or other key ID).
    #[error("cosignature line is by {found}, not by witness {expected}")]
    OtherKey {
        /// The witness expected, as `name+keyid`.
        expected: String,
        /// The line's key, as `name+keyid`.
        found: String,
    },
    /// The line is the witness's but not 76 bytes long (key ID, timestamp, signature).
    #[error("cosignature by {key} has the wrong length: expected 8 bytes of timestamp and 64 of signature after the key ID, found {found} bytes")]
    Length {
        /// The witness, as `name+keyid`.
        key: String,
        /// Bytes found after the key ID.
        found: usize,
    },
    /// The signature does not verify over this body and timestamp.
    #[error("cosignature by {key} does not verify: expected an ed25519 signature of cosignature/v1, time {time} and the checkpoint, found another body, time or signature")]
    BadSignature {
        /// The witness, as `name+keyid`.
        key: String,
        /// The timestamp the line carries.
        time: u64,
    },
    /// No signature line of the note is the witness's.
    #[error("no cosignature by witness {key}")]
    NotFound {
        /// The witness, as `name+keyid`.
        key: String,
    },
    /// A vkey is not `name+hash+base64(0x04 || 32-byte key)`.
    #[error("malformed witness vkey: {reason}")]
    MalformedKey {
        /// What was expected and what was found.
        reason: String,
    },
}

/// A witness as a verifier knows it: the name its cosignatures go by and its public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    /// The key name of its signature lines (C2SP: a schema-less URL, say `witness.example/w1`).
    pub name: String,
    /// Its Ed25519 public key.
    pub key: VerifyingKey,
}

impl WitnessKey {
    /// The 4-byte key ID its cosignature lines start with.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, &self.key)
    }

    /// The C2SP vkey: `name+hex key ID+base64(0x04 || public key)`.
    pub fn vkey(&self) -> String {
        note::encode_key(ALG_COSIGNATURE_V1, &self.name, &self.key)
    }

    /// Reads a C2SP vkey of type 0x04 (one trailing newline accepted), checking that its key
    /// hash is the hash of its name and key and that the key is a valid point not of small
    /// order.
    pub fn from_vkey(text: &str) -> Result<WitnessKey, CosignatureError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let malformed = |reason: String| CosignatureError::MalformedKey { reason };
        let from_note = |e: NoteError| match e {
            NoteError::MalformedKey { reason } => malformed(reason),
            NoteError::UnknownKeyAlgorithm { found } => malformed(format!(
                "expected key type 0x04 (Ed25519 cosignature/v1), found 0x{found:02x}{}",
                if found == 0x01 {
                    " (a checkpoint signer's key, not a witness's)"
                } else {
                    ""
                }
            )),
            e => malformed(e.to_string()),
        };
        let (name, hash, encoded) = note::split_key(text).map_err(from_note)?;
        let mut blob = [0u8; 33];
        note::decode_key_blob(encoded, &mut blob, ALG_COSIGNATURE_V1).map_err(from_note)?;
        let mut point = [0u8; 32];
        point.copy_from_slice(&blob[1..]);
        let key = VerifyingKey::from_bytes(&point).map_err(|_| {
            malformed(
                "expected an Ed25519 public key, found bytes that are not a curve point".into(),
            )
        })?;
        if key.is_weak() {
            return Err(malformed(
                "expected a key of large order, found one of small order".into(),
            ));
        }
        note::check_hash(ALG_COSIGNATURE_V1, name, &key, hash).map_err(from_note)?;
        Ok(WitnessKey {
            name: name.to_owned(),
            key,
        })
    }

    /// `name+keyid`, for messages.
    fn label(&self) -> String {
        format!("{}+{}", excerpt(&self.name), hex(&self.key_id()))
    }
}

/// The `cosignature/v1` key ID: the first 4 bytes of
/// `SHA-256(name || 0x0A || 0x04 || 32-byte public key)`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    note::key_hash(ALG_COSIGNATURE_V1, name, key)
}

/// The exact bytes a witness signs: `cosignature/v1`, `time <timestamp>` and the note body.
pub fn signed_message(body: &str, time: u64) -> String {
    format!("cosignature/v1\ntime {time}\n{body}")
}

/// Cosigns `body` (a checkpoint note's text, final newline included) as witness `name` at
/// UNIX time `time`, and returns one signature line ending in a newline.
pub fn cosign(
    body: &str,
    name: &str,
    key: &SigningKey,
    time: u64,
) -> Result<String, CosignatureError> {
    if !note::is_valid_key_name(name) {
        return Err(CosignatureError::InvalidName {
            name: excerpt(name),
        });
    }
    if time > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampTooLarge { found: time });
    }
    check_body(body)?;
    let signature = key.sign(signed_message(body, time).as_bytes());
    let mut blob = Vec::with_capacity(4 + TIMESTAMPED_SIGNATURE_LEN);
    blob.extend_from_slice(&key_id(name, &key.verifying_key()));
    blob.extend_from_slice(&time.to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    Ok(format!(
        "{SIGNATURE_PREFIX}{name} {}\n",
        STANDARD.encode(blob)
    ))
}

/// Verifies one parsed signature line as `witness`'s cosignature of `body`; returns its
/// timestamp. A line of another name or key ID is [`CosignatureError::OtherKey`].
pub fn verify(
    body: &str,
    sig: &NoteSignature,
    witness: &WitnessKey,
) -> Result<u64, CosignatureError> {
    let id = witness.key_id();
    if sig.name != witness.name || sig.key_hash != id {
        return Err(CosignatureError::OtherKey {
            expected: witness.label(),
            found: format!("{}+{}", excerpt(&sig.name), hex(&sig.key_hash)),
        });
    }
    if sig.signature.len() != TIMESTAMPED_SIGNATURE_LEN {
        return Err(CosignatureError::Length {
            key: witness.label(),
            found: sig.signature.len(),
        });
    }
    let mut time_bytes = [0u8; 8];
    time_bytes.copy_from_slice(&sig.signature[..8]);
    let time = u64::from_be_bytes(time_bytes);
    if time > MAX_TIMESTAMP {
        return Err(CosignatureError::TimestampTooLarge { found: time });
    }
    let mut sig_bytes = [0u8; 64];
    sig_bytes.copy_from_slice(&sig.signature[8..]);
    witness
        .key
        .verify_strict(
            signed_message(body, time).as_bytes(),
            &Signature::from_bytes(&sig_bytes),
        )
        .map_err(|_| CosignatureError::BadSignature {
            key: witness.label(),
            time,
        })?;
    Ok(time)
}

/// Verifies one signature line as text (`— name base64`, with or without its newline), as a
/// witness returns it.
pub fn verify_line(body: &str, line: &str, witness: &WitnessKey) -> Result<u64, CosignatureError> {
    verify(body, &parse_line(line)?, witness)
}

/// Verifies `witness`'s cosignature among a note's signature lines; returns its timestamp (the
/// latest, if it cosigned more than once). Lines of other keys are ignored, as C2SP requires;
/// a line with the witness's name and key ID that does not verify rejects the note.
pub fn verify_note(note: &Note, witness: &WitnessKey) -> Result<u64, CosignatureError> {
    let id = witness.key_id();
    let mut latest = None;
    for sig in note
        .signatures
        .iter()
        .filter(|s| s.name == witness.name && s.key_hash == id)
    {
        let time = verify(&note.body, sig, witness)?;
        latest = latest.max(Some(time));
    }
    latest.ok_or_else(|| CosignatureError::NotFound {
        key: witness.label(),
    })
}

/// Parses the signature lines a witness returns (each `— name base64` ending in a newline);
/// nothing is verified.
pub fn parse_lines(text: &str) -> Result<Vec<NoteSignature>, CosignatureError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(CosignatureError::MalformedLine(
            "expected one or more signature lines, each ending in a newline".into(),
        ));
    }
    text.strip_suffix('\n')
        .unwrap_or(text)
        .split('\n')
        .map(parse_line)
        .collect()
}

/// Parses one signature line, reusing the signed-note parser on a note made of it.
fn parse_line(line: &str) -> Result<NoteSignature, CosignatureError> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    if line.contains('\n') {
        return Err(CosignatureError::MalformedLine(
            "expected one line, found several".into(),
        ));
    }
    let parsed = note::parse(&format!("x\n\n{line}\n"))
        .map_err(|e| CosignatureError::MalformedLine(e.to_string()))?;
    parsed
        .signatures
        .into_iter()
        .next()
        .ok_or_else(|| CosignatureError::MalformedLine("expected a signature line".into()))
}

fn check_body(body: &str) -> Result<(), CosignatureError> {
    let invalid = |reason: &str| CosignatureError::InvalidBody {
        reason: reason.into(),
    };
    if body.is_empty() || !body.ends_with('\n') {
        return Err(invalid("expected a non-empty text ending in a newline"));
    }
    if body.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(invalid("expected no control character other than newline"));
    }
    if body.contains("\n\n") || body.starts_with('\n') {
        return Err(invalid("expected no blank line"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    // A checkpoint of the Sigsum test log test.sigsum.org/barreleye and two cosignatures of it
    // made by two independent witnesses (litewitness at navigli.sunlight.geomys.org/dev, and
    // tillitis.se/test-witness-1), as a Sigsum proof carries them (sigsum-rs test data;
    // witness keys from sigsum-go's sigsum-test2-2025 policy). Sigsum's origin is
    // `sigsum.org/v1/tree/<hex SHA-256 of the log key>`. None of these bytes were made here.
    const SIGSUM_LOG_KEY: &str = "4644af2abd40f4895a003bca350f9d5912ab301a49c77f13e5b6d905c20a5fe6";
    const SIGSUM_BODY: &str = "sigsum.org/v1/tree/4e89cc51651f0d95f3c6127c15e1a42e3ddf7046c5b17b752689c402e773bb4d\n4898\nWiIhrDvigdJAOrtE+baosbGy25flg40Cmi3xnbXnCL0=\n";
    const SIGSUM_LOG_SIG: &str = "67de0c13f8ae8a13ca2ad2aaab35326ba55186d240cbb48f4872a79847a41b5d2b43820dc8f4ae43030d432bbf753c365ba7a248fc12ea7be53f05bb72829409";
    const SIGSUM_TIME: u64 = 1756906440;
    /// (policy name, public key, signature), hex.
    const SIGSUM_WITNESSES: [(&str, &str, &str); 2] = [
        (
            "navigli.sunlight.geomys.org/dev",
            "b20196b937a30d19f0cb7dfa2d5388bc8ddde9cc3df4c24fcf63db27a573d3f2",
            "c4d48cb9eec541156e89ec8a7df7194da48130ab4e73a7a2b94ce0bc3be2dfc318e9dd5439c8793c8b089bed18168a89cf30b2706e6df9e664e6ad3ac09fe803",
        ),
        (
            "tillitis.se/test-witness-1",
            "5c35281928e9da396beede5f22a2251a589e6ac6de52a4de85de8634ffccaf6d",
            "1650efc6578514cd975a6a7f69bf4e04b8db9c6785126a4d78cc060c0abf0aee1b1611d3a531eb97da85827518b443739a8f75e0ec63f0034208304bb4dd2402",
        ),
    ];

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn vk(hex_key: &str) -> VerifyingKey {
        VerifyingKey::from_bytes(&unhex(hex_key).try_into().unwrap()).unwrap()
    }

    /// The signature line a Sigsum proof's `cosignature=` line stands for, under `name`
    /// (Ed25519 cosignatures do not sign the name: any name with its key ID fits).
    fn sigsum_line(name: &str, key: &VerifyingKey, sig_hex: &str, time: u64) -> String {
        let mut blob = key_id(name, key).to_vec();
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(&unhex(sig_hex));
        format!("\u{2014} {name} {}\n", STANDARD.encode(blob))
    }

    #[test]
    fn known_answer_sigsum_witnesses_cosignatures_verify() {
        // The root line is the proof's hex root_hash in base64: check it independently.
        assert_eq!(
            STANDARD.encode(unhex(
                "5a2221ac3be281d2403abb44f9b6a8b1b1b2db97e5838d029a2df19db5e708bd"
            )),
            SIGSUM_BODY.lines().nth(2).unwrap()
        );
        // The log's own signature is a plain signed-note signature of the same body.
        let log = vk(SIGSUM_LOG_KEY);
        let sig: [u8; 64] = unhex(SIGSUM_LOG_SIG).try_into().unwrap();
        log.verify_strict(SIGSUM_BODY.as_bytes(), &Signature::from_bytes(&sig))
            .unwrap();
        for (name, key_hex, sig_hex) in SIGSUM_WITNESSES {
            let witness = WitnessKey {
                name: name.into(),
                key: vk(key_hex),
            };
            let line = sigsum_line(name, &witness.key, sig_hex, SIGSUM_TIME);
            assert_eq!(verify_line(SIGSUM_BODY, &line, &witness), Ok(SIGSUM_TIME));
            // One second off, one body byte off, the other witness's key: all fail.
            let late = sigsum_line(name, &witness.key, sig_hex, SIGSUM_TIME + 1);
            assert!(matches!(
                verify_line(SIGSUM_BODY, &late, &witness),
                Err(CosignatureError::BadSignature { .. })
            ));
            let other_body = SIGSUM_BODY.replace("4898", "4899");
            assert!(verify_line(&other_body, &line, &witness).is_err());
            // A plain signed-note signature (no timestamp) under the witness's key ID is not
            // a cosignature.
            let plain = NoteSignature {
                name: name.into(),
                key_hash: witness.key_id(),
                signature: unhex(SIGSUM_LOG_SIG),
            };
            assert!(matches!(
                verify(SIGSUM_BODY, &plain, &witness),
                Err(CosignatureError::Length { found: 64, .. })
            ));
        }
        let (a, b) = (SIGSUM_WITNESSES[0], SIGSUM_WITNESSES[1]);
        let swapped = WitnessKey {
            name: a.0.into(),
            key: vk(b.1),
        };
        let line = sigsum_line(a.0, &vk(a.1), a.2, SIGSUM_TIME);
        assert!(matches!(
            verify_line(SIGSUM_BODY, &line, &swapped),
            Err(CosignatureError::OtherKey { .. })
        ));
    }

    #[test]
    fn spec_example_line_frames_key_id_and_time() {
        // c2sp.org/tlog-cosignature's example: no key is published for it, so only the framing
        // is checked: key ID, the time its signed-message example shows, 64 signature bytes.
        let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
        let sig = parse_line(line).unwrap();
        assert_eq!(sig.name, "witness.example.com/w1");
        assert_eq!(sig.key_hash, [0x8d, 0x66, 0xcf, 0x3f]);
        assert_eq!(sig.signature.len(), 72);
        assert_eq!(
            u64::from_be_bytes(sig.signature[..8].try_into().unwrap()),
            1679315147
        );
        assert_eq!(
            signed_message("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", 1679315147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn key_id_is_sha256_of_name_newline_0x04_key() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        let mut input = b"witness.example/w1\n\x04".to_vec();
        input.extend_from_slice(key.as_bytes());
        let digest = Sha256::digest(&input);
        assert_eq!(key_id("witness.example/w1", &key), digest[..4]);
        // Not the signed-note 0x01 key hash of the same name and key.
        assert_ne!(
            key_id("witness.example/w1", &key),
            note::ed25519_key_hash("witness.example/w1", &key)
        );
    }

    #[test]
    fn cosign_round_trips_and_every_alteration_fails() {
        let sk = SigningKey::from_bytes(&[3; 32]);
        let w = WitnessKey {
            name: "witness.example/w1".into(),
            key: sk.verifying_key(),
        };
        let body = "example.com/log\n5\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\next\n";
        let line = cosign(body, &w.name, &sk, 1_700_000_000).unwrap();
        assert!(line.starts_with("\u{2014} witness.example/w1 ") && line.ends_with('\n'));
        assert_eq!(verify_line(body, &line, &w), Ok(1_700_000_000));
        // The extension line is signed too.
        assert!(verify_line(&body.replace("ext", "exu"), &line, &w).is_err());
        // Flip every bit of the blob.
        let sig = parse_line(&line).unwrap();
        for i in 0..sig.signature.len() {
            let mut bad = sig.clone();
            bad.signature[i] ^= 1;
            assert!(verify(body, &bad, &w).is_err(), "byte {i}");
        }
        // A note holding the log's signature, another witness's and this one's.
        let other = SigningKey::from_bytes(&[4; 32]);
        let signed = note::sign(body, "example.com/log", &other).unwrap();
        let full = format!(
            "{signed}{}{line}",
            cosign(body, "other.example/w2", &other, 5).unwrap()
        );
        let parsed = note::parse(&full).unwrap();
        assert_eq!(verify_note(&parsed, &w), Ok(1_700_000_000));
        let absent = WitnessKey {
            name: "nobody.example".into(),
            key: other.verifying_key(),
        };
        assert!(matches!(
            verify_note(&parsed, &absent),
            Err(CosignatureError::NotFound { .. })
        ));
        assert_eq!(parse_lines(&line).unwrap().len(), 1);
        assert!(parse_lines("").is_err());
        assert!(parse_lines("\u{2014} a AAAA").is_err());
    }

    #[test]
    fn cosign_rejects_bad_input() {
        let sk = SigningKey::from_bytes(&[3; 32]);
        assert!(cosign("a\n", "has space", &sk, 1).is_err());
        assert!(cosign("a\n", "w", &sk, MAX_TIMESTAMP + 1).is_err());
        assert!(cosign("no newline", "w", &sk, 1).is_err());
        assert!(cosign("a\n\nb\n", "w", &sk, 1).is_err());
        assert!(cosign("a\tb\n", "w", &sk, 1).is_err());
        assert!(cosign("a\n", "w", &sk, MAX_TIMESTAMP).is_ok());
    }

    #[test]
    fn vkey_round_trips_and_rejects_manglings() {
        let sk = SigningKey::from_bytes(&[5; 32]);
        let w = WitnessKey {
            name: "witness.example/w1".into(),
            key: sk.verifying_key(),
        };
        let vkey = w.vkey();
        assert_eq!(WitnessKey::from_vkey(&vkey), Ok(w.clone()));
        assert_eq!(WitnessKey::from_vkey(&format!("{vkey}\n")), Ok(w.clone()));
        // The vkey's type byte is 0x04: its base64 starts with "B".
        assert!(vkey.split('+').nth(2).unwrap().starts_with('B'));
        let signer_vkey = note::encode_verifier_key(&w.name, &w.key);
        let err = WitnessKey::from_vkey(&signer_vkey).unwrap_err().to_string();
        assert!(err.contains("0x04"), "{err}");
        let renamed = vkey.replacen("witness.example/w1", "witness.example/w2", 1);
        assert!(WitnessKey::from_vkey(&renamed).is_err());
        assert!(WitnessKey::from_vkey("w+00000000").is_err());
        assert!(WitnessKey::from_vkey("w+0000000+BAAA").is_err());
        assert!(WitnessKey::from_vkey(&vkey[..vkey.len() - 4]).is_err());
    }
}
