//! What is hashed and signed for each event, and how a key is named (docs/journal-format.md).
//!
//! This module owns the leaf hash, the signing message and the key id, and the lowercase hex
//! and SHA-256 helpers every crate of the workspace writes hashes with. It never chooses which
//! keys are trusted (that is `keys`) and never reads a journal.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::{self, Hash};
use crate::signer::SignError;

/// Domain separation prefix of the signing message.
pub const SIGNING_CONTEXT: &[u8] = b"runledger/event/v1\n";

/// RFC 9162 leaf hash of an event's canonical bytes: SHA-256(0x00 || bytes).
pub fn event_leaf_hash(canonical: &[u8]) -> Hash {
    merkle::leaf_hash(canonical)
}

/// The exact bytes signed for an event: `"runledger/event/v1\n" || leaf_hash`.
pub fn signing_message(leaf_hash: &Hash) -> [u8; 51] {
    let mut msg = [0u8; 51];
    msg[..19].copy_from_slice(SIGNING_CONTEXT);
    msg[19..].copy_from_slice(leaf_hash);
    msg
}

/// Signs an event's leaf hash with a key in memory (fixtures, vectors, benchmarks).
pub fn sign_leaf(key: &SigningKey, leaf_hash: &Hash) -> Signature {
    key.sign(&signing_message(leaf_hash))
}

/// Signs an event's leaf hash with any signer: the same bytes as [`sign_leaf`].
pub fn sign_leaf_with(
    signer: &dyn crate::signer::Signer,
    leaf_hash: &Hash,
) -> Result<Signature, SignError> {
    signer.sign(&signing_message(leaf_hash))
}

/// Strict Ed25519 verification of an event signature.
pub fn verify_leaf(key: &VerifyingKey, leaf_hash: &Hash, sig: &[u8]) -> Result<(), SignatureError> {
    let sig = Signature::from_slice(sig).map_err(|_| SignatureError::Length(sig.len()))?;
    key.verify_strict(&signing_message(leaf_hash), &sig)
        .map_err(|_| SignatureError::Invalid)
}

/// Why an event signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 64 bytes.
    #[error("signature is {0} bytes, expected 64")]
    Length(usize),
    /// Does not verify under the named key.
    #[error("signature does not verify under the event's key")]
    Invalid,
}

/// Key id: lowercase hex SHA-256 of the 32-byte public key.
pub fn key_id(key: &VerifyingKey) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Lowercase hex of bytes, two digits a byte: how hashes and key ids are written everywhere.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Parses 64 lowercase hex digits into a hash.
pub fn parse_hash_hex(s: &str) -> Option<Hash> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Size in bytes and lowercase hex SHA-256 of all that `reader` yields, read in one streaming
/// pass of 1 MiB reads; a read interrupted by a signal is tried again. The caller opens the
/// file, so that it decides whether a symbolic link is followed and how errors name the path.
pub fn sha256_of_reader(mut reader: impl std::io::Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_uppercase() {
        let h = [0xabu8; 32];
        assert_eq!(parse_hash_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hash_hex(&hex(&h).to_uppercase()), None);
        assert_eq!(parse_hash_hex("00"), None);
    }

    #[test]
    fn signing_message_is_context_then_leaf() {
        let msg = signing_message(&[7u8; 32]);
        assert_eq!(&msg[..19], b"runledger/event/v1\n");
        assert_eq!(&msg[19..], &[7u8; 32]);
    }
}
