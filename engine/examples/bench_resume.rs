//! What resuming costs next to verifying: open + verify + replay of a large journal ÷ verify.
//!
//! `bench_resume make OUT.db GOLDEN_DIR EVENTS` writes a journal of exactly `EVENTS` events
//! whose last run the engine's step logic can replay: the journal id, key and last run of the
//! golden drill journal in `GOLDEN_DIR` (`journal.db`, `operator.key`), preceded by sealed
//! synthetic runs (as `synthetic_journal` writes them) so that the verifier and the writer's
//! open have `EVENTS` events to read. The drill run's events are re-chained (seq, prev) and
//! re-signed with the golden key; approvals name their intents' new seq and leaf hash, and
//! `run.finished` seals the new tree. Nothing else in the run changes.
//!
//! `bench_resume time JOURNAL KEY ROUNDS` alternates, in one process, `verify` alone and
//! `run::replay` — which opens the journal as its writer exactly as `runledger resume` does
//! (lock, full verification, the chain's end taken from that pass), reads the last run
//! backwards from the end, and replays it through the step logic without touching the
//! world — `ROUNDS` times each, and prints the medians in seconds:
//! `verify_s=… resume_s=… ratio=…`.

use std::path::Path;
use std::time::Instant;

use runledger_engine::keyfile;
use runledger_engine::run::{replay, ReplayEnd};
use runledger_verifier::event::*;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::merkle::Frontier;
use runledger_verifier::report::Verdict;
use runledger_verifier::signing::{self, hex, sha256_hex};
use runledger_verifier::source::{
    self, Format, SQLITE_APPLICATION_ID, SQLITE_SCHEMA, SQLITE_USER_VERSION,
};
use runledger_verifier::verify::{verify, Options};

const RUNBOOK: &str = "name = \"synthetic\"\nversion = \"1\"\n\n[[steps]]\nid = \"restore\"\ntitle = \"Apply logs\"\naction = \"restore_logs\"\n";
const EVENTS_PER_RUN: u64 = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["make", out, golden, events] => make(Path::new(out), Path::new(golden), events.parse()?),
        ["time", journal, key, rounds] => time(Path::new(journal), Path::new(key), rounds.parse()?),
        _ => Err(
            "usage: bench_resume make OUT.db GOLDEN_DIR EVENTS | time JOURNAL KEY ROUNDS".into(),
        ),
    }
}

fn read_events(path: &Path) -> Result<Vec<Event>, Box<dyn std::error::Error>> {
    let mut events = Vec::new();
    let mut bad = None;
    source::for_each_record(
        path,
        Format::Sqlite,
        |r| match Event::from_canonical_bytes(&r.event) {
            Ok(e) => {
                events.push(e);
                true
            }
            Err(e) => {
                bad = Some(e.to_string());
                false
            }
        },
    )?;
    match bad {
        Some(e) => Err(e.into()),
        None => Ok(events),
    }
}

/// Appends events to a fresh database, chaining and signing them.
struct Writer {
    tx_conn: rusqlite::Connection,
    key: ed25519_dalek::SigningKey,
    frontier: Frontier,
    prev: Hash,
    seq: u64,
}

type Hash = [u8; 32];

