//! Inclusion proofs: one event shown to an auditor without the rest of the journal
//! (docs/journal-format.md §8).
//!
//! A proof file is one JSON object holding the event's canonical bytes verbatim, its
//! signature, the RFC 9162 audit path and a signed checkpoint whose tree contains the event.
//! This module writes and checks that file; it never reads a journal.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
#[cfg(feature = "schema")]
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::canonical::{self, Value};
use crate::checkpoint;
use crate::event::Event;
use crate::keys::TrustedKeys;
use crate::merkle::{self, Hash};
use crate::signing::{self, hex, parse_hash_hex};

/// The `format` member of a proof file.
pub const PROOF_FORMAT: &str = "runledger-inclusion-proof/v1";

/// The proof file's members, for its JSON Schema (`event` is kept verbatim when read).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    /// Sibling hashes from the leaf up, lowercase hex (RFC 9162 audit path).
    pub audit_path: Vec<String>,
    /// The signed checkpoint (C2SP signed note) of the tree the path leads to.
    pub checkpoint: String,
    /// The event, its canonical bytes verbatim.
    pub event: serde_json::Value,
    /// Always `runledger-inclusion-proof/v1`.
    pub format: String,
    /// Base64 Ed25519 signature of the event.
    pub sig: String,
    /// Tree size of the checkpoint.
    pub tree_size: u64,
}

/// Writes a proof file's text (one line of canonical JSON, newline-terminated).
pub fn write_proof(
    event: &[u8],
    sig: &[u8],
    audit_path: &[Hash],
    checkpoint: &str,
    tree_size: u64,
) -> Vec<u8> {
    let string = |s: &str| canonical::encode(&Value::String(s.to_string()));
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"audit_path\":[");
    for (i, h) in audit_path.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&string(&hex(h)));
    }
    out.extend_from_slice(b"],\"checkpoint\":");
    out.extend_from_slice(&string(checkpoint));
    out.extend_from_slice(b",\"event\":");
    out.extend_from_slice(event);
    out.extend_from_slice(b",\"format\":");
    out.extend_from_slice(&string(PROOF_FORMAT));
    out.extend_from_slice(b",\"sig\":");
    out.extend_from_slice(&string(&B64.encode(sig)));
    out.extend_from_slice(format!(",\"tree_size\":{tree_size}}}\n").as_bytes());
    out
}

/// The result of checking a proof file (`runledger-verify --proof FILE --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ProofReport {
    /// `runledger-proof-report/v1`.
    pub format: String,
    /// `proven`, `invalid` or `could_not_check`.
    pub verdict: String,
    /// Why it is not proven.
    pub reason: Option<String>,
    /// What is proven.
    pub proven: Option<ProvenEvent>,
}

impl ProofReport {
    /// The report for a checked proof file.
    pub fn from_result(result: &Result<ProvenEvent, ProofError>) -> ProofReport {
        let (verdict, reason, proven) = match result {
            Ok(p) => ("proven", None, Some(p.clone())),
            Err(e @ ProofError::Malformed(_)) => ("could_not_check", Some(e.to_string()), None),
            Err(e @ ProofError::Invalid(_)) => ("invalid", Some(e.to_string()), None),
        };
        ProofReport {
            format: "runledger-proof-report/v1".into(),
            verdict: verdict.into(),
            reason,
            proven,
        }
    }
}

/// An event proven to be in a checkpointed tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(JsonSchema))]
pub struct ProvenEvent {
    /// Journal id.
    pub journal_id: String,
    /// Seq of the event.
    pub seq: u64,
    /// Kind of the event.
    pub kind: String,
    /// Time of the event.
    pub at: String,
    /// Name of the trusted key that signed the event.
    pub event_signer: String,
    /// Leaf hash, lowercase hex.
    pub leaf_hash: String,
    /// Checkpoint tree size.
    pub tree_size: u64,
    /// Checkpoint root, lowercase hex.
    pub root: String,
    /// Name of the trusted key that signed the checkpoint.
    pub checkpoint_signer: String,
    /// The event's canonical JSON.
    pub event: serde_json::Value,
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The file is not a proof file.
    #[error("not a proof file: {0}")]
    Malformed(String),
    /// The proof is well formed but does not prove inclusion.
    #[error("{0}")]
    Invalid(String),
}

