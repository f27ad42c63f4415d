//! C2SP `tlog-checkpoint`: the body of a signed tree head (origin, tree size,
//! base64 root hash, optional extension lines), its exact text encoding and
//! strict parsing, and signing it as a C2SP signed note.
//!
//! This module owns the checkpoint text only. It must never panic on untrusted
//! input, never accept a body that does not re-encode to the same bytes (no
//! leading zeros, no lenient base64, no empty lines), and never trust a
//! checkpoint by itself: a [`SignedCheckpoint`] is only parsed; whether a
//! trusted key signed it is [`SignedCheckpoint::verify`]'s answer, and whether
//! its tree matches a journal is the Merkle proofs' ([`crate::merkle`]).

use crate::merkle::Hash;
use crate::note::{self, Note, NoteError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};

/// Why a checkpoint could not be parsed, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note around the checkpoint is malformed or does not verify.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The body's last line has no newline.
    #[error(
        "checkpoint body does not end with a newline: expected every line to end in a newline"
    )]
    MissingFinalNewline,
    /// The body has fewer than three lines.
    #[error(
        "checkpoint body has {found} lines: expected at least 3 (origin, tree size, root hash)"
    )]
    TooFewLines {
        /// Number of lines found.
        found: usize,
    },
    /// A line of the body is empty.
    #[error("checkpoint line {line} is empty: expected only non-empty lines")]
    EmptyLine {
        /// 1-based line number.
        line: usize,
    },
    /// A line of the body holds an ASCII control character.
    #[error("checkpoint line {line} contains control character 0x{byte:02x}: expected none")]
    ControlCharacter {
        /// 1-based line number.
        line: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The tree size line is not a canonical decimal number.
    #[error("invalid tree size {found:?}: expected ascii decimal digits without leading zeros")]
    InvalidSize {
        /// The line found (truncated if long).
        found: String,
    },
    /// The tree size does not fit in 64 bits.
    #[error("tree size {found} is too large: expected at most {}", u64::MAX)]
    SizeOverflow {
        /// The line found (truncated if long).
        found: String,
    },
    /// The root hash line is not standard padded base64.
    #[error("invalid root hash {found:?}: expected standard padded base64 of 32 bytes")]
    InvalidRootBase64 {
        /// The line found (truncated if long).
        found: String,
    },
    /// The root hash is not 32 bytes long.
    #[error("root hash has the wrong length: expected 32 bytes, found {found}")]
    RootLength {
        /// Number of bytes decoded.
        found: usize,
    },
    /// The origin cannot be written as a checkpoint line.
    #[error("invalid origin {found:?}: expected a non-empty line without newlines or control characters")]
    InvalidOrigin {
        /// The origin (truncated if long).
        found: String,
    },
    /// An extension line cannot be written as a checkpoint line.
    #[error("invalid extension line {found:?}: expected a non-empty line without newlines or control characters")]
    InvalidExtension {
        /// The extension (truncated if long).
        found: String,
    },
}

/// A transparency log checkpoint: the tree head of a log at a given size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity; for runledger `runledger/<journal id>`.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 9162 Merkle tree hash of those leaves.
    pub root: Hash,
    /// Optional opaque extension lines, each non-empty (the spec advises
    /// against using them).
    pub extensions: Vec<String>,
}

/// A parsed signed checkpoint with its note, not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint parsed from the note's text.
    pub checkpoint: Checkpoint,
    /// The note: its text is [`Checkpoint::body`] of `checkpoint`.
    pub note: Note,
}

/// At most 64 characters of `s`, for error messages about untrusted text.
fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// Whether `line` can be one line of a checkpoint: non-empty, no control
/// character (newline included).
fn is_valid_line(line: &str) -> bool {
    !line.is_empty() && !line.bytes().any(|b| b < 0x20)
}

impl Checkpoint {
    /// The note text: origin, decimal size, standard padded base64 root and
    /// each extension, every line ending in `\n`.
    ///
    /// The text is only a valid checkpoint if the origin and extensions are
    /// valid lines; [`Checkpoint::sign`] checks that.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint body strictly: at least three non-empty lines each
    /// ending in `\n`, no control characters, a canonical decimal size and a
    /// canonical standard padded base64 root of 32 bytes. The result's
    /// [`Checkpoint::body`] is exactly `body`.
    pub fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
        let content = body
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let lines: Vec<&str> = content.split('\n').collect();
        if lines.len() < 3 {
            return Err(CheckpointError::TooFewLines { found: lines.len() });
        }
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyLine { line: i + 1 });
            }
            if let Some(&byte) = line.as_bytes().iter().find(|&&b| b < 0x20) {
                return Err(CheckpointError::ControlCharacter { line: i + 1, byte });
            }
        }
        Ok(Checkpoint {
            origin: lines[0].to_owned(),
            size: parse_size(lines[1])?,
            root: parse_root(lines[2])?,
            extensions: lines[3..].iter().map(|l| (*l).to_owned()).collect(),
        })
    }

    /// Signs the checkpoint with `key` under the key name `name` and returns the signed note
    /// text. runledger signs under the key's own name (its trusted-keys name), not the origin,
    /// so that a verifier finds the key by the name it already trusts.
    pub fn sign(&self, name: &str, key: &SigningKey) -> Result<String, CheckpointError> {
        self.sign_with(&crate::keys::PrivateKey {
            name: name.to_owned(),
            key: key.clone(),
        })
    }

    /// [`Checkpoint::sign`] with any signer, under the signer's name.
    pub fn sign_with(&self, signer: &dyn crate::signer::Signer) -> Result<String, CheckpointError> {
        if !is_valid_line(&self.origin) {
            return Err(CheckpointError::InvalidOrigin {
                found: excerpt(&self.origin),
            });
        }
        if let Some(ext) = self.extensions.iter().find(|e| !is_valid_line(e)) {
            return Err(CheckpointError::InvalidExtension {
                found: excerpt(ext),
            });
        }
        Ok(note::sign_with(&self.body(), signer)?)
    }
}

