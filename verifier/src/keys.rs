//! Key files: the trusted-keys file auditors hold, and the private key file operators hold.
//!
//! The trusted-keys file is one `name base64-public-key` per line, `#` starting a comment.
//! The private key file is the signed-note private key encoding
//! (`PRIVATE+KEY+name+hash+base64`), one line. This module never decides what a signature
//! proves; it only says which keys are trusted and under which names.

use std::collections::BTreeMap;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::note;
use crate::signing::key_id;

/// A trusted public key and the name it goes by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Name (also the signer name on checkpoints).
    pub name: String,
    /// The public key.
    pub key: VerifyingKey,
    /// Its key id.
    pub id: String,
}

/// The set of keys an auditor trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    by_id: BTreeMap<String, TrustedKey>,
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not `name base64-public-key`.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The private key file is not a runledger private key.
    #[error("{path}: not a private key file: {reason}")]
    Private {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The key of a trusted-keys line `NAME BASE64-KEY`: a name without `+`, and 32 bytes of
/// standard base64 that are an Ed25519 public key; or why not.
pub fn parse_key_fields(name: &str, b64: &str) -> Result<VerifyingKey, String> {
    if name.contains('+') {
        return Err(format!("key name {name:?} contains `+`"));
    }
    let bytes = B64
        .decode(b64)
        .map_err(|e| format!("public key is not base64: {e}"))?;
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| format!("public key is {} bytes, expected 32", bytes.len()))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| "not a valid Ed25519 public key".into())
}

impl TrustedKeys {
    /// Parses the trusted-keys text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &str) -> Result<TrustedKeys, KeyError> {
        let mut keys = TrustedKeys::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |reason: String| KeyError::Line {
                path: path.to_string(),
                line: i + 1,
                reason,
            };
            let mut parts = line.split_whitespace();
            let (Some(name), Some(b64), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(err("expected `name base64-public-key`".into()));
            };
            let key = parse_key_fields(name, b64).map_err(err)?;
            keys.insert(name.to_string(), key);
        }
        Ok(keys)
    }

    /// Reads a trusted-keys file.
    pub fn load(path: &Path) -> Result<TrustedKeys, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        TrustedKeys::parse(&text, &path.display().to_string())
    }

    /// The one key a journal names in its `journal.opened` (standard base64), as a trust set
    /// named `journal-named-key`: what a reader without the operator's trusted keys holds the
    /// journal to. Whether that key is the operator's is a question for a trusted-keys file.
    pub fn named_by_journal(public_key: &str) -> Result<TrustedKeys, KeyError> {
        TrustedKeys::parse(
            &format!("journal-named-key {public_key}\n"),
            "journal.opened",
        )
    }

    /// Adds a key.
    pub fn insert(&mut self, name: String, key: VerifyingKey) {
        let id = key_id(&key);
        self.by_id.insert(id.clone(), TrustedKey { name, key, id });
    }

    /// The trusted key with this key id.
    pub fn get(&self, id: &str) -> Option<&TrustedKey> {
        self.by_id.get(id)
    }

    /// The trusted key going by this name with this signed-note key hash.
    pub fn by_note_name(&self, name: &str, key_hash: [u8; 4]) -> Option<&TrustedKey> {
        self.by_id
            .values()
            .find(|k| k.name == name && note::ed25519_key_hash(&k.name, &k.key) == key_hash)
    }

    /// Every trusted key.
    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.by_id.values()
    }

    /// Number of trusted keys.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// The trusted-keys line for a public key: `name base64-public-key`.
pub fn trusted_key_line(name: &str, key: &VerifyingKey) -> String {
    format!("{name} {}", B64.encode(key.as_bytes()))
}

/// A private key with its name.
#[derive(Clone)]
pub struct PrivateKey {
    /// Key name.
    pub name: String,
    /// The signing key.
    pub key: SigningKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("name", &self.name)
            .field("id", &key_id(&self.key.verifying_key()))
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// The private key file's text (one line, newline-terminated).
    pub fn to_file_text(&self) -> String {
        format!("{}\n", note::encode_private_key(&self.name, &self.key))
    }

    /// Parses a private key file's text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &str) -> Result<PrivateKey, KeyError> {
        let line = text.trim_end_matches(['\n', '\r']);
        let (name, key) = note::decode_private_key(line).map_err(|e| KeyError::Private {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        Ok(PrivateKey { name, key })
    }

    /// The key id of its public half.
    pub fn id(&self) -> String {
        key_id(&self.key.verifying_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_keys_file_skips_comments_and_names_bad_lines() {
        let key = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
        let text = format!("# auditors\n\n{}  # ops\n", trusted_key_line("ops", &key));
        let keys = TrustedKeys::parse(&text, "k").unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys.get(&key_id(&key)).unwrap().name, "ops");

        let err = TrustedKeys::parse("ops AAAA\n", "k")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("k:1: public key is 3 bytes"), "{err}");
        let err = TrustedKeys::parse("# c\nonlyname\n", "k")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("k:2: expected"), "{err}");
    }
}