impl Writer {
    fn push(&mut self, mut event: Event) -> Result<Hash, Box<dyn std::error::Error>> {
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
        let sig = signing::sign_leaf(&self.key, &leaf);
        self.tx_conn.execute(
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
        Ok(leaf)
    }
}

fn make(out: &Path, golden: &Path, total: u64) -> Result<(), Box<dyn std::error::Error>> {
    let golden_events = read_events(&golden.join("journal.db"))?;
    let key = keyfile::load(&golden.join("operator.key"))?;
    let opened = golden_events
        .first()
        .ok_or("golden journal is empty")?
        .clone();
    let last_start = golden_events
        .iter()
        .rposition(|e| matches!(e.body, Body::RunStarted(_)))
        .ok_or("golden journal has no run")?;
    let drill_run = &golden_events[last_start..];
    let filler = total
        .checked_sub(1 + drill_run.len() as u64)
        .ok_or("EVENTS is smaller than the golden journal")?;

    let _ = std::fs::remove_file(out);
    let conn = rusqlite::Connection::open(out)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF; PRAGMA application_id = {SQLITE_APPLICATION_ID}; PRAGMA user_version = {SQLITE_USER_VERSION}; {SQLITE_SCHEMA} BEGIN;"
    ))?;
    let mut w = Writer {
        tx_conn: conn,
        key: key.key.clone(),
        frontier: Frontier::new(),
        prev: [0u8; 32],
        seq: 0,
    };
    // journal.opened as the golden journal has it, a year earlier so that the synthetic runs
    // fit before the drill run's timestamps.
    let mut first = opened.clone();
    first.at = "2025-11-26T00:00:00.000000Z".into();
    w.push(first)?;
    let base = |seq: u64, run: Option<String>, body: Body| {
        let us = 1_764_115_200_000_000i64 + seq as i64 * 1000; // 2025-11-26 + seq ms
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
            .expect("in range")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("formats");
        Event {
            journal: opened.journal.clone(),
            seq,
            prev: String::new(),
            at: fix_micros(&at),
            run,
            key: opened.key.clone(),
            body,
        }
    };
    let mut run_no = 0u64;
    let mut left = filler;
    while left > 0 {
        // A run needs at least run.started and run.finished; pad the last one with observations.
        let room = left.min(EVENTS_PER_RUN);
        let room = if left - room == 1 { room - 1 } else { room };
        run_no += 1;
        let id = format!("synthetic-{run_no}");
        let run = Some(id.clone());
        w.push(base(
            w.seq,
            run.clone(),
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
            })),
        ))?;
        let pairs = (room - 2) / 2;
        for i in 0..pairs {
            let name = format!("restore/mgc_{run_no}_{i:05}.trn");
            w.push(base(
                w.seq,
                run.clone(),
                Body::StepIntent(StepIntent {
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
                        sha256: sha256_hex(name.as_bytes()),
                    }],
                }),
            ))?;
            w.push(base(w.seq, run.clone(), Body::StepOutcome(StepOutcome {
                step: name,
                attempt: 1,
                status: OutcomeStatus::Succeeded,
                result: serde_json::json!({"messages": [{"number": 4035, "text": "Processed 3 pages"}]}),
                duration_us: 1500 + i,
            })))?;
        }
        if (room - 2) % 2 == 1 {
            w.push(base(
                w.seq,
                run.clone(),
                Body::Observation(Observation {
                    step: None,
                    name: "padding".into(),
                    source: "synthetic".into(),
                    data: serde_json::json!({}),
                }),
            ))?;
        }
        w.push(base(
            w.seq,
            run,
            Body::RunFinished(RunFinished {
                status: RunStatus::Succeeded,
                summary: "synthetic".into(),
                sealed: Seal {
                    size: 0,
                    root: String::new(),
                },
            }),
        ))?;
        left -= room;
    }

    // The drill run, re-chained: old seq → (new seq, new leaf) for the approvals.
    let mut moved: std::collections::HashMap<u64, (u64, Hash)> = Default::default();
    for e in drill_run {
        let mut e = e.clone();
        let old = e.seq;
        if let Body::Approval(a) = &mut e.body {
            if let Some(i) = &mut a.intent {
                let (seq, leaf) = moved.get(&i.seq).ok_or("approval of an unknown intent")?;
                i.seq = *seq;
                i.leaf_hash = hex(leaf);
            }
        }
        if let Body::RunResumed(r) = &mut e.body {
            for d in &mut r.in_doubt {
                d.intent_seq = moved.get(&d.intent_seq).ok_or("unknown in-doubt intent")?.0;
            }
        }
        let seq = w.seq;
        let leaf = w.push(e)?;
        moved.insert(old, (seq, leaf));
    }
    w.tx_conn
        .execute_batch("COMMIT; PRAGMA wal_checkpoint(TRUNCATE);")?;
    let keys = format!(
        "{}\n",
        runledger_verifier::keys::trusted_key_line(&key.name, &key.key.verifying_key())
    );
    std::fs::write(format!("{}.pub", out.display()), keys)?;
    eprintln!(
        "wrote {} events ({} synthetic runs, then the drill run) to {}",
        w.seq,
        run_no,
        out.display()
    );
    Ok(())
}

/// RFC 3339 with exactly six fraction digits, as events carry it.
fn fix_micros(s: &str) -> String {
    let (head, frac) = match s.trim_end_matches('Z').split_once('.') {
        Some((h, f)) => (h.to_string(), f.to_string()),
        None => (s.trim_end_matches('Z').to_string(), String::new()),
    };
    format!("{head}.{:0<6}Z", &frac[..frac.len().min(6)])
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(journal: &Path, key_path: &Path, rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    let key = keyfile::load(key_path)?;
    let mut trusted = TrustedKeys::default();
    trusted.insert(key.name.clone(), key.key.verifying_key());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let verify_once = || -> Result<(), Box<dyn std::error::Error>> {
        let report = verify(journal, &trusted, &Options::default())?;
        match report.verdict {
            Verdict::ValidOpen | Verdict::ValidSealed | Verdict::ValidAnchored => Ok(()),
            _ => Err(format!("journal does not verify: {}", report.verdict_text).into()),
        }
    };
    let (mut v, mut r) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        verify_once()?;
        v.push(t.elapsed().as_secs_f64());

        // What `runledger resume` does before its first action: take the lock, verify every
        // event (the writer takes the chain's end from that pass), read the last run, replay.
        let t = Instant::now();
        let end = rt.block_on(replay(journal, keyfile::load(key_path)?, None))?;
        r.push(t.elapsed().as_secs_f64());
        if end != ReplayEnd::Complete {
            return Err(format!("replay ended early: {end:?}").into());
        }
    }
    let (v, r) = (median(&mut v), median(&mut r));
    println!("verify_s={v:.3} resume_s={r:.3} ratio={:.3}", r / v);
    Ok(())
}
