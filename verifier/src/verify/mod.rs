//! Verification of a whole journal (docs/journal-format.md §9).
//!
//! An auditor can read the sequential core alone, in this order:
//!
//! - `chain` — each event in its place: canonical and decoded, its seq, the stored hash, its
//!   signature under a trusted key, the `prev` chain, the journal id, time never going back;
//! - `run` — runs: one at a time, their embedded runbook, their intents in flight, and the
//!   run's own rules (`crate::semantics`);
//! - `verdict` — the end of the walk: backup files, the verdict and the report;
//! - `anchors` — checkpoints held against the journal, and what an open journal's tail is.
//!
//! `pipeline` only makes it faster: it does the work that depends on no other record on
//! worker threads and hands the records back in order; the verdict is the sequential one.
//!
//! `Verifier` takes untrusted records one at a time, in order, and keeps only what the checks
//! need: the previous leaf hash, the Merkle frontier, the current run's in-flight intents and
//! the report's capped rows. It stops at the first failure, which it names by seq, check,
//! expected and found. It never trusts a field before the event carrying it has been checked
//! to be canonical, in sequence and signed by a trusted key.
//!
//! **Speed.** The work on one record that does not depend on any other record —
//! the canonical check and decoding, the leaf hash and the strict signature check — is
//! `Prepared`: pure, so [`verify`] runs it on worker threads, one bounded chunk of records
//! at a time, while the checks that do depend on order (seq, `prev` chain, journal id,
//! timestamps, semantics, Merkle frontier) are applied on the calling thread to the prepared
//! records strictly in seq order. The first failure, its message and the verdict are exactly
//! those of checking one record after the other; only the throughput differs.
//!
//! Signatures are checked one by one with `verify_strict`, in parallel across cores, and not
//! with ed25519-dalek's batch verification: a batch equation accepts some signatures
//! `verify_strict` rejects (it is cofactored and does not reject small-order or non-canonical
//! `R`), so a batch could only be a fast path after re-checking each signature's components,
//! and on this format's one-key journals it would save at most about half of the curve work
//! of one core. Parallel strict verification keeps the acceptance rule of the spec exactly
//! and scales with cores.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use ed25519_dalek::VerifyingKey;

use crate::checkpoint::{self, Checkpoint};
use crate::event::{
    ActionKind, Body, Event, EventError, FileRef, ReconcileVerdict, DATA_LOSS_OBSERVATION,
    ZERO_HASH_HEX,
};
use crate::keys::TrustedKeys;
use crate::merkle::{Frontier, Hash};
use crate::report::*;
use crate::semantics::{RunRules, StepRule, Tally, Violation};
use crate::signing::{self, hex, SignatureError};
use crate::source::{self, Format, Position, RawRecord, SourceError};

/// What to verify beyond the journal itself.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Checkpoints to hold the journal against: (file name for reports, note text).
    pub checkpoints: Vec<(String, String)>,
    /// Directory holding the backup files the journal names.
    pub backups: Option<PathBuf>,
    /// Fail unless the journal is sealed or anchored.
    pub require_sealed: bool,
    /// Fail unless a trusted checkpoint covers the whole journal.
    pub require_anchor: bool,
    /// Whether witnesses vouch for the journal, and by which policy.
    pub witness: Option<WitnessOptions>,
    /// Fail unless cosignatures meeting the policy's quorum cover the whole journal.
    pub require_witness: bool,
    /// Time-stamp tokens over checkpoints given in `checkpoints` (trusted time).
    pub stamps: Vec<StampInput>,
    /// The TSA certificates to check `stamps` with (`--tsa-cert`); None lists them unchecked.
    pub tsa_certs: Option<Vec<crate::timestamp::TsaCert>>,
}

/// A time-stamp token found beside a checkpoint.
#[derive(Debug, Clone)]
pub struct StampInput {
    /// The checkpoint it stamps: its name in [`Options::checkpoints`].
    pub checkpoint: String,
    /// The token's file, for reports.
    pub path: String,
    /// The token (DER).
    pub token: Vec<u8>,
}

