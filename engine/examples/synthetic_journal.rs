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

use runledger_engine::clock::SteppingClock;

#[path = "support/mod.rs"]
mod support;
use support::{synthetic_run, BulkWriter, Error, EVENTS_PER_RUN};

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (Some(out), Some(n)) = (args.next(), args.next()) else {
        return Err("usage: synthetic_journal OUT.db EVENTS".into());
    };
    let out = PathBuf::from(out);
    let total: u64 = n.parse()?;
    let mut w = BulkWriter::create(
        &out,
        support::test_only_key(),
        "5f0d3c2b-1a00-4e8a-9c39-0b5e1f6c2a7d",
        SteppingClock::new(1_768_446_000_000_000, 1000),
    )?;
    let opened = w.opened("runledger synthetic");
    w.push(None, opened)?;
    let mut run_no = 0u64;
    while w.len() < total {
        run_no += 1;
        let id = format!("run-{run_no}");
        // A run is cut short so that the journal ends sealed at exactly `total` events.
        let room = (total - w.len()).clamp(2, EVENTS_PER_RUN);
        for body in synthetic_run(&id, run_no, room) {
            w.push(Some(&id), body)?;
        }
    }
    let written = w.finish(&out)?;
    eprintln!(
        "wrote {written} events in {run_no} runs to {}",
        out.display()
    );
    Ok(())
}
