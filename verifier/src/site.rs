//! The site log: one append-only log per site whose entries are the seals of journals, so that
//! witnesses configured once for the site cover every run of every journal.
//!
//! A witness (C2SP `tlog-witness`) is configured per log origin. Giving each journal its own
//! witnessed log would need one witness configuration per failover; instead every journal's
//! checkpoints are recorded as entries of the site's log — a seal names the journal, a tree
//! size and the journal's root at that size — and the site log's checkpoints are what the
//! witnesses cosign. A journal is then proven by:
//!
//! 1. a site checkpoint carrying cosignatures that satisfy the auditor's witness policy;
//! 2. the site log's entries up to that checkpoint's size, whose Merkle root is the
//!    checkpoint's root (every entry, so none can be left out);
//! 3. the journal itself, whose root at each sealed size equals the seal's root.
//!
//! Because the site log is append-only under the witnesses' eyes, a journal cut or rewritten
//! after a seal can only be sealed again by appending a second seal that contradicts the first;
//! both stay in the log for the verifier to see. This module parses the entries and the
//! evidence file a run writes beside its journal (`<journal>.witnessed.json`); it does no
//! networking. Which cosignatures count is decided by the caller (the witness policy).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::merkle::{self, Hash};
use crate::note::Note;

/// The first line of every site log entry.
pub const SEAL_FORMAT: &str = "runledger-seal/v1";

/// The `format` of an evidence file.
pub const EVIDENCE_FORMAT: &str = "runledger-site-evidence/v1";

/// The evidence file of the journal at `journal`: its file name with `.witnessed.json` appended.
pub fn evidence_path(journal: &std::path::Path) -> std::path::PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".witnessed.json");
    std::path::PathBuf::from(name)
}

/// One entry of a site log: a journal's tree at one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The journal's log origin, `runledger/<journal id>`.
    pub journal: String,
    /// How many of the journal's events the seal covers.
    pub size: u64,
    /// The journal's RFC 9162 root at that size.
    pub root: Hash,
}

/// Why a site log entry or an evidence file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteError {
    /// An entry is not a seal.
    #[error("site log entry {index}: {reason}")]
    Entry {
        /// The entry's index in the site log.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The evidence file is not what a run writes.
    #[error("{0}")]
    Evidence(String),
}

impl Seal {
    /// The entry's bytes: four lines, each ending in `\n`: the format, the journal's origin,
    /// the decimal size, the standard padded base64 root.
    pub fn entry(&self) -> String {
        format!(
            "{SEAL_FORMAT}\n{}\n{}\n{}\n",
            self.journal,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Parses an entry strictly: it must re-encode to exactly the same bytes.
    pub fn parse(entry: &str, index: u64) -> Result<Seal, SiteError> {
        let bad = |reason: String| SiteError::Entry { index, reason };
        let rest = entry
            .strip_prefix(SEAL_FORMAT)
            .and_then(|r| r.strip_prefix('\n'))
            .ok_or_else(|| bad(format!("does not start with the line {SEAL_FORMAT}")))?;
        // The rest is a checkpoint body's first three lines: origin, size, root.
        let cp = Checkpoint::parse_body(rest).map_err(|e: CheckpointError| bad(e.to_string()))?;
        if !cp.extensions.is_empty() {
            return Err(bad("has lines after the root".into()));
        }
        if !cp.origin.starts_with("runledger/") {
            return Err(bad(format!(
                "seals {:?}, which is not a journal (runledger/<journal id>)",
                cp.origin
            )));
        }
        let seal = Seal {
            journal: cp.origin,
            size: cp.size,
            root: cp.root,
        };
        if seal.entry() != entry {
            return Err(bad("is not in canonical form".into()));
        }
        Ok(seal)
    }
}

/// The evidence file as written beside a journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EvidenceFile {
    /// [`EVIDENCE_FORMAT`].
    pub format: String,
    /// The site checkpoint as a signed note: the site key's signature and the witnesses'
    /// cosignature lines.
    pub checkpoint: String,
    /// Every entry of the site log from index 0 up to the checkpoint's size.
    pub entries: Vec<String>,
}

/// An evidence file read and checked for consistency (not yet for cosignatures).
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Where it was read from (for messages).
    pub path: String,
    /// The site checkpoint's note.
    pub note: Note,
    /// The site checkpoint.
    pub checkpoint: Checkpoint,
    /// Every seal of the site log, with its index.
    pub seals: Vec<(u64, Seal)>,
}

