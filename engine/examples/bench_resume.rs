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

use runledger_engine::clock::SteppingClock;
use runledger_engine::keyfile;
use runledger_engine::run::{replay, ReplayEnd};
use runledger_verifier::event::*;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::merkle::Hash;
use runledger_verifier::report::Verdict;
use runledger_verifier::signing::hex;
use runledger_verifier::source::{self, Format};
use runledger_verifier::verify::{verify, Options};

#[path = "support/mod.rs"]
mod support;
use support::{synthetic_run, BulkWriter, EVENTS_PER_RUN};

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

    // journal.opened as the golden journal has it (its id and key), a year earlier so that
    // the synthetic runs fit before the drill run's timestamps: 2025-11-26, then 1 ms apart.
    let mut w = BulkWriter::create(
        out,
        key,
        &opened.journal,
        SteppingClock::new(1_764_115_200_000_000, 1000),
    )?;
    w.push(None, opened.body.clone())?;
    let mut run_no = 0u64;
    let mut left = filler;
    while left > 0 {
        // A run needs at least run.started and run.finished: never leave one event over.
        let room = left.min(EVENTS_PER_RUN);
        let room = if left - room == 1 { room - 1 } else { room };
        run_no += 1;
        let id = format!("synthetic-{run_no}");
        for body in synthetic_run(&id, run_no, room) {
            w.push(Some(&id), body)?;
        }
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
        let seq = w.len();
        let leaf = w.push_event(e)?;
        moved.insert(old, (seq, leaf));
    }
    let written = w.finish(out)?;
    eprintln!(
        "wrote {written} events ({run_no} synthetic runs, then the drill run) to {}",
        out.display()
    );
    Ok(())
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
