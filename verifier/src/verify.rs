//! Verification of a whole journal (docs/journal-format.md §9).
//!
//! `Verifier` takes untrusted records one at a time, in order, and keeps only what the checks
//! need: the previous leaf hash, the Merkle frontier, the current run's in-flight intents and
//! the report's capped rows. It stops at the first failure, which it names by seq, check,
//! expected and found. It never trusts a field before the event carrying it has been checked
//! to be canonical, in sequence and signed by a trusted key.
//!
//! **Speed.** The work on one record that does not depend on any other record —
//! the canonical check and decoding, the leaf hash and the strict signature check — is
//! [`Prepared`]: pure, so [`verify`] runs it on worker threads, one bounded chunk of records
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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use ed25519_dalek::VerifyingKey;

use crate::checkpoint::{self, Checkpoint};
use crate::event::{
    Body, Event, EventError, FileRef, ReconcileVerdict, DATA_LOSS_OBSERVATION, ZERO_HASH_HEX,
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

/// Environment variable that sets how many threads prepare records (decode, hash, verify the
/// signature); unset or 0: one per core. `1` checks every record on the calling thread.
pub const THREADS_ENV: &str = "RUNLEDGER_VERIFY_THREADS";

/// Records per chunk handed to a worker: large enough that channel costs vanish next to
/// ~50 µs of signature check per record, small enough to keep every core busy.
const CHUNK_RECORDS: usize = 256;
/// A chunk is also closed once its records hold this many bytes, so that chunks of very large
/// events (up to `MAX_EVENT_BYTES` each) still bound memory.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks read but not yet checked in order, per worker: bounds memory to about
/// `workers × CHUNKS_PER_WORKER × (CHUNK_BYTES + one event)` whatever the journal's length.
const CHUNKS_PER_WORKER: usize = 3;

fn worker_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) if n > 0 => n.min(256),
        _ => cores,
    }
}

/// A record with the work done that depends on no other record: decoded (which checks its
/// canonical form), hashed, and its signature checked strictly under the key it names when
/// that key is trusted. Still untrusted: nothing here has been held against the journal.
struct Prepared {
    position: Position,
    stored_leaf_hash: Option<Vec<u8>>,
    decoded: Result<Event, EventError>,
    leaf: Hash,
    /// `None` when the event did not decode or names an untrusted key.
    signature: Option<Result<(), SignatureError>>,
}

impl Prepared {
    /// Does the per-record work; pure, so it may run on any thread.
    fn new(record: RawRecord, trusted: &TrustedKeys) -> Prepared {
        let decoded = Event::from_canonical_bytes(&record.event);
        let leaf = signing::event_leaf_hash(&record.event);
        let signature = match &decoded {
            Ok(event) => trusted
                .get(&event.key)
                .map(|key| signing::verify_leaf(&key.key, &leaf, &record.sig)),
            Err(_) => None,
        };
        Prepared {
            position: record.position,
            stored_leaf_hash: record.stored_leaf_hash,
            decoded,
            leaf,
            signature,
        }
    }
}

/// A bounded run of consecutive records, and the reader's end if it came after them.
struct Chunk<T> {
    index: u64,
    records: Vec<T>,
    end: Option<Result<(), SourceError>>,
}

/// Like [`source::for_each_record`], but hands `visit` each record already [`Prepared`],
/// in order. A reader thread cuts the journal into chunks, `workers` threads prepare them,
/// and the calling thread puts them back in order and visits them. At most
/// `workers × CHUNKS_PER_WORKER` chunks exist at any time (the reader waits for a credit that
/// the calling thread returns once it has taken a chunk), so memory does not grow with the
/// journal. When `visit` returns false, or the container fails, the walk ends exactly where
/// the sequential walk would have; records read ahead of that point are dropped unvisited.
fn for_each_prepared(
    path: &Path,
    format: Format,
    trusted: &TrustedKeys,
    workers: usize,
    mut visit: impl FnMut(Prepared) -> bool,
) -> Result<(), SourceError> {
    let in_flight = workers * CHUNKS_PER_WORKER;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (credit_tx, credit_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            credit_tx.send(()).expect("room for every credit");
        }
        let (work_tx, work_rx) = sync_channel::<Chunk<RawRecord>>(in_flight);
        let (done_tx, done_rx) = sync_channel::<Chunk<Prepared>>(in_flight);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let stop = &stop;

        s.spawn(move || {
            let mut index = 0u64;
            let mut records = Vec::with_capacity(CHUNK_RECORDS);
            let mut bytes = 0usize;
            // Sends a chunk once a credit is free; false once the consumer is gone.
            let mut send = |records: Vec<RawRecord>, end: Option<Result<(), SourceError>>| {
                if credit_rx.recv().is_err() {
                    return false;
                }
                let chunk = Chunk {
                    index,
                    records,
                    end,
                };
                index += 1;
                work_tx.send(chunk).is_ok()
            };
            let walk = source::for_each_record(path, format, |record| {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                bytes += record.event.len() + record.sig.len();
                records.push(record);
                if records.len() < CHUNK_RECORDS && bytes < CHUNK_BYTES {
                    return true;
                }
                bytes = 0;
                let full = std::mem::replace(&mut records, Vec::with_capacity(CHUNK_RECORDS));
                send(full, None)
            });
            send(records, Some(walk));
        });

        for _ in 0..workers {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            s.spawn(move || loop {
                // The lock is held only while waiting for the next chunk, not while working.
                let next = work_rx.lock().map(|rx| rx.recv());
                let Ok(Ok(chunk)) = next else { return };
                let prepared = Chunk {
                    index: chunk.index,
                    records: chunk
                        .records
                        .into_iter()
                        .map(|r| Prepared::new(r, trusted))
                        .collect(),
                    end: chunk.end,
                };
                if done_tx.send(prepared).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);

        // In order: chunk `next` is visited only after every chunk before it.
        let mut waiting: BTreeMap<u64, Chunk<Prepared>> = BTreeMap::new();
        let mut next = 0u64;
        let outcome = loop {
            let chunk = match waiting.remove(&next) {
                Some(chunk) => chunk,
                None => match done_rx.recv() {
                    Ok(chunk) => {
                        waiting.insert(chunk.index, chunk);
                        continue;
                    }
                    // Every worker is gone without the last chunk: only a panic does that,
                    // and the scope re-raises it.
                    Err(_) => break Ok(()),
                },
            };
            next += 1;
            let _ = credit_tx.send(());
            let mut stopped = false;
            for prepared in chunk.records {
                if !visit(prepared) {
                    stopped = true;
                    break;
                }
            }
            if stopped {
                break Ok(());
            }
            if let Some(end) = chunk.end {
                break end;
            }
        };
        // Unblock and end the reader and the workers: they stop at their next send or wait.
        stop.store(true, Ordering::Relaxed);
        drop(credit_tx);
        drop(done_rx);
        outcome
    })
}

