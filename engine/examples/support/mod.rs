//! What the benchmark examples share (included by each with `#[path]`): the synthetic failover
//! runs they fill journals with, the test-only key they sign with, and a bulk writer that
//! chains, seals, signs and inserts events the way the journal writer encodes them, but in
//! large transactions without a sync per event (a generator, not the durable writer).

#![allow(dead_code)] // each example uses part of it

use std::path::Path;

use runledger_engine::clock::{Clock, SteppingClock};
use runledger_verifier::event::*;
use runledger_verifier::keys::PrivateKey;
use runledger_verifier::merkle::{Frontier, Hash};
use runledger_verifier::signing::{self, hex, sha256_hex};
use runledger_verifier::source::{SQLITE_APPLICATION_ID, SQLITE_SCHEMA, SQLITE_USER_VERSION};

pub type Error = Box<dyn std::error::Error>;

/// The runbook every synthetic run embeds.
pub const RUNBOOK: &str = "name = \"synthetic\"\nversion = \"1\"\n\n[[steps]]\nid = \"restore\"\ntitle = \"Apply logs\"\naction = \"restore_logs\"\n";

/// Events in a full synthetic run.
pub const EVENTS_PER_RUN: u64 = 1000;

/// The fixtures' test-only operator key (its seed is public: never a real key).
pub fn test_only_key() -> PrivateKey {
    let seed: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(b"runledger fixtures: test-only operator key").into()
    };
    PrivateKey {
        name: "test-only-operator".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
    }
}

/// The intent of restoring the `i`th log backup, named `name`.
pub fn restore_intent(name: &str, i: u64) -> StepIntent {
    StepIntent {
        step: name.to_string(),
        attempt: 1,
        action: "restore_logs".into(),
        effect: Effect::Guarded,
        command: format!("RESTORE LOG [mgc] FROM DISK = N'D:\\mgc-copy\\{name}' WITH NORECOVERY"),
        target: "backup".into(),
        inputs: vec![FileRef {
            path: format!("D:\\mgc-copy\\{name}"),
            size: 1_048_576 + i,
            sha256: sha256_hex(name.as_bytes()),
        }],
    }
}

/// The bodies of synthetic run number `run_no` with id `run_id`, `room` of them (at least 2)
/// in order: `run.started`, an observation of the backup headers, intent/outcome pairs of
/// per-file restores, a padding observation when the count is odd, and `run.finished` (its
/// seal filled in by [`BulkWriter::push_event`]).
pub fn synthetic_run(run_id: &str, run_no: u64, room: u64) -> Vec<Body> {
    assert!(room >= 2, "a run is at least run.started and run.finished");
    let pairs = room.saturating_sub(3) / 2;
    let mut bodies = vec![Body::RunStarted(Box::new(RunStarted {
        run_id: run_id.to_string(),
        runbook: RunbookSource {
            name: "synthetic".into(),
            version: "1".into(),
            sha256: sha256_hex(RUNBOOK.as_bytes()),
            source: RUNBOOK.into(),
        },
        parameters: Default::default(),
        operator: Operator {
            user: "bench".into(),
            host: "localhost".into(),
        },
        targets: vec![],
    }))];
    if room >= 3 {
        bodies.push(Body::Observation(Observation {
            step: Some("restore".into()),
            name: "backup_headers".into(),
            source: "RESTORE HEADERONLY".into(),
            data: serde_json::json!({"files": pairs}),
        }));
    }
    for i in 0..pairs {
        let name = format!("restore/mgc_{run_no}_{i:05}.trn");
        bodies.push(Body::StepIntent(restore_intent(&name, i)));
        bodies.push(Body::StepOutcome(StepOutcome {
            step: name,
            attempt: 1,
            status: OutcomeStatus::Succeeded,
            result: serde_json::json!({"messages": [{"number": 4035, "text": "Processed 3 pages"}]}),
            duration_us: 1500 + i,
        }));
    }
    // Fill an odd remainder so the run is exactly `room` events long.
    while (bodies.len() as u64) + 1 < room {
        bodies.push(Body::Observation(Observation {
            step: None,
            name: "padding".into(),
            source: "synthetic".into(),
            data: serde_json::json!({}),
        }));
    }
    bodies.push(Body::RunFinished(RunFinished {
        status: RunStatus::Succeeded,
        summary: "synthetic".into(),
        sealed: Seal {
            size: 0,
            root: String::new(),
        },
    }));
    bodies
}