impl Evidence {
    /// Parses an evidence file and checks that its entries are exactly the site log the
    /// checkpoint commits to (same count, same Merkle root) and that each is a seal.
    pub fn parse(path: &str, text: &str) -> Result<Evidence, SiteError> {
        let bad = |reason: String| SiteError::Evidence(format!("{path}: {reason}"));
        let file: EvidenceFile =
            serde_json::from_str(text).map_err(|e| bad(format!("not an evidence file: {e}")))?;
        if file.format != EVIDENCE_FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {EVIDENCE_FORMAT:?}",
                file.format
            )));
        }
        let checkpoint::SignedCheckpoint { checkpoint, note } =
            checkpoint::parse_signed(&file.checkpoint)
                .map_err(|e| bad(format!("checkpoint: {e}")))?;
        if file.entries.len() as u64 != checkpoint.size {
            return Err(bad(format!(
                "holds {} entries but its site checkpoint covers {}: the entries must be the whole site log up to it",
                file.entries.len(),
                checkpoint.size
            )));
        }
        let mut frontier = merkle::Frontier::new();
        let mut seals = Vec::with_capacity(file.entries.len());
        for (i, entry) in file.entries.iter().enumerate() {
            frontier.push(merkle::leaf_hash(entry.as_bytes()));
            let seal = Seal::parse(entry, i as u64).map_err(|e| bad(e.to_string()))?;
            seals.push((i as u64, seal));
        }
        if frontier.root() != checkpoint.root {
            return Err(bad(format!(
                "its {} entries do not hash to the root of its site checkpoint ({}): an entry was changed, added or left out",
                file.entries.len(),
                checkpoint.origin
            )));
        }
        Ok(Evidence {
            path: path.to_string(),
            note,
            checkpoint,
            seals,
        })
    }

    /// The seals of the journal whose origin is `journal`, in site log order.
    pub fn seals_of<'a>(&'a self, journal: &'a str) -> impl Iterator<Item = &'a (u64, Seal)> + 'a {
        self.seals.iter().filter(move |(_, s)| s.journal == journal)
    }
}

/// What a journal's seals in one site log say about it, given its roots at the sealed sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealsHold {
    /// Every seal is of a prefix of the journal and none is smaller than one before it; the
    /// largest covers `size` events.
    Yes {
        /// The size the last seal covers.
        size: u64,
        /// Its index in the site log.
        index: u64,
    },
    /// The site log holds no seal of the journal.
    None,
    /// A seal contradicts the journal.
    Contradicted {
        /// The entry's index.
        index: u64,
        /// The seq that the contradiction points to (the first missing or possibly differing).
        seq: u64,
        /// Why.
        reason: String,
    },
}

