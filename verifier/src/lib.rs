//! The runledger journal format and its verification.
//!
//! This crate is the format in code — event types, the canonical encoding, hashing, the
//! signing message, the Merkle tree, checkpoints and proofs — and the verifier built on it.
//! The engine writes journals through it, so there is one encoder; auditors trust this crate
//! alone. It does no networking and runs no async runtime. The normative description is
//! `docs/journal-format.md`.
#![deny(missing_docs)]

pub mod canonical;
pub mod checkpoint;
pub mod cosignature;
pub mod event;
pub mod keys;
pub mod lsn;
pub mod merkle;
pub mod note;
pub mod plan_check;
pub mod proof;
pub mod report;
#[cfg(feature = "schema")]
pub mod schema;
pub mod semantics;
pub mod signer;
pub mod signing;
pub mod site;
pub mod source;
pub mod terminal;
pub mod timeline;
pub mod timestamp;
pub mod verify;
pub mod witness_policy;

pub use keys::TrustedKeys;
pub use report::{Report, Verdict};
pub use verify::{verify, verify_with_tail, Options, Tail, VerifyError};
