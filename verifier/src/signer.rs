//! Whatever signs events and checkpoints: a key in memory, or a key held elsewhere.
//!
//! The writer never needs the private key itself, only something that signs exact bytes
//! under a known Ed25519 public key and goes by a name (its trusted-keys name and the signer
//! name on checkpoints). A key file loaded into memory ([`PrivateKey`]) is one such signer;
//! the engine's ssh-agent client is another. This module owns the trait and nothing that
//! talks to the outside world; what is signed (the bytes) is decided by `signing` and `note`.

use std::sync::Arc;

use ed25519_dalek::{Signature, Signer as _, VerifyingKey};

use crate::keys::PrivateKey;
use crate::signing::key_id;

/// Signs exact bytes with an Ed25519 key.
pub trait Signer: Send + Sync {
    /// The key's name: its trusted-keys name and the signer name on checkpoints. A valid
    /// signed-note key name ([`crate::note::is_valid_key_name`]).
    fn name(&self) -> &str;
    /// The Ed25519 public key every signature verifies under.
    fn public_key(&self) -> VerifyingKey;
    /// A signature of exactly `message`, which verifies under [`Signer::public_key`]. A signer
    /// that cannot promise that (its key lives elsewhere) checks before returning.
    fn sign(&self, message: &[u8]) -> Result<Signature, SignError>;
    /// The key id: lowercase hex SHA-256 of the public key.
    fn id(&self) -> String {
        key_id(&self.public_key())
    }
}

/// A signer shared by the writer and whoever else signs for the same run.
pub type SharedSigner = Arc<dyn Signer>;

/// Why a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot sign with key {key}: {reason}")]
pub struct SignError {
    /// The key's name.
    pub key: String,
    /// What went wrong, and what to do when there is something.
    pub reason: String,
}

impl Signer for PrivateKey {
    fn name(&self) -> &str {
        &self.name
    }

    fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, SignError> {
        Ok(self.key.sign(message))
    }
}

impl From<PrivateKey> for SharedSigner {
    fn from(key: PrivateKey) -> SharedSigner {
        Arc::new(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_key_signs_as_its_signing_key_does() {
        let key = PrivateKey {
            name: "ops".into(),
            key: ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]),
        };
        let signer: SharedSigner = key.clone().into();
        assert_eq!(signer.name(), "ops");
        assert_eq!(signer.id(), key.id());
        let sig = signer.sign(b"msg").unwrap();
        assert_eq!(sig, key.key.sign(b"msg"));
        signer.public_key().verify_strict(b"msg", &sig).unwrap();
    }
}