/// Parses a canonical decimal tree size.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(CheckpointError::InvalidSize {
            found: excerpt(line),
        });
    }
    line.parse::<u64>()
        .map_err(|_| CheckpointError::SizeOverflow {
            found: excerpt(line),
        })
}

/// Parses a standard padded base64 root hash of 32 bytes.
fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let bytes = STANDARD
        .decode(line)
        .map_err(|_| CheckpointError::InvalidRootBase64 {
            found: excerpt(line),
        })?;
    Hash::try_from(bytes.as_slice()).map_err(|_| CheckpointError::RootLength { found: bytes.len() })
}

impl SignedCheckpoint {
    /// Verifies the signature of key `name`/`key` on the checkpoint (see
    /// [`Note::verify`]). The caller decides whether `name` must equal the
    /// origin and whether the key is trusted.
    pub fn verify(&self, name: &str, key: &VerifyingKey) -> Result<(), CheckpointError> {
        Ok(self.note.verify(name, key)?)
    }
}

/// Parses a signed checkpoint: a signed note (see [`note::parse`]) whose text
/// is a checkpoint body (see [`Checkpoint::parse_body`]). Nothing is verified.
pub fn parse_signed(text: &str) -> Result<SignedCheckpoint, CheckpointError> {
    let note = note::parse(text)?;
    let checkpoint = Checkpoint::parse_body(&note.body)?;
    Ok(SignedCheckpoint { checkpoint, note })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{empty_root, leaf_hash, Frontier};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn sample(size: u64) -> Checkpoint {
        let mut f = Frontier::new();
        for i in 0..size {
            f.push(leaf_hash(&i.to_be_bytes()));
        }
        Checkpoint {
            origin: "runledger/0f6b2c1e-journal".into(),
            size,
            root: f.root(),
            extensions: vec![],
        }
    }

    #[test]
    fn c2sp_example_body_parses_and_re_encodes_exactly() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse_body(body).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20_852_163);
        assert_eq!(cp.root[..4], [0x0a, 0xc5, 0x18, 0x6a]);
        assert!(cp.extensions.is_empty());
        assert_eq!(cp.body(), body);
        // The spec's example as a whole note: it parses (the key is unknown).
        let text = format!("{body}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n");
        let signed = parse_signed(&text).unwrap();
        assert_eq!(signed.checkpoint, cp);
        assert_eq!(
            signed.note.signatures[0].name,
            "example.com/behind-the-sofa"
        );
        assert!(signed
            .verify("example.com/behind-the-sofa", &key(1).verifying_key())
            .is_err());
    }

    #[test]
    fn body_is_exact() {
        let cp = Checkpoint {
            origin: "runledger/j".into(),
            size: 0,
            root: empty_root(),
            extensions: vec!["ext one".into(), "— two".into()],
        };
        assert_eq!(
            cp.body(),
            "runledger/j\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\n— two\n"
        );
        assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let k = key(9);
        for size in [0u64, 1, 2, 7, 1000] {
            let mut cp = sample(size);
            if size == 7 {
                cp.extensions = vec!["an extension".into()];
            }
            let text = cp.sign(&cp.origin.clone(), &k).unwrap();
            assert!(text.starts_with(&cp.body()));
            let signed = parse_signed(&text).unwrap();
            assert_eq!(signed.checkpoint, cp);
            assert_eq!(signed.note.body, cp.body());
            signed.verify(&cp.origin, &k.verifying_key()).unwrap();
            assert!(signed.verify(&cp.origin, &key(10).verifying_key()).is_err());
            assert!(signed
                .verify("runledger/other", &k.verifying_key())
                .is_err());
        }
    }

    #[test]
    fn tampered_checkpoints_fail() {
        let k = key(4);
        let cp = sample(12);
        let text = cp.sign(&cp.origin, &k).unwrap();
        let body_len = cp.body().len();
        for i in 0..body_len {
            let mut bad = text.as_bytes().to_vec();
            bad[i] ^= 0x01;
            let Ok(bad) = String::from_utf8(bad) else {
                continue;
            };
            if let Ok(signed) = parse_signed(&bad) {
                assert!(
                    signed.verify(&cp.origin, &k.verifying_key()).is_err(),
                    "byte {i} flipped still verifies"
                );
            }
        }
        // A different size or root signed by another key is not ours.
        let mut other = cp.clone();
        other.size += 1;
        let forged = other.sign(&cp.origin, &key(5)).unwrap();
        assert!(parse_signed(&forged)
            .unwrap()
            .verify(&cp.origin, &k.verifying_key())
            .is_err());
    }

    #[test]
    fn parse_body_rejects_non_canonical_bodies() {
        let root = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let good = format!("o\n0\n{root}\n");
        Checkpoint::parse_body(&good).unwrap();
        let bad_sizes = [
            "",
            "00",
            "01",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "１",
            "٣",
            "18446744073709551616",
            "99999999999999999999999",
        ];
        for size in bad_sizes {
            let body = format!("o\n{size}\n{root}\n");
            assert!(
                Checkpoint::parse_body(&body).is_err(),
                "size {size:?} accepted"
            );
        }
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size,
            u64::MAX
        );
        assert!(matches!(
            Checkpoint::parse_body(&format!("o\n18446744073709551616\n{root}\n")),
            Err(CheckpointError::SizeOverflow { .. })
        ));
        let bad_roots = [
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", // unpadded
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU=", // url-safe
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=", // non-canonical bits
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==", // 31 bytes
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFUA", // 33 bytes
            " 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", // leading space
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= ", // trailing space
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", // hex
        ];
        for r in bad_roots {
            let body = format!("o\n1\n{r}\n");
            assert!(
                Checkpoint::parse_body(&body).is_err(),
                "root {r:?} accepted"
            );
        }
        assert!(matches!(
            Checkpoint::parse_body("o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuA==\n"),
            Err(CheckpointError::RootLength { found: 31 })
        ));
        let bad_bodies = [
            String::new(),
            "\n".into(),
            "o\n".into(),
            "o\n0\n".into(),
            format!("o\n0\n{root}"),     // no final newline
            format!("\n0\n{root}\n"),    // empty origin
            format!("o\n0\n{root}\n\n"), // empty extension / trailing blank line
            format!("o\n0\n{root}\nx\n\n"),
            format!("o\n0\n\n{root}\n"),
            format!("o\r\n0\n{root}\n"),  // CRLF
            format!("o\t1\n0\n{root}\n"), // tab
            format!("o\n0\n{root}\nx\u{7}\n"),
        ];
        for body in bad_bodies {
            assert!(Checkpoint::parse_body(&body).is_err(), "{body:?} accepted");
        }
        assert_eq!(
            Checkpoint::parse_body("o\n0\n"),
            Err(CheckpointError::TooFewLines { found: 2 })
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n0\n{root}\n\n")),
            Err(CheckpointError::EmptyLine { line: 4 })
        );
    }

    #[test]
    fn sign_rejects_what_cannot_be_written() {
        let k = key(2);
        let mut cp = sample(3);
        for origin in ["", "two\nlines", "tab\there"] {
            cp.origin = origin.into();
            assert!(matches!(
                cp.sign("runledger/x", &k),
                Err(CheckpointError::InvalidOrigin { .. })
            ));
        }
        let mut cp = sample(3);
        for ext in ["", "a\nb", "cr\r"] {
            cp.extensions = vec![ext.into()];
            assert!(matches!(
                cp.sign("runledger/x", &k),
                Err(CheckpointError::InvalidExtension { .. })
            ));
        }
        let cp = sample(3);
        assert!(matches!(
            cp.sign("bad name", &k),
            Err(CheckpointError::Note(NoteError::InvalidKeyName { .. }))
        ));
    }

    #[test]
    fn parse_signed_propagates_note_and_body_errors() {
        let k = key(3);
        let cp = sample(5);
        let text = cp.sign(&cp.origin, &k).unwrap();
        // Not a note.
        assert!(matches!(
            parse_signed(&cp.body()),
            Err(CheckpointError::Note(NoteError::MissingBlankLine))
        ));
        // A valid note whose text is not a checkpoint.
        let not_cp = note::sign("hello\n", "runledger/x", &k).unwrap();
        assert!(matches!(
            parse_signed(&not_cp),
            Err(CheckpointError::TooFewLines { found: 1 })
        ));
        // A body with an empty line inside is split at the last blank line by
        // the note, and then rejected as a checkpoint.
        let tricky = note::sign(&format!("{}\nmore\n", cp.body()), "runledger/x", &k).unwrap();
        assert!(parse_signed(&tricky).is_err());
        // Messages nest the note's.
        let e = parse_signed(&text[..text.len() - 1]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("checkpoint note: note does not end"),
            "{e}"
        );
    }
}
