//! C2SP `signed-note` with Ed25519 signatures: parsing a note into its text and
//! signature lines, signing a text, verifying the signature of one known key,
//! the key hash, and the `golang.org/x/mod/sumdb/note` key encodings used for
//! our key files.
//!
//! This module owns the note format only; what the text means (a checkpoint,
//! say) is for its callers. It must never panic on untrusted input, never treat
//! a parsed note as trusted (only [`Note::verify`] with a key the caller trusts
//! says anything about who wrote it), never verify with anything weaker than
//! `verify_strict`, and never write a private key anywhere but the string it
//! returns.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::signing::hex;

/// The largest note [`parse`] accepts, in bytes (1 MiB).
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The most signature lines [`parse`] accepts in one note.
pub const MAX_SIGNATURES: usize = 100;

/// What starts every signature line: U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The C2SP signature type byte of Ed25519.
const ALG_ED25519: u8 = 0x01;

/// What starts an encoded private key.
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Why a note or a key could not be parsed, signed or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("note is too large: expected at most {max} bytes, found {size}")]
    TooLarge {
        /// Size of the note in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The note holds an ASCII control character other than newline.
    #[error("note line {line} contains control character 0x{byte:02x}: expected no control character other than newline")]
    ControlCharacter {
        /// 1-based line number.
        line: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The note's last line has no newline.
    #[error("note does not end with a newline: expected every line, the last signature line included, to end in a newline")]
    MissingFinalNewline,
    /// The note has no blank line separating the text from the signatures.
    #[error("note has no blank line: expected the text, a blank line, then signature lines")]
    MissingBlankLine,
    /// The note has a blank line but no signature line after it.
    #[error("note has no signature line: expected at least one after the blank line")]
    NoSignatures,
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    #[error("note has too many signature lines: expected at most {max}, found {found}")]
    TooManySignatures {
        /// Number of signature lines found.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A signature line is not `— <key name> <base64>`.
    #[error("malformed signature line {line}: {reason}")]
    MalformedSignatureLine {
        /// 1-based line number in the note.
        line: usize,
        /// What was expected and what was found.
        reason: String,
    },
    /// A key name is empty or holds a space, a `+` or a control character.
    #[error("invalid key name {name:?}: expected a non-empty name without spaces, '+' or control characters")]
    InvalidKeyName {
        /// The rejected name (truncated if long).
        name: String,
    },
    /// A text to sign is not a valid note text.
    #[error("invalid note text: {reason}")]
    InvalidText {
        /// What was expected and what was found.
        reason: String,
    },
    /// No signature line matches the key's name and key hash.
    #[error("no signature by key {key}: found signatures by {found}")]
    SignatureNotFound {
        /// The key looked for, as `name+hash`.
        key: String,
        /// The keys that did sign, as `name+hash` (the first few).
        found: String,
    },
    /// A signature by the key is not 64 bytes long.
    #[error("signature by key {key} has the wrong length: expected 64 bytes, found {found}")]
    SignatureLength {
        /// The key, as `name+hash`.
        key: String,
        /// Length of the signature found.
        found: usize,
    },
    /// A signature by the key does not verify.
    #[error("signature by key {key} does not verify: expected a valid ed25519 signature of the note text, found an altered text or signature")]
    BadSignature {
        /// The key, as `name+hash`.
        key: String,
    },
    /// An encoded key is not of the form `[PRIVATE+KEY+]<name>+<hash>+<base64>`.
    #[error("malformed key: {reason}")]
    MalformedKey {
        /// What was expected and what was found.
        reason: String,
    },
    /// An encoded key names a signature type other than Ed25519.
    #[error("unknown key algorithm 0x{found:02x}: expected 0x01 (ed25519)")]
    UnknownKeyAlgorithm {
        /// The algorithm byte found.
        found: u8,
    },
    /// The key hash written in an encoded key is not the hash of its name and key.
    #[error("key hash mismatch: expected {expected} (the hash of the key's name and public key), found {found}")]
    KeyHashMismatch {
        /// The hash computed from the name and public key.
        expected: String,
        /// The hash written in the key text.
        found: String,
    },
    /// A verifier key is a small-order point, which signs nothing meaningful.
    #[error("weak public key: expected a key of large order, found one of small order")]
    WeakKey,
    /// A private key was given where a verifier (public) key was expected.
    #[error("expected a verifier key, found a private key (it starts with PRIVATE+KEY+)")]
    PrivateKeyGiven,
    /// The signer could not sign (a key held by an agent that is gone, say).
    #[error(transparent)]
    Sign(#[from] crate::signer::SignError),
}

/// One signature line of a note, parsed but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name of the line.
    pub name: String,
    /// The 4-byte key hash (the big-endian key ID) that starts the signature.
    pub key_hash: [u8; 4],
    /// The signature bytes after the key hash (64 for Ed25519).
    pub signature: Vec<u8>,
}

/// A note split into its text and its signature lines, not yet trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, including its final newline.
    pub body: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

/// Whether `name` is a valid key name: non-empty, valid UTF-8 (a `&str` is),
/// with no Unicode white space, no `+` and no control character below U+0020.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || (c as u32) < 0x20)
}

/// At most 64 characters of `s`, for error messages about untrusted text.
pub(crate) fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn check_name(name: &str) -> Result<(), NoteError> {
    if is_valid_key_name(name) {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName {
            name: excerpt(name),
        })
    }
}

