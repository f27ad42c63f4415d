//! Side-by-side timing of a durable journal append against the bare minimum the disk allows.
//!
//! `bench_append DIR ROUNDS` (used by `scripts/bench`; release build)
//!
//! In `DIR` it creates a journal with the real writer ([`Journal::append`]: canonical
//! encoding, SHA-256, Ed25519 signing, one SQLite row committed in WAL mode with
//! `synchronous=FULL`) and a plain file. Each round appends one `step.intent` event to the
//! journal, then `write`s the same event's canonical bytes to the end of the plain file and
//! `fdatasync`s it; the two are timed alternately so that noise falls on both alike. It
//! prints the medians in microseconds and their ratio:
//! `append_us=… bare_us=… ratio=…`.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use runledger_engine::clock::SteppingClock;
use runledger_engine::journal::Journal;
use runledger_verifier::event::*;
use runledger_verifier::keys::PrivateKey;

#[path = "support/mod.rs"]
mod support;

fn body(i: u64) -> Body {
    Body::StepIntent(support::restore_intent(
        &format!("restore/mgc_20240304{i:06}.trn"),
        i,
    ))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(rounds)) = (args.next(), args.next()) else {
        return Err("usage: bench_append DIR ROUNDS".into());
    };
    let dir = PathBuf::from(dir);
    let rounds: u64 = rounds.parse()?;
    let journal_path = dir.join("append-bench.db");
    let bare_path = dir.join("append-bench.bin");
    for p in [&journal_path, &bare_path] {
        let _ = std::fs::remove_file(p);
    }
    let key = PrivateKey {
        name: "bench".into(),
        key: ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]),
    };
    let clock = SteppingClock::new(1_768_446_000_000_000, 1000);
    let mut journal = Journal::create_with_clock(&journal_path, key, "bench", Box::new(clock))?;
    let mut bare = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&bare_path)?;

    // Warm up both paths (file creation, the first WAL frames, page cache).
    for i in 0..20 {
        journal.append(Some("run-bench"), body(i))?;
        bare.write_all(&[0u8; 512])?;
        bare.sync_data()?;
    }
    let mut append_us = Vec::new();
    let mut bare_us = Vec::new();
    for i in 0..rounds {
        let b = body(1000 + i);
        let t = Instant::now();
        let appended = journal.append(Some("run-bench"), b.clone())?;
        append_us.push(t.elapsed().as_secs_f64() * 1e6);

        // As many bytes as the journal's row holds: the event (with a key id and prev of the
        // same length as the real ones), its leaf hash and its signature. Encoded untimed.
        let event = Event {
            journal: journal.journal_id().to_string(),
            seq: appended.seq,
            prev: ZERO_HASH_HEX.into(),
            at: appended.at.clone(),
            run: Some("run-bench".into()),
            key: ZERO_HASH_HEX.into(),
            body: b,
        };
        let mut bytes = event.to_canonical_bytes()?;
        bytes.extend_from_slice(&[0u8; 32 + 64]);
        let t = Instant::now();
        bare.write_all(&bytes)?;
        bare.sync_data()?;
        bare_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let a = median(&mut append_us);
    let b = median(&mut bare_us);
    println!("append_us={a:.1} bare_us={b:.1} ratio={:.3}", a / b);
    drop(journal);
    for p in [&journal_path, &bare_path] {
        let _ = std::fs::remove_file(p);
    }
    for suffix in ["-wal", "-shm", ".lock"] {
        let mut p = journal_path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    Ok(())
}
