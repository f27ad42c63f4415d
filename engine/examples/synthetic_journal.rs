//! Writes a large, valid, sealed journal quickly, for measuring the verifier.
//!
//! `cargo run --release -p runledger-engine --example synthetic_journal -- OUT.db EVENTS`
//!
//! The journal is what many failover runs would write: each run is `run.started`, an
//! observation, then intent/outcome pairs for per-file restore units, then a sealed
//! `run.finished`. Events are encoded, hashed and signed by the verifier crate's code, exactly
//! as the writer does, but inserted in large transactions without a sync per event (this is a
//! generator, not the durable writer). The key is the fixtures' test-only key; its trusted-keys
//! line is written to `OUT.db.pub`.

use std::path::PathBuf;

use runledger_engine::clock::{Clock, SteppingClock};
use runledger_verifier::event::*;
use runledger_verifier::keys::{trusted_key_line, PrivateKey};
use runledger_verifier::merkle::Frontier;
use runledger_verifier::signing::{self, hex, sha256_hex};
use runledger_verifier::source::{SQLITE_APPLICATION_ID, SQLITE_SCHEMA, SQLITE_USER_VERSION};

const RUNBOOK: &str = "name = \"synthetic\"\nversion = \"1\"\n\n[[steps]]\nid = \"restore\"\ntitle = \"Apply logs\"\naction = \"restore_logs\"\n";
const EVENTS_PER_RUN: u64 = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(out), Some(n)) = (args.next(), args.next()) else {
        return Err("usage: synthetic_journal OUT.db EVENTS".into());
    };
    let out = PathBuf::from(out);
    let total: u64 = n.parse()?;
    let seed: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(b"runledger fixtures: test-only operator key").into()
    };
    let key = PrivateKey {
        name: "test-only-operator".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&seed),
    };
    let key_id = key.id();
    let _ = std::fs::remove_file(&out);
    let mut conn = rusqlite::Connection::open(&out)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA application_id = {SQLITE_APPLICATION_ID}; PRAGMA user_version = {SQLITE_USER_VERSION}; {SQLITE_SCHEMA}"
    ))?;
    std::fs::write(
        format!("{}.pub", out.display()),
        format!(
            "{}\n",
            trusted_key_line(&key.name, &key.key.verifying_key())
        ),
    )?;

    let journal_id = "5f0d3c2b-1a00-4e8a-9c39-0b5e1f6c2a7d".to_string();
    let mut clock = SteppingClock::new(1_768_446_000_000_000, 1000);
    let mut frontier = Frontier::new();
    let mut prev = ZERO_HASH_HEX.to_string();
    let mut seq = 0u64;
    let mut run_no = 0u64;
    let mut pending: Vec<Body> = Vec::new();
    let mut run_id: Option<String> = None;
    let tx_size = 10_000;
    let mut tx = conn.transaction()?;
    while seq < total {
        let body = if seq == 0 {
            Body::JournalOpened(JournalOpened {
                journal_id: journal_id.clone(),
                engine_version: "runledger synthetic".into(),
                public_key: {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .encode(key.key.verifying_key().as_bytes())
                },
            })
        } else if let Some(b) = pending.pop() {
            b
        } else if run_id.is_none() {
            run_no += 1;
            let id = format!("run-{run_no}");
            run_id = Some(id.clone());
            // The bodies of this run, in reverse (popped from the end). A run is cut short
            // so that the journal ends sealed at exactly `total` events.
            let room = (total - seq).min(EVENTS_PER_RUN);
            let pairs = room.saturating_sub(3) / 2;
            let mut bodies = vec![Body::Observation(Observation {
                step: Some("restore".into()),
                name: "backup_headers".into(),
                source: "RESTORE HEADERONLY".into(),
                data: serde_json::json!({"files": pairs}),
            })];
            for i in 0..pairs {
                let name = format!("restore/mgc_{run_no}_{i:05}.trn");
                let content_hash = sha256_hex(name.as_bytes());
                bodies.push(Body::StepIntent(StepIntent {
                    step: name.clone(),
                    attempt: 1,
                    action: "restore_logs".into(),
                    effect: Effect::Guarded,
                    command: format!(
                        "RESTORE LOG [mgc] FROM DISK = N'D:\\mgc-copy\\{name}' WITH NORECOVERY"
                    ),
                    target: "backup".into(),
                    inputs: vec![FileRef {
                        path: format!("D:\\mgc-copy\\{name}"),
                        size: 1_048_576 + i,
                        sha256: content_hash,
                    }],
                }));
                bodies.push(Body::StepOutcome(StepOutcome {
                    step: name,
                    attempt: 1,
                    status: OutcomeStatus::Succeeded,
                    result: serde_json::json!({"messages": [{"number": 4035, "text": "Processed 3 pages"}]}),
                    duration_us: 1500 + i,
                }));
            }
            // Fill an odd remainder with observations so the run ends exactly where asked.
            while (bodies.len() as u64) + 2 < room {
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
            bodies.reverse();
            pending = bodies;
            Body::RunStarted(Box::new(RunStarted {
                run_id: id,
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
            }))
        } else {
            unreachable!("a run's bodies end with run.finished")
        };
        let body = match body {
            Body::RunFinished(mut f) => {
                f.sealed = Seal {
                    size: frontier.size(),
                    root: hex(&frontier.root()),
                };
                Body::RunFinished(f)
            }
            b => b,
        };
        let finished = matches!(body, Body::RunFinished(_));
        let event = Event {
            journal: journal_id.clone(),
            seq,
            prev: prev.clone(),
            at: clock.now(),
            run: if seq == 0 { None } else { run_id.clone() },
            key: key_id.clone(),
            body,
        };
        let bytes = event.to_canonical_bytes()?;
        let leaf = signing::event_leaf_hash(&bytes);
        let sig = signing::sign_leaf(&key.key, &leaf);
        tx.execute(
            "INSERT INTO events (seq, event, leaf_hash, sig) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                seq as i64,
                bytes,
                leaf.as_slice(),
                sig.to_bytes().as_slice()
            ],
        )?;
        frontier.push(leaf);
        prev = hex(&leaf);
        seq += 1;
        if finished {
            run_id = None;
        }
        if seq.is_multiple_of(tx_size) {
            tx.commit()?;
            tx = conn.transaction()?;
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    eprintln!("wrote {seq} events in {run_no} runs to {}", out.display());
    Ok(())
}