/// Rejects ASCII control characters other than newline.
fn check_controls(text: &str) -> Result<(), NoteError> {
    let mut line = 1;
    for &b in text.as_bytes() {
        if b == b'\n' {
            line += 1;
        } else if b < 0x20 {
            return Err(NoteError::ControlCharacter { line, byte: b });
        }
    }
    Ok(())
}

/// The C2SP Ed25519 key ID: the first 4 bytes of
/// `SHA-256(name || 0x0A || 0x01 || 32-byte public key)`.
pub fn ed25519_key_hash(name: &str, key: &VerifyingKey) -> [u8; 4] {
    key_hash(ALG_ED25519, name, key)
}

/// The C2SP key ID of a key of type `alg`: the first 4 bytes of
/// `SHA-256(name || 0x0A || alg || 32-byte public key)`.
pub(crate) fn key_hash(alg: u8, name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', alg]);
    h.update(key.as_bytes());
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Signs `body` with `key` under the key name `name`, and returns the whole
/// note: `body`, a blank line, and one signature line.
///
/// `body` must be non-empty, end in a newline and hold no control character
/// other than newline; the note must fit in [`MAX_NOTE_BYTES`].
pub fn sign(body: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    sign_with(
        body,
        &crate::keys::PrivateKey {
            name: name.to_owned(),
            key: key.clone(),
        },
    )
}

/// [`sign`] with any signer, under its own name: the same bytes signed, the same note.
pub fn sign_with(body: &str, signer: &dyn crate::signer::Signer) -> Result<String, NoteError> {
    let name = signer.name();
    check_name(name)?;
    if body.is_empty() {
        return Err(NoteError::InvalidText {
            reason: "expected at least one line, found an empty text".into(),
        });
    }
    if !body.ends_with('\n') {
        return Err(NoteError::InvalidText {
            reason: "expected the text to end with a newline, found none".into(),
        });
    }
    check_controls(body)?;
    let signature = signer.sign(body.as_bytes())?;
    let mut blob = Vec::with_capacity(4 + 64);
    blob.extend_from_slice(&ed25519_key_hash(name, &signer.public_key()));
    blob.extend_from_slice(&signature.to_bytes());
    let note = format!(
        "{body}\n{SIGNATURE_PREFIX}{name} {}\n",
        STANDARD.encode(&blob)
    );
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            size: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    Ok(note)
}

/// Parses a signed note strictly per C2SP `signed-note`: at most
/// [`MAX_NOTE_BYTES`], no control character but newline, a text ending in a
/// newline, the last blank line of the note, then 1 to [`MAX_SIGNATURES`]
/// well-formed signature lines, each ending in a newline.
///
/// Signatures are not verified here and may be from any key (unknown keys
/// must be ignored, not rejected); see [`Note::verify`].
pub fn parse(text: &str) -> Result<Note, NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            size: text.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    check_controls(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::MissingFinalNewline);
    }
    // The text is separated from the signatures by the last blank line.
    let split = text.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
    let body = &text[..split + 1];
    let sig_text = &text[split + 2..];
    if sig_text.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let count = sig_text.matches('\n').count();
    if count > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures {
            found: count,
            max: MAX_SIGNATURES,
        });
    }
    // Text lines, then the blank line.
    let first_line = body.matches('\n').count() + 2;
    let lines = sig_text.strip_suffix('\n').unwrap_or(sig_text).split('\n');
    let mut signatures = Vec::with_capacity(count);
    for (i, line) in lines.enumerate() {
        signatures.push(parse_signature_line(line, first_line + i)?);
    }
    Ok(Note {
        body: body.to_owned(),
        signatures,
    })
}