/// Why verification could not even start.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The journal could not be read as a journal.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A checkpoint file is not a signed checkpoint.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Verifies the journal at `path` (SQLite or JSONL, detected from its first bytes).
///
/// `Err` means the verdict is *could not check* (exit 2): nothing was proven either way.
pub fn verify(
    path: &Path,
    trusted: &TrustedKeys,
    options: &Options,
) -> Result<Report, VerifyError> {
    verify_with_tail(path, trusted, options).map(|(report, _)| report)
}

/// Where the events that passed every per-event check end: what a writer needs to append the
/// next event, taken from the verification pass so that a writer reopening a journal reads
/// it once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    /// How many events passed (the seq of the next one).
    pub events: u64,
    /// The leaf hash of the last of them (zeros when there is none).
    pub last_leaf: Hash,
    /// The Merkle frontier over them.
    pub frontier: Frontier,
    /// The timestamp of the last of them.
    pub last_at: Option<String>,
}

/// [`verify`], also returning the [`Tail`] of the events that passed. Only a valid verdict
/// makes the tail the journal's end.
pub fn verify_with_tail(
    path: &Path,
    trusted: &TrustedKeys,
    options: &Options,
) -> Result<(Report, Tail), VerifyError> {
    let format = source::detect(path)?;
    let mut verifier = Verifier::new(path.display().to_string(), format, trusted, options)?;
    let workers = worker_threads();
    let walk = if workers <= 1 {
        source::for_each_record(path, format, |record| verifier.push(record))
    } else {
        for_each_prepared(path, format, trusted, workers, |prepared| {
            verifier.push_prepared(prepared)
        })
    };
    match walk {
        Ok(()) => {}
        Err(SourceError::Record { position, reason }) => {
            verifier.fail_container(position, reason);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(verifier.finish_with_tail())
}

mod anchors;
mod chain;
mod pipeline;
mod run;
mod trusted_time;
mod verdict;
mod witnessed;

use anchors::checkpoint_status;
use anchors::HeldCheckpoint;
use chain::decode_public_key;
pub use pipeline::THREADS_ENV;
use pipeline::{for_each_prepared, worker_threads, Prepared};
use run::RunState;
use witnessed::HeldEvidence;
pub use witnessed::WitnessOptions;

#[cfg(test)]
mod testing;

/// The streaming verifier.
pub struct Verifier<'a> {
    trusted: &'a TrustedKeys,
    options: &'a Options,
    summary: JournalSummary,
    next_seq: u64,
    prev: Hash,
    frontier: Frontier,
    last_at: Option<String>,
    checkpoints: Vec<HeldCheckpoint>,
    run: Option<RunState>,
    run_ids: HashSet<String>,
    last_was_sealed: bool,
    signers: BTreeMap<String, u64>,
    runs: Vec<RunRow>,
    runs_omitted: u64,
    steps: Vec<StepRow>,
    steps_omitted: u64,
    files: BTreeMap<(String, String), BackupFileRow>,
    files_omitted: u64,
    not_applied: Vec<NotAppliedRow>,
    /// Rows of a `data_loss` observation nothing has followed yet: a resume that read the world
    /// again drops them, an action or decision after them counts them.
    pending_not_applied: Vec<NotAppliedRow>,
    failure: Option<Failure>,
    could_not_check: bool,
    /// What the run rules examined in finished runs.
    tally: Tally,
    /// Each run's intents held against the plan it recorded.
    plan: crate::plan_check::PlanCheck,
    /// Site evidence given, read before the walk.
    evidence: Vec<HeldEvidence>,
    /// The sizes the evidence seals (of any journal: which one is this is known at the end).
    sealed_sizes: BTreeSet<u64>,
    /// The journal's root at each size in `sealed_sizes` the walk reached.
    roots_at: BTreeMap<u64, Hash>,
}

type Fail = Box<Failure>;

fn fail(check: Check, seq: Option<u64>, reason: impl Into<String>) -> Fail {
    Box::new(Failure {
        check,
        seq,
        position: None,
        reason: reason.into(),
        expected: None,
        found: None,
    })
}

fn mismatch(
    check: Check,
    seq: u64,
    reason: impl Into<String>,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> Fail {
    Box::new(Failure {
        check,
        seq: Some(seq),
        position: None,
        reason: reason.into(),
        expected: Some(expected.into()),
        found: Some(found.into()),
    })
}

fn violated(v: Violation) -> Fail {
    fail(v.check, Some(v.seq), v.reason)
}

/// The step id of a unit: a unit is a step id, or `STEP/FILE` for the work of a step on one
/// file (`copy/mgc_1.trn` belongs to step `copy`).
pub fn step_of(unit: &str) -> &str {
    unit.split_once('/').map_or(unit, |(step, _)| step)
}

impl<'a> Verifier<'a> {
    /// A verifier for one journal; parses and authenticates the checkpoints given.
    pub fn new(
        path: String,
        format: Format,
        trusted: &'a TrustedKeys,
        options: &'a Options,
    ) -> Result<Verifier<'a>, VerifyError> {
        let mut checkpoints = Vec::new();
        for (cp_path, text) in &options.checkpoints {
            let signed = checkpoint::parse_signed(text).map_err(|e| VerifyError::Checkpoint {
                path: cp_path.clone(),
                reason: e.to_string(),
            })?;
            let signer = signed.note.signatures.iter().find_map(|sig| {
                let key = trusted.by_note_name(&sig.name, sig.key_hash)?;
                signed.note.verify(&key.name, &key.key).ok()?;
                Some(key.name.clone())
            });
            checkpoints.push(HeldCheckpoint {
                path: cp_path.clone(),
                checkpoint: signed.checkpoint,
                note: signed.note,
                signer,
                matched: None,
            });
        }
        let evidence = match &options.witness {
            Some(w) => witnessed::hold_evidence(w)?,
            None => Vec::new(),
        };
        let sealed_sizes = evidence
            .iter()
            .flat_map(|e| e.evidence.seals.iter().map(|(_, s)| s.size))
            .collect();
        Ok(Verifier {
            trusted,
            options,
            summary: JournalSummary {
                path,
                format: format.as_str().into(),
                ..JournalSummary::default()
            },
            next_seq: 0,
            prev: [0u8; 32],
            frontier: Frontier::new(),
            last_at: None,
            checkpoints,
            run: None,
            run_ids: HashSet::new(),
            last_was_sealed: false,
            signers: BTreeMap::new(),
            runs: Vec::new(),
            runs_omitted: 0,
            steps: Vec::new(),
            steps_omitted: 0,
            files: BTreeMap::new(),
            files_omitted: 0,
            not_applied: Vec::new(),
            pending_not_applied: Vec::new(),
            failure: None,
            could_not_check: false,
            tally: Tally::default(),
            plan: Default::default(),
            evidence,
            sealed_sizes,
            roots_at: BTreeMap::new(),
        })
    }

    /// Checks the next record. Returns false once a check has failed (the walk can stop).
    pub fn push(&mut self, record: RawRecord) -> bool {
        if self.failure.is_some() {
            return false;
        }
        self.push_prepared(Prepared::new(record, self.trusted))
    }

    /// Checks the next record, its per-record work already done (possibly on another thread,
    /// with this verifier's trusted keys). Returns false once a check has failed.
    fn push_prepared(&mut self, record: Prepared) -> bool {
        if self.failure.is_some() {
            return false;
        }
        let position = record.position;
        let current = self.next_seq;
        match self.check_record(record) {
            Ok(()) => true,
            Err(mut f) => {
                // A run's rule may fault an earlier event (an intent whose outcome shows it ran
                // unapproved): every event before this one passed `sequence`, so its place is
                // known from its seq.
                let position = match (f.seq, position) {
                    (Some(seq), Position::Row(_)) if seq < current => Position::Row(seq as i64),
                    (Some(seq), Position::Line(_)) if seq < current => Position::Line(seq + 1),
                    _ => position,
                };
                f.position = Some(position.to_string());
                self.failure = Some(*f);
                false
            }
        }
    }

    /// Records a failure of the container (a JSONL line that is not a record).
    pub fn fail_container(&mut self, position: Position, reason: String) {
        if self.failure.is_none() {
            let mut f = fail(Check::CanonicalForm, Some(self.next_seq), reason);
            f.position = Some(position.to_string());
            self.failure = Some(*f);
        }
    }
}