/// A checkpoint parsed and held against the journal as it streams by.
struct HeldCheckpoint {
    path: String,
    checkpoint: Checkpoint,
    signer: Option<String>,
    /// Some(true) when the root at its size matched, Some(false) when it did not.
    matched: Option<bool>,
}

/// State of the run in progress.
struct RunState {
    id: String,
    /// Step id → (position in the runbook, action).
    steps: HashMap<String, (usize, String)>,
    last_index: Option<usize>,
    /// (step unit, attempt) → in-flight intent.
    in_flight: BTreeMap<(String, u64), InFlight>,
    /// Step unit → last attempt seen.
    attempts: HashMap<String, u64>,
    last_resume_seq: Option<u64>,
    row: Option<usize>,
    /// The run's own rules (approvals, decisions, failures, restores, recovery, status).
    rules: RunRules,
}

struct InFlight {
    seq: u64,
    leaf: Hash,
    row: Option<usize>,
}

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
    plan: crate::plan_check::PlanCheck,
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

#[derive(serde::Deserialize)]
struct RunbookSteps {
    #[serde(default)]
    steps: Vec<RunbookStep>,
}

#[derive(serde::Deserialize)]
struct RunbookStep {
    id: String,
    action: String,
    #[serde(default)]
    requires_approval: bool,
    #[serde(default)]
    warn_only: bool,
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
                signer,
                matched: None,
            });
        }
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

    fn check_record(&mut self, record: Prepared) -> Result<(), Fail> {
        let seq = self.next_seq;
        let event = record.decoded.map_err(|e| match e {
            EventError::Canonical(c) => fail(Check::CanonicalForm, Some(seq), c.to_string()),
            EventError::UnsupportedVersion(_) => {
                self.could_not_check = true;
                fail(Check::EventForm, Some(seq), e.to_string())
            }
            other => fail(Check::EventForm, Some(seq), other.to_string()),
        })?;

        // Sequence: the event's own seq, and for SQLite the row it sits in.
        if event.seq != seq {
            let what = if event.seq < seq {
                "repeated or reordered event"
            } else {
                "missing event(s) or reordered event"
            };
            return Err(mismatch(
                Check::Sequence,
                seq,
                format!("{what}: expected seq {seq}, found seq {}", event.seq),
                seq.to_string(),
                event.seq.to_string(),
            ));
        }
        if let Position::Row(row) = record.position {
            if row != seq as i64 {
                return Err(mismatch(
                    Check::Sequence,
                    seq,
                    format!("row {row} holds event seq {seq}"),
                    seq.to_string(),
                    row.to_string(),
                ));
            }
        }

        let leaf = record.leaf;
        if let Some(stored) = &record.stored_leaf_hash {
            if stored.as_slice() != leaf {
                return Err(mismatch(
                    Check::StoredHash,
                    seq,
                    "stored leaf_hash column differs from the hash of the stored event",
                    hex(&leaf),
                    hex(stored),
                ));
            }
        }

        let Some(key) = self.trusted.get(&event.key) else {
            return Err(mismatch(
                Check::Signatures,
                seq,
                format!("signed by untrusted key {}", event.key),
                "a key in the trusted-keys file",
                event.key.clone(),
            ));
        };
        // Prepared under these same trusted keys, so a trusted key always has its result;
        // were it missing, fail closed rather than accept an unchecked signature.
        match record.signature {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(fail(
                    Check::Signatures,
                    Some(seq),
                    format!("{e} ({})", key.name),
                ))
            }
            None => {
                return Err(fail(
                    Check::Signatures,
                    Some(seq),
                    format!("signature was not checked ({})", key.name),
                ))
            }
        }

        // Compared without building the expected hex string (one allocation per event saved).
        let prev_holds = if seq == 0 {
            event.prev == ZERO_HASH_HEX
        } else {
            is_hex_of(&event.prev, &self.prev)
        };
        if !prev_holds {
            let expected_prev = if seq == 0 {
                ZERO_HASH_HEX.to_string()
            } else {
                hex(&self.prev)
            };
            return Err(mismatch(
                Check::Chain,
                seq,
                format!(
                    "chain break at seq {seq}: prev is not the leaf hash of seq {}",
                    seq.saturating_sub(1)
                ),
                expected_prev,
                event.prev.clone(),
            ));
        }

        match &self.summary.journal_id {
            None => self.summary.journal_id = Some(event.journal.clone()),
            Some(id) if *id != event.journal => {
                return Err(mismatch(
                    Check::JournalId,
                    seq,
                    "journal id changed",
                    id.clone(),
                    event.journal.clone(),
                ))
            }
            Some(_) => {}
        }

        if let Some(last) = &self.last_at {
            if event.at < *last {
                return Err(mismatch(
                    Check::Timestamps,
                    seq,
                    "timestamp goes backwards",
                    format!("at or after {last}"),
                    event.at.clone(),
                ));
            }
        }

        self.check_semantics(&event, &leaf)?;
        self.plan.event(&event)?;

        // Everything about this event holds: fold it in.
        match self.signers.get_mut(&event.key) {
            Some(n) => *n += 1,
            None => {
                self.signers.insert(event.key.clone(), 1);
            }
        }
        self.last_at = Some(event.at);
        self.prev = leaf;
        self.frontier.push(leaf);
        self.next_seq += 1;
        self.summary.events = self.next_seq;
        self.summary.last_seq = Some(seq);
        let size = self.frontier.size();
        // The root costs ~log2(size) node hashes: only computed at a checkpoint's size.
        if self.checkpoints.iter().any(|cp| cp.checkpoint.size == size) {
            let root = self.frontier.root();
            for cp in &mut self.checkpoints {
                if cp.checkpoint.size == size {
                    cp.matched = Some(cp.checkpoint.root == root);
                }
            }
        }
        Ok(())
    }

    fn check_semantics(&mut self, event: &Event, leaf: &Hash) -> Result<(), Fail> {
        let seq = event.seq;
        self.last_was_sealed = false;
        if seq == 0 {
            let Body::JournalOpened(opened) = &event.body else {
                return Err(fail(
                    Check::EventForm,
                    Some(0),
                    format!("seq 0 is {}, expected journal.opened", event.body.kind()),
                ));
            };
            if opened.journal_id != event.journal {
                return Err(mismatch(
                    Check::JournalId,
                    0,
                    "journal.opened names another journal id",
                    event.journal.clone(),
                    opened.journal_id.clone(),
                ));
            }
            let key = decode_public_key(&opened.public_key).ok_or_else(|| {
                fail(
                    Check::EventForm,
                    Some(0),
                    "public_key is not a base64 Ed25519 key",
                )
            })?;
            if signing::key_id(&key) != event.key {
                return Err(mismatch(
                    Check::Signatures,
                    0,
                    "journal.opened's public key is not the key that signed it",
                    event.key.clone(),
                    signing::key_id(&key),
                ));
            }
            return Ok(());
        }
        let run_id = event.run.clone().unwrap_or_default();
        match &event.body {
            Body::JournalOpened(_) => Err(fail(
                Check::EventForm,
                Some(seq),
                "journal.opened after seq 0",
            )),
            Body::RunStarted(started) => {
                if let Some(run) = &self.run {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!("run {run_id} started while run {} has not finished", run.id),
                    ));
                }
                if started.run_id != run_id {
                    return Err(mismatch(
                        Check::EventForm,
                        seq,
                        "run.started names another run id",
                        run_id,
                        started.run_id.clone(),
                    ));
                }
                if !self.run_ids.insert(run_id.clone()) {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!("run id {run_id} started twice"),
                    ));
                }
                let actual = signing::sha256_hex(started.runbook.source.as_bytes());
                if actual != started.runbook.sha256 {
                    return Err(mismatch(
                        Check::Runbook,
                        seq,
                        "embedded runbook source does not match its sha256",
                        started.runbook.sha256.clone(),
                        actual,
                    ));
                }
                let parsed: RunbookSteps =
                    toml::from_str(&started.runbook.source).map_err(|e| {
                        fail(
                            Check::Runbook,
                            Some(seq),
                            format!(
                                "embedded runbook is not readable TOML: {}",
                                crate::terminal::first_line(&e.to_string())
                            ),
                        )
                    })?;
                let mut steps = HashMap::new();
                let mut rules = Vec::with_capacity(parsed.steps.len());
                for (i, step) in parsed.steps.into_iter().enumerate() {
                    rules.push((
                        step.id.clone(),
                        StepRule {
                            action: step.action.clone(),
                            needs_approval: step.requires_approval || step.action == "manual",
                            warn_only: step.warn_only,
                        },
                    ));
                    if steps.insert(step.id.clone(), (i, step.action)).is_some() {
                        return Err(fail(
                            Check::Runbook,
                            Some(seq),
                            format!("embedded runbook declares step {:?} twice", step.id),
                        ));
                    }
                }
                let row = if self.runs.len() < MAX_RUN_ROWS {
                    self.runs.push(RunRow {
                        run_id: run_id.clone(),
                        runbook: started.runbook.name.clone(),
                        version: started.runbook.version.clone(),
                        runbook_sha256: started.runbook.sha256.clone(),
                        operator: format!("{}@{}", started.operator.user, started.operator.host),
                        started_at: event.at.clone(),
                        finished_at: None,
                        status: "in_flight".into(),
                        resumes: 0,
                        started_seq: seq,
                    });
                    Some(self.runs.len() - 1)
                } else {
                    self.runs_omitted += 1;
                    None
                };
                self.run = Some(RunState {
                    id: run_id,
                    steps,
                    last_index: None,
                    in_flight: BTreeMap::new(),
                    attempts: HashMap::new(),
                    last_resume_seq: None,
                    row,
                    rules: RunRules::new(rules, &event.key),
                });
                Ok(())
            }
            body => {
                let Some(run) = self.run.as_mut() else {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!("{} for run {run_id}, which is not in progress", body.kind()),
                    ));
                };
                if run.id != run_id {
                    return Err(mismatch(
                        Check::IntentPairing,
                        seq,
                        format!("{} names another run than the one in progress", body.kind()),
                        run.id.clone(),
                        run_id,
                    ));
                }
                self.check_run_event(event, leaf)
            }
        }
    }

    fn check_run_event(&mut self, event: &Event, leaf: &Hash) -> Result<(), Fail> {
        let seq = event.seq;
        match &event.body {
            Body::Observation(_) => {}
            // The stopped process's unacted readings were read again by the resumed one.
            Body::RunResumed(_) => self.pending_not_applied.clear(),
            _ => self.commit_not_applied(),
        }
        let run = self
            .run
            .as_mut()
            .expect("caller checked the run is in progress");
        let known_step = |run: &RunState, unit: &str| -> Result<(usize, String), Fail> {
            run.steps.get(step_of(unit)).cloned().ok_or_else(|| {
                fail(
                    Check::Runbook,
                    Some(seq),
                    format!("step {:?} is not in the run's runbook", step_of(unit)),
                )
            })
        };
        match &event.body {
            Body::Observation(obs) => {
                if let Some(step) = &obs.step {
                    known_step(run, step)?;
                }
                if obs.name == DATA_LOSS_OBSERVATION {
                    let point = obs.data["recovery_point"]["lsn"]
                        .as_str()
                        .map(str::to_string);
                    for f in obs.data["not_applied"].as_array().into_iter().flatten() {
                        if self.pending_not_applied.len() >= MAX_FILE_ROWS {
                            break;
                        }
                        self.pending_not_applied.push(NotAppliedRow {
                            run_id: run.id.clone(),
                            step: obs.step.clone().unwrap_or_default(),
                            seq,
                            file: f["file"].as_str().unwrap_or("").to_string(),
                            reason: f["reason"].as_str().unwrap_or("").to_string(),
                            error: f["error"].as_i64(),
                            recovery_point_lsn: point.clone(),
                        });
                    }
                }
            }
            Body::StepIntent(intent) => {
                let (index, action) = known_step(run, &intent.step)?;
                if action != intent.action {
                    return Err(mismatch(
                        Check::Runbook,
                        seq,
                        format!(
                            "step {:?} intends another action than the runbook's",
                            intent.step
                        ),
                        action,
                        intent.action.clone(),
                    ));
                }
                if let Some(last) = run.last_index {
                    if index < last {
                        return Err(fail(
                            Check::Runbook,
                            Some(seq),
                            format!(
                                "step {:?} runs after a later step of the runbook (order not respected)",
                                intent.step
                            ),
                        ));
                    }
                }
                let expected_attempt = run.attempts.get(&intent.step).copied().unwrap_or(0) + 1;
                if intent.attempt != expected_attempt {
                    return Err(mismatch(
                        Check::IntentPairing,
                        seq,
                        format!("step {:?} attempt out of order", intent.step),
                        expected_attempt.to_string(),
                        intent.attempt.to_string(),
                    ));
                }
                run.last_index = Some(index);
                run.attempts.insert(intent.step.clone(), intent.attempt);
                let row = if self.steps.len() < MAX_STEP_ROWS {
                    self.steps.push(StepRow {
                        run_id: run.id.clone(),
                        step: intent.step.clone(),
                        attempt: intent.attempt,
                        action: intent.action.clone(),
                        intent_seq: seq,
                        started_at: event.at.clone(),
                        ended_at: None,
                        status: "in_flight".into(),
                        duration_us: None,
                    });
                    Some(self.steps.len() - 1)
                } else {
                    self.steps_omitted += 1;
                    None
                };
                run.in_flight.insert(
                    (intent.step.clone(), intent.attempt),
                    InFlight {
                        seq,
                        leaf: *leaf,
                        row,
                    },
                );
                for input in &intent.inputs {
                    note_file(&mut self.files, &mut self.files_omitted, input, seq);
                }
            }
            Body::StepOutcome(outcome) => {
                let flight =
                    take_in_flight(run, &outcome.step, outcome.attempt, seq, "step.outcome")?;
                if let Some(row) = flight.row.and_then(|r| self.steps.get_mut(r)) {
                    row.ended_at = Some(event.at.clone());
                    row.status = serde_json::to_value(outcome.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    row.duration_us = Some(outcome.duration_us);
                }
            }
            Body::StepReconciled(rec) => {
                let in_doubt_before_resume = run
                    .in_flight
                    .get(&(rec.step.clone(), rec.attempt))
                    .zip(run.last_resume_seq)
                    .is_some_and(|(f, resumed)| f.seq < resumed);
                let flight = take_in_flight(run, &rec.step, rec.attempt, seq, "step.reconciled")?;
                if !in_doubt_before_resume {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!(
                            "step.reconciled for {:?} attempt {} without a run.resumed after its intent (seq {})",
                            rec.step, rec.attempt, flight.seq
                        ),
                    ));
                }
                if let Some(row) = flight.row.and_then(|r| self.steps.get_mut(r)) {
                    row.ended_at = Some(event.at.clone());
                    row.status = format!(
                        "reconciled: {}",
                        match rec.verdict {
                            ReconcileVerdict::Applied => "applied",
                            ReconcileVerdict::NotApplied => "not_applied",
                            ReconcileVerdict::OperatorDecided => "operator_decided",
                        }
                    );
                }
            }
            Body::Approval(approval) => {
                known_step(run, &approval.step)?;
                if let Some(target) = &approval.intent {
                    let found = run
                        .in_flight
                        .values()
                        .find(|f| f.seq == target.seq)
                        .ok_or_else(|| {
                            fail(
                                Check::IntentPairing,
                                Some(seq),
                                format!(
                                    "approval names seq {}, which is not an intent in flight",
                                    target.seq
                                ),
                            )
                        })?;
                    if let Some(((step, _), _)) =
                        run.in_flight.iter().find(|(_, f)| f.seq == target.seq)
                    {
                        if step_of(step) != step_of(&approval.step) {
                            return Err(mismatch(
                                Check::IntentPairing,
                                seq,
                                format!(
                                    "approval of step {:?} names the intent of another step",
                                    approval.step
                                ),
                                step.clone(),
                                approval.step.clone(),
                            ));
                        }
                    }
                    if hex(&found.leaf) != target.leaf_hash {
                        return Err(mismatch(
                            Check::IntentPairing,
                            seq,
                            format!("approval names seq {} with another leaf hash", target.seq),
                            hex(&found.leaf),
                            target.leaf_hash.clone(),
                        ));
                    }
                }
            }
            Body::RunResumed(resumed) => {
                let expected: Vec<(String, u64, u64)> = run
                    .in_flight
                    .iter()
                    .map(|((s, a), f)| (s.clone(), *a, f.seq))
                    .collect();
                let mut found: Vec<(String, u64, u64)> = resumed
                    .in_doubt
                    .iter()
                    .map(|d| (d.step.clone(), d.attempt, d.intent_seq))
                    .collect();
                found.sort();
                if expected != found {
                    return Err(mismatch(
                        Check::IntentPairing,
                        seq,
                        "run.resumed lists other in-doubt intents than those without outcome",
                        describe_units(&expected),
                        describe_units(&found),
                    ));
                }
                run.last_resume_seq = Some(seq);
                if let Some(row) = run.row.and_then(|r| self.runs.get_mut(r)) {
                    row.resumes += 1;
                }
            }
            Body::RunFinished(finished) => {
                if let Some(((step, attempt), f)) = run.in_flight.iter().next() {
                    return Err(fail(
                        Check::IntentPairing,
                        Some(seq),
                        format!(
                            "run finished with step {step:?} attempt {attempt} (intent seq {}) neither completed nor reconciled",
                            f.seq
                        ),
                    ));
                }
                if finished.sealed.size != seq {
                    return Err(mismatch(
                        Check::Seal,
                        seq,
                        "seal does not cover every event before run.finished",
                        seq.to_string(),
                        finished.sealed.size.to_string(),
                    ));
                }
                let root = hex(&self.frontier.root());
                if finished.sealed.root != root {
                    return Err(mismatch(
                        Check::Seal,
                        seq,
                        "seal root differs from the tree of the events before it",
                        root,
                        finished.sealed.root.clone(),
                    ));
                }
                if let Some(row) = run.row.and_then(|r| self.runs.get_mut(r)) {
                    row.finished_at = Some(event.at.clone());
                    row.status = serde_json::to_value(finished.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                }
                run.rules.event(event).map_err(violated)?;
                self.tally.add(run.rules.tally());
                self.run = None;
                self.last_was_sealed = true;
                return Ok(());
            }
            Body::JournalOpened(_) | Body::RunStarted(_) => {
                unreachable!("handled by check_semantics")
            }
        }
        run.rules.event(event).map_err(violated)
    }

    /// Ends verification: checkpoints, backup files, the verdict.
    pub fn finish(self) -> Report {
        self.finish_with_tail().0
    }

    /// Counts the files of `data_loss` observations an action or decision followed. A file a
    /// run already counted keeps its first finding — the one the operator's decision answered;
    /// a later step naming it again (restores short of the point accepted at the copy) adds
    /// nothing.
    fn commit_not_applied(&mut self) {
        for row in std::mem::take(&mut self.pending_not_applied) {
            let counted = self
                .not_applied
                .iter()
                .any(|n| n.run_id == row.run_id && n.file == row.file);
            if !counted && self.not_applied.len() < MAX_FILE_ROWS {
                self.not_applied.push(row);
            }
        }
    }

    /// [`Verifier::finish`], also returning where the events that passed end.
    pub fn finish_with_tail(mut self) -> (Report, Tail) {
        self.commit_not_applied();
        let tail = Tail {
            events: self.next_seq,
            last_leaf: self.prev,
            frontier: self.frontier.clone(),
            last_at: self.last_at.clone(),
        };
        let total = self.next_seq;
        if self.failure.is_none() && total == 0 {
            // An empty file, or a journal whose creation never committed: nothing was signed,
            // so there is nothing to vouch for, not even that it is open.
            self.could_not_check = true;
            let mut f = fail(
                Check::Readable,
                None,
                format!(
                    "journal {} holds no event (not even journal.opened): an empty file, or one whose creation never committed; there is nothing to verify",
                    self.summary.path
                ),
            );
            f.position = Some(self.summary.path.clone());
            self.failure = Some(*f);
        }
        if self.failure.is_none() {
            self.check_checkpoints(total);
        }
        let backups_checked = self.failure.is_none() && self.options.backups.is_some();
        if backups_checked {
            self.check_backups();
        }

        let anchored = self.failure.is_none()
            && self.checkpoints.iter().any(|c| {
                c.signer.is_some() && c.checkpoint.size == total && c.matched == Some(true)
            });
        let verdict = match (&self.failure, self.could_not_check) {
            (Some(_), true) => Verdict::CouldNotCheck,
            (Some(_), false) => Verdict::Invalid,
            (None, _) if anchored => Verdict::ValidAnchored,
            (None, _) if self.last_was_sealed => Verdict::ValidSealed,
            (None, _) => Verdict::ValidOpen,
        };
        let open = (verdict == Verdict::ValidOpen).then(|| self.open_tail(total));
        let verdict_text = match verdict {
            Verdict::ValidAnchored => format!(
                "{total} events, every check holds, and a trusted checkpoint covers all of them{}",
                match &self.run {
                    Some(run) => format!("; run {} is still in flight", run.id),
                    None => String::new(),
                }
            ),
            Verdict::ValidSealed => format!(
                "{total} events, every check holds, and the last run's seal covers every event before it"
            ),
            Verdict::ValidOpen => format!(
                "{total} events, every check holds, but the journal is open: {}",
                open.as_ref().map(|o| o.reason.as_str()).unwrap_or("")
            ),
            Verdict::Invalid | Verdict::CouldNotCheck => {
                let f = self.failure.as_ref().expect("a failure");
                match f.seq {
                    Some(seq) => format!("seq {seq}: {}", f.reason),
                    None => f.reason.clone(),
                }
            }
        };

        let mut requirements = Vec::new();
        if self.options.require_sealed {
            requirements.push(Requirement {
                name: "sealed".into(),
                holds: matches!(verdict, Verdict::ValidSealed | Verdict::ValidAnchored),
            });
        }
        if self.options.require_anchor {
            requirements.push(Requirement {
                name: "anchor".into(),
                holds: verdict == Verdict::ValidAnchored,
            });
        }

        let checks = self.check_results(backups_checked);
        self.summary.root = hex(&self.frontier.root());
        self.summary.signers = self
            .signers
            .iter()
            .map(|(id, n)| SignerRow {
                key_id: id.clone(),
                name: self
                    .trusted
                    .get(id)
                    .map(|k| k.name.clone())
                    .unwrap_or_default(),
                events: *n,
            })
            .collect();
        let checkpoints = self
            .checkpoints
            .iter()
            .map(|c| CheckpointRow {
                path: c.path.clone(),
                signer: c.signer.clone(),
                size: c.checkpoint.size,
                root: hex(&c.checkpoint.root),
                status: checkpoint_status(c, total),
            })
            .collect();
        let report = Report {
            format: "runledger-verify-report/v1".into(),
            verdict,
            verdict_text,
            journal: self.summary,
            checks,
            failure: self.failure,
            open,
            runs: self.runs,
            runs_omitted: self.runs_omitted,
            steps: self.steps,
            steps_omitted: self.steps_omitted,
            backup_files: self.files.into_values().collect(),
            backup_files_omitted: self.files_omitted,
            not_applied: self.not_applied,
            checkpoints,
            requirements,
        };
        (report, tail)
    }

    fn check_checkpoints(&mut self, total: u64) {
        let journal_id = self.summary.journal_id.clone().unwrap_or_default();
        let origin = format!("runledger/{journal_id}");
        let at = |cp: &HeldCheckpoint, reason: String| {
            let mut f = fail(Check::Checkpoints, None, reason);
            f.position = Some(cp.path.clone());
            f
        };
        // First what each checkpoint is: signed by a trusted key, of this journal.
        for cp in &self.checkpoints {
            let failure = if cp.signer.is_none() {
                Some(at(
                    cp,
                    format!(
                        "checkpoint {} carries no valid signature by a trusted key",
                        cp.path
                    ),
                ))
            } else if cp.checkpoint.origin != origin {
                let mut f = at(cp, format!("checkpoint {} is for another log", cp.path));
                f.expected = Some(origin.clone());
                f.found = Some(cp.checkpoint.origin.clone());
                Some(f)
            } else {
                None
            };
            if let Some(f) = failure {
                self.failure = Some(*f);
                return;
            }
        }
        // Then what the journal holds of them. The smallest checkpoint it does not hold names
        // the earliest seq at fault; the largest one below it that it holds says from where
        // on the journal may differ: with a checkpoint after every event (as runs keep them),
        // that is the first seq that differs.
        let holds = |cp: &HeldCheckpoint| {
            cp.checkpoint.size <= total
                && (cp.matched == Some(true)
                    || (cp.checkpoint.size == 0
                        && cp.checkpoint.root == crate::merkle::empty_root()))
        };
        let Some(cp) = self
            .checkpoints
            .iter()
            .filter(|cp| !holds(cp))
            .min_by_key(|cp| cp.checkpoint.size)
        else {
            return;
        };
        let size = cp.checkpoint.size;
        let f = if size > total {
            let mut f = at(
                cp,
                format!(
                    "journal truncated: checkpoint {} covers {size} events but the journal has {total}{}",
                    cp.path,
                    if total > 0 {
                        format!(" (ends at seq {}; seq {total} is the first missing)", total - 1)
                    } else {
                        String::new()
                    }
                ),
            );
            f.seq = Some(total);
            f.expected = Some(format!("{size} events"));
            f.found = Some(format!("{total} events"));
            f
        } else {
            let pinned = self
                .checkpoints
                .iter()
                .filter(|c| holds(c) && c.checkpoint.size < size)
                .max_by_key(|c| c.checkpoint.size);
            let from = pinned.map_or(0, |c| c.checkpoint.size);
            let last = size - 1;
            let which = match pinned {
                Some(p) if from == last => format!(
                    "checkpoint {} holds seq 0..{} as they are, so seq {last} is the first that differs",
                    p.path,
                    from.saturating_sub(1)
                ),
                Some(p) if from > 0 => format!(
                    "checkpoint {} holds seq 0..{} as they are, so the first that differs is one of seq {from}..{last}",
                    p.path,
                    from - 1
                ),
                _ if last == 0 => "seq 0 differs".to_string(),
                _ => format!(
                    "the first that differs is one of seq 0..{last} (a checkpoint's root does not say which; a checkpoint of fewer events narrows it)"
                ),
            };
            let mut f = at(
                cp,
                format!(
                    "journal rewritten: its first {size} events (seq 0..{last}) are not the ones checkpoint {} committed to; {which}",
                    cp.path
                ),
            );
            f.seq = Some(from);
            f.expected = Some(format!("root {}", hex(&cp.checkpoint.root)));
            f.found = Some("a journal prefix with another root".into());
            f
        };
        self.failure = Some(*f);
    }

    fn check_backups(&mut self) {
        let Some(dir) = self.options.backups.clone() else {
            return;
        };
        for row in self.files.values_mut() {
            let name = row.path.rsplit(['/', '\\']).next().unwrap_or(&row.path);
            let path = dir.join(name);
            let result = match std::fs::File::open(&path).and_then(signing::sha256_of_reader) {
                Err(_) => Err((
                    "missing",
                    format!("backup file {name} is missing from {}", dir.display()),
                    None,
                )),
                Ok((size, sha)) if sha != row.sha256 || size != row.size => Err((
                    "mismatch",
                    format!(
                        "backup file {} differs from the one the journal recorded",
                        path.display()
                    ),
                    Some(format!("size {size}, sha256 {sha}")),
                )),
                Ok(_) => Ok(()),
            };
            match result {
                Ok(()) => row.check = Some("present".into()),
                Err((status, reason, found)) => {
                    row.check = Some(status.into());
                    if self.failure.is_none() {
                        self.failure = Some(Failure {
                            check: Check::BackupFiles,
                            seq: Some(row.first_seq),
                            position: Some(path.display().to_string()),
                            reason,
                            expected: Some(format!("size {}, sha256 {}", row.size, row.sha256)),
                            found,
                        });
                    }
                }
            }
        }
    }

    fn open_tail(&self, total: u64) -> OpenTail {
        let ends_at_seq = total.saturating_sub(1);
        match &self.run {
            Some(run) => {
                let intents: Vec<String> = run
                    .in_flight
                    .iter()
                    .map(|((s, a), f)| format!("{s} attempt {a} (intent seq {})", f.seq))
                    .collect();
                OpenTail {
                    ends_at_seq,
                    run_in_flight: Some(run.id.clone()),
                    reason: if intents.is_empty() {
                        format!("run {} is in flight; the journal ends at seq {ends_at_seq}", run.id)
                    } else {
                        format!(
                            "run {} is in flight with {} intent(s) without outcome; the journal ends at seq {ends_at_seq}",
                            run.id,
                            intents.len()
                        )
                    },
                    intents_in_flight: intents,
                }
            }
            None => OpenTail {
                ends_at_seq,
                run_in_flight: None,
                intents_in_flight: Vec::new(),
                reason: format!(
                    "no sealed run.finished at the end; the journal ends at seq {ends_at_seq} (a cut tail cannot be ruled out without a checkpoint)"
                ),
            },
        }
    }

    fn check_results(&self, backups_checked: bool) -> Vec<CheckResult> {
        let failed = self.failure.as_ref().map(|f| f.check);
        let mut tally = self.tally;
        if let Some(run) = &self.run {
            tally.add(run.rules.tally());
        }
        let per_event_stop = self.failure.is_some()
            && !matches!(failed, Some(Check::Checkpoints | Check::BackupFiles));
        Check::ALL
            .iter()
            .map(|&check| {
                let (status, detail) = if Some(check) == failed {
                    (CheckStatus::Failed, String::new())
                } else {
                    match check {
                        Check::Checkpoints if self.checkpoints.is_empty() => {
                            (CheckStatus::Skipped, "no --checkpoint given".into())
                        }
                        Check::BackupFiles if self.options.backups.is_none() => {
                            (CheckStatus::Skipped, "no --backups given".into())
                        }
                        Check::BackupFiles if !backups_checked => {
                            (CheckStatus::NotReached, String::new())
                        }
                        Check::StoredHash if self.summary.format == "jsonl" => {
                            (CheckStatus::Skipped, "JSONL stores no leaf hash".into())
                        }
                        Check::Checkpoints if per_event_stop => {
                            (CheckStatus::NotReached, String::new())
                        }
                        Check::Readable => (CheckStatus::Passed, String::new()),
                        _ if per_event_stop => (
                            CheckStatus::NotReached,
                            format!("held for seq 0..{}", self.next_seq),
                        ),
                        Check::Plan => self.plan.result(),
                        Check::Checkpoints => (
                            CheckStatus::Passed,
                            format!("{} checkpoint(s)", self.checkpoints.len()),
                        ),
                        Check::BackupFiles => {
                            (CheckStatus::Passed, format!("{} file(s)", self.files.len()))
                        }
                        Check::Approvals => (
                            CheckStatus::Passed,
                            format!("{} action(s) that asked for approval", tally.approvals),
                        ),
                        Check::Decisions => (
                            CheckStatus::Passed,
                            format!("{} finding(s) decided", tally.decisions),
                        ),
                        Check::RestoreOrder if tally.restores_unchecked > 0 => (
                            CheckStatus::Passed,
                            format!(
                                "{} restore(s) in LSN order; {} restore(s) of a file whose header the journal does not record were not checked",
                                tally.restores_checked, tally.restores_unchecked
                            ),
                        ),
                        Check::RestoreOrder => (
                            CheckStatus::Passed,
                            format!("{} restore(s) in LSN order", tally.restores_checked),
                        ),
                        Check::Recovery => (
                            CheckStatus::Passed,
                            format!("{} recovery(ies)", tally.recoveries),
                        ),
                        _ => (CheckStatus::Passed, format!("{} events", self.next_seq)),
                    }
                };
                CheckResult {
                    check,
                    status,
                    detail,
                }
            })
            .collect()
    }
}