/// Checks a proof file against the trusted keys alone.
pub fn verify_proof(text: &[u8], trusted: &TrustedKeys) -> Result<ProvenEvent, ProofError> {
    let malformed = |s: String| ProofError::Malformed(s);
    let invalid = |s: String| ProofError::Invalid(s);
    let spans = canonical::member_spans(text.strip_suffix(b"\n").unwrap_or(text))
        .map_err(|e| malformed(e.to_string()))?;
    let mut members = std::collections::BTreeMap::new();
    for (k, span) in spans {
        members.insert(k, span);
    }
    let take = |name: &str| -> Result<&[u8], ProofError> {
        members
            .get(name)
            .map(|r| &text[r.clone()])
            .ok_or_else(|| malformed(format!("no `{name}` member")))
    };
    let as_string = |name: &str| -> Result<String, ProofError> {
        match canonical::parse(take(name)?).map_err(|e| malformed(e.to_string()))? {
            Value::String(s) => Ok(s),
            _ => Err(malformed(format!("`{name}` is not a string"))),
        }
    };
    if members.len() != 6 {
        return Err(malformed(
            "expected exactly the members audit_path, checkpoint, event, format, sig, tree_size"
                .into(),
        ));
    }
    if as_string("format")? != PROOF_FORMAT {
        return Err(malformed(format!("format is not {PROOF_FORMAT}")));
    }
    let event_bytes = take("event")?;
    let event = Event::from_canonical_bytes(event_bytes).map_err(|e| match e {
        // Another format version is not a forgery: it cannot be checked here.
        crate::event::EventError::UnsupportedVersion(_) => malformed(format!("event: {e}")),
        e => invalid(format!("event: {e}")),
    })?;
    let sig = B64
        .decode(as_string("sig")?)
        .map_err(|e| malformed(format!("`sig` is not base64: {e}")))?;
    let tree_size =
        match canonical::parse(take("tree_size")?).map_err(|e| malformed(e.to_string()))? {
            Value::Int(n) if n >= 0 => n as u64,
            _ => {
                return Err(malformed(
                    "`tree_size` is not a non-negative integer".into(),
                ))
            }
        };
    let path: Vec<Hash> =
        match canonical::parse(take("audit_path")?).map_err(|e| malformed(e.to_string()))? {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => parse_hash_hex(&s),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    malformed("`audit_path` holds something other than 64-hex hashes".into())
                })?,
            _ => return Err(malformed("`audit_path` is not an array".into())),
        };

    let leaf = signing::event_leaf_hash(event_bytes);
    let key = trusted.get(&event.key).ok_or_else(|| {
        invalid(format!(
            "seq {}: signed by untrusted key {}",
            event.seq, event.key
        ))
    })?;
    signing::verify_leaf(&key.key, &leaf, &sig)
        .map_err(|e| invalid(format!("seq {}: {e}", event.seq)))?;

    let signed = checkpoint::parse_signed(&as_string("checkpoint")?)
        .map_err(|e| malformed(format!("checkpoint: {e}")))?;
    let cp_signer = signed
        .note
        .signatures
        .iter()
        .find_map(|s| {
            let k = trusted.by_note_name(&s.name, s.key_hash)?;
            signed.note.verify(&k.name, &k.key).ok()?;
            Some(k.name.clone())
        })
        .ok_or_else(|| invalid("checkpoint carries no valid signature by a trusted key".into()))?;
    let cp = signed.checkpoint;
    let origin = format!("runledger/{}", event.journal);
    if cp.origin != origin {
        return Err(invalid(format!(
            "checkpoint is for {:?}, the event for {origin:?}",
            cp.origin
        )));
    }
    if cp.size != tree_size {
        return Err(invalid(format!(
            "tree_size {tree_size} differs from the checkpoint's size {}",
            cp.size
        )));
    }
    merkle::verify_inclusion(event.seq, cp.size, &leaf, &path, &cp.root).map_err(|e| {
        invalid(format!(
            "seq {} is not in the checkpoint's tree: {e}",
            event.seq
        ))
    })?;
    Ok(ProvenEvent {
        journal_id: event.journal.clone(),
        seq: event.seq,
        kind: event.body.kind().as_str().into(),
        at: event.at.clone(),
        event_signer: key.name.clone(),
        leaf_hash: hex(&leaf),
        tree_size: cp.size,
        root: hex(&cp.root),
        checkpoint_signer: cp_signer,
        event: canonical::to_json(
            &canonical::parse(event_bytes).map_err(|e| malformed(e.to_string()))?,
        ),
    })
}

/// A one-line description of the proven event for humans.
pub fn describe(p: &ProvenEvent) -> String {
    format!(
        "seq {} ({}, {}) of journal {} is leaf {} of the {}-event tree {} signed by {}; the event is signed by {}",
        p.seq, p.kind, p.at, p.journal_id, p.seq, p.tree_size, p.root, p.checkpoint_signer, p.event_signer
    )
}