/// Parses one signature line (without its newline) numbered `line_no`.
fn parse_signature_line(line: &str, line_no: usize) -> Result<NoteSignature, NoteError> {
    let malformed = |reason: String| NoteError::MalformedSignatureLine {
        line: line_no,
        reason,
    };
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(|| {
        malformed(format!(
            "expected it to start with an em dash (u+2014) and a space, found {:?}",
            excerpt(line)
        ))
    })?;
    let (name, encoded) = rest.split_once(' ').ok_or_else(|| {
        malformed(format!(
            "expected '<key name> <base64 signature>', found {:?}",
            excerpt(rest)
        ))
    })?;
    if !is_valid_key_name(name) {
        return Err(malformed(format!(
            "expected a key name without spaces or '+', found {:?}",
            excerpt(name)
        )));
    }
    let blob = STANDARD.decode(encoded).map_err(|_| {
        malformed(format!(
            "expected standard padded base64 after the key name, found {:?}",
            excerpt(encoded)
        ))
    })?;
    if blob.len() < 5 {
        return Err(malformed(format!(
            "expected a 4-byte key hash and a signature (at least 5 bytes), found {} bytes",
            blob.len()
        )));
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_hash: [blob[0], blob[1], blob[2], blob[3]],
        signature: blob[4..].to_vec(),
    })
}

impl Note {
    /// Verifies the signature line of key `name`/`key` with verify_strict; error if absent or bad.
    ///
    /// Lines whose name and key hash both match the key are verified; every
    /// one of them must verify (a bad signature from a known key rejects the
    /// note). Lines of other keys are ignored, as C2SP requires.
    pub fn verify(&self, name: &str, key: &VerifyingKey) -> Result<(), NoteError> {
        let hash = ed25519_key_hash(name, key);
        let key_id = format!("{}+{}", excerpt(name), hex(&hash));
        let mut matched = false;
        for sig in &self.signatures {
            if sig.name != name || sig.key_hash != hash {
                continue;
            }
            matched = true;
            let bytes: &[u8; 64] =
                sig.signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| NoteError::SignatureLength {
                        key: key_id.clone(),
                        found: sig.signature.len(),
                    })?;
            key.verify_strict(self.body.as_bytes(), &Signature::from_bytes(bytes))
                .map_err(|_| NoteError::BadSignature {
                    key: key_id.clone(),
                })?;
        }
        if matched {
            return Ok(());
        }
        const LISTED: usize = 5;
        let mut found: Vec<String> = self
            .signatures
            .iter()
            .take(LISTED)
            .map(|s| format!("{}+{}", excerpt(&s.name), hex(&s.key_hash)))
            .collect();
        if self.signatures.len() > LISTED {
            found.push(format!("{} more", self.signatures.len() - LISTED));
        }
        Err(NoteError::SignatureNotFound {
            key: key_id,
            found: if found.is_empty() {
                "no key".into()
            } else {
                found.join(", ")
            },
        })
    }
}

/// Encodes a private key as `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>`
/// (the Go `golang.org/x/mod/sumdb/note` signer key), our private key file
/// format. The result is secret.
///
/// `name` should satisfy [`is_valid_key_name`]; [`decode_private_key`]
/// rejects the encoding otherwise.
pub fn encode_private_key(name: &str, key: &SigningKey) -> String {
    let mut blob = [0u8; 33];
    blob[0] = ALG_ED25519;
    blob[1..].copy_from_slice(key.as_bytes());
    let text = format!(
        "{PRIVATE_KEY_PREFIX}{name}+{}+{}",
        hex(&ed25519_key_hash(name, &key.verifying_key())),
        STANDARD.encode(blob)
    );
    wipe(&mut blob);
    text
}