/// Writes a new SQLite journal in bulk: events chained, sealed and signed as the journal writer
/// does, committed every [`BulkWriter::TX_EVENTS`] events, never synced one by one.
pub struct BulkWriter {
    conn: rusqlite::Connection,
    key: PrivateKey,
    journal_id: String,
    clock: SteppingClock,
    frontier: Frontier,
    prev: Hash,
    seq: u64,
}

impl BulkWriter {
    /// Events per transaction.
    pub const TX_EVENTS: u64 = 10_000;

    /// Replaces `out` with an empty journal database; events are timed by `clock`.
    pub fn create(
        out: &Path,
        key: PrivateKey,
        journal_id: &str,
        clock: SteppingClock,
    ) -> Result<BulkWriter, Error> {
        let _ = std::fs::remove_file(out);
        let conn = rusqlite::Connection::open(out)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA application_id = {SQLITE_APPLICATION_ID}; PRAGMA user_version = {SQLITE_USER_VERSION}; {SQLITE_SCHEMA} BEGIN;"
        ))?;
        Ok(BulkWriter {
            conn,
            key,
            journal_id: journal_id.to_string(),
            clock,
            frontier: Frontier::new(),
            prev: [0u8; 32],
            seq: 0,
        })
    }

    /// Events written so far (the next seq).
    pub fn len(&self) -> u64 {
        self.seq
    }

    /// `journal.opened` naming this writer's key.
    pub fn opened(&self, engine_version: &str) -> Body {
        use base64::Engine as _;
        Body::JournalOpened(JournalOpened {
            journal_id: self.journal_id.clone(),
            engine_version: engine_version.into(),
            public_key: base64::engine::general_purpose::STANDARD
                .encode(self.key.key.verifying_key().as_bytes()),
        })
    }

    /// Appends `body` in `run`, timed by the clock.
    pub fn push(&mut self, run: Option<&str>, body: Body) -> Result<Hash, Error> {
        let event = Event {
            journal: self.journal_id.clone(),
            seq: self.seq,
            prev: String::new(),
            at: self.clock.now(),
            run: run.map(str::to_string),
            key: self.key.id(),
            body,
        };
        self.push_event(event)
    }

    /// Appends `event` with this journal's next seq and `prev`, and a `run.finished` sealing
    /// everything before it; returns its leaf hash.
    pub fn push_event(&mut self, mut event: Event) -> Result<Hash, Error> {
        event.seq = self.seq;
        event.prev = if self.seq == 0 {
            ZERO_HASH_HEX.into()
        } else {
            hex(&self.prev)
        };
        if let Body::RunFinished(f) = &mut event.body {
            f.sealed = Seal {
                size: self.frontier.size(),
                root: hex(&self.frontier.root()),
            };
        }
        let bytes = event.to_canonical_bytes()?;
        let leaf = signing::event_leaf_hash(&bytes);
        let sig = signing::sign_leaf(&self.key.key, &leaf);
        self.conn.execute(
            "INSERT INTO events (seq, event, leaf_hash, sig) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                self.seq as i64,
                bytes,
                leaf.as_slice(),
                sig.to_bytes().as_slice()
            ],
        )?;
        self.frontier.push(leaf);
        self.prev = leaf;
        self.seq += 1;
        if self.seq.is_multiple_of(Self::TX_EVENTS) {
            self.conn.execute_batch("COMMIT; BEGIN;")?;
        }
        Ok(leaf)
    }

    /// Commits, folds the WAL into the database, and writes `out.pub` (the trusted-keys line).
    pub fn finish(self, out: &Path) -> Result<u64, Error> {
        self.conn
            .execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE);")?;
        std::fs::write(
            format!("{}.pub", out.display()),
            format!(
                "{}\n",
                runledger_verifier::keys::trusted_key_line(
                    &self.key.name,
                    &self.key.key.verifying_key()
                )
            ),
        )?;
        Ok(self.seq)
    }
}