fn checkpoint_status(c: &HeldCheckpoint, total: u64) -> String {
    if c.signer.is_none() {
        "no trusted signature".into()
    } else if c.checkpoint.size > total {
        "covers more events than the journal has".into()
    } else if c.matched == Some(true)
        || (c.checkpoint.size == 0 && c.checkpoint.root == crate::merkle::empty_root())
    {
        if c.checkpoint.size == total {
            "consistent, covers the whole journal".into()
        } else {
            "consistent (a prefix of the journal)".into()
        }
    } else if c.matched == Some(false) {
        "root differs from the journal's prefix".into()
    } else {
        "not reached".into()
    }
}

fn take_in_flight(
    run: &mut RunState,
    step: &str,
    attempt: u64,
    seq: u64,
    kind: &str,
) -> Result<InFlight, Fail> {
    run.in_flight
        .remove(&(step.to_string(), attempt))
        .ok_or_else(|| {
            fail(
                Check::IntentPairing,
                Some(seq),
                format!("{kind} for step {step:?} attempt {attempt} without an intent in flight"),
            )
        })
}

fn note_file(
    files: &mut BTreeMap<(String, String), BackupFileRow>,
    omitted: &mut u64,
    input: &FileRef,
    seq: u64,
) {
    let key = (input.path.clone(), input.sha256.clone());
    if files.contains_key(&key) {
        return;
    }
    if files.len() >= MAX_FILE_ROWS {
        *omitted += 1;
        return;
    }
    files.insert(
        key,
        BackupFileRow {
            path: input.path.clone(),
            size: input.size,
            sha256: input.sha256.clone(),
            first_seq: seq,
            check: None,
        },
    );
}

fn describe_units(units: &[(String, u64, u64)]) -> String {
    if units.is_empty() {
        return "none".into();
    }
    units
        .iter()
        .map(|(s, a, q)| format!("{s}#{a}@{q}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// True when `text` is the lowercase hex of `hash` (what [`hex`] would write).
fn is_hex_of(text: &str, hash: &Hash) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let text = text.as_bytes();
    text.len() == 64
        && hash.iter().zip(text.chunks_exact(2)).all(|(b, pair)| {
            pair[0] == DIGITS[usize::from(b >> 4)] && pair[1] == DIGITS[usize::from(b & 15)]
        })
}

fn decode_public_key(b64: &str) -> Option<VerifyingKey> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    VerifyingKey::from_bytes(&bytes.try_into().ok()?).ok()
}