/// Decodes a private key written by [`encode_private_key`] (one trailing
/// newline, as a key file ends, is accepted), checking that its key hash is
/// the hash of its name and public key. Returns the name and the key.
pub fn decode_private_key(text: &str) -> Result<(String, SigningKey), NoteError> {
    let text = strip_newline(text);
    let rest = text
        .strip_prefix(PRIVATE_KEY_PREFIX)
        .ok_or_else(|| NoteError::MalformedKey {
            reason: "expected a private key starting with PRIVATE+KEY+, found another text".into(),
        })?;
    let (name, hash, encoded) = split_key(rest)?;
    let mut blob = [0u8; 33];
    decode_key_blob(encoded, &mut blob, ALG_ED25519)?;
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&blob[1..]);
    wipe(&mut blob);
    let key = SigningKey::from_bytes(&seed);
    wipe(&mut seed);
    check_hash(ALG_ED25519, name, &key.verifying_key(), hash)?;
    Ok((name.to_owned(), key))
}

/// Encodes a public key as `<name>+<hash>+<base64(0x01 || public key)>` (the
/// Go `golang.org/x/mod/sumdb/note` verifier key).
///
/// `name` should satisfy [`is_valid_key_name`]; [`decode_verifier_key`]
/// rejects the encoding otherwise.
pub fn encode_verifier_key(name: &str, key: &VerifyingKey) -> String {
    encode_key(ALG_ED25519, name, key)
}

/// `<name>+<key ID>+<base64(alg || public key)>`: a C2SP vkey of type `alg`.
pub(crate) fn encode_key(alg: u8, name: &str, key: &VerifyingKey) -> String {
    let mut blob = [0u8; 33];
    blob[0] = alg;
    blob[1..].copy_from_slice(key.as_bytes());
    format!(
        "{name}+{}+{}",
        hex(&key_hash(alg, name, key)),
        STANDARD.encode(blob)
    )
}

/// Decodes a verifier key written by [`encode_verifier_key`] (one trailing
/// newline is accepted), checking that its key hash is the hash of its name
/// and key, and that the key is a valid point not of small order. Returns the
/// name and the key.
pub fn decode_verifier_key(text: &str) -> Result<(String, VerifyingKey), NoteError> {
    let text = strip_newline(text);
    if text.starts_with(PRIVATE_KEY_PREFIX) {
        return Err(NoteError::PrivateKeyGiven);
    }
    let (name, hash, encoded) = split_key(text)?;
    let mut blob = [0u8; 33];
    decode_key_blob(encoded, &mut blob, ALG_ED25519)?;
    let mut point = [0u8; 32];
    point.copy_from_slice(&blob[1..]);
    let key = VerifyingKey::from_bytes(&point).map_err(|_| NoteError::MalformedKey {
        reason: "expected an ed25519 public key, found bytes that are not a curve point".into(),
    })?;
    check_hash(ALG_ED25519, name, &key, hash)?;
    if key.is_weak() {
        return Err(NoteError::WeakKey);
    }
    Ok((name.to_owned(), key))
}

/// Removes one trailing `\n` or `\r\n`.
fn strip_newline(text: &str) -> &str {
    match text.strip_suffix('\n') {
        Some(t) => t.strip_suffix('\r').unwrap_or(t),
        None => text,
    }
}

/// Splits `<name>+<8 hex>+<base64>` (the base64 may itself hold `+`).
pub(crate) fn split_key(text: &str) -> Result<(&str, [u8; 4], &str), NoteError> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(hash), Some(encoded)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::MalformedKey {
            reason: "expected '<name>+<key hash>+<base64 key>', found fewer than three '+'-separated fields".into(),
        });
    };
    check_name(name)?;
    let hash_ok = hash.len() == 8
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hash_ok {
        return Err(NoteError::MalformedKey {
            reason: format!(
                "expected a key hash of 8 lowercase hex digits, found {:?}",
                excerpt(hash)
            ),
        });
    }
    let mut bytes = [0u8; 4];
    for (i, b) in bytes.iter_mut().enumerate() {
        // Checked above: 8 ASCII hex digits.
        *b = u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).map_err(|_| {
            NoteError::MalformedKey {
                reason: format!("expected hex digits in the key hash, found {hash:?}"),
            }
        })?;
    }
    Ok((name, bytes, encoded))
}