/// Checks the journal's seals against the journal: `total` events, `root_at(n)` its root at
/// size `n` (None when `n > total`).
pub fn seals_hold(
    seals: &[&(u64, Seal)],
    total: u64,
    root_at: impl Fn(u64) -> Option<Hash>,
) -> SealsHold {
    let mut last: Option<&(u64, Seal)> = None;
    for entry in seals {
        let (index, seal) = entry;
        if seal.size > total {
            return SealsHold::Contradicted {
                index: *index,
                seq: total,
                reason: format!(
                    "site log entry {index} seals the journal at {} events but it holds {total}: the journal was cut",
                    seal.size
                ),
            };
        }
        if root_at(seal.size) != Some(seal.root) {
            return SealsHold::Contradicted {
                index: *index,
                seq: seal.size.saturating_sub(1),
                reason: format!(
                    "site log entry {index} seals the journal's first {} events with another root: they were rewritten",
                    seal.size
                ),
            };
        }
        if let Some((before, prev)) = last {
            if seal.size < prev.size {
                return SealsHold::Contradicted {
                    index: *index,
                    seq: seal.size,
                    reason: format!(
                        "site log entry {index} seals the journal at {} events after entry {before} sealed it at {}: the journal was cut and sealed again",
                        seal.size, prev.size
                    ),
                };
            }
        }
        last = Some(entry);
    }
    match last {
        Some((index, seal)) => SealsHold::Yes {
            size: seal.size,
            index: *index,
        },
        None => SealsHold::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(size: u64, byte: u8) -> Seal {
        Seal {
            journal: "runledger/j1".into(),
            size,
            root: [byte; 32],
        }
    }

    #[test]
    fn an_entry_is_four_canonical_lines_and_nothing_else_parses() {
        let s = seal(7, 1);
        let e = s.entry();
        assert_eq!(
            e,
            format!(
                "runledger-seal/v1\nrunledger/j1\n7\n{}\n",
                STANDARD.encode([1u8; 32])
            )
        );
        assert_eq!(Seal::parse(&e, 0).unwrap(), s);
        for bad in [
            e.replace("seal/v1", "seal/v2"),
            e.replace("\n7\n", "\n07\n"),
            e.replace("runledger/j1", "other/j1"),
            format!("{e}extra\n"),
            e.trim_end().to_string(),
        ] {
            assert!(Seal::parse(&bad, 3).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seals_hold_only_for_growing_prefixes_of_the_journal() {
        let roots = |n: u64| (n <= 10).then_some([n as u8; 32]);
        let a = (0, seal(4, 4));
        let b = (1, seal(10, 10));
        assert_eq!(
            seals_hold(&[&a, &b], 10, roots),
            SealsHold::Yes { size: 10, index: 1 }
        );
        assert_eq!(seals_hold(&[], 10, roots), SealsHold::None);
        // Cut: a seal beyond the journal's end.
        let long = (2, seal(12, 12));
        assert!(matches!(
            seals_hold(&[&a, &long], 10, roots),
            SealsHold::Contradicted {
                index: 2,
                seq: 10,
                ..
            }
        ));
        // Rewritten: another root at a sealed size.
        let other = (3, seal(4, 9));
        assert!(matches!(
            seals_hold(&[&other], 10, roots),
            SealsHold::Contradicted { index: 3, .. }
        ));
        // Cut and sealed again: both seals match the journal as it is now, but the later one
        // is smaller.
        assert!(matches!(
            seals_hold(&[&b, &a], 10, roots),
            SealsHold::Contradicted {
                index: 0,
                seq: 4,
                ..
            }
        ));
    }

    #[test]
    fn evidence_must_be_the_whole_site_log_under_its_checkpoint() {
        let entries: Vec<String> = (1..=3).map(|n| seal(n, n as u8).entry()).collect();
        let mut frontier = merkle::Frontier::new();
        for e in &entries {
            frontier.push(merkle::leaf_hash(e.as_bytes()));
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let cp = Checkpoint {
            origin: "example.com/site".into(),
            size: 3,
            root: frontier.root(),
            extensions: vec![],
        };
        let note = cp.sign("site", &key).unwrap();
        let file = |entries: Vec<String>| {
            serde_json::to_string(&EvidenceFile {
                format: EVIDENCE_FORMAT.into(),
                checkpoint: note.clone(),
                entries,
            })
            .unwrap()
        };
        let ev = Evidence::parse("e.json", &file(entries.clone())).unwrap();
        assert_eq!(ev.seals_of("runledger/j1").count(), 3);
        let mut dropped = entries.clone();
        dropped.remove(1);
        assert!(Evidence::parse("e.json", &file(dropped))
            .unwrap_err()
            .to_string()
            .contains("holds 2 entries"));
        let mut changed = entries.clone();
        changed[1] = seal(2, 9).entry();
        assert!(Evidence::parse("e.json", &file(changed))
            .unwrap_err()
            .to_string()
            .contains("do not hash to the root"));
    }
}
