//! The raw cost of an event's cryptography, and a profile of the verifier's other per-event work.
//!
//! `raw_verify JOURNAL TRUSTED_KEYS [EVENTS]` (used by `scripts/bench`; release build)
//!
//! Over the first `EVENTS` records of the journal (default 50,000), read in blocks of 10,000,
//! it times on one core, per event:
//! - `raw_us`: the leaf hash (SHA-256 of `0x00 || event bytes`) plus Ed25519 `verify_strict`
//!   of the signing message — the floor the verifier is held against;
//! - `decode_us`: `Event::from_canonical_bytes` (canonical-form check and serde decode);
//! - `read_us`: taking the records out of SQLite (or the JSONL file).
//!
//! Only the loops over records already in memory are timed, so reading does not count in the
//! first two. Prints one line: `raw_us=… decode_us=… read_us=… events=…`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use runledger_verifier::event::Event;
use runledger_verifier::keys::TrustedKeys;
use runledger_verifier::signing;
use runledger_verifier::source::{self, RawRecord};

const BLOCK: usize = 10_000;

#[derive(Default)]
struct Stats {
    raw: Duration,
    decode: Duration,
    read: Duration,
    events: usize,
    failures: usize,
}

impl Stats {
    fn measure(&mut self, block: &mut Vec<RawRecord>, trusted: &TrustedKeys) {
        // The key each event names, looked up untimed (the verifier does that once per key).
        let keys: Vec<_> = block
            .iter()
            .map(|r| {
                Event::from_canonical_bytes(&r.event)
                    .ok()
                    .and_then(|e| trusted.get(&e.key).map(|k| k.key))
            })
            .collect();
        let t = Instant::now();
        for (r, key) in block.iter().zip(&keys) {
            let leaf = signing::event_leaf_hash(&r.event);
            let ok = key.is_some_and(|k| signing::verify_leaf(&k, &leaf, &r.sig).is_ok());
            self.failures += usize::from(!ok);
        }
        self.raw += t.elapsed();
        let t = Instant::now();
        for r in block.iter() {
            self.failures += usize::from(Event::from_canonical_bytes(&r.event).is_err());
        }
        self.decode += t.elapsed();
        self.events += block.len();
        block.clear();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(journal), Some(keys)) = (args.next(), args.next()) else {
        return Err("usage: raw_verify JOURNAL TRUSTED_KEYS [EVENTS]".into());
    };
    let limit: usize = args
        .next()
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(50_000);
    let journal = PathBuf::from(journal);
    let trusted = TrustedKeys::load(&PathBuf::from(keys))?;
    let format = source::detect(&journal)?;

    let mut stats = Stats::default();
    let mut block: Vec<RawRecord> = Vec::with_capacity(BLOCK);
    let mut t = Instant::now();
    source::for_each_record(&journal, format, |r| {
        block.push(r);
        if block.len() == BLOCK {
            stats.read += t.elapsed();
            stats.measure(&mut block, &trusted);
            t = Instant::now();
        }
        stats.events + block.len() < limit
    })?;
    stats.read += t.elapsed();
    if !block.is_empty() {
        stats.measure(&mut block, &trusted);
    }
    let Stats {
        raw,
        decode,
        read,
        events,
        failures,
    } = stats;
    if failures > 0 {
        return Err(format!("{failures} record(s) did not verify or decode").into());
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / events.max(1) as f64;
    println!(
        "raw_us={:.3} decode_us={:.3} read_us={:.3} events={events}",
        per(raw),
        per(decode),
        per(read)
    );
    Ok(())
}