/// Decodes `base64(alg || 32 bytes)` into `out`; another type byte is
/// [`NoteError::UnknownKeyAlgorithm`].
pub(crate) fn decode_key_blob(encoded: &str, out: &mut [u8; 33], alg: u8) -> Result<(), NoteError> {
    // 33 bytes are exactly 44 base64 characters, without padding.
    if encoded.len() != 44 {
        return Err(NoteError::MalformedKey {
            reason: format!(
                "expected 44 base64 characters (a type byte and 32 key bytes), found {}",
                encoded.len()
            ),
        });
    }
    let n = STANDARD
        .decode_slice(encoded, out)
        .map_err(|_| NoteError::MalformedKey {
            reason: "expected standard base64 key bytes, found invalid base64".into(),
        })?;
    if n != 33 {
        return Err(NoteError::MalformedKey {
            reason: format!("expected 33 key bytes, found {n}"),
        });
    }
    if out[0] != alg {
        return Err(NoteError::UnknownKeyAlgorithm { found: out[0] });
    }
    Ok(())
}

/// The key ID written in a vkey of type `alg` is the hash of its name and key.
pub(crate) fn check_hash(
    alg: u8,
    name: &str,
    key: &VerifyingKey,
    written: [u8; 4],
) -> Result<(), NoteError> {
    let computed = key_hash(alg, name, key);
    if computed != written {
        return Err(NoteError::KeyHashMismatch {
            expected: hex(&computed),
            found: hex(&written),
        });
    }
    Ok(())
}

/// Overwrites secret bytes (best effort: the compiler is asked not to elide it).
fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Signer as _;

    // Known answers from the golang.org/x/mod/sumdb/note documentation and
    // tests (test keys, public test data).
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter() -> (String, SigningKey) {
        decode_private_key(PETER_SKEY).unwrap()
    }

    fn test_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn known_answer_go_peter_neumann() {
        let (name, skey) = peter();
        assert_eq!(name, "PeterNeumann");
        let (vname, vkey) = decode_verifier_key(PETER_VKEY).unwrap();
        assert_eq!(vname, "PeterNeumann");
        assert_eq!(skey.verifying_key(), vkey);
        assert_eq!(
            ed25519_key_hash("PeterNeumann", &vkey),
            [0xc7, 0x4f, 0x20, 0xa3]
        );
        // Both encodings reproduce the published strings.
        assert_eq!(encode_private_key("PeterNeumann", &skey), PETER_SKEY);
        assert_eq!(encode_verifier_key("PeterNeumann", &vkey), PETER_VKEY);
        // Ed25519 is deterministic: signing reproduces the published note.
        let note = sign(TEXT, "PeterNeumann", &skey).unwrap();
        assert_eq!(note, format!("{TEXT}\n{PETER_SIG}"));
        let parsed = parse(&note).unwrap();
        assert_eq!(parsed.body, TEXT);
        assert_eq!(parsed.signatures.len(), 1);
        assert_eq!(parsed.signatures[0].key_hash, [0xc7, 0x4f, 0x20, 0xa3]);
        parsed.verify("PeterNeumann", &vkey).unwrap();
    }

    #[test]
    fn known_answer_go_doubly_signed_note() {
        let (_, peter_key) = decode_verifier_key(PETER_VKEY).unwrap();
        let (_, enoch_key) = decode_verifier_key(ENOCH_VKEY).unwrap();
        let note = parse(&format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}")).unwrap();
        note.verify("PeterNeumann", &peter_key).unwrap();
        note.verify("EnochRoot", &enoch_key).unwrap();
        // The EnochRoot key of those tests is the one of the all-zero seed.
        let enoch = test_key(0);
        assert_eq!(enoch.verifying_key(), enoch_key);
        assert_eq!(
            encode_verifier_key("EnochRoot", &enoch.verifying_key()),
            ENOCH_VKEY
        );
        assert_eq!(
            sign(TEXT, "EnochRoot", &enoch).unwrap(),
            format!("{TEXT}\n{ENOCH_SIG}")
        );
    }

    #[test]
    fn known_answer_non_ascii_text() {
        // Go's literal output for this text: the signature covers UTF-8 bytes.
        let text = "árvore de transparência 日本語 🌲\n";
        let (_, skey) = peter();
        assert_eq!(
            sign(text, "PeterNeumann", &skey).unwrap(),
            format!("{text}\n\u{2014} PeterNeumann x08go++3OV7s/KeQz0gcxdTb0xCe6RGE+WqNgFmfn4c7Kh2Tj4rqMVeBKDYPti8V31GF/I1uTTEjjn8pxz1ai4qlEwM=\n")
        );
        let name = "Señor-0";
        let key = test_key(0);
        assert_eq!(
            encode_verifier_key(name, &key.verifying_key()),
            "Señor-0+2b9e7c9d+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
        );
        let note = sign(text, name, &key).unwrap();
        assert_eq!(
            note,
            format!("{text}\n\u{2014} Señor-0 K558nbKx+Og8ic5C+e3Te6A+uYuB6Ke9u13b5DG3K6iHje8ZDo9lHeHE57w3+eEmwnoKPPo8zxLg9LmiEExwKY7szw4=\n")
        );
        parse(&note)
            .unwrap()
            .verify(name, &key.verifying_key())
            .unwrap();
    }

    #[test]
    fn round_trip_with_several_bodies() {
        let key = test_key(7);
        let vk = key.verifying_key();
        for body in [
            "a\n",
            "\n",
            "runledger/j1\n42\nAAAA\n",
            "text with\n\nan empty line inside\n",
            "ends with an empty line\n\n",
            "\u{2014} looks like a signature line\n",
        ] {
            let note = sign(body, "runledger/test-key", &key).unwrap();
            let parsed = parse(&note).unwrap();
            assert_eq!(parsed.body, body, "{note:?}");
            parsed.verify("runledger/test-key", &vk).unwrap();
        }
    }

    #[test]
    fn every_byte_flip_fails() {
        let (_, skey) = peter();
        let vkey = skey.verifying_key();
        let note = sign(TEXT, "PeterNeumann", &skey).unwrap();
        let bytes = note.as_bytes();
        let mut checked = 0;
        for i in 0..bytes.len() {
            // Two different flips of every byte (each verification costs a few
            // milliseconds in a debug build).
            for mask in [0x01u8, 0x02] {
                let mut bad = bytes.to_vec();
                bad[i] ^= mask;
                // Invalid UTF-8 never reaches the parser: rejected as text.
                let Ok(bad) = String::from_utf8(bad) else {
                    continue;
                };
                checked += 1;
                if let Ok(parsed) = parse(&bad) {
                    assert!(
                        parsed.verify("PeterNeumann", &vkey).is_err(),
                        "byte {i} ^ {mask:#04x} still verifies: {bad:?}"
                    );
                }
            }
        }
        assert!(checked > bytes.len());
    }

    #[test]
    fn truncations_and_insertions_never_verify_or_panic() {
        let (_, skey) = peter();
        let vkey = skey.verifying_key();
        let note = format!("{TEXT}\n{PETER_SIG}");
        for (i, _) in note.char_indices().skip(1) {
            // Every proper prefix.
            if let Ok(parsed) = parse(&note[..i]) {
                assert!(parsed.verify("PeterNeumann", &vkey).is_err(), "prefix {i}");
            }
            // A newline inserted anywhere before the signature's end.
            let inserted = format!("{}\n{}", &note[..i], &note[i..]);
            if let Ok(parsed) = parse(&inserted) {
                assert!(
                    parsed.verify("PeterNeumann", &vkey).is_err(),
                    "newline at {i}"
                );
            }
        }
    }

    #[test]
    fn wrong_name_wrong_key_unknown_key_fail() {
        let key = test_key(1);
        let other = test_key(2);
        let note = parse(&sign("hello\n", "alice", &key).unwrap()).unwrap();
        note.verify("alice", &key.verifying_key()).unwrap();
        // Wrong name for the right key.
        assert!(matches!(
            note.verify("bob", &key.verifying_key()),
            Err(NoteError::SignatureNotFound { .. })
        ));
        // Right name, wrong key: the key hash differs, so no line matches.
        let e = note.verify("alice", &other.verifying_key()).unwrap_err();
        assert!(matches!(e, NoteError::SignatureNotFound { .. }), "{e}");
        assert!(e.to_string().contains("alice+"), "{e}");
        // A forged line: right name and key hash, signature from another key.
        let forged_sig = other.sign(b"hello\n");
        let forged = Note {
            body: "hello\n".into(),
            signatures: vec![NoteSignature {
                name: "alice".into(),
                key_hash: ed25519_key_hash("alice", &key.verifying_key()),
                signature: forged_sig.to_bytes().to_vec(),
            }],
        };
        assert!(matches!(
            forged.verify("alice", &key.verifying_key()),
            Err(NoteError::BadSignature { .. })
        ));
        // A note with no signature of the key at all.
        let empty = Note {
            body: "hello\n".into(),
            signatures: vec![],
        };
        assert!(matches!(
            empty.verify("alice", &key.verifying_key()),
            Err(NoteError::SignatureNotFound { .. })
        ));
    }

    #[test]
    fn unknown_keys_are_ignored_but_a_bad_known_signature_rejects() {
        let (_, peter_key) = decode_verifier_key(PETER_VKEY).unwrap();
        // Enoch's line is from a key we do not know: ignored.
        let note = parse(&format!("{TEXT}\n{ENOCH_SIG}{PETER_SIG}")).unwrap();
        note.verify("PeterNeumann", &peter_key).unwrap();
        // A second, corrupted line of the known key rejects the note.
        let sig = &PETER_SIG[..PETER_SIG.len() - 1];
        let (head, tail) = sig.split_at(sig.len() - 10);
        let corrupted = format!("{head}{}{tail}\n", "ABCD");
        let note = parse(&format!("{TEXT}\n{PETER_SIG}{corrupted}")).unwrap();
        assert!(matches!(
            note.verify("PeterNeumann", &peter_key),
            Err(NoteError::SignatureLength { found: 67, .. })
        ));
        // A known key hash under the wrong signature length or content.
        let mut note = parse(&format!("{TEXT}\n{PETER_SIG}")).unwrap();
        note.signatures[0].signature[10] ^= 1;
        assert!(matches!(
            note.verify("PeterNeumann", &peter_key),
            Err(NoteError::BadSignature { .. })
        ));
    }

    #[test]
    fn parse_rejects_malformed_notes() {
        let sig = PETER_SIG;
        let cases: Vec<(String, &str)> = vec![
            (TEXT.to_string(), "no blank line"),
            (format!("{TEXT}\n"), "blank line, no signature"),
            (format!("{TEXT}\n\n"), "two blank lines, no signature"),
            (format!("{TEXT}\n{}", &sig[..sig.len() - 1]), "no final newline"),
            (format!("\u{1}{TEXT}\n{sig}"), "control character"),
            (format!("{TEXT}\r\n{sig}"), "carriage return"),
            (format!("{TEXT}\n{sig}Unexpected line.\n"), "extra line"),
            (format!("{TEXT}\n{sig}\n"), "trailing blank line"),
            (format!("{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "name with space"),
            (format!("{TEXT}\n\u{2014} a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "name with plus"),
            (format!("{TEXT}\n\u{2014}  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "empty name"),
            (format!("{TEXT}\n\u{2014} na\u{a0}me x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "name with no-break space"),
            (format!("{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "hyphen instead of em dash"),
            (format!("{TEXT}\n\u{2014}PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "no space after dash"),
            (format!("{TEXT}\n\u{2014} PeterNeumann\n"), "no signature"),
            (format!("{TEXT}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n"), "unpadded base64"),
            (format!("{TEXT}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n"), "non-canonical base64"),
            (format!("{TEXT}\n\u{2014} PeterNeumann x08go_ZJkuBS9UG_SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "url-safe base64"),
            (format!("{TEXT}\n\u{2014} PeterNeumann  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"), "two spaces"),
            (format!("{TEXT}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM= \n"), "trailing space"),
            (format!("{TEXT}\n\u{2014} PeterNeumann AAAAAA==\n"), "signature too short"),
            (format!("{TEXT}\n{}", sig.repeat(101)), "101 signatures"),
            (format!("\n{sig}"), "empty text"),
            (String::new(), "empty note"),
        ];
        for (text, what) in cases {
            assert!(parse(&text).is_err(), "{what}: {text:?} was accepted");
        }
        // 100 signatures are accepted.
        assert_eq!(
            parse(&format!("{TEXT}\n{}", sig.repeat(100)))
                .unwrap()
                .signatures
                .len(),
            100
        );
        // The size limit.
        let big = format!("{}\n\n{sig}", "x".repeat(MAX_NOTE_BYTES));
        assert!(matches!(parse(&big), Err(NoteError::TooLarge { .. })));
        assert!(matches!(
            sign(
                &format!("{}\n", "x".repeat(MAX_NOTE_BYTES)),
                "a",
                &test_key(1)
            ),
            Err(NoteError::TooLarge { .. })
        ));
        // Error messages name the line.
        let e = parse(&format!("{TEXT}\n{sig}Unexpected line.\n")).unwrap_err();
        assert!(
            matches!(e, NoteError::MalformedSignatureLine { line: 5, .. }),
            "{e}"
        );
        assert!(
            e.to_string()
                .starts_with("malformed signature line 5: expected"),
            "{e}"
        );
    }

    #[test]
    fn sign_rejects_bad_input() {
        let key = test_key(3);
        assert!(matches!(
            sign("", "a", &key),
            Err(NoteError::InvalidText { .. })
        ));
        assert!(matches!(
            sign("no newline", "a", &key),
            Err(NoteError::InvalidText { .. })
        ));
        assert!(matches!(
            sign("tab\there\n", "a", &key),
            Err(NoteError::ControlCharacter { line: 1, byte: 9 })
        ));
        for name in ["", "a b", "a+b", "a\tb", "a\nb", "a\u{2003}b", "a\u{1}b"] {
            assert!(
                matches!(
                    sign("x\n", name, &key),
                    Err(NoteError::InvalidKeyName { .. })
                ),
                "{name:?}"
            );
        }
        assert!(is_valid_key_name("runledger/0f3a-journal"));
        assert!(is_valid_key_name("Señor-0"));
    }

    #[test]
    fn key_encodings_round_trip_and_reject_manglings() {
        for seed in [0u8, 1, 42, 255] {
            let key = test_key(seed);
            let name = format!("runledger/key-{seed}");
            let skey = encode_private_key(&name, &key);
            let (n, k) = decode_private_key(&skey).unwrap();
            assert_eq!((n.as_str(), k.to_bytes()), (name.as_str(), key.to_bytes()));
            let (n, k) = decode_private_key(&format!("{skey}\n")).unwrap();
            assert_eq!((n.as_str(), k.to_bytes()), (name.as_str(), key.to_bytes()));
            let vkey = encode_verifier_key(&name, &key.verifying_key());
            assert_eq!(
                decode_verifier_key(&format!("{vkey}\r\n")).unwrap(),
                (name.clone(), key.verifying_key())
            );
        }
        // Every proper substring and every single-byte change of the published
        // keys is rejected (as Go's tests require).
        for (good, private) in [(PETER_SKEY, true), (PETER_VKEY, false)] {
            let decode = |s: &str| {
                if private {
                    decode_private_key(s).map(|_| ())
                } else {
                    decode_verifier_key(s).map(|_| ())
                }
            };
            decode(good).unwrap();
            let b = good.as_bytes();
            for i in 0..=b.len() {
                for j in i + 1..=b.len() {
                    if (i, j) != (0, b.len()) {
                        let s = std::str::from_utf8(&b[i..j]).unwrap();
                        assert!(decode(s).is_err(), "{s:?} accepted");
                    }
                }
            }
            for i in 0..b.len() {
                let mut m = b.to_vec();
                m[i] = m[i].wrapping_add(1);
                if let Ok(s) = std::str::from_utf8(&m) {
                    assert!(decode(s).is_err(), "{s:?} accepted");
                }
            }
        }
        // Specific failures.
        assert!(matches!(
            decode_verifier_key(
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::KeyHashMismatch { .. })
        ));
        assert!(matches!(
            decode_verifier_key(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnknownKeyAlgorithm { found: 0x65 })
        ));
        assert!(matches!(
            decode_verifier_key(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            ),
            Err(NoteError::MalformedKey { .. })
        ));
        assert!(matches!(
            decode_verifier_key(
                "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::MalformedKey { .. })
        ));
        assert_eq!(
            decode_verifier_key(PETER_SKEY),
            Err(NoteError::PrivateKeyGiven)
        );
        assert!(decode_private_key(PETER_VKEY).is_err());
        // A small-order public key (the identity point), with a matching hash.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        let encoded = encode_verifier_key("weak", &weak);
        assert_eq!(decode_verifier_key(&encoded), Err(NoteError::WeakKey));
    }
}
